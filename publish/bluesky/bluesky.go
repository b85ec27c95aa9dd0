// Package bluesky is the `bluesky` publisher: it posts to a Bluesky (AT
// Protocol) account through the account's PDS, with plain net/http and
// structs written from the lexicons.
//
// A publish logs in with an app password (com.atproto.server.createSession)
// once and keeps the session, refreshing it when the PDS says the access
// token expired (com.atproto.server.refreshSession). The post is an
// app.bsky.feed.post record created with com.atproto.repo.createRecord under
// a record key derived from the request's idempotency key, so a retry can
// never make a second post: the PDS refuses a second record at that key, and
// heed then reads the record back (com.atproto.repo.getRecord) and treats an
// identical one as the success it was. Links, mentions (resolved to DIDs) and
// hashtags become rich-text facets with UTF-8 byte offsets; images are
// uploaded as blobs and attached with their alt text, which is required.
//
// Configuration:
//
//	targets:
//	  bluesky-main:
//	    kind: bluesky
//	    handle: heed.bsky.social              # or identifier: (handle, DID or email)
//	    app_password: ${BLUESKY_APP_PASSWORD} # Settings → Privacy and security → App passwords
//	    pds: https://bsky.social              # default; your PDS if self-hosted
//	    langs: [en]                           # optional, up to 3 BCP-47 tags
package bluesky

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/language"

	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/textlen"
)

func init() { publish.Register("bluesky", New) }

const (
	// DefaultPDS is Bluesky's entryway; it serves accounts hosted by Bluesky.
	DefaultPDS = "https://bsky.social"
	// MaxGraphemes and MaxBytes are app.bsky.feed.post's text limits.
	MaxGraphemes = 300
	MaxBytes     = 3000
	// MaxImages and MaxImageBytes are app.bsky.embed.images' limits.
	MaxImages     = 4
	MaxImageBytes = 1_000_000
	// maxLangs is app.bsky.feed.post's langs maxLength.
	maxLangs = 3
	// webBase is where a post can be seen.
	webBase = "https://bsky.app"
)

// Config is the `bluesky` target's settings.
type Config struct {
	// Handle is the account's handle, e.g. heed.bsky.social.
	Handle string `yaml:"handle"`
	// Identifier is what createSession takes when it is not the handle: a
	// DID or the account's email. One of Handle and Identifier is required.
	Identifier string `yaml:"identifier"`
	// AppPassword is an app password, never the account password.
	AppPassword string `yaml:"app_password"`
	// PDS is the base URL of the account's PDS.
	PDS string `yaml:"pds"`
	// Langs are the post languages, BCP-47 tags.
	Langs []string `yaml:"langs"`
}

// Publisher posts to one Bluesky account. It is safe for concurrent use.
type Publisher struct {
	target   string
	ident    string
	password string
	base     string
	langs    []string
	client   *http.Client
	log      publish.Logger
	now      func() time.Time

	mu      sync.Mutex
	sess    *session
	renewMu sync.Mutex
}

var (
	_ publish.Publisher = (*Publisher)(nil)
	_ publish.Validator = (*Publisher)(nil)
	_ publish.Previewer = (*Publisher)(nil)
	_ publish.Retractor = (*Publisher)(nil)
)

// New builds a Bluesky publisher from its configuration.
func New(cfg publish.Config) (publish.Publisher, error) {
	var c Config
	if cfg.Decode != nil {
		if err := cfg.Decode(&c); err != nil {
			return nil, err
		}
	}
	ident := strings.TrimPrefix(strings.TrimSpace(c.Identifier), "@")
	if ident == "" {
		ident = strings.TrimPrefix(strings.TrimSpace(c.Handle), "@")
	}
	if ident == "" {
		return nil, errors.New(`handle is required: the account's handle, e.g. "handle: heed.bsky.social" (or identifier: its DID or email)`)
	}
	if c.AppPassword == "" {
		return nil, errors.New(`app_password is required: create an app password in Bluesky (Settings → Privacy and security → App passwords) and set "app_password: ${BLUESKY_APP_PASSWORD}" with the password in that environment variable`)
	}
	base := strings.TrimRight(strings.TrimSpace(c.PDS), "/")
	if base == "" {
		base = DefaultPDS
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("pds %q is not an http(s) URL: give the PDS's base URL, e.g. %s", c.PDS, DefaultPDS)
	}
	if len(c.Langs) > maxLangs {
		return nil, fmt.Errorf("langs: %d languages given, Bluesky takes at most %d", len(c.Langs), maxLangs)
	}
	for _, l := range c.Langs {
		if _, err := language.Parse(l); err != nil {
			return nil, fmt.Errorf("langs: %q is not a BCP-47 language tag (e.g. en, de, pt-BR)", l)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = discard{}
	}
	return &Publisher{
		target:   cfg.Name,
		ident:    ident,
		password: c.AppPassword,
		base:     base,
		langs:    c.Langs,
		client:   &http.Client{Timeout: 30 * time.Second},
		log:      log,
		now:      time.Now,
	}, nil
}

// Preview returns the post text exactly as it is sent: the text, and the
// request's link on a line of its own unless the text already holds it.
// Facets decorate the text without changing it.
func (p *Publisher) Preview(req publish.Request) string {
	return publish.TextWithLink(req.Text, req.Link)
}

// Validate checks the limits of app.bsky.feed.post and app.bsky.embed.images.
func (p *Publisher) Validate(req publish.Request) []publish.Problem {
	var probs []publish.Problem
	add := func(format string, args ...any) {
		probs = append(probs, publish.Problem{Message: fmt.Sprintf(format, args...)})
	}
	text := p.Preview(req)
	if strings.TrimSpace(text) == "" && len(req.Media) == 0 {
		add("the post is empty: Bluesky needs text or an image")
	}
	if n := textlen.Graphemes(text); n > MaxGraphemes {
		add("%d/%d graphemes on Bluesky", n, MaxGraphemes)
	}
	if n := len(text); n > MaxBytes {
		add("%d/%d bytes on Bluesky (UTF-8)", n, MaxBytes)
	}
	if n := len(req.Media); n > MaxImages {
		add("%d/%d images on Bluesky", n, MaxImages)
	}
	for i, m := range req.Media {
		name := mediaName(i, m)
		if t := mediaType(m); !strings.HasPrefix(t, "image/") {
			add("%s is %q: heed posts only images to Bluesky", name, t)
		}
		if strings.TrimSpace(m.Alt) == "" {
			add("%s has no alt text: Bluesky posts need alt text for every image", name)
		}
	}
	return probs
}

// mediaType is the attachment's MIME type, from its file name if the
// request does not say.
func mediaType(m publish.Media) string {
	if m.MIME != "" {
		return m.MIME
	}
	t, _, _ := strings.Cut(mime.TypeByExtension(filepath.Ext(m.FileName())), ";")
	return t
}

func mediaName(i int, m publish.Media) string {
	name := m.Name
	if name == "" && m.Path != "" {
		name = m.Path[strings.LastIndexAny(m.Path, `/\`)+1:]
	}
	if name == "" {
		return fmt.Sprintf("image %d", i+1)
	}
	return fmt.Sprintf("image %d (%s)", i+1, name)
}

// Publish creates the post, or finds the one an earlier attempt with the
// same idempotency key created.
func (p *Publisher) Publish(ctx context.Context, req publish.Request) (publish.Result, error) {
	if probs := p.Validate(req); len(probs) > 0 {
		return publish.Result{}, publish.PermanentError(problemsError(probs))
	}
	if req.IdempotencyKey == "" {
		// Without a key there is no record key, and a retry could post twice.
		return publish.Result{}, publish.PermanentError(errors.New("the request has no idempotency key; heed does not post to Bluesky without one"))
	}
	images, err := readImages(req.Media)
	if err != nil {
		return publish.Result{}, err
	}
	rkey := RecordKey(req.IdempotencyKey)
	text := p.Preview(req)

	res, err := p.publish(ctx, rkey, text, images)
	if err != nil {
		p.log.Warn("bluesky publish failed", "target", p.target, "rkey", rkey, "error", err)
		return publish.Result{}, err
	}
	p.log.Info("published to bluesky", "target", p.target, "uri", res.RemoteID, "url", res.URL)
	return res, nil
}

func (p *Publisher) publish(ctx context.Context, rkey, text string, images []image) (publish.Result, error) {
	var out publish.Result
	err := p.authed(ctx, func(s *session) error {
		facets, err := p.detectFacets(ctx, text)
		if err != nil {
			return err
		}
		embed, err := p.uploadImages(ctx, s, images)
		if err != nil {
			return err
		}
		rec := postRecord{
			Type:      "app.bsky.feed.post",
			Text:      text,
			Facets:    facets,
			Langs:     p.langs,
			Embed:     embed,
			CreatedAt: p.now().UTC().Format("2006-01-02T15:04:05.000Z"),
		}
		ref, err := p.createRecord(ctx, s, rkey, rec)
		if err != nil {
			return err
		}
		out = publish.Result{RemoteID: ref.URI, URL: postURL(s.Handle, s.DID, rkey)}
		return nil
	})
	return out, err
}

// postURL is the post's address in the Bluesky app.
func postURL(handle, did, rkey string) string {
	who := handle
	if who == "" || who == "handle.invalid" {
		who = did
	}
	return webBase + "/profile/" + who + "/post/" + rkey
}

// Retract deletes a post this publisher made (com.atproto.repo.deleteRecord).
func (p *Publisher) Retract(ctx context.Context, target string, res publish.Result) error {
	repo, collection, rkey, err := parseATURI(res.RemoteID)
	if err != nil {
		return publish.PermanentError(err)
	}
	err = p.authed(ctx, func(s *session) error {
		if repo != s.DID {
			return publish.PermanentError(fmt.Errorf("%s belongs to %s, not to this target's account %s", res.RemoteID, repo, s.DID))
		}
		return p.call(ctx, s, http.MethodPost, "com.atproto.repo.deleteRecord", nil,
			map[string]string{"repo": repo, "collection": collection, "rkey": rkey}, nil)
	})
	if err != nil {
		p.log.Warn("bluesky retract failed", "target", p.target, "uri", res.RemoteID, "error", err)
		return err
	}
	p.log.Info("retracted from bluesky", "target", p.target, "uri", res.RemoteID)
	return nil
}

// parseATURI splits at://did/collection/rkey.
func parseATURI(uri string) (repo, collection, rkey string, err error) {
	rest, ok := strings.CutPrefix(uri, "at://")
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", fmt.Errorf("%q is not a Bluesky record URI (at://did/collection/rkey)", uri)
	}
	return parts[0], parts[1], parts[2], nil
}

func problemsError(probs []publish.Problem) error {
	msgs := make([]string, len(probs))
	for i, p := range probs {
		msgs[i] = p.Message
	}
	return errors.New(strings.Join(msgs, "; "))
}

type discard struct{}

func (discard) Info(string, ...any)  {}
func (discard) Warn(string, ...any)  {}
func (discard) Error(string, ...any) {}
