// Package tripwire is heed's optional news tripwire: it watches RSS/Atom
// feeds the team chose (a news agency's breaking-news feed, say) and reports
// new items that match the team's keywords, so the engine can post an alert
// in the review room and, if the team asked for it, pause publishing.
//
// The package only fetches and matches. It never calls the engine: alerts go
// to a callback (Run) or are returned from one explicit cycle (Poll). A feed
// that fails is retried with backoff and shows in Status; it never blocks
// anything else.
package tripwire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/mmcdole/gofeed"
)

// Defaults for the zero values of Config.
const (
	DefaultInterval   = 2 * time.Minute
	DefaultTimeout    = 15 * time.Second
	DefaultMaxBytes   = 5 << 20
	DefaultMaxBackoff = 30 * time.Minute
	DefaultMaxAge     = 2 * time.Hour
)

const (
	// forgetAfter is how long an item's key is kept once it has left its
	// feed; long enough that an item dropping out and back in is not news.
	forgetAfter = 7 * 24 * time.Hour
	// maxRetryAfter bounds how long a server's Retry-After can park a feed.
	maxRetryAfter = 24 * time.Hour
)

// Feed is one watched RSS, Atom or JSON feed.
type Feed struct {
	// Name is shown in alerts and status; it defaults to the URL's host.
	Name string
	URL  string
}

// Config configures a Watcher. Zero durations and sizes take the defaults.
type Config struct {
	Feeds []Feed
	// Keywords are matched case-insensitively as whole words in each new
	// item's title and summary. "mass shooting" matches across any spacing;
	// a trailing * matches a prefix ("attack*" finds "attacks").
	Keywords []string
	// Interval is the wait between successful fetches of a feed.
	Interval time.Duration
	// Timeout bounds each request, including reading the body.
	Timeout time.Duration
	// MaxBytes caps a response body; a larger one is refused unread.
	MaxBytes int64
	// MaxBackoff caps the wait after repeated failures. After n consecutive
	// failures a feed waits Interval×2^n, up to MaxBackoff (or longer if the
	// server sent Retry-After).
	MaxBackoff time.Duration
	// MaxAge: an item dated longer ago than this never alerts, so a feed
	// that reappears after an outage does not replay old news.
	MaxAge time.Duration
	// Client makes the requests; it defaults to a plain http.Client. Timeouts
	// come from Timeout, not from the client.
	Client    *http.Client
	UserAgent string
	Logger    *slog.Logger
	// Clock drives Run; it defaults to the real clock. Poll takes now instead.
	Clock Clock
}

// Clock is the time source Run waits on.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Alert is a new feed item that matched the team's keywords.
type Alert struct {
	Feed string
	// Key identifies the item within its feed (its GUID, else its link), so
	// the engine can tell an alert it already posted, across restarts.
	Key       string
	Title     string
	Link      string
	Published time.Time // zero when the feed gave no date
	// Keywords are the configured keywords that matched, as configured.
	Keywords []string
}

// FeedStatus is one feed's health, for `heed status`.
type FeedStatus struct {
	Name string
	// URL is the feed's address without credentials, query or fragment.
	URL       string
	LastOK    time.Time // zero: never fetched successfully
	LastError time.Time // zero: never failed
	// Error is the last failure, empty once a fetch succeeds again.
	Error string
	// Failures counts consecutive failed fetches.
	Failures int
	// NextAttempt is when the feed is fetched next; zero means at the next Poll.
	NextAttempt time.Time
}

// Watcher fetches the feeds and matches new items. It is safe for concurrent
// use; overlapping Polls run one after the other.
type Watcher struct {
	cfg      Config
	keywords []keyword
	parser   *gofeed.Parser

	pollMu sync.Mutex // one cycle at a time
	mu     sync.Mutex // guards feeds' state
	feeds  []*feedState
}

type feedState struct {
	Feed
	safeURL      string
	etag         string
	lastModified string
	primed       bool                 // a first successful fetch has been seen
	seen         map[string]time.Time // item key -> last time it was in the feed
	backoff      *backoff.ExponentialBackOff
	status       FeedStatus
}

// New checks the configuration and returns a Watcher. Nothing is fetched
// until Poll or Run.
func New(cfg Config) (*Watcher, error) {
	if len(cfg.Feeds) == 0 {
		return nil, errors.New("tripwire: no feeds; list at least one RSS or Atom URL")
	}
	if len(cfg.Keywords) == 0 {
		return nil, errors.New("tripwire: no keywords; list the words that should raise an alert")
	}
	cfg.Interval = orDefault(cfg.Interval, DefaultInterval)
	cfg.Timeout = orDefault(cfg.Timeout, DefaultTimeout)
	cfg.MaxBackoff = orDefault(cfg.MaxBackoff, DefaultMaxBackoff)
	cfg.MaxAge = orDefault(cfg.MaxAge, DefaultMaxAge)
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "heed-tripwire"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	w := &Watcher{cfg: cfg, parser: gofeed.NewParser()}
	for _, k := range cfg.Keywords {
		kw, err := compileKeyword(k)
		if err != nil {
			return nil, err
		}
		w.keywords = append(w.keywords, kw)
	}
	names := map[string]bool{}
	for _, f := range cfg.Feeds {
		u, err := url.Parse(strings.TrimSpace(f.URL))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("tripwire: feed %q: %q is not an http(s) URL", f.Name, redact(f.URL))
		}
		safe := redactURL(u)
		if f.Name == "" {
			f.Name = u.Host
		}
		if names[f.Name] {
			return nil, fmt.Errorf("tripwire: two feeds are named %q; give each feed its own name", f.Name)
		}
		names[f.Name] = true
		f.URL = u.String()
		w.feeds = append(w.feeds, &feedState{
			Feed:    f,
			safeURL: safe,
			seen:    map[string]time.Time{},
			backoff: &backoff.ExponentialBackOff{
				InitialInterval: 2 * cfg.Interval,
				Multiplier:      2,
				MaxInterval:     cfg.MaxBackoff,
				// Deterministic: a handful of feeds needs no jitter, and
				// tests can state the schedule exactly.
				RandomizationFactor: 0,
			},
			status: FeedStatus{Name: f.Name, URL: safe},
		})
	}
	return w, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Poll runs one cycle at now: it fetches every feed that is due (in
// parallel), and returns the new items that match, feed by feed in
// configuration order. Failures are recorded in Status, not returned.
func (w *Watcher) Poll(ctx context.Context, now time.Time) []Alert {
	w.pollMu.Lock()
	defer w.pollMu.Unlock()

	w.mu.Lock()
	var due []*feedState
	for _, f := range w.feeds {
		if !now.Before(f.status.NextAttempt) {
			due = append(due, f)
		}
	}
	w.mu.Unlock()

	results := make([][]Alert, len(due))
	var wg sync.WaitGroup
	for i, f := range due {
		wg.Go(func() { results[i] = w.pollFeed(ctx, f, now) })
	}
	wg.Wait()
	var alerts []Alert
	for _, r := range results {
		alerts = append(alerts, r...)
	}
	return alerts
}

// Next is when the earliest feed is due; zero if one is due already.
func (w *Watcher) Next() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	next := w.feeds[0].status.NextAttempt
	for _, f := range w.feeds[1:] {
		if f.status.NextAttempt.Before(next) {
			next = f.status.NextAttempt
		}
	}
	return next
}

// Status reports every feed's health, in configuration order.
func (w *Watcher) Status() []FeedStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]FeedStatus, len(w.feeds))
	for i, f := range w.feeds {
		out[i] = f.status
	}
	return out
}

// Run polls whenever a feed is due, passing each alert to onAlert, until ctx
// ends. It returns ctx's error.
func (w *Watcher) Run(ctx context.Context, onAlert func(Alert)) error {
	for {
		for _, a := range w.Poll(ctx, w.cfg.Clock.Now()) {
			onAlert(a)
		}
		wait := max(w.Next().Sub(w.cfg.Clock.Now()), 0)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.cfg.Clock.After(wait):
		}
	}
}

// pollFeed fetches one feed and updates its state. A failure leaves the
// validators and the memory of seen items exactly as they were.
func (w *Watcher) pollFeed(ctx context.Context, f *feedState, now time.Time) []Alert {
	w.mu.Lock()
	etag, lastModified := f.etag, f.lastModified
	w.mu.Unlock()

	res, err := w.fetch(ctx, f.URL, etag, lastModified, now)

	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil && ctx.Err() != nil {
		// Shutting down: the feed did not fail.
		return nil
	}
	if err != nil {
		f.status.Failures++
		f.status.LastError = now
		f.status.Error = err.Error()
		wait := max(f.backoff.NextBackOff(), min(res.retryAfter, maxRetryAfter))
		f.status.NextAttempt = now.Add(wait)
		w.cfg.Logger.Warn("tripwire feed failed",
			slog.String("feed", f.Name), slog.String("url", f.safeURL),
			slog.String("error", f.status.Error), slog.Int("failures", f.status.Failures),
			slog.Time("next_attempt", f.status.NextAttempt))
		return nil
	}
	f.backoff.Reset()
	f.status.Failures = 0
	f.status.Error = ""
	f.status.LastOK = now
	f.status.NextAttempt = now.Add(w.cfg.Interval)
	if res.notModified {
		return nil
	}
	f.etag, f.lastModified = res.etag, res.lastModified
	alerts := w.newMatches(f, res.feed, now)
	f.primed = true
	return alerts
}

// newMatches remembers the document's items and returns the new ones that
// match. The caller holds w.mu.
func (w *Watcher) newMatches(f *feedState, doc *gofeed.Feed, now time.Time) []Alert {
	var alerts []Alert
	for _, it := range doc.Items {
		key := itemKey(it)
		if key == "" {
			continue
		}
		_, known := f.seen[key]
		f.seen[key] = now
		if known {
			continue
		}
		published := itemTime(it)
		if published.IsZero() && !f.primed {
			// Undated items already in the feed at start are not news.
			continue
		}
		if !published.IsZero() && published.Before(now.Add(-w.cfg.MaxAge)) {
			continue
		}
		matched := w.match(it.Title + "\n" + it.Description)
		if len(matched) == 0 {
			continue
		}
		alerts = append(alerts, Alert{
			Feed:      f.Name,
			Key:       key,
			Title:     strings.TrimSpace(it.Title),
			Link:      itemLink(it),
			Published: published,
			Keywords:  matched,
		})
	}
	for key, last := range f.seen {
		if now.Sub(last) > forgetAfter {
			delete(f.seen, key)
		}
	}
	return alerts
}

func itemKey(it *gofeed.Item) string {
	switch {
	case it.GUID != "":
		return it.GUID
	case itemLink(it) != "":
		return itemLink(it)
	default:
		return strings.TrimSpace(it.Title)
	}
}

func itemLink(it *gofeed.Item) string {
	if it.Link != "" {
		return it.Link
	}
	if len(it.Links) > 0 {
		return it.Links[0]
	}
	return ""
}

func itemTime(it *gofeed.Item) time.Time {
	switch {
	case it.PublishedParsed != nil:
		return *it.PublishedParsed
	case it.UpdatedParsed != nil:
		return *it.UpdatedParsed
	}
	return time.Time{}
}

type fetchResult struct {
	feed               *gofeed.Feed
	notModified        bool
	etag, lastModified string
	retryAfter         time.Duration
}

// fetch makes one conditional GET. Its errors never contain the feed's URL,
// which may carry a token.
func (w *Watcher) fetch(ctx context.Context, feedURL, etag, lastModified string, now time.Time) (fetchResult, error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, feedURL, nil)
	if err != nil {
		return fetchResult{}, errors.New("cannot build the request")
	}
	req.Header.Set("User-Agent", w.cfg.UserAgent)
	req.Header.Set("Accept", "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if lastModified != "" {
		req.Header.Set("If-Modified-Since", lastModified)
	}
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return fetchResult{}, transportError(ctx, err, w.cfg.Timeout)
	}
	defer resp.Body.Close()

	switch {
	case resp.StatusCode == http.StatusNotModified:
		return fetchResult{notModified: true}, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		res := fetchResult{retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), now)}
		return res, fmt.Errorf("HTTP %s", resp.Status)
	case resp.ContentLength > w.cfg.MaxBytes:
		return fetchResult{}, fmt.Errorf("response of %d bytes is over the %d-byte limit", resp.ContentLength, w.cfg.MaxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, w.cfg.MaxBytes+1))
	if err != nil {
		return fetchResult{}, transportError(ctx, err, w.cfg.Timeout)
	}
	if int64(len(body)) > w.cfg.MaxBytes {
		return fetchResult{}, fmt.Errorf("response is over the %d-byte limit", w.cfg.MaxBytes)
	}
	doc, err := w.parser.Parse(bytes.NewReader(body))
	if err != nil {
		return fetchResult{}, fmt.Errorf("not a valid RSS, Atom or JSON feed: %v", err)
	}
	return fetchResult{
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

// parseRetryAfter reads delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// redactURL keeps scheme, host and path: the userinfo and query of a private
// feed's URL often hold a token.
func redactURL(u *url.URL) string {
	safe := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	return safe.String()
}

func redact(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "(unparsable URL)"
	}
	return redactURL(u)
}
