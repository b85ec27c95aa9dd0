// Package mastodon is the `mastodon` publisher: it posts approved
// occurrences as statuses through the Mastodon client API, which Mastodon,
// GoToSocial, Pleroma and Akkoma all serve.
//
// # Configuration
//
//	targets:
//	  mastodon-main:
//	    kind: mastodon
//	    server: https://mastodon.example        # the instance's base URL
//	    access_token: ${HEED_MASTODON_TOKEN}    # scopes: write:statuses write:media
//	    visibility: public                      # public|unlisted|private|direct, default public
//	    language: en                            # ISO 639, optional
//	    timeout: 30s                            # per request, default 30s
//
// # What it sends
//
// Each publish is one POST /api/v1/statuses, made at the occurrence's time
// (never with Mastodon's scheduled_at, whose copy of the post would escape a
// later pause), carrying an Idempotency-Key header equal to the request's
// key. The text is the approved text with the request's link on a line of
// its own unless the text already holds it; Preview returns exactly that.
// Images are uploaded first (POST /api/v2/media with their alt text,
// polling GET /api/v1/media/:id while the server is still processing them)
// and attached with media_ids.
//
// # Limits
//
// The length limit is the instance's own: /api/v2/instance
// configuration.statuses.max_characters, else /api/v1/instance
// (configuration.statuses.max_characters or max_toot_chars), else
// Mastodon's default of 500. It is read once and kept for an hour. Text is
// counted the way the server counts it: Mastodon counts graphemes with
// every URL as 23 and remote mentions as their local part (textlen.Mastodon);
// GoToSocial counts code points with URLs in full; Pleroma and Akkoma count
// graphemes with URLs in full. An image without alt text is refused.
//
// # Idempotency
//
// Mastodon, Pleroma and Akkoma answer a repeated Idempotency-Key with the
// status they made the first time. GoToSocial (v0.19) ignores the key, so
// the publisher also remembers, for a day, the status each key produced and
// answers a repeated publish from that memory without posting again. That
// memory does not survive a restart; a publish whose outcome was lost (a
// timeout after sending) is ambiguous and is left for a person to check.
package mastodon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/language"

	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/httpx"
)

func init() { publish.Register("mastodon", New) }

// DefaultTimeout bounds one request when the configuration names none.
const DefaultTimeout = 30 * time.Second

const userAgent = "heed (+https://github.com/heed-dev/heed)"

// rememberFor is how long a key's status is remembered. Mastodon keeps its
// own idempotency keys for an hour; a day covers any retry the dispatcher
// makes.
const rememberFor = 24 * time.Hour

// Config is the mastodon target's settings.
type Config struct {
	Server      string `yaml:"server"`
	AccessToken string `yaml:"access_token"`
	Visibility  string `yaml:"visibility"`
	Language    string `yaml:"language"`
	Timeout     string `yaml:"timeout"`
}

// Publisher posts statuses to one account on one instance.
type Publisher struct {
	name       string
	server     string // base URL without a trailing slash
	host       string
	token      string
	visibility string
	language   string
	client     *http.Client
	timeout    time.Duration
	log        publish.Logger
	now        func() time.Time
	// wait pauses between media polls; tests replace it so they never sleep.
	wait func(ctx context.Context, d time.Duration) error
	// readFile reads an image; tests may replace it.
	readFile func(path string) ([]byte, error)

	instMu sync.Mutex
	inst   *instance // nil until read

	sentMu    sync.Mutex
	sent      map[string]sentStatus
	nextPrune time.Time
}

type sentStatus struct {
	res publish.Result
	at  time.Time
}

var (
	_ publish.Publisher = (*Publisher)(nil)
	_ publish.Validator = (*Publisher)(nil)
	_ publish.Previewer = (*Publisher)(nil)
	_ publish.Retractor = (*Publisher)(nil)
)

// New builds a mastodon publisher from its configuration.
func New(cfg publish.Config) (publish.Publisher, error) {
	var c Config
	if cfg.Decode != nil {
		if err := cfg.Decode(&c); err != nil {
			return nil, err
		}
	}
	return newPublisher(cfg.Name, c, cfg.Logger)
}

var visibilities = map[string]bool{"public": true, "unlisted": true, "private": true, "direct": true}

func newPublisher(name string, c Config, log publish.Logger) (*Publisher, error) {
	server := strings.TrimRight(strings.TrimSpace(c.Server), "/")
	if server == "" {
		return nil, errors.New("server is required: the instance's address, e.g. server: https://mastodon.social")
	}
	u, err := url.Parse(server)
	switch {
	case err != nil:
		return nil, fmt.Errorf("server %q is not a valid URL", server)
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("server %q must start with https://", server)
	case u.Host == "":
		return nil, fmt.Errorf("server %q has no host: write it as https://mastodon.example", server)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("server must be a plain base URL such as https://%s, without credentials, query or fragment", u.Host)
	}
	if c.AccessToken == "" {
		return nil, errors.New("access_token is required: set access_token: ${HEED_MASTODON_TOKEN} and export a token with the write:statuses and write:media scopes (an empty variable counts as missing)")
	}
	vis := strings.ToLower(strings.TrimSpace(c.Visibility))
	if vis == "" {
		vis = "public"
	}
	if !visibilities[vis] {
		return nil, fmt.Errorf("visibility %q is not one of public, unlisted, private, direct", c.Visibility)
	}
	var lang string
	if c.Language != "" {
		b, err := language.ParseBase(strings.TrimSpace(c.Language))
		if err != nil {
			return nil, fmt.Errorf("language %q is not an ISO 639 language code such as en or de", c.Language)
		}
		// The shortest form: the two-letter code where ISO 639-1 has one,
		// which is what Mastodon stores.
		lang = b.String()
	}
	timeout := DefaultTimeout
	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		if err != nil {
			return nil, fmt.Errorf("timeout %q is not a duration: write it like 30s or 1m", c.Timeout)
		}
		if d <= 0 {
			return nil, fmt.Errorf("timeout %q must be more than zero", c.Timeout)
		}
		timeout = d
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Publisher{
		name:       name,
		server:     server,
		host:       u.Host,
		token:      c.AccessToken,
		visibility: vis,
		language:   lang,
		client:     &http.Client{Timeout: timeout},
		timeout:    timeout,
		log:        log,
		now:        time.Now,
		wait:       sleepCtx,
		readFile:   readFile,
		sent:       map[string]sentStatus{},
	}, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Preview returns the status text exactly as it is sent: the text, and the
// request's link on a line of its own unless the text already holds it.
func (p *Publisher) Preview(req publish.Request) string {
	return publish.TextWithLink(req.Text, req.Link)
}

// Validate checks the request against the instance's limits. It reads the
// limits from the instance the first time (bounded by the request timeout).
func (p *Publisher) Validate(req publish.Request) []publish.Problem {
	ctx, cancel := context.WithTimeout(context.Background(), 2*p.timeout)
	defer cancel()
	inst, err := p.instance(ctx)
	return p.problems(req, inst, err)
}

func (p *Publisher) problems(req publish.Request, inst *instance, instErr error) []publish.Problem {
	text := p.Preview(req)
	return append(contentProblems(req, text, inst.software), limitProblems(req, text, inst, instErr)...)
}

// contentProblems are the problems no instance setting changes.
func contentProblems(req publish.Request, text, software string) []publish.Problem {
	var probs []publish.Problem
	if strings.TrimSpace(text) == "" && len(req.Media) == 0 {
		probs = append(probs, problemf("the post is empty: %s needs text or an image", software))
	}
	for i, m := range req.Media {
		if strings.TrimSpace(m.Alt) == "" {
			probs = append(probs, problemf("image %d (%s) has no alt text: describe it for people who cannot see it, then approve", i+1, mediaName(m)))
		}
		if m.Data != nil || m.SHA256 != "" {
			continue // heed's media store holds the bytes, checked when sent
		}
		if fi, err := os.Stat(m.Path); err != nil || !fi.Mode().IsRegular() {
			probs = append(probs, problemf("image %d (%s) cannot be read from %s", i+1, mediaName(m), m.Path))
		}
	}
	return probs
}

// limitProblems are the problems measured against the instance's limits.
func limitProblems(req publish.Request, text string, inst *instance, instErr error) []publish.Problem {
	var probs []publish.Problem
	if n := inst.count(text); n > inst.limit {
		if instErr != nil {
			probs = append(probs, problemf("%d/%d characters on %s (the instance's own limit could not be read; %d is Mastodon's default)", n, inst.limit, inst.software, inst.limit))
		} else {
			probs = append(probs, problemf("%d/%d characters on %s", n, inst.limit, inst.software))
		}
	}
	if len(req.Media) > inst.maxMedia {
		probs = append(probs, problemf("%d images, but %s takes at most %d per post", len(req.Media), inst.software, inst.maxMedia))
	}
	return probs
}

func problemf(format string, args ...any) publish.Problem {
	return publish.Problem{Message: fmt.Sprintf(format, args...)}
}

func refusal(probs []publish.Problem) error {
	msgs := make([]string, len(probs))
	for i, pr := range probs {
		msgs[i] = pr.Message
	}
	return publish.PermanentError(fmt.Errorf("mastodon: not posted: %s", strings.Join(msgs, "; ")))
}

// Publish posts the request as one status.
func (p *Publisher) Publish(ctx context.Context, req publish.Request) (publish.Result, error) {
	if res, ok := p.remembered(req.IdempotencyKey); ok {
		p.log.Info("mastodon: status already posted for this idempotency key; not posting again",
			"target", p.name, "status_id", res.RemoteID)
		return res, nil
	}
	text := p.Preview(req)
	inst, instErr := p.instance(ctx)
	if probs := contentProblems(req, text, inst.software); len(probs) > 0 {
		return publish.Result{}, refusal(probs)
	}
	if probs := limitProblems(req, text, inst, instErr); len(probs) > 0 {
		if instErr != nil {
			// The refusal would rest on a guessed limit. Nothing was
			// posted, so this is retryable, and a retry can read the limit.
			return publish.Result{}, safeToRetry(rewrap(instErr, "reading the instance's limits before posting"))
		}
		return publish.Result{}, refusal(probs)
	}

	mediaIDs := make([]string, 0, len(req.Media))
	for i, m := range req.Media {
		id, err := p.upload(ctx, i+1, m)
		if err != nil {
			return publish.Result{}, err
		}
		mediaIDs = append(mediaIDs, id)
	}

	res, err := p.postStatus(ctx, text, mediaIDs, req.IdempotencyKey)
	if err != nil {
		p.log.Warn("mastodon: posting the status failed", "target", p.name, "error", err.Error())
		return publish.Result{}, err
	}
	p.remember(req.IdempotencyKey, res)
	p.log.Info("mastodon: status posted", "target", p.name, "status_id", res.RemoteID, "url", res.URL)
	return res, nil
}

// statusBody is the JSON form of POST /api/v1/statuses; every server with
// the Mastodon API accepts JSON as well as form data.
type statusBody struct {
	Status     string   `json:"status"`
	MediaIDs   []string `json:"media_ids,omitempty"`
	Visibility string   `json:"visibility"`
	Language   string   `json:"language,omitempty"`
}

// statusAnswer is the part of a Status entity heed records.
type statusAnswer struct {
	ID  string `json:"id"`
	URL string `json:"url"`
	URI string `json:"uri"`
}

func (p *Publisher) postStatus(ctx context.Context, text string, mediaIDs []string, key string) (publish.Result, error) {
	body, err := json.Marshal(statusBody{Status: text, MediaIDs: mediaIDs, Visibility: p.visibility, Language: p.language})
	if err != nil {
		return publish.Result{}, publish.PermanentError(fmt.Errorf("mastodon: encoding the status: %w", err))
	}
	req, err := p.newRequest(ctx, http.MethodPost, "/api/v1/statuses", bytes.NewReader(body))
	if err != nil {
		return publish.Result{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	_, answer, err := httpx.Do(ctx, p.client, req, httpx.WithSecrets(p.token))
	if err != nil {
		return publish.Result{}, rewrap(err, "posting the status")
	}
	var st statusAnswer
	if err := json.Unmarshal(answer, &st); err != nil || st.ID == "" {
		// The server accepted the status but heed cannot tell which it is.
		return publish.Result{}, publish.AmbiguousError(fmt.Errorf("mastodon: %s accepted the status but its answer had no status id; check the account", p.host))
	}
	res := publish.Result{RemoteID: st.ID, URL: st.URL}
	if res.URL == "" {
		res.URL = st.URI
	}
	return res, nil
}

// Retract deletes a status heed published. A status already gone counts as
// retracted.
func (p *Publisher) Retract(ctx context.Context, target string, res publish.Result) error {
	if res.RemoteID == "" {
		return publish.PermanentError(errors.New("mastodon: cannot delete a status without its id"))
	}
	req, err := p.newRequest(ctx, http.MethodDelete, "/api/v1/statuses/"+url.PathEscape(res.RemoteID), nil)
	if err != nil {
		return err
	}
	resp, _, err := httpx.Do(ctx, p.client, req, httpx.WithSecrets(p.token))
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			p.log.Info("mastodon: status to delete was already gone", "target", target, "status_id", res.RemoteID)
			return nil
		}
		return rewrap(err, "deleting status "+res.RemoteID)
	}
	p.log.Info("mastodon: status deleted", "target", target, "status_id", res.RemoteID)
	return nil
}

func (p *Publisher) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, p.server+path, body)
	if err != nil {
		return nil, publish.PermanentError(fmt.Errorf("mastodon: building the request to %s: %s", p.host, httpx.Redact(err.Error(), p.token)))
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	return req, nil
}

// rewrap adds what heed was doing to a classified error, keeping its kind
// and wait.
func rewrap(err error, doing string) error {
	var pe *publish.Error
	if !errors.As(err, &pe) {
		return publish.AmbiguousError(fmt.Errorf("mastodon: %s: %w", doing, err))
	}
	return &publish.Error{Kind: pe.Kind, RetryAfter: pe.RetryAfter, Err: fmt.Errorf("mastodon: %s: %w", doing, pe.Err)}
}

func (p *Publisher) remembered(key string) (publish.Result, bool) {
	if key == "" {
		return publish.Result{}, false
	}
	p.sentMu.Lock()
	defer p.sentMu.Unlock()
	s, ok := p.sent[key]
	if !ok || p.now().Sub(s.at) > rememberFor {
		return publish.Result{}, false
	}
	return s.res, true
}

func (p *Publisher) remember(key string, res publish.Result) {
	if key == "" {
		return
	}
	p.sentMu.Lock()
	defer p.sentMu.Unlock()
	now := p.now()
	// Forgetting old keys walks the whole map, so it is done at most once
	// an hour, keeping a publish O(1).
	if now.After(p.nextPrune) {
		for k, s := range p.sent {
			if now.Sub(s.at) > rememberFor {
				delete(p.sent, k)
			}
		}
		p.nextPrune = now.Add(time.Hour)
	}
	p.sent[key] = sentStatus{res: res, at: now}
}
