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
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mmcdole/gofeed"

	"github.com/heed-dev/heed/internal/feedfetch"
)

// Defaults for the zero values of Config.
const (
	DefaultInterval   = feedfetch.DefaultInterval
	DefaultTimeout    = feedfetch.DefaultTimeout
	DefaultMaxBytes   = feedfetch.DefaultMaxBytes
	DefaultMaxBackoff = feedfetch.DefaultMaxBackoff
	DefaultMaxAge     = 2 * time.Hour
)

// forgetAfter is how long an item's key is kept once it has left its feed;
// long enough that an item dropping out and back in is not news.
const forgetAfter = 7 * 24 * time.Hour

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
type FeedStatus = feedfetch.Status

// Watcher fetches the feeds and matches new items. It is safe for concurrent
// use; overlapping Polls run one after the other.
type Watcher struct {
	cfg      Config
	keywords []keyword

	pollMu sync.Mutex // one cycle at a time
	mu     sync.Mutex // guards what each feed has seen (primed, seen)
	feeds  []*feedState
}

type feedState struct {
	*feedfetch.Feed
	primed bool                 // a first successful fetch has been seen
	seen   map[string]time.Time // item key -> last time it was in the feed
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
	cfg.MaxAge = orDefault(cfg.MaxAge, DefaultMaxAge)
	if cfg.UserAgent == "" {
		cfg.UserAgent = "heed-tripwire"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	w := &Watcher{cfg: cfg}
	for _, k := range cfg.Keywords {
		kw, err := compileKeyword(k)
		if err != nil {
			return nil, err
		}
		w.keywords = append(w.keywords, kw)
	}
	opts := feedfetch.Options{Interval: cfg.Interval, Timeout: cfg.Timeout, MaxBytes: cfg.MaxBytes,
		MaxBackoff: cfg.MaxBackoff, Client: cfg.Client, UserAgent: cfg.UserAgent}
	names := map[string]bool{}
	for _, f := range cfg.Feeds {
		ff, err := feedfetch.New(f.Name, f.URL, opts)
		if err != nil {
			return nil, fmt.Errorf("tripwire: feed %q: %w", f.Name, err)
		}
		if names[ff.Name()] {
			return nil, fmt.Errorf("tripwire: two feeds are named %q; give each feed its own name", ff.Name())
		}
		names[ff.Name()] = true
		w.feeds = append(w.feeds, &feedState{Feed: ff, seen: map[string]time.Time{}})
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

	var due []*feedState
	for _, f := range w.feeds {
		if f.Due(now) {
			due = append(due, f)
		}
	}

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
	next := w.feeds[0].NextAttempt()
	for _, f := range w.feeds[1:] {
		if n := f.NextAttempt(); n.Before(next) {
			next = n
		}
	}
	return next
}

// Status reports every feed's health, in configuration order.
func (w *Watcher) Status() []FeedStatus {
	out := make([]FeedStatus, len(w.feeds))
	for i, f := range w.feeds {
		out[i] = f.Status()
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
// memory of seen items exactly as it was.
func (w *Watcher) pollFeed(ctx context.Context, f *feedState, now time.Time) []Alert {
	doc, err := f.Fetch(ctx, now)
	if err != nil {
		if ctx.Err() == nil {
			st := f.Status()
			w.cfg.Logger.Warn("tripwire feed failed",
				slog.String("feed", st.Name), slog.String("url", st.URL),
				slog.String("error", st.Error), slog.Int("failures", st.Failures),
				slog.Time("next_attempt", st.NextAttempt))
		}
		return nil
	}
	if doc == nil {
		return nil // not modified
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	alerts := w.newMatches(f, doc, now)
	f.primed = true
	return alerts
}

// newMatches remembers the document's items and returns the new ones that
// match. The caller holds w.mu.
func (w *Watcher) newMatches(f *feedState, doc *gofeed.Feed, now time.Time) []Alert {
	var alerts []Alert
	for _, it := range doc.Items {
		key := feedfetch.ItemKey(it)
		if key == "" {
			continue
		}
		_, known := f.seen[key]
		f.seen[key] = now
		if known {
			continue
		}
		published := feedfetch.ItemTime(it)
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
			Feed:      f.Name(),
			Key:       key,
			Title:     strings.TrimSpace(it.Title),
			Link:      feedfetch.ItemLink(it),
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
