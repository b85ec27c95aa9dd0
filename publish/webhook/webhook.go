// Package webhook is the `webhook` publisher: it POSTs each approved
// occurrence as signed JSON to a URL of the team's choosing, so heed can feed
// any system that accepts an HTTP call.
//
// # Configuration
//
//	targets:
//	  announce-hook:
//	    kind: webhook
//	    url: https://hooks.example.com/heed    # http:// or https://
//	    secret: ${HEED_WEBHOOK_SECRET}         # HMAC-SHA256 key, required
//	    timeout: 10s                           # per request, default 10s
//	    headers:                               # optional, sent as given
//	      Authorization: Bearer ${HOOK_TOKEN}
//
// Header values are treated as secrets: they never appear in a log or an
// error. heed sets Content-Type, Idempotency-Key, X-Heed-Timestamp and
// X-Heed-Signature itself; headers may not override them.
//
// # What the receiver gets
//
// A publish is a POST with a JSON body:
//
//	{
//	  "event": "publish",
//	  "occurrence_id": 42,
//	  "target": "announce-hook",
//	  "text": "v1.4 is out",
//	  "link": "https://example.org/blog/v1.4",       // "" when none
//	  "media": [{"path": "/srv/img/banner.png", "mime": "image/png", "alt": "The v1.4 banner"},
//	            {"url": "https://cdn.example.org/a.png", "alt": "…"}],  // [] when none
//	  "scheduled_at": "2026-03-14T09:00:00Z",
//	  "idempotency_key": "…"
//	}
//
// and a retraction (a published post taken back) is a POST of:
//
//	{"event": "retract", "target": "announce-hook", "remote_id": "…", "url": "…", "idempotency_key": "…"}
//
// Every request carries an Idempotency-Key header equal to the body's
// idempotency_key. A receiver should treat a repeated key as the same
// request and answer as it did the first time: heed retries with the same
// key, and that is what makes a retry safe.
//
// The receiver answers 2xx, optionally with {"id": "…", "url": "…"}; heed
// records both. Without an id, heed records the idempotency key as the id.
// 429 and 5xx (with Retry-After if the receiver wants a pause) are retried;
// other 4xx are failures, shown with the receiver's "error" or "message".
//
// # Verifying the signature
//
// Each request carries
//
//	X-Heed-Timestamp: 1773478800                    (Unix seconds when sent)
//	X-Heed-Signature: sha256=<hex>
//
// where <hex> is the lowercase hex HMAC-SHA256, keyed with the secret, of
// the bytes
//
//	"v1:" + X-Heed-Timestamp + ":" + raw request body
//
// A receiver recomputes it over the raw body (before any JSON parsing),
// compares in constant time, and rejects timestamps far from its own clock
// (five minutes is usual) so that a captured request cannot be replayed
// later. In Go, VerifyRequest does all of that; Verify checks the signature
// alone. In a shell:
//
//	printf 'v1:%s:%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$secret"
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/httpx"
)

func init() { publish.Register("webhook", New) }

// Header names of the signing scheme.
const (
	HeaderTimestamp = "X-Heed-Timestamp"
	HeaderSignature = "X-Heed-Signature"
)

// DefaultTimeout bounds one request when the configuration names none.
const DefaultTimeout = 10 * time.Second

// Config is the webhook target's settings.
type Config struct {
	URL     string            `yaml:"url"`
	Secret  string            `yaml:"secret"`
	Timeout string            `yaml:"timeout"`
	Headers map[string]string `yaml:"headers"`
}

// reserved headers are heed's to set; letting the configuration override
// them would break the signature or the idempotency guarantee.
var reserved = map[string]bool{
	"Content-Type":    true,
	"Content-Length":  true,
	"Host":            true,
	"Idempotency-Key": true,
	HeaderTimestamp:   true,
	HeaderSignature:   true,
}

// Publisher delivers occurrences to one webhook URL.
type Publisher struct {
	name    string
	url     string
	host    string
	secret  []byte
	headers http.Header
	// secrets are redacted from every error and log line.
	secrets []string
	client  *http.Client
	log     publish.Logger
	now     func() time.Time
}

var (
	_ publish.Publisher = (*Publisher)(nil)
	_ publish.Retractor = (*Publisher)(nil)
)

// New builds a webhook publisher from its configuration.
func New(cfg publish.Config) (publish.Publisher, error) {
	var c Config
	if cfg.Decode != nil {
		if err := cfg.Decode(&c); err != nil {
			return nil, err
		}
	}
	return newPublisher(cfg.Name, c, cfg.Logger)
}

func newPublisher(name string, c Config, log publish.Logger) (*Publisher, error) {
	// Errors never quote the URL: webhook URLs often carry a token in
	// their path.
	if strings.TrimSpace(c.URL) == "" {
		return nil, errors.New("url is required: the address heed POSTs to, e.g. url: https://hooks.example.com/heed")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, errors.New("url is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("url must start with http:// or https://, not %q", u.Scheme+":")
	}
	if u.Host == "" {
		return nil, errors.New("url has no host: write it as https://host/path")
	}
	if c.Secret == "" {
		return nil, errors.New("secret is required to sign each request: set secret: ${HEED_WEBHOOK_SECRET} and export HEED_WEBHOOK_SECRET (an empty variable counts as missing)")
	}
	timeout := DefaultTimeout
	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		if err != nil {
			return nil, fmt.Errorf("timeout %q is not a duration: write it like 10s or 1m", c.Timeout)
		}
		if d <= 0 {
			return nil, fmt.Errorf("timeout %q must be more than zero", c.Timeout)
		}
		timeout = d
	}
	headers := http.Header{}
	secrets := []string{c.Secret}
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			secrets = append(secrets, pw)
		}
	}
	for k, v := range c.Headers {
		if !validHeaderName(k) {
			return nil, fmt.Errorf("headers: %q is not a valid header name", k)
		}
		ck := http.CanonicalHeaderKey(k)
		if reserved[ck] {
			return nil, fmt.Errorf("headers: %s is set by heed and cannot be configured", ck)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return nil, fmt.Errorf("headers: the value of %s contains a line break", ck)
		}
		headers.Set(ck, v)
		secrets = append(secrets, v)
	}
	if log == nil {
		log = discard{}
	}
	return &Publisher{
		name:    name,
		url:     c.URL,
		host:    u.Host,
		secret:  []byte(c.Secret),
		headers: headers,
		secrets: secrets,
		client:  &http.Client{Timeout: timeout},
		log:     log,
		now:     time.Now,
	}, nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

type media struct {
	URL    string `json:"url,omitempty"`
	Path   string `json:"path,omitempty"` // heed's media store copy
	SHA256 string `json:"sha256,omitempty"`
	MIME   string `json:"mime,omitempty"`
	Alt    string `json:"alt"`
}

type publishEvent struct {
	Event          string  `json:"event"`
	OccurrenceID   int64   `json:"occurrence_id"`
	Target         string  `json:"target"`
	Text           string  `json:"text"`
	Link           string  `json:"link"`
	Media          []media `json:"media"`
	ScheduledAt    string  `json:"scheduled_at"`
	IdempotencyKey string  `json:"idempotency_key"`
}

type retractEvent struct {
	Event          string `json:"event"`
	Target         string `json:"target"`
	RemoteID       string `json:"remote_id"`
	URL            string `json:"url"`
	IdempotencyKey string `json:"idempotency_key"`
}

// Publish POSTs the occurrence to the webhook.
func (p *Publisher) Publish(ctx context.Context, req publish.Request) (publish.Result, error) {
	ev := publishEvent{
		Event:          "publish",
		OccurrenceID:   req.OccurrenceID,
		Target:         req.Target,
		Text:           req.Text,
		Link:           req.Link,
		Media:          make([]media, 0, len(req.Media)),
		ScheduledAt:    req.ScheduledAt.UTC().Format(time.RFC3339),
		IdempotencyKey: req.IdempotencyKey,
	}
	for _, m := range req.Media {
		out := media{MIME: m.MIME, Alt: m.Alt, SHA256: m.SHA256}
		if strings.HasPrefix(m.Path, "https://") || strings.HasPrefix(m.Path, "http://") {
			out.URL = m.Path
		} else {
			out.Path = m.Path
		}
		ev.Media = append(ev.Media, out)
	}
	body, err := p.send(ctx, ev, req.IdempotencyKey)
	if err != nil {
		kind, _ := publish.Classify(err)
		p.log.Warn("webhook publish failed", "target", p.name, "occurrence", req.OccurrenceID, "host", p.host, "kind", kind.String(), "error", httpx.Redact(err.Error(), p.secrets...))
		return publish.Result{}, err
	}
	res := answer(body)
	if res.RemoteID == "" {
		// The receiver saw the key, so it identifies the post to both sides.
		res.RemoteID = req.IdempotencyKey
	}
	p.log.Info("webhook published", "target", p.name, "occurrence", req.OccurrenceID, "host", p.host, "remote_id", res.RemoteID)
	return res, nil
}

// Retract asks the receiver to take back a post it received.
func (p *Publisher) Retract(ctx context.Context, target string, res publish.Result) error {
	if res.RemoteID == "" && res.URL == "" {
		return publish.PermanentError(errors.New("nothing identifies the post to retract: the publish recorded neither an id nor a URL"))
	}
	sum := sha256.Sum256([]byte(target + "\x00" + res.RemoteID + "\x00" + res.URL))
	key := "retract-" + hex.EncodeToString(sum[:16])
	ev := retractEvent{Event: "retract", Target: target, RemoteID: res.RemoteID, URL: res.URL, IdempotencyKey: key}
	if _, err := p.send(ctx, ev, key); err != nil {
		kind, _ := publish.Classify(err)
		p.log.Warn("webhook retract failed", "target", p.name, "remote_id", res.RemoteID, "host", p.host, "kind", kind.String(), "error", httpx.Redact(err.Error(), p.secrets...))
		return err
	}
	p.log.Info("webhook retracted", "target", p.name, "remote_id", res.RemoteID, "host", p.host)
	return nil
}

// send signs and POSTs one event and returns the receiver's answer.
func (p *Publisher) send(ctx context.Context, ev any, key string) ([]byte, error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, publish.PermanentError(fmt.Errorf("encoding the webhook body: %w", err))
	}
	ts := strconv.FormatInt(p.now().Unix(), 10)
	hreq, err := http.NewRequest(http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return nil, publish.PermanentError(errors.New("building the webhook request failed: check the url"))
	}
	for k, v := range p.headers {
		hreq.Header[k] = v
	}
	hreq.Header.Set("Content-Type", "application/json")
	if hreq.Header.Get("User-Agent") == "" {
		hreq.Header.Set("User-Agent", "heed-webhook")
	}
	hreq.Header.Set("Idempotency-Key", key)
	hreq.Header.Set(HeaderTimestamp, ts)
	hreq.Header.Set(HeaderSignature, Sign(string(p.secret), ts, body))
	_, answer, err := httpx.Do(ctx, p.client, hreq, httpx.WithSecrets(p.secrets...), httpx.WithNow(p.now))
	return answer, err
}

// answer reads {"id","url"} from a receiver's answer; anything else is
// ignored, because the receiver has accepted the request either way.
func answer(body []byte) publish.Result {
	var a struct {
		ID  json.RawMessage `json:"id"`
		URL string          `json:"url"`
	}
	if json.Unmarshal(body, &a) != nil {
		return publish.Result{}
	}
	res := publish.Result{URL: a.URL}
	var s string
	var n json.Number
	switch {
	case json.Unmarshal(a.ID, &s) == nil:
		res.RemoteID = s
	case json.Unmarshal(a.ID, &n) == nil:
		res.RemoteID = n.String()
	}
	return res
}

// Sign returns the X-Heed-Signature value for body sent at ts.
func Sign(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v1:" + ts + ":"))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether sig is the X-Heed-Signature of body sent at ts
// under secret. It compares in constant time. It does not judge the
// timestamp's age; VerifyRequest does.
func Verify(secret, ts string, body []byte, sig string) bool {
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	if !ok || secret == "" || ts == "" {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	want, _ := hex.DecodeString(strings.TrimPrefix(Sign(secret, ts, body), "sha256="))
	return hmac.Equal(got, want)
}

// VerifyRequest checks a received request's signature and that its
// timestamp is within maxSkew of now, and returns the body it read. Use it
// in a Go receiver before trusting anything in the request; bound the body
// with http.MaxBytesReader first if the receiver is exposed.
func VerifyRequest(secret string, r *http.Request, now time.Time, maxSkew time.Duration) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r.Body); err != nil {
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	ts := r.Header.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("missing or malformed %s", HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > maxSkew || d < -maxSkew {
		return nil, fmt.Errorf("%s is %v away from now, more than the %v allowed", HeaderTimestamp, d.Round(time.Second), maxSkew)
	}
	if !Verify(secret, ts, buf.Bytes(), r.Header.Get(HeaderSignature)) {
		return nil, fmt.Errorf("%s does not match the body", HeaderSignature)
	}
	return buf.Bytes(), nil
}

// discard is the logger used when the configuration gives none.
type discard struct{}

func (discard) Info(string, ...any)  {}
func (discard) Warn(string, ...any)  {}
func (discard) Error(string, ...any) {}
