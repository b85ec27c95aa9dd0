// Package matrixpub is the `matrix` publish target: it posts an approved
// announcement into a Matrix room (a project's announcements room, say) as
// an m.text message with an HTML body. In an encrypted room the message is
// end-to-end encrypted (see crypto.go), and never sent in the clear.
//
// Each send carries a transaction id derived from the idempotency key.
// The homeserver answers a repeated PUT /send/{type}/{txnId} from the same
// access token with the event it already made, so a retry cannot post
// twice. That holds only for the same access token (a token from a new
// login is a new scope) and for as long as the homeserver remembers
// transactions, which is why the target takes a fixed access_token rather
// than logging in on each start. An encrypted announcement is sent with
// the same transaction id, so the same holds for it.
package matrixpub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
	"mvdan.cc/xurls/v2"

	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/httpx"
)

func init() { publish.Register("matrix", New) }

// DefaultTimeout bounds one request when the configuration names none.
const DefaultTimeout = 30 * time.Second

// MaxTextBytes bounds the announcement text. A Matrix event may be at most
// 65,536 bytes as the servers exchange it, and the text travels twice (the
// plain body and the HTML body) next to signatures and hashes.
const MaxTextBytes = 30000

// Config is the matrix target's settings.
type Config struct {
	// Homeserver is the client-server API base URL.
	Homeserver string `yaml:"homeserver"`
	// AccessToken of the posting account, as ${MATRIX_ANNOUNCE_TOKEN}. The
	// account must be joined to the room and allowed to post there.
	AccessToken string `yaml:"access_token"`
	// Room is the room id (!abc:example.org).
	Room string `yaml:"room"`
	// MsgType is m.text (default) or m.notice.
	MsgType string `yaml:"msgtype"`
	// Timeout bounds one request (default 30s).
	Timeout string `yaml:"timeout"`
	// PickleKey lets the target post into an encrypted room
	// (${HEED_MATRIX_ANNOUNCE_PICKLE_KEY}; at least 32 characters, for
	// example `openssl rand -hex 32`): the device's encryption keys are
	// kept in heed's database, encrypted with it. Without it, publishing
	// into an encrypted room fails. It must stay the same for the life of
	// the database.
	PickleKey string `yaml:"pickle_key"`
}

var roomIDRe = regexp.MustCompile(`^![^:\s]+:\S+$`)

// Publisher posts announcements into one room.
type Publisher struct {
	name    string
	base    string
	room    string
	msgtype string
	token   string
	pickle  string
	client  *http.Client
	log     publish.Logger

	mu sync.Mutex
	db *sql.DB // heed's database (UseDatabase), for the encryption keys
	// who is the account and device of the token, once asked.
	who *mautrix.RespWhoami
	// encrypted is the room's encryption once seen: a room's encryption
	// is never turned off.
	encrypted *event.EncryptionEventContent
}

var (
	_ publish.Publisher = (*Publisher)(nil)
	_ publish.Validator = (*Publisher)(nil)
	_ publish.Previewer = (*Publisher)(nil)
	_ publish.Retractor = (*Publisher)(nil)
)

type discard struct{}

func (discard) Info(string, ...any)  {}
func (discard) Warn(string, ...any)  {}
func (discard) Error(string, ...any) {}

// New builds a matrix publisher from its configuration.
func New(cfg publish.Config) (publish.Publisher, error) {
	var c Config
	if cfg.Decode != nil {
		if err := cfg.Decode(&c); err != nil {
			return nil, err
		}
	}
	var errs []error
	u, err := url.Parse(c.Homeserver)
	if c.Homeserver == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, errors.New("homeserver must be the homeserver's base URL, like https://matrix.example.org"))
	}
	if c.AccessToken == "" {
		errs = append(errs, errors.New("access_token is required (as ${MATRIX_ANNOUNCE_TOKEN}): the token of an account joined to the room"))
	}
	if !roomIDRe.MatchString(c.Room) {
		errs = append(errs, fmt.Errorf("room %q is not a room id (!abc:server; in Element: room settings → Advanced)", c.Room))
	}
	switch c.MsgType {
	case "":
		c.MsgType = "m.text"
	case "m.text", "m.notice":
	default:
		errs = append(errs, fmt.Errorf("msgtype %q: use m.text or m.notice", c.MsgType))
	}
	timeout := DefaultTimeout
	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("timeout %q is not a duration such as 30s", c.Timeout))
		}
		timeout = d
	}
	if c.PickleKey != "" && len(c.PickleKey) < minPickleKey {
		errs = append(errs, fmt.Errorf("pickle_key must be at least %d characters (for example `openssl rand -hex 32`)", minPickleKey))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	p := &Publisher{
		name: cfg.Name, base: strings.TrimRight(c.Homeserver, "/"), room: c.Room, msgtype: c.MsgType,
		token: c.AccessToken, pickle: c.PickleKey, client: &http.Client{Timeout: timeout}, log: cfg.Logger,
	}
	if p.log == nil {
		p.log = discard{}
	}
	return p, nil
}

// Preview is the message body: the text, and the link under it when the
// text does not already hold it.
func (p *Publisher) Preview(req publish.Request) string {
	return publish.TextWithLink(req.Text, req.Link)
}

// Validate refuses an empty text and one too large for a Matrix event.
func (p *Publisher) Validate(req publish.Request) []publish.Problem {
	body := p.Preview(req)
	switch {
	case strings.TrimSpace(body) == "":
		return []publish.Problem{{Message: "the announcement is empty"}}
	case len(body) > MaxTextBytes:
		return []publish.Problem{{Message: fmt.Sprintf("%d/%d bytes for a Matrix message", len(body), MaxTextBytes)}}
	}
	return nil
}

var urls = xurls.Strict()

// formatted is the HTML body: the text escaped, links made clickable,
// line breaks kept.
func formatted(text string) string {
	var b strings.Builder
	last := 0
	for _, m := range urls.FindAllStringIndex(text, -1) {
		b.WriteString(html.EscapeString(text[last:m[0]]))
		u := text[m[0]:m[1]]
		if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
			fmt.Fprintf(&b, `<a href="%s">%s</a>`, html.EscapeString(u), html.EscapeString(u))
		} else {
			b.WriteString(html.EscapeString(u))
		}
		last = m[1]
	}
	b.WriteString(html.EscapeString(text[last:]))
	return strings.ReplaceAll(b.String(), "\n", "<br>")
}

// TxnID is the transaction id for an idempotency key: the same key, the
// same transaction, and so at most one event.
func TxnID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "heed-" + hex.EncodeToString(sum[:16])
}

// Publish sends the announcement: encrypted when the room is encrypted,
// and then only encrypted.
func (p *Publisher) Publish(ctx context.Context, req publish.Request) (publish.Result, error) {
	if probs := p.Validate(req); len(probs) > 0 {
		return publish.Result{}, publish.PermanentError(fmt.Errorf("matrix target %s: %s", p.name, probs[0].Message))
	}
	body := p.Preview(req)
	content := map[string]any{"msgtype": p.msgtype, "body": body}
	if f := formatted(body); f != html.EscapeString(body) {
		content["format"] = "org.matrix.custom.html"
		content["formatted_body"] = f
	}
	txn := TxnID(req.IdempotencyKey)
	if req.IdempotencyKey == "" {
		txn = fmt.Sprintf("heed-nokey-%d", time.Now().UnixNano())
	}
	enc, err := p.roomEncryption(ctx)
	if err != nil {
		p.log.Warn("matrix announcement failed", "target", p.name, "occurrence", req.OccurrenceID, "err", err)
		return publish.Result{}, err
	}
	typ, send := event.EventMessage.Type, any(content)
	if enc != nil {
		encrypted, err := p.encrypt(ctx, enc, content)
		if err != nil {
			p.log.Warn("matrix announcement failed", "target", p.name, "occurrence", req.OccurrenceID, "err", err)
			return publish.Result{}, err
		}
		typ, send = event.EventEncrypted.Type, encrypted
	}
	u := p.roomURL("send", typ, txn)
	var resp struct {
		EventID string `json:"event_id"`
	}
	if err := p.do(ctx, http.MethodPut, u, send, &resp); err != nil {
		p.log.Warn("matrix announcement failed", "target", p.name, "occurrence", req.OccurrenceID, "err", err)
		return publish.Result{}, err
	}
	if resp.EventID == "" {
		return publish.Result{}, publish.AmbiguousError(fmt.Errorf("matrix target %s: the homeserver accepted the message but named no event id", p.name))
	}
	res := publish.Result{RemoteID: resp.EventID, URL: "https://matrix.to/#/" + p.room + "/" + resp.EventID}
	p.log.Info("matrix announcement posted", "target", p.name, "occurrence", req.OccurrenceID, "event", resp.EventID, "encrypted", enc != nil)
	return res, nil
}

// roomURL is a client-server API URL under the room.
func (p *Publisher) roomURL(parts ...string) string {
	u := p.base + "/_matrix/client/v3/rooms/" + url.PathEscape(p.room)
	for _, part := range parts {
		u += "/" + url.PathEscape(part)
	}
	return u
}

// roomEncryption reads the room's m.room.encryption state at each publish
// (a room may turn encryption on at any time): nil for a plain room. A
// room once seen encrypted stays so, whatever the homeserver says later,
// and an encryption heed cannot do is refused rather than sent around.
func (p *Publisher) roomEncryption(ctx context.Context) (*event.EncryptionEventContent, error) {
	var enc event.EncryptionEventContent
	err := p.do(ctx, http.MethodGet, p.roomURL("state", event.StateEncryption.Type, ""), nil, &enc)
	p.mu.Lock()
	seen := p.encrypted
	p.mu.Unlock()
	var se *httpx.StatusError
	switch {
	case err == nil:
	case errors.As(err, &se) && se.StatusCode == http.StatusNotFound && se.Code == "M_NOT_FOUND":
		// No encryption in the room's state: a plain room, unless it was
		// seen encrypted before.
		return seen, nil
	default:
		kind, after := publish.Classify(err)
		if kind == publish.Ambiguous {
			// A read: nothing was posted.
			return nil, publish.RetryableError(fmt.Errorf("matrix target %s: read the room's encryption (nothing was sent): %w", p.name, err), after)
		}
		return nil, err
	}
	if enc.Algorithm != id.AlgorithmMegolmV1 {
		return nil, publish.PermanentError(fmt.Errorf("matrix target %s: room %s is encrypted with %q, which heed cannot encrypt with; it never posts there in the clear, and sent nothing",
			p.name, p.room, enc.Algorithm))
	}
	p.mu.Lock()
	p.encrypted = &enc
	p.mu.Unlock()
	return &enc, nil
}

// Retract redacts an announcement. The redaction's transaction id is
// derived from the event, so a retried retraction redacts once.
func (p *Publisher) Retract(ctx context.Context, target string, res publish.Result) error {
	if res.RemoteID == "" {
		return publish.PermanentError(fmt.Errorf("matrix target %s: nothing to retract: no event id was recorded", p.name))
	}
	sum := sha256.Sum256([]byte("redact\x00" + res.RemoteID))
	txn := "heed-redact-" + hex.EncodeToString(sum[:16])
	u := p.roomURL("redact", res.RemoteID, txn)
	if err := p.do(ctx, http.MethodPut, u, map[string]any{"reason": "retracted through heed"}, nil); err != nil {
		return err
	}
	p.log.Info("matrix announcement retracted", "target", p.name, "event", res.RemoteID)
	return nil
}

// do sends a request (with a JSON body unless body is nil) and classifies
// failures. Matrix names its wait in retry_after_ms as well as (in newer
// servers) Retry-After; a 403 is about the room (not joined, not allowed
// to post), not about the token.
func (p *Publisher) do(ctx context.Context, method, u string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return publish.PermanentError(err)
		}
		rd = bytes.NewReader(b)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return publish.PermanentError(fmt.Errorf("matrix target %s: %s", p.name, httpx.Redact(err.Error(), p.token)))
	}
	hreq.Header.Set("Authorization", "Bearer "+p.token)
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	hres, rb, err := httpx.Do(ctx, p.client, hreq, httpx.WithSecrets(p.token))
	if err != nil {
		return p.classify(hres, rb, err)
	}
	if out != nil {
		if err := json.Unmarshal(rb, out); err != nil {
			return publish.AmbiguousError(fmt.Errorf("matrix target %s: unreadable answer from the homeserver: %v", p.name, err))
		}
	}
	return nil
}

func (p *Publisher) classify(hres *http.Response, body []byte, err error) error {
	kind, after := publish.Classify(err)
	var se *httpx.StatusError
	if !errors.As(err, &se) {
		return err
	}
	var m struct {
		ErrCode      string  `json:"errcode"`
		RetryAfterMS float64 `json:"retry_after_ms"`
	}
	_ = json.Unmarshal(body, &m)
	switch {
	case kind == publish.Retryable && after == 0 && m.RetryAfterMS > 0:
		return publish.RetryableError(se, time.Duration(m.RetryAfterMS)*time.Millisecond)
	case hres != nil && hres.StatusCode == http.StatusForbidden && m.ErrCode == "M_FORBIDDEN":
		return publish.PermanentError(fmt.Errorf("%s answered HTTP 403: %s (the account must be joined to %s and allowed to post there)",
			se.Host, se.Message, p.room))
	}
	return err
}
