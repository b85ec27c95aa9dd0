// Package matrixpub is the `matrix` publish target: it posts an approved
// announcement into a Matrix room (a project's announcements room, say) as
// an m.text message with an HTML body.
//
// Each send carries a transaction id derived from the idempotency key.
// The homeserver answers a repeated PUT /send/{type}/{txnId} from the same
// access token with the event it already made, so a retry cannot post
// twice. That holds only for the same access token (a token from a new
// login is a new scope) and for as long as the homeserver remembers
// transactions, which is why the target takes a fixed access_token rather
// than logging in on each start.
package matrixpub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

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
}

var roomIDRe = regexp.MustCompile(`^![^:\s]+:\S+$`)

// Publisher posts announcements into one room.
type Publisher struct {
	name    string
	base    string
	room    string
	msgtype string
	token   string
	client  *http.Client
	log     publish.Logger
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
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	p := &Publisher{
		name: cfg.Name, base: strings.TrimRight(c.Homeserver, "/"), room: c.Room, msgtype: c.MsgType,
		token: c.AccessToken, client: &http.Client{Timeout: timeout}, log: cfg.Logger,
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

// Publish sends the announcement.
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
	u := p.base + "/_matrix/client/v3/rooms/" + url.PathEscape(p.room) + "/send/m.room.message/" + url.PathEscape(txn)
	var resp struct {
		EventID string `json:"event_id"`
	}
	if err := p.do(ctx, u, content, &resp); err != nil {
		p.log.Warn("matrix announcement failed", "target", p.name, "occurrence", req.OccurrenceID, "err", err)
		return publish.Result{}, err
	}
	if resp.EventID == "" {
		return publish.Result{}, publish.AmbiguousError(fmt.Errorf("matrix target %s: the homeserver accepted the message but named no event id", p.name))
	}
	res := publish.Result{RemoteID: resp.EventID, URL: "https://matrix.to/#/" + p.room + "/" + resp.EventID}
	p.log.Info("matrix announcement posted", "target", p.name, "occurrence", req.OccurrenceID, "event", resp.EventID)
	return res, nil
}

// Retract redacts an announcement. The redaction's transaction id is
// derived from the event, so a retried retraction redacts once.
func (p *Publisher) Retract(ctx context.Context, target string, res publish.Result) error {
	if res.RemoteID == "" {
		return publish.PermanentError(fmt.Errorf("matrix target %s: nothing to retract: no event id was recorded", p.name))
	}
	sum := sha256.Sum256([]byte("redact\x00" + res.RemoteID))
	txn := "heed-redact-" + hex.EncodeToString(sum[:16])
	u := p.base + "/_matrix/client/v3/rooms/" + url.PathEscape(p.room) + "/redact/" + url.PathEscape(res.RemoteID) + "/" + txn
	if err := p.do(ctx, u, map[string]any{"reason": "retracted through heed"}, nil); err != nil {
		return err
	}
	p.log.Info("matrix announcement retracted", "target", p.name, "event", res.RemoteID)
	return nil
}

// do PUTs a JSON body and classifies failures. Matrix names its wait in
// retry_after_ms as well as (in newer servers) Retry-After; a 403 is about
// the room (not joined, not allowed to post), not about the token.
func (p *Publisher) do(ctx context.Context, u string, body any, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return publish.PermanentError(err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(b))
	if err != nil {
		return publish.PermanentError(fmt.Errorf("matrix target %s: %s", p.name, httpx.Redact(err.Error(), p.token)))
	}
	hreq.Header.Set("Authorization", "Bearer "+p.token)
	hreq.Header.Set("Content-Type", "application/json")
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
