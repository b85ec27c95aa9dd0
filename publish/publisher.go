// Package publish is the contract every network implements: the Publisher
// interface, the registry of publisher kinds and the error kinds the
// dispatcher acts on. It knows nothing of the store; the dispatcher that
// drives publishers is package dispatch.
package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Request is one occurrence × target, exactly as it was approved.
type Request struct {
	OccurrenceID int64
	Target       string // the target's configured name, e.g. "mastodon-main"
	Text         string // the exact text approved for this target
	Link         string
	Media        []Media
	ScheduledAt  time.Time
	// IdempotencyKey is derived from the installation, the occurrence, the
	// target and the approved payload. Networks that accept a key get it;
	// the same request always carries the same key.
	IdempotencyKey string
}

// Media is an attachment. Alt text is required where a network shows images.
//
// The dispatcher reads each image from heed's media store, checks its bytes
// against the SHA-256 the approval covers, and hands them over in Data:
// publishers send Data (Bytes), never a file a person named. Path is then
// the store's copy and Name the file's name as the person gave it.
type Media struct {
	Path   string
	Name   string // the file's name for messages and uploads; default the base of Path
	MIME   string
	Alt    string
	SHA256 string // hex; set when the bytes come from the media store
	Data   []byte // the approved bytes, checked against SHA256
}

// Bytes returns the image's bytes: Data when the dispatcher gave it,
// otherwise the file at Path (a request built by hand, in a publisher's
// own tests).
func (m Media) Bytes() ([]byte, error) {
	if m.Data != nil {
		return m.Data, nil
	}
	data, err := os.ReadFile(m.Path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("cannot read %s: %w", m.Path, pe.Err)
		}
		return nil, err
	}
	return data, nil
}

// FileName is Name, or the base of Path when Name is unset.
func (m Media) FileName() string {
	if m.Name != "" {
		return m.Name
	}
	if m.Path == "" {
		return ""
	}
	return filepath.Base(strings.TrimRight(m.Path, "/"))
}

// Result is what the network answered for a successful publish.
type Result struct {
	RemoteID string
	URL      string
}

// Publisher sends one request to one network account.
type Publisher interface {
	Publish(ctx context.Context, req Request) (Result, error)
}

// Problem is a reason a request cannot be published as it stands, with the
// exact figure where there is one ("312/300 graphemes on Bluesky").
type Problem struct {
	Message string
}

func (p Problem) String() string { return p.Message }

// Validator is implemented by publishers that can check a request before any
// network call: length limits, required alt text, and so on.
type Validator interface {
	Validate(req Request) []Problem
}

// Previewer is implemented by publishers that transform text on the way out;
// Preview returns exactly what the network will receive.
type Previewer interface {
	Preview(req Request) string
}

// TextWithLink is the text most networks receive: the text, and the link on
// a line of its own under it unless the text already holds it.
func TextWithLink(text, link string) string {
	if link == "" || strings.Contains(text, link) {
		return text
	}
	if strings.TrimSpace(text) == "" {
		return link
	}
	return text + "\n\n" + link
}

// Retractor is implemented by publishers that can delete what they published.
type Retractor interface {
	Retract(ctx context.Context, target string, res Result) error
}

// ErrorKind tells the dispatcher what to do after a failed publish.
type ErrorKind int

const (
	// Ambiguous: the request may have reached the network (a timeout after
	// sending). The outcome becomes unknown and is never retried blindly.
	Ambiguous ErrorKind = iota
	// Retryable: the network did not act on the request (429, 5xx, a
	// connection refused before sending). Retried with backoff.
	Retryable
	// Permanent: the network refused the request (401, 403, 400, 422).
	Permanent
)

func (k ErrorKind) String() string {
	switch k {
	case Retryable:
		return "retryable"
	case Permanent:
		return "permanent"
	default:
		return "ambiguous"
	}
}

// Error is a classified publish error.
type Error struct {
	Kind       ErrorKind
	RetryAfter time.Duration // for Retryable: the network's own wait, if it gave one
	Err        error
}

func (e *Error) Error() string { return e.Kind.String() + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// RetryableError marks err as safe to retry, after at least `after` if set.
func RetryableError(err error, after time.Duration) error {
	return &Error{Kind: Retryable, RetryAfter: after, Err: err}
}

// PermanentError marks err as a refusal that a retry will not change.
func PermanentError(err error) error { return &Error{Kind: Permanent, Err: err} }

// AmbiguousError marks err as an unknown outcome.
func AmbiguousError(err error) error { return &Error{Kind: Ambiguous, Err: err} }

// Classify returns the kind of err and any Retry-After it carries. An error
// that no publisher classified is Ambiguous: heed never guesses that a
// request did not reach the network.
func Classify(err error) (ErrorKind, time.Duration) {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind, e.RetryAfter
	}
	return Ambiguous, 0
}

// Target is one configured target: a name the team uses and the publisher
// behind it.
type Target struct {
	Name      string
	Kind      string
	Publisher Publisher
	// Limiter, when set, spaces this target's publish calls (a network's
	// own rate limit, or the team's choice).
	Limiter *rate.Limiter
	// AccountURL is the account's page, where a person checks an unknown
	// outcome.
	AccountURL string
	// HonoursKey says the remote end honours Request.IdempotencyKey: a
	// second request with the same key never makes a second post. A send
	// whose outcome is ambiguous is then retried with the same key rather
	// than left unknown for a person to check.
	HonoursKey bool
}

// Config is what a factory gets to build a publisher for one target. It
// holds no database: building publishers (as `heed config check` does)
// must touch none. A publisher that keeps state in heed's database (the
// matrix target's encryption keys) has a method UseDatabase(*sql.DB),
// which heed's wiring (app.DatabaseUser) calls once the store is open.
type Config struct {
	Name string // the target's name
	Kind string
	// Decode decodes the target's own settings (the YAML mapping under the
	// target, ${ENV} already expanded) into a struct of the factory's. It
	// rejects unknown keys.
	Decode func(v any) error
	// Logger is where publishers log, never with a token in any attribute.
	Logger Logger
	// Stdout is heed's standard output, for publishers that print (log).
	Stdout io.Writer
}

// Logger is the subset of *slog.Logger publishers use.
type Logger interface {
	Info(msg string, args ...any)
	Warn(msg string, args ...any)
	Error(msg string, args ...any)
}

// Factory builds a publisher from its configuration.
type Factory func(cfg Config) (Publisher, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Factory{}
)

// Register makes a publisher kind available to the configuration. It is
// called from the init function of each publisher's package.
func Register(kind string, f Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[kind]; dup {
		panic("publish: kind registered twice: " + kind)
	}
	registry[kind] = f
}

// New builds a publisher of a registered kind.
func New(cfg Config) (Publisher, error) {
	registryMu.RLock()
	f, ok := registry[cfg.Kind]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("target %q: unknown kind %q (known kinds: %v)", cfg.Name, cfg.Kind, Kinds())
	}
	p, err := f(cfg)
	if err != nil {
		return nil, fmt.Errorf("target %q (%s): %w", cfg.Name, cfg.Kind, err)
	}
	return p, nil
}

// Kinds lists the registered publisher kinds, sorted.
func Kinds() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
