// Package httpx is the HTTP groundwork every network publisher shares. Do
// sends one request and sorts whatever goes wrong into the error kinds the
// dispatcher acts on (publish.Retryable, publish.Permanent,
// publish.Ambiguous), and Redact keeps tokens out of every message it builds.
//
// The sorting rules, in the order Do applies them:
//
//   - No response, and the request was never fully written (dial refused,
//     DNS, TLS handshake, a timeout while connecting): Retryable. The network
//     cannot have acted on it.
//   - No response, but the request was written (a timeout or a lost
//     connection while waiting for the answer): Ambiguous. The network may
//     have acted; heed must not guess.
//   - 2xx: success. The body is returned (up to the size cap).
//   - 408, 425, 429 and 5xx: Retryable, carrying the network's own wait from
//     Retry-After (seconds or an HTTP date) or a rate-limit reset header
//     (x-rate-limit-reset, X-RateLimit-Reset, ratelimit-reset).
//   - 401 and 403: Permanent, telling the user to refresh the token.
//   - Any other status: Permanent, with the network's own message taken from
//     the common JSON error shapes.
//
// Messages name the host only, never the path or query (webhook URLs and
// Graph API calls carry credentials there), and every message is passed
// through Redact with the request's credential headers and the secrets the
// caller names with WithSecrets.
package httpx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heed-dev/heed/internal/httpwait"
	"github.com/heed-dev/heed/publish"
)

// DefaultMaxBody caps how much of an answer Do reads. Network answers to a
// publish are small; a larger one is not worth holding in memory.
const DefaultMaxBody = 1 << 20

// defaultClient is used when a caller passes a nil client: never the
// timeout-less http.DefaultClient, which could hang a publish forever.
var defaultClient = &http.Client{Timeout: 30 * time.Second}

type options struct {
	secrets []string
	now     func() time.Time
	maxBody int64
}

// Option adjusts one call of Do.
type Option func(*options)

// WithSecrets names values (tokens, passwords, signing keys) that must never
// appear in an error Do returns.
func WithSecrets(secrets ...string) Option {
	return func(o *options) { o.secrets = append(o.secrets, secrets...) }
}

// WithNow sets the clock used to turn an absolute rate-limit reset time into
// a wait. Tests inject a fixed clock.
func WithNow(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithMaxBody overrides DefaultMaxBody.
func WithMaxBody(n int64) Option {
	return func(o *options) { o.maxBody = n }
}

// StatusError is a non-2xx answer. It sits inside the publish.Error that Do
// returns, so a publisher can react to a network's own error code with
// errors.As (Bluesky's "ExpiredToken", for instance).
type StatusError struct {
	StatusCode int
	Host       string
	// Code is the network's machine-readable error code when it gave one
	// ("invalid_grant", "M_FORBIDDEN", "ExpiredToken", "OAuthException").
	Code string
	// Message is the network's own explanation, redacted and shortened.
	Message string
	auth    bool
}

func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s answered HTTP %d", e.Host, e.StatusCode)
	if t := http.StatusText(e.StatusCode); t != "" {
		b.WriteString(" " + t)
	}
	switch {
	case e.Code != "" && e.Message != "" && !strings.Contains(e.Message, e.Code):
		b.WriteString(": " + e.Code + ": " + e.Message)
	case e.Message != "":
		b.WriteString(": " + e.Message)
	case e.Code != "":
		b.WriteString(": " + e.Code)
	}
	if e.auth {
		b.WriteString(" (the network refused the credentials: refresh the token in this target's configuration, and check that it has the permissions posting needs)")
	}
	return b.String()
}

// TransportError is a failure with no HTTP answer. Written tells whether the
// whole request had gone out before the failure.
type TransportError struct {
	Method  string
	Host    string
	Written bool
	msg     string
	err     error
}

func (e *TransportError) Error() string { return e.msg }

// Unwrap returns the cause beneath *url.Error, which is left out because its
// text holds the full URL.
func (e *TransportError) Unwrap() error { return e.err }

// Do sends req with client and reads the answer. On a 2xx it returns the
// response and its body, with resp.Body already read and replaced by a
// reader over the returned bytes. On a non-2xx it returns the response, the
// body and a classified error. Without a response it returns only the
// classified error. Every error is a *publish.Error.
//
// ctx governs the request in place of req's own context.
func Do(ctx context.Context, client *http.Client, req *http.Request, opts ...Option) (*http.Response, []byte, error) {
	o := options{now: time.Now, maxBody: DefaultMaxBody}
	for _, opt := range opts {
		opt(&o)
	}
	if client == nil {
		client = defaultClient
	}
	secrets := append(credentialValues(req.Header), o.secrets...)

	// written records whether any attempt wrote the whole request: from then
	// on the network may have acted on it, even if the transport retried.
	var written atomic.Bool
	trace := &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				written.Store(true)
			}
		},
	}
	req = req.WithContext(httptrace.WithClientTrace(ctx, trace))
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		// net/http sends a request that carries an Idempotency-Key again
		// by itself when a reused connection breaks after the request was
		// written. To a network that does not honour the key that is a
		// second post, and heed would record one. Whether a send may be
		// repeated is heed's decision (a target that honours the key),
		// made with the outcome Do reports: ambiguous once written.
		req.GetBody = nil
	}

	resp, err := client.Do(req)
	if err != nil {
		te := transportError(req, err, written.Load(), secrets)
		if te.Written {
			return nil, nil, publish.AmbiguousError(te)
		}
		return nil, nil, publish.RetryableError(te, 0)
	}
	defer resp.Body.Close()

	body, readErr := io.ReadAll(io.LimitReader(resp.Body, o.maxBody+1))
	tooLarge := int64(len(body)) > o.maxBody
	if tooLarge {
		body = body[:o.maxBody]
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))

	host := req.URL.Host
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// The network accepted the request; an answer we cannot read in full
		// leaves us without its id, so the outcome is for a person to check.
		switch {
		case readErr != nil:
			return resp, body, publish.AmbiguousError(fmt.Errorf("%s answered HTTP %d but the answer was cut off: %s",
				host, resp.StatusCode, Redact(readErr.Error(), secrets...)))
		case tooLarge:
			return resp, body, publish.AmbiguousError(fmt.Errorf("%s answered HTTP %d with more than %d bytes; the answer was not read",
				host, resp.StatusCode, o.maxBody))
		}
		return resp, body, nil
	}

	se := &StatusError{StatusCode: resp.StatusCode, Host: host}
	code, msg := errorMessage(resp.Header.Get("Content-Type"), body)
	se.Code = clean(Redact(code, secrets...))
	se.Message = clean(Redact(msg, secrets...))

	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests, code >= 500,
		// 408 and 425 mean the server did not process the request.
		code == http.StatusRequestTimeout, code == http.StatusTooEarly:
		return resp, body, publish.RetryableError(se, httpwait.RetryAfter(resp.Header, o.now()))
	case code == http.StatusUnauthorized, code == http.StatusForbidden:
		se.auth = true
		return resp, body, publish.PermanentError(se)
	default:
		return resp, body, publish.PermanentError(se)
	}
}

func transportError(req *http.Request, err error, written bool, secrets []string) *TransportError {
	cause := err
	// *url.Error's text holds the whole URL, query included.
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		cause = ue.Err
	}
	var what string
	if written {
		what = "sent, but no answer came"
	} else {
		what = "not sent"
	}
	msg := fmt.Sprintf("%s %s: request %s: %s", req.Method, req.URL.Host, what, cause.Error())
	return &TransportError{
		Method:  req.Method,
		Host:    req.URL.Host,
		Written: written,
		msg:     Redact(msg, secrets...),
		err:     cause,
	}
}

// credentialValues returns the values of request headers that carry
// credentials, and for "Scheme value" forms the bare value as well, so that
// Redact catches the token even where a network quotes it alone.
func credentialValues(h http.Header) []string {
	var out []string
	for name, vals := range h {
		if !isCredentialHeader(name) {
			continue
		}
		for _, v := range vals {
			// Short values (a "1" flag) are not secrets, and redacting them
			// would mangle every message.
			if len(v) < 4 {
				continue
			}
			out = append(out, v)
			if _, cred, ok := strings.Cut(v, " "); ok && len(cred) >= 4 {
				out = append(out, strings.TrimSpace(cred))
			}
		}
	}
	return out
}

func isCredentialHeader(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "authorization", "proxy-authorization", "cookie":
		return true
	}
	for _, part := range []string{"token", "secret", "signature", "auth", "api-key", "apikey", "password"} {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}
