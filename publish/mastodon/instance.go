package mastodon

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/httpx"
	"github.com/heed-dev/heed/publish/textlen"
)

const (
	// DefaultLimit is Mastodon's default status length, used when the
	// instance does not say.
	DefaultLimit = 500
	// defaultMaxMedia is Mastodon's default number of attachments.
	defaultMaxMedia = 4
	// instanceTTL is how long an instance's limits are trusted; an admin
	// can change them, but not often.
	instanceTTL = time.Hour
)

// instance is what heed knows of the server's limits and how it counts.
type instance struct {
	limit    int
	maxMedia int
	software string // "Mastodon", "GoToSocial", "Pleroma", "Akkoma"
	count    func(string) int
	read     time.Time
}

// Limit returns the instance's status length limit, reading it from the
// instance the first time.
func (p *Publisher) Limit(ctx context.Context) (int, error) {
	inst, err := p.instance(ctx)
	return inst.limit, err
}

// instance returns the instance's limits, read at most once an hour. When
// the instance cannot be read it returns Mastodon's defaults and the error;
// those defaults are not kept, so the next call tries again.
func (p *Publisher) instance(ctx context.Context) (*instance, error) {
	p.instMu.Lock()
	defer p.instMu.Unlock()
	if p.inst != nil && p.now().Sub(p.inst.read) < instanceTTL {
		return p.inst, nil
	}
	inst, err := p.readInstance(ctx)
	if err != nil {
		if p.inst != nil {
			// Limits an hour old beat a guess.
			p.log.Warn("mastodon: could not re-read the instance's limits; keeping the last ones",
				"target", p.name, "error", err.Error())
			return p.inst, nil
		}
		p.log.Warn("mastodon: could not read the instance's limits; assuming Mastodon's defaults for now",
			"target", p.name, "error", err.Error())
		return newInstance(nil, p.now()), err
	}
	p.inst = inst
	return inst, nil
}

// readInstance asks /api/v2/instance, then /api/v1/instance. It fails only
// when neither gave a usable answer because of the network or a server in
// trouble; an instance that answers without a limit gets the default.
func (p *Publisher) readInstance(ctx context.Context) (*instance, error) {
	v2, answered2, err := p.getInstance(ctx, "/api/v2/instance")
	if v2 != nil && v2.limit() > 0 {
		return newInstance(v2, p.now()), nil
	}
	v1, answered1, err1 := p.getInstance(ctx, "/api/v1/instance")
	if v1 != nil && v1.limit() > 0 {
		if v2 != nil && v1.SourceURL == "" {
			v1.SourceURL = v2.SourceURL
		}
		return newInstance(v1, p.now()), nil
	}
	if answered2 || answered1 {
		a := v2
		if a == nil {
			a = v1
		}
		return newInstance(a, p.now()), nil
	}
	if err1 != nil {
		err = err1
	}
	return nil, err
}

// instanceAnswer holds the fields heed reads from the v1 and v2 Instance
// entities.
type instanceAnswer struct {
	Version       string  `json:"version"`
	SourceURL     string  `json:"source_url"`
	MaxTootChars  flexInt `json:"max_toot_chars"` // v1 on Pleroma, Akkoma and GoToSocial
	Configuration struct {
		Statuses struct {
			MaxCharacters       flexInt `json:"max_characters"`
			MaxMediaAttachments flexInt `json:"max_media_attachments"`
		} `json:"statuses"`
	} `json:"configuration"`
}

func (a *instanceAnswer) limit() int {
	if n := int(a.Configuration.Statuses.MaxCharacters); n > 0 {
		return n
	}
	return int(a.MaxTootChars)
}

// getInstance fetches one instance endpoint without the token: both are
// public, and the token has no business on a request that needs none.
// answered reports whether the server answered at all (a 404 from a server
// without v2 is an answer; a 503 is not).
func (p *Publisher) getInstance(ctx context.Context, path string) (a *instanceAnswer, answered bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.server+path, nil)
	if err != nil {
		return nil, false, publish.PermanentError(err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, body, err := httpx.Do(ctx, p.client, req, httpx.WithSecrets(p.token))
	if err != nil {
		kind, _ := publish.Classify(err)
		return nil, resp != nil && kind == publish.Permanent, err
	}
	a = new(instanceAnswer)
	if json.Unmarshal(body, a) != nil {
		// An answer heed cannot read (an HTML error page, say) still says
		// the server is up.
		return nil, true, nil
	}
	return a, true, nil
}

func newInstance(a *instanceAnswer, now time.Time) *instance {
	inst := &instance{limit: DefaultLimit, maxMedia: defaultMaxMedia, software: "Mastodon", read: now}
	if a != nil {
		if n := a.limit(); n > 0 {
			inst.limit = n
		}
		if n := int(a.Configuration.Statuses.MaxMediaAttachments); n > 0 {
			inst.maxMedia = n
		}
		inst.software = software(a.Version, a.SourceURL)
	}
	inst.count = counter(inst.software)
	return inst
}

// software tells the servers apart by what their instance entity says
// about itself: GoToSocial links its source, Pleroma and Akkoma name
// themselves in a "(compatible; Pleroma 2.6)" version.
func software(version, sourceURL string) string {
	v, src := strings.ToLower(version), strings.ToLower(sourceURL)
	switch {
	case strings.Contains(src, "gotosocial") || strings.Contains(v, "gotosocial"):
		return "GoToSocial"
	case strings.Contains(src, "akkoma") || strings.Contains(v, "akkoma"):
		return "Akkoma"
	case strings.Contains(src, "pleroma") || strings.Contains(v, "pleroma"):
		return "Pleroma"
	}
	return "Mastodon"
}

// counter returns how the software counts a status against its limit.
func counter(software string) func(string) int {
	switch software {
	case "GoToSocial":
		// GoToSocial counts code points and gives URLs no discount.
		return utf8.RuneCountInString
	case "Pleroma", "Akkoma":
		// String.length: graphemes, URLs in full.
		return textlen.Graphemes
	}
	return textlen.Mastodon
}

// flexInt reads a JSON number or a numeric string; servers differ.
type flexInt int

func (n *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(b, `"`)
	v, err := strconv.Atoi(string(b))
	if err != nil {
		*n = 0
		return nil
	}
	*n = flexInt(v)
	return nil
}
