// Package feeds makes posts from the items of RSS, Atom and JSON feeds the
// team configured (sources: feeds:). Each new item becomes a post through
// the domain's PostService, as a post typed in chat does, and waits for
// approval like any other; its card says which feed and item it came from.
//
// An item is known by its feed's name and its key (GUID, else link) in the
// store (feed_items): it is claimed there before its post is added, so it
// becomes a post at most once, across restarts and processes. An item that
// changes (same key, new content) edits its post through EditPost, which
// voids the approvals of what changed, unless the post was canceled or has
// gone out (or is going out): that is logged and left alone. The first
// fetch of a feed only records what is in it, unless backfill asks for its
// newest items.
//
// Feeds are fetched by internal/feedfetch: a feed that fails backs off and
// shows in Status; it blocks nothing else.
package feeds

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/mmcdole/gofeed"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/approvals/timing"
	"github.com/heed-dev/heed/internal/feedfetch"
)

// DefaultText is the text template of a feed that gives none.
const DefaultText = "{{.Title}}\n{{.Link}}"

// DefaultEvery is the wait between fetches of a feed that gives none.
const DefaultEvery = 10 * time.Minute

// baselineKey is the item key recording that a feed's first fetch was
// taken: no item has an empty key.
const baselineKey = ""

// Feed is one configured feed and what its items become.
type Feed struct {
	Name string
	URL  string
	// Text is a text/template over Item; Variants are per target.
	Text     string
	Variants map[string]string
	Targets  []string
	// Room is the review room whose approvers review its posts; "" is the
	// default room.
	Room string
	// Delay schedules a new item this long after it was first seen;
	// otherwise Slots does, at the next free slot in Zone.
	Delay time.Duration
	Slots timing.Slots
	Zone  *time.Location
	// Backfill is how many of the newest items the first fetch imports.
	Backfill int
	// Every is the wait between fetches (default DefaultEvery).
	Every time.Duration
}

// Item is what a text template sees of a feed item.
type Item struct {
	Title      string
	Link       string
	Summary    string // the item's description as plain text
	Categories []string
}

// Items keeps the feed items heed has seen (package sqlite's Store).
type Items interface {
	// FeedItems returns the items of one feed seen so far, by key.
	FeedItems(ctx context.Context, feed string) (map[string]approvals.FeedItem, error)
	// ClaimFeedItems records items as seen and returns the keys of those
	// not seen before.
	ClaimFeedItems(ctx context.Context, items []approvals.FeedItem) (map[string]bool, error)
	// SetFeedItem records an item's content hash and post.
	SetFeedItem(ctx context.Context, feed, key, hash string, postID int64) error
	// ReleaseFeedItem forgets a claimed item whose post could not be
	// stored.
	ReleaseFeedItem(ctx context.Context, feed, key string) error
}

// Options are what a Source works with.
type Options struct {
	Posts   approvals.PostService
	Reviews approvals.ReviewService
	Items   Items
	Log     *slog.Logger
	// Fetch are the fetcher's settings; each feed's Every is its interval.
	Fetch feedfetch.Options
}

// Source polls the feeds and turns their new items into posts. Polls run
// one at a time.
type Source struct {
	o      Options
	feeds  []*feed
	pollMu sync.Mutex
}

type feed struct {
	Feed
	fetch    *feedfetch.Feed
	text     *template.Template
	variants map[string]*template.Template
}

// Check checks one feed's settings as a configuration check does, naming
// the field at fault.
func Check(f Feed) error {
	_, err := compile(f, feedfetch.Options{})
	return err
}

func compile(f Feed, o feedfetch.Options) (*feed, error) {
	if strings.TrimSpace(f.Name) == "" {
		return nil, errors.New("name: give the feed a name; its posts' cards show it")
	}
	o.Interval = cmp.Or(f.Every, DefaultEvery)
	ff, err := feedfetch.New(f.Name, f.URL, o)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	if len(f.Targets) == 0 {
		return nil, errors.New("targets: name at least one target its posts go to")
	}
	switch {
	case f.Delay < 0:
		return nil, errors.New("delay: give a duration such as 2h")
	case f.Delay > 0 && !f.Slots.Empty():
		return nil, errors.New("delay and slots: give one of the two")
	case f.Delay == 0 && f.Slots.Empty():
		return nil, errors.New(`delay or slots: say when a new item is to go out, such as delay: 2h or slots: ["Mon-Fri 09:30"]`)
	}
	if f.Backfill < 0 {
		return nil, errors.New("backfill: give how many of the newest items the first fetch imports, such as 3, or 0")
	}
	if f.Every < 0 {
		return nil, errors.New("every: give a duration such as 10m")
	}
	out := &feed{Feed: f, fetch: ff, variants: map[string]*template.Template{}}
	if out.text, err = parse("text", cmp.Or(f.Text, DefaultText)); err != nil {
		return nil, err
	}
	for _, target := range slices.Sorted(maps.Keys(f.Variants)) {
		if !slices.Contains(f.Targets, target) {
			return nil, fmt.Errorf("variants.%s: %q is not one of the feed's targets (%s)", target, target, strings.Join(f.Targets, ", "))
		}
		if out.variants[target], err = parse("variants."+target, f.Variants[target]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sample is what templates are tried on when the configuration is checked.
var sample = Item{Title: "Title", Link: "https://example.org/item", Summary: "Summary", Categories: []string{"news"}}

func parse(field, text string) (*template.Template, error) {
	t, err := template.New(field).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", field, err)
	}
	if err := t.Execute(&strings.Builder{}, sample); err != nil {
		return nil, fmt.Errorf("%s: %v (a template sees .Title, .Link, .Summary and .Categories)", field, err)
	}
	return t, nil
}

// New checks the feeds and returns their Source. Nothing is fetched until
// Poll.
func New(feeds []Feed, o Options) (*Source, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s := &Source{o: o}
	names := map[string]bool{}
	for i, f := range feeds {
		cf, err := compile(f, o.Fetch)
		if err != nil {
			return nil, fmt.Errorf("sources.feeds[%d] (%s) %w", i, f.Name, err)
		}
		if names[f.Name] {
			return nil, fmt.Errorf("sources.feeds[%d]: two feeds are named %q; give each its own name", i, f.Name)
		}
		names[f.Name] = true
		s.feeds = append(s.feeds, cf)
	}
	return s, nil
}

// Status reports every feed's health, in configuration order.
func (s *Source) Status() []feedfetch.Status {
	out := make([]feedfetch.Status, len(s.feeds))
	for i, f := range s.feeds {
		out[i] = f.fetch.Status()
	}
	return out
}

// Next is when the earliest feed is due.
func (s *Source) Next() time.Time {
	var next time.Time
	for i, f := range s.feeds {
		if n := f.fetch.NextAttempt(); i == 0 || n.Before(next) {
			next = n
		}
	}
	return next
}

// Result is what one Poll did.
type Result struct {
	Added  []int64 // posts made from new items
	Edited []int64 // posts edited after their item changed
}

// Poll fetches every feed due at now (at once) and turns what changed into
// posts, feed by feed in configuration order. A feed that fails is logged
// and shows in Status; it does not stop the others.
func (s *Source) Poll(ctx context.Context, now time.Time) Result {
	s.pollMu.Lock()
	defer s.pollMu.Unlock()
	var due []*feed
	for _, f := range s.feeds {
		if f.fetch.Due(now) {
			due = append(due, f)
		}
	}
	docs := make([]*gofeed.Feed, len(due))
	var wg sync.WaitGroup
	for i, f := range due {
		wg.Go(func() {
			doc, err := f.fetch.Fetch(ctx, now)
			if err != nil && ctx.Err() == nil {
				st := f.fetch.Status()
				s.o.Log.Warn("feed failed", slog.String("feed", st.Name), slog.String("url", st.URL),
					slog.String("error", st.Error), slog.Int("failures", st.Failures), slog.Time("next_attempt", st.NextAttempt))
			}
			docs[i] = doc
		})
	}
	wg.Wait()
	var res Result
	for i, f := range due {
		if docs[i] == nil || ctx.Err() != nil {
			continue
		}
		if err := s.take(ctx, f, docs[i], now, &res); err != nil {
			if ctx.Err() != nil {
				return res
			}
			// Fetch the whole feed again next time, to try again.
			f.fetch.Forget()
			s.o.Log.Error("feed items not recorded; trying again at the next fetch", slog.String("feed", f.Name), slog.Any("err", err))
		}
	}
	return res
}

// entry is one item of a fetched document.
type entry struct {
	key, hash string
	item      Item
	published time.Time
	order     int // position in the document
}

func entries(doc *gofeed.Feed) []entry {
	var out []entry
	seen := map[string]bool{}
	for i, it := range doc.Items {
		key := feedfetch.ItemKey(it)
		if key == "" || seen[key] {
			continue
		}
		seen[key] = true
		e := entry{key: key, published: feedfetch.ItemTime(it), order: i, item: Item{
			Title:   strings.TrimSpace(it.Title),
			Link:    feedfetch.ItemLink(it),
			Summary: plain(cmp.Or(it.Description, it.Content)),
		}}
		for _, c := range it.Categories {
			if c = strings.TrimSpace(c); c != "" {
				e.item.Categories = append(e.item.Categories, c)
			}
		}
		e.hash = contentHash(e.item)
		out = append(out, e)
	}
	return out
}

// contentHash tells an edited item from the one seen before.
func contentHash(it Item) string {
	h := sha256.New()
	for _, s := range append([]string{it.Title, it.Link, it.Summary}, it.Categories...) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

var tags = regexp.MustCompile(`<[^>]*>`)

// plain is an item's HTML description as text.
func plain(s string) string {
	s = tags.ReplaceAllString(s, " ")
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}

// oldestFirst orders entries as they were published: by date where both
// have one, else the document's order reversed (feeds list the newest
// first).
func oldestFirst(es []entry) []entry {
	out := slices.Clone(es)
	slices.SortStableFunc(out, func(a, b entry) int {
		if !a.published.IsZero() && !b.published.IsZero() && !a.published.Equal(b.published) {
			return a.published.Compare(b.published)
		}
		return b.order - a.order
	})
	return out
}

// take records a fetched document's items: claims the new ones and makes
// their posts, and edits the posts of the changed ones. An error means
// the store could not be read or written.
func (s *Source) take(ctx context.Context, f *feed, doc *gofeed.Feed, now time.Time, res *Result) error {
	known, err := s.o.Items.FeedItems(ctx, f.Name)
	if err != nil {
		return err
	}
	es := oldestFirst(entries(doc))
	_, baselined := known[baselineKey]
	claims := make([]approvals.FeedItem, 0, len(es)+1)
	for _, e := range es {
		claims = append(claims, approvals.FeedItem{Feed: f.Name, Key: e.key, Hash: e.hash, FirstSeen: now})
	}
	toImport := es
	if !baselined {
		// The first fetch: what is in the feed already is the past, but
		// for the newest Backfill items.
		claims = append(claims, approvals.FeedItem{Feed: f.Name, Key: baselineKey, FirstSeen: now})
		toImport = es[max(len(es)-f.Backfill, 0):]
		s.o.Log.Info("feed read for the first time", slog.String("feed", f.Name), slog.Int("items", len(es)), slog.Int("backfill", len(toImport)))
	}
	claimed, err := s.o.Items.ClaimFeedItems(ctx, claims)
	if err != nil {
		return err
	}
	for _, e := range toImport {
		if !claimed[e.key] {
			continue // seen before: never a post twice
		}
		id, err := s.add(ctx, f, e, now)
		if err != nil {
			return err
		}
		if id != 0 {
			res.Added = append(res.Added, id)
		}
	}
	for _, e := range es {
		k, ok := known[e.key]
		if !ok || k.PostID == 0 || k.Hash == e.hash {
			continue
		}
		edited, err := s.edit(ctx, f, e, k.PostID)
		if err != nil {
			return err
		}
		if edited {
			res.Edited = append(res.Edited, k.PostID)
		}
	}
	if len(res.Added) > 0 {
		if _, err := s.o.Posts.Materialize(ctx); err != nil {
			return err
		}
	}
	return nil
}

func actor(f *feed) string { return "feed:" + f.Name }
func place(f *feed) string { return "feed " + f.Name }

// transient reports whether a store error may pass: the item is tried
// again rather than given up.
func transient(err error) bool {
	c := approvals.ErrorCode(err)
	return c == approvals.EINTERNAL || c == approvals.EUNAVAILABLE
}

// add makes the post of a claimed item and records it; 0 when the post
// was refused (logged: the item is not tried again).
func (s *Source) add(ctx context.Context, f *feed, e entry, now time.Time) (int64, error) {
	log := s.o.Log.With(slog.String("feed", f.Name), slog.String("item", e.key))
	np, err := s.newPost(ctx, f, e, now)
	if err == nil {
		var p approvals.Post
		if p, err = s.o.Posts.AddPost(ctx, np, actor(f), place(f)); err == nil {
			log.Info("feed item is a post, waiting for approval", slog.Int64("post", p.ID), slog.Time("at", p.Schedule.At))
			return p.ID, s.o.Items.SetFeedItem(ctx, f.Name, e.key, e.hash, p.ID)
		}
	}
	if transient(err) {
		if rerr := s.o.Items.ReleaseFeedItem(ctx, f.Name, e.key); rerr != nil {
			return 0, errors.Join(err, rerr)
		}
		return 0, err
	}
	log.Warn("feed item not made a post; fix the feed's settings", slog.String("why", approvals.ErrorMessage(err)))
	return 0, nil
}

// render fills the feed's templates for an item.
func (f *feed) render(it Item) (text string, variants map[string]string, err error) {
	exec := func(t *template.Template) (string, error) {
		var b strings.Builder
		if err := t.Execute(&b, it); err != nil {
			return "", fmt.Errorf("template %s: %v", t.Name(), err)
		}
		return strings.TrimSpace(b.String()), nil
	}
	if text, err = exec(f.text); err != nil {
		return "", nil, err
	}
	variants = map[string]string{}
	for target, t := range f.variants {
		if variants[target], err = exec(t); err != nil {
			return "", nil, err
		}
	}
	return text, variants, nil
}

func (s *Source) newPost(ctx context.Context, f *feed, e entry, now time.Time) (approvals.NewPost, error) {
	text, variants, err := f.render(e.item)
	if err != nil {
		return approvals.NewPost{}, approvals.Errorf(approvals.EINVALID, "%v", err)
	}
	zone := f.Zone
	if zone == nil {
		zone = time.UTC
	}
	at := now.Add(f.Delay)
	if f.Delay == 0 {
		taken, err := s.taken(ctx, f.Room)
		if err != nil {
			return approvals.NewPost{}, err
		}
		var ok bool
		if at, ok = f.Slots.Next(now, zone, func(t time.Time) bool { return !taken[t.Unix()] }); !ok {
			return approvals.NewPost{}, approvals.Errorf(approvals.EINVALID, "no free slot within a year")
		}
	}
	src := "feed: " + f.Name
	if e.item.Link != "" {
		src += ", " + e.item.Link
	}
	return approvals.NewPost{
		Text: text, Variants: variants, Targets: slices.Clone(f.Targets), Author: actor(f), Room: f.Room,
		Schedule: approvals.Schedule{At: at, TZ: zone.String()}, Source: src,
	}, nil
}

// takenLookback is how many recent posts are looked at for the slots
// they hold.
const takenLookback = 500

// taken are the times (Unix seconds) of the room's posts still to go out:
// a slot is free when no post of the room is scheduled at it.
func (s *Source) taken(ctx context.Context, room string) (map[int64]bool, error) {
	posts, err := s.o.Posts.ListPosts(ctx, false, takenLookback)
	if err != nil {
		return nil, err
	}
	out := map[int64]bool{}
	for _, p := range posts {
		if p.Room == room && !p.Schedule.Recurring() {
			out[p.Schedule.At.Unix()] = true
		}
	}
	return out, nil
}

// edit brings the post of a changed item up to date through EditPost,
// which voids the approvals of what changed. A post canceled, or one that
// went out or is going out, is left alone: that is logged. It reports
// whether the post was edited.
func (s *Source) edit(ctx context.Context, f *feed, e entry, postID int64) (bool, error) {
	log := s.o.Log.With(slog.String("feed", f.Name), slog.String("item", e.key), slog.Int64("post", postID))
	p, err := s.o.Posts.GetPost(ctx, postID)
	if err != nil {
		return false, err
	}
	if why, err := s.settled(ctx, p); err != nil {
		return false, err
	} else if why != "" {
		log.Warn("feed item changed after its post was "+why+"; the post is left as it is", slog.String("title", e.item.Title))
		return false, s.o.Items.SetFeedItem(ctx, f.Name, e.key, e.hash, postID)
	}
	text, variants, err := f.render(e.item)
	if err == nil {
		_, err = s.o.Posts.EditPost(ctx, postID, approvals.PostEdit{Text: &text, Variants: variants}, actor(f), place(f))
	}
	if err != nil {
		if transient(err) {
			return false, err
		}
		log.Warn("feed item changed, but its post could not be edited", slog.String("why", approvals.ErrorMessage(err)))
		return false, s.o.Items.SetFeedItem(ctx, f.Name, e.key, e.hash, postID)
	}
	log.Info("feed item changed; its post is edited and needs approving again")
	return true, s.o.Items.SetFeedItem(ctx, f.Name, e.key, e.hash, postID)
}

// settled says why a post must not be edited any more: canceled, or an
// occurrence of it no longer open (published, publishing, failed, missed,
// unknown); "" when it may be.
func (s *Source) settled(ctx context.Context, p approvals.Post) (string, error) {
	if p.Canceled {
		return "canceled", nil
	}
	occs, err := s.o.Reviews.Occurrences(ctx, p.ID, 0)
	if err != nil {
		return "", err
	}
	for _, o := range occs {
		if !o.State.Open() {
			return string(o.State), nil
		}
	}
	return "", nil
}
