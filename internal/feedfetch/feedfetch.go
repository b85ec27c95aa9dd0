// Package feedfetch fetches RSS, Atom and JSON feeds for heed: the news
// tripwire and the feed post source share it. Each Feed makes conditional
// requests (If-None-Match, If-Modified-Since), caps the size of an answer,
// bounds each request with a timeout, and backs off after failures (or as
// long as the server's Retry-After asks). It keeps each feed's health for
// status output. Its errors and status never carry the feed's URL beyond
// scheme, host and path: the rest often holds a token.
package feedfetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/mmcdole/gofeed"

	"github.com/heed-dev/heed/internal/httpwait"
)

// Defaults for the zero values of Options.
const (
	DefaultInterval   = 2 * time.Minute
	DefaultTimeout    = 15 * time.Second
	DefaultMaxBytes   = 5 << 20
	DefaultMaxBackoff = 30 * time.Minute
)

// maxRetryAfter bounds how long a server's Retry-After can park a feed.
const maxRetryAfter = 24 * time.Hour

// Options are how a Feed is fetched. Zero values take the defaults.
type Options struct {
	// Interval is the wait between successful fetches.
	Interval time.Duration
	// Timeout bounds each request, including reading the body.
	Timeout time.Duration
	// MaxBytes caps a response body; a larger one is refused unread.
	MaxBytes int64
	// MaxBackoff caps the wait after repeated failures. After n consecutive
	// failures a feed waits Interval×2^n, up to MaxBackoff (or longer if
	// the server sent Retry-After).
	MaxBackoff time.Duration
	// Client makes the requests; it defaults to a plain http.Client.
	// Timeouts come from Timeout, not from the client.
	Client    *http.Client
	UserAgent string
}

func (o Options) withDefaults() Options {
	o.Interval = orDefault(o.Interval, DefaultInterval)
	o.Timeout = orDefault(o.Timeout, DefaultTimeout)
	o.MaxBackoff = orDefault(o.MaxBackoff, DefaultMaxBackoff)
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.UserAgent == "" {
		o.UserAgent = "heed"
	}
	return o
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Status is one feed's health.
type Status struct {
	Name string `json:"name"`
	// URL is the feed's address without credentials, query or fragment.
	URL       string    `json:"url"`
	LastOK    time.Time `json:"last_ok,omitzero"`    // zero: never fetched successfully
	LastError time.Time `json:"last_error,omitzero"` // zero: never failed
	// Error is the last failure, empty once a fetch succeeds again.
	Error string `json:"error,omitempty"`
	// Failures counts consecutive failed fetches.
	Failures int `json:"failures,omitempty"`
	// NextAttempt is when the feed is due next; zero means now.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
}

// Line describes the feed for status output, in zone: label names what
// kind of feed it is ("feed", "tripwire feed"), and failing ends the line
// of a feed that is failing (what its failure does, and does not, hold up).
func (s Status) Line(label string, zone *time.Location, failing string) string {
	switch {
	case s.Error != "":
		line := fmt.Sprintf("⚠ %s %s (%s) failing: %s (%d in a row)", label, s.Name, s.URL, s.Error, s.Failures)
		if !s.LastOK.IsZero() {
			line += "; last fetched " + s.LastOK.In(zone).Format("Mon 15:04")
		}
		if !s.NextAttempt.IsZero() {
			line += "; next try " + s.NextAttempt.In(zone).Format("15:04")
		}
		return line + ". " + failing
	case s.LastOK.IsZero():
		return fmt.Sprintf("%s %s (%s): not fetched yet", label, s.Name, s.URL)
	default:
		return fmt.Sprintf("%s %s (%s): ok, fetched %s", label, s.Name, s.URL, s.LastOK.In(zone).Format("Mon 15:04"))
	}
}

// Feed is one feed's address, its validators and its health. Its methods
// are safe for concurrent use; fetches of one feed run one at a time.
type Feed struct {
	name, url, safeURL string
	opts               Options

	fetchMu sync.Mutex // one request at a time; guards parser
	parser  *gofeed.Parser

	mu           sync.Mutex // guards what follows
	etag         string
	lastModified string
	backoff      *backoff.ExponentialBackOff
	status       Status
}

// New checks the feed's URL and returns it; nothing is fetched until
// Fetch. An empty name takes the URL's host. The error names no secret of
// the URL.
func New(name, rawURL string, o Options) (*Feed, error) {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http(s) URL", Redact(rawURL))
	}
	if name == "" {
		name = u.Host
	}
	o = o.withDefaults()
	return &Feed{
		name: name, url: u.String(), safeURL: redactURL(u), opts: o, parser: gofeed.NewParser(),
		backoff: &backoff.ExponentialBackOff{
			InitialInterval: 2 * o.Interval,
			Multiplier:      2,
			MaxInterval:     o.MaxBackoff,
			// Deterministic: a handful of feeds needs no jitter, and tests
			// can state the schedule exactly.
			RandomizationFactor: 0,
		},
		status: Status{Name: name, URL: redactURL(u)},
	}, nil
}

// Name is the feed's name.
func (f *Feed) Name() string { return f.name }

// SafeURL is the feed's address without credentials, query or fragment.
func (f *Feed) SafeURL() string { return f.safeURL }

// Status returns the feed's health.
func (f *Feed) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

// Due reports whether the feed should be fetched at now.
func (f *Feed) Due(now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !now.Before(f.status.NextAttempt)
}

// NextAttempt is when the feed is due next.
func (f *Feed) NextAttempt() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status.NextAttempt
}

// Fetch makes one conditional GET at now and records its outcome. It
// returns the document, or nil and no error when the feed is unchanged
// (304). A failure is returned, counted in Status and backs the feed off;
// it leaves the validators as they were. When ctx ends first, ctx's error
// is returned and nothing is recorded: shutting down is not the feed's
// fault.
func (f *Feed) Fetch(ctx context.Context, now time.Time) (*gofeed.Feed, error) {
	f.fetchMu.Lock()
	defer f.fetchMu.Unlock()
	f.mu.Lock()
	etag, lastModified := f.etag, f.lastModified
	f.mu.Unlock()

	res, err := f.get(ctx, etag, lastModified, now)

	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		f.status.Failures++
		f.status.LastError = now
		f.status.Error = err.Error()
		wait := max(f.backoff.NextBackOff(), min(res.retryAfter, maxRetryAfter))
		f.status.NextAttempt = now.Add(wait)
		return nil, err
	}
	f.backoff.Reset()
	f.status.Failures = 0
	f.status.Error = ""
	f.status.LastOK = now
	f.status.NextAttempt = now.Add(f.opts.Interval)
	if res.notModified {
		return nil, nil
	}
	f.etag, f.lastModified = res.etag, res.lastModified
	return res.feed, nil
}

// Forget drops the validators, so that the next fetch gets the whole
// feed even if it did not change: for a caller that could not record what
// the last one returned.
func (f *Feed) Forget() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.etag, f.lastModified = "", ""
}

type result struct {
	feed               *gofeed.Feed
	notModified        bool
	etag, lastModified string
	retryAfter         time.Duration
}

// get makes one conditional GET. Its errors never contain the feed's URL,
// which may carry a token.
func (f *Feed) get(ctx context.Context, etag, lastModified string, now time.Time) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return result{}, errors.New("cannot build the request")
	}
	req.Header.Set("User-Agent", f.opts.UserAgent)
	req.Header.Set("Accept", "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if lastModified != "" {
		req.Header.Set("If-Modified-Since", lastModified)
	}
	resp, err := f.opts.Client.Do(req)
	if err != nil {
		return result{}, transportError(ctx, err, f.opts.Timeout)
	}
	defer resp.Body.Close()

	switch {
	case resp.StatusCode == http.StatusNotModified:
		return result{notModified: true}, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return result{retryAfter: httpwait.RetryAfter(resp.Header, now)}, fmt.Errorf("HTTP %s", resp.Status)
	case resp.ContentLength > f.opts.MaxBytes:
		return result{}, fmt.Errorf("response of %d bytes is over the %d-byte limit", resp.ContentLength, f.opts.MaxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.opts.MaxBytes+1))
	if err != nil {
		return result{}, transportError(ctx, err, f.opts.Timeout)
	}
	if int64(len(body)) > f.opts.MaxBytes {
		return result{}, fmt.Errorf("response is over the %d-byte limit", f.opts.MaxBytes)
	}
	doc, err := f.parser.Parse(bytes.NewReader(body))
	if err != nil {
		return result{}, fmt.Errorf("not a valid RSS, Atom or JSON feed: %v", err)
	}
	return result{
		feed:         doc,
		etag:         resp.Header.Get("ETag"),
		lastModified: resp.Header.Get("Last-Modified"),
	}, nil
}

// transportError describes a failed request without the URL that
// net/http's errors carry.
func transportError(ctx context.Context, err error, timeout time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no complete answer within %s", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("request failed: %v", err)
}

// ItemKey identifies an item within its feed: its GUID, else its link,
// else its title.
func ItemKey(it *gofeed.Item) string {
	switch {
	case strings.TrimSpace(it.GUID) != "":
		return strings.TrimSpace(it.GUID)
	case ItemLink(it) != "":
		return ItemLink(it)
	default:
		return strings.TrimSpace(it.Title)
	}
}

// ItemLink is the item's link, or its first link.
func ItemLink(it *gofeed.Item) string {
	if it.Link != "" {
		return strings.TrimSpace(it.Link)
	}
	if len(it.Links) > 0 {
		return strings.TrimSpace(it.Links[0])
	}
	return ""
}

// ItemTime is when the item was published (else updated); zero when the
// feed gave no date.
func ItemTime(it *gofeed.Item) time.Time {
	switch {
	case it.PublishedParsed != nil:
		return *it.PublishedParsed
	case it.UpdatedParsed != nil:
		return *it.UpdatedParsed
	}
	return time.Time{}
}

// redactURL keeps scheme, host and path: the userinfo and query of a
// private feed's URL often hold a token.
func redactURL(u *url.URL) string {
	safe := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	return safe.String()
}

// Redact is raw without its userinfo, query and fragment.
func Redact(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "(unparsable URL)"
	}
	return redactURL(u)
}
