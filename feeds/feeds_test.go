package feeds_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/approvals/timing"
	"github.com/heed-dev/heed/feeds"
	"github.com/heed-dev/heed/internal/feedfetch"
	"github.com/heed-dev/heed/internal/heedtest"
	"github.com/heed-dev/heed/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

type item struct {
	guid, title, link, description string
	categories                     []string
	published                      time.Time // zero: no pubDate
}

// rss renders an RSS 2.0 document (https://www.rssboard.org/rss-specification).
func rss(items ...item) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<rss version="2.0"><channel><title>Example Blog</title><link>https://example.org/</link><description>Posts</description>` + "\n")
	for _, it := range items {
		b.WriteString("<item>")
		if it.guid != "" {
			fmt.Fprintf(&b, `<guid isPermaLink="false">%s</guid>`, html.EscapeString(it.guid))
		}
		fmt.Fprintf(&b, "<title>%s</title>", html.EscapeString(it.title))
		if it.link != "" {
			fmt.Fprintf(&b, "<link>%s</link>", html.EscapeString(it.link))
		}
		if it.description != "" {
			fmt.Fprintf(&b, "<description>%s</description>", html.EscapeString(it.description))
		}
		for _, c := range it.categories {
			fmt.Fprintf(&b, "<category>%s</category>", html.EscapeString(c))
		}
		if !it.published.IsZero() {
			fmt.Fprintf(&b, "<pubDate>%s</pubDate>", it.published.Format(time.RFC1123Z))
		}
		b.WriteString("</item>\n")
	}
	b.WriteString("</channel></rss>\n")
	return b.String()
}

// feedServer is a feed of the test's own that it changes between fetches.
// It sends an ETag of its body, and answers 304 to a request that names
// it.
type feedServer struct {
	mu       sync.Mutex
	mode     string // ok, 500, garbage, huge, hang
	body     string
	requests []http.Header
	notMod   int
	started  chan struct{} // a hanging answer has begun
	release  chan struct{} // ends a hanging answer
	srv      *httptest.Server
}

func newFeedServer(t *testing.T, items ...item) *feedServer {
	f := &feedServer{mode: "ok", body: rss(items...), started: make(chan struct{}, 1), release: make(chan struct{})}
	f.srv = httptest.NewServer(f)
	t.Cleanup(func() {
		f.mu.Lock()
		select {
		case <-f.release:
		default:
			close(f.release)
		}
		f.mu.Unlock()
		f.srv.Close()
	})
	return f
}

func (f *feedServer) URL() string { return f.srv.URL + "/feed.xml" }

func (f *feedServer) set(items ...item) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode, f.body = "ok", rss(items...)
}

func (f *feedServer) setMode(mode string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode = mode
}

func (f *feedServer) unhang() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.release)
}

func (f *feedServer) last() (http.Header, int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[len(f.requests)-1], len(f.requests), f.notMod
}

func (f *feedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Header.Clone())
	mode, body := f.mode, f.body
	sum := sha256.Sum256([]byte(body))
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	if mode == "ok" && r.Header.Get("If-None-Match") == etag {
		f.notMod++
		f.mu.Unlock()
		w.WriteHeader(http.StatusNotModified)
		return
	}
	f.mu.Unlock()
	switch mode {
	case "ok":
		w.Header().Set("ETag", etag)
		w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
		_, _ = w.Write([]byte(body))
	case "500":
		http.Error(w, "internal error", http.StatusInternalServerError)
	case "garbage":
		w.Header().Set("Content-Type", "application/rss+xml")
		_, _ = w.Write([]byte(`<rss version="2.0"><channel><title>x</title><item><title>cut off`))
	case "huge":
		w.Header().Set("Content-Type", "application/rss+xml")
		_, _ = w.Write(bytes.Repeat([]byte("<!-- padding -->\n"), 1<<12)) // 68 KiB
	case "hang":
		f.started <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-f.release:
		}
	}
}

var t0 = time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC) // a Monday

var (
	first  = item{guid: "post-1", title: "Release 1.0", link: "https://example.org/1", description: "<p>The first release &amp; more.</p>", published: t0.Add(-48 * time.Hour)}
	second = item{guid: "post-2", title: "Release 1.1", link: "https://example.org/2", description: "Bug fixes.", categories: []string{"release"}, published: t0.Add(-24 * time.Hour)}
	third  = item{guid: "post-3", title: "Release 1.2", link: "https://example.org/3", description: "More fixes.", published: t0.Add(-time.Hour)}
)

type rig struct {
	*heedtest.Stack
	src  *feeds.Source
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// newRig builds a heed on o with a source of the given feeds; a feed with
// neither delay nor slots gets a delay of 2h, and targets "rec".
func newRig(t *testing.T, o heedtest.Options, fs ...feeds.Feed) *rig {
	t.Helper()
	if o.Clock == nil {
		o.Clock = heedtest.NewClock(t0)
	}
	s := heedtest.New(t, o)
	for i := range fs {
		if fs[i].Delay == 0 && fs[i].Slots.Empty() {
			fs[i].Delay = 2 * time.Hour
		}
		if fs[i].Targets == nil {
			fs[i].Targets = []string{"rec"}
		}
	}
	logs := &syncBuffer{}
	src, err := feeds.New(fs, feeds.Options{Posts: s.Service.Posts, Reviews: s.Service.Reviews, Items: s.Store,
		Log:   slog.New(slog.NewTextHandler(logs, nil)),
		Fetch: feedfetch.Options{Timeout: 10 * time.Second, MaxBytes: 32 << 10}})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{Stack: s, src: src, logs: logs}
}

func (r *rig) poll() feeds.Result {
	r.T.Helper()
	return r.src.Poll(r.Ctx, r.Clock.Now())
}

// next advances the clock to the feeds' next fetch and polls.
func (r *rig) next() feeds.Result {
	r.T.Helper()
	r.Clock.Set(r.src.Next())
	return r.poll()
}

func (r *rig) posts() []approvals.Post {
	r.T.Helper()
	ps, err := r.Service.Posts.ListPosts(r.Ctx, true, 100)
	if err != nil {
		r.T.Fatal(err)
	}
	return ps
}

// TestNewItemsBecomePostsWithTheirSource: an item new since the last
// fetch becomes a post in review with the text its template gives (and its
// target's variant), scheduled its delay after it was seen, and its card
// says which feed it came from and links the item.
func TestNewItemsBecomePostsWithTheirSource(t *testing.T) {
	f := newFeedServer(t, first)
	r := newRig(t, heedtest.Options{Targets: nil}, feeds.Feed{Name: "blog", URL: f.URL(),
		Text:     "New: {{.Title}} {{.Link}}",
		Variants: map[string]string{"rec": "{{.Title}} ({{.Summary}}) {{range .Categories}}#{{.}} {{end}}{{.Link}}"},
	})
	if res := r.poll(); len(res.Added) != 0 {
		t.Fatalf("the first fetch made posts: %+v", res)
	}
	f.set(second, first)
	res := r.next()
	if len(res.Added) != 1 {
		t.Fatalf("second fetch: %+v, want one post", res)
	}
	p, err := r.Service.Posts.GetPost(r.Ctx, res.Added[0])
	if err != nil {
		t.Fatal(err)
	}
	seenAt := r.Clock.Now()
	if p.Text != "New: Release 1.1 https://example.org/2" || p.TextFor("rec") != "Release 1.1 (Bug fixes.) #release https://example.org/2" {
		t.Fatalf("texts %q, %q", p.Text, p.TextFor("rec"))
	}
	if !p.Schedule.At.Equal(seenAt.Add(2*time.Hour)) || p.Source != "feed: blog, https://example.org/2" || p.Author != "feed:blog" {
		t.Fatalf("post %+v", p)
	}
	r.Cycle()
	r.WantState(p.ID, approvals.StateInReview)
	card := r.Chat.CardText(p.ID)
	if !strings.Contains(card, "feed: blog, https://example.org/2") || !strings.Contains(card, "Release 1.1 (Bug fixes.)") {
		t.Fatalf("card:\n%s", card)
	}
	// Fetched again with nothing new: nothing more.
	if res := r.next(); len(res.Added)+len(res.Edited) != 0 || len(r.posts()) != 1 {
		t.Fatalf("third fetch: %+v", res)
	}
}

// TestFirstFetchImportsNothing: what a feed holds when heed first reads it
// is the past: it is recorded, and no post is made of it, even once it is
// fetched in full again.
func TestFirstFetchImportsNothing(t *testing.T) {
	f := newFeedServer(t, third, second, first)
	r := newRig(t, heedtest.Options{}, feeds.Feed{Name: "blog", URL: f.URL()})
	if res := r.poll(); len(res.Added) != 0 {
		t.Fatalf("first fetch: %+v", res)
	}
	f.set(first, second, third) // a new body: fetched in full
	if res := r.next(); len(res.Added) != 0 || len(r.posts()) != 0 {
		t.Fatalf("second fetch: %+v, posts %d", res, len(r.posts()))
	}
	if !strings.Contains(r.logs.String(), "feed read for the first time") {
		t.Fatalf("logs: %s", r.logs)
	}
}

// TestBackfillImportsTheNewest: backfill N makes posts of the newest N
// items of the first fetch, oldest first, and of nothing else in it.
func TestBackfillImportsTheNewest(t *testing.T) {
	f := newFeedServer(t, first, third, second) // not in date order
	r := newRig(t, heedtest.Options{}, feeds.Feed{Name: "blog", URL: f.URL(), Backfill: 2})
	res := r.poll()
	if len(res.Added) != 2 {
		t.Fatalf("first fetch: %+v", res)
	}
	var titles []string
	for _, id := range res.Added {
		p, err := r.Service.Posts.GetPost(r.Ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		titles = append(titles, strings.SplitN(p.Text, "\n", 2)[0])
	}
	if strings.Join(titles, ", ") != "Release 1.1, Release 1.2" {
		t.Fatalf("backfilled %q", titles)
	}
	f.set(first, second, third)
	if res := r.next(); len(res.Added) != 0 || len(r.posts()) != 2 {
		t.Fatalf("second fetch: %+v", res)
	}
}

// TestEditedItemVoidsApproval: an item that changes (same GUID, new
// content) edits its post's text through EditPost, so its approval is void
// as after any edit; once the post has gone out, a change leaves it alone
// and is logged.
func TestEditedItemVoidsApproval(t *testing.T) {
	f := newFeedServer(t)
	r := newRig(t, heedtest.Options{}, feeds.Feed{Name: "blog", URL: f.URL(), Text: "{{.Title}}: {{.Summary}}"})
	r.poll()
	f.set(second)
	res := r.next()
	if len(res.Added) != 1 {
		t.Fatalf("fetch: %+v", res)
	}
	id := res.Added[0]
	r.Cycle()
	if err := r.Chat.React("alice", id, "✅"); err != nil {
		t.Fatal(err)
	}
	r.WantState(id, approvals.StateApproved)

	edited := second
	edited.description = "Bug fixes, and a security fix."
	f.set(edited)
	if res := r.next(); len(res.Edited) != 1 || res.Edited[0] != id || len(res.Added) != 0 {
		t.Fatalf("after the edit: %+v", res)
	}
	r.Cycle()
	r.WantState(id, approvals.StateInReview)
	p, err := r.Service.Posts.GetPost(r.Ctx, id)
	if err != nil || p.Text != "Release 1.1: Bug fixes, and a security fix." {
		t.Fatalf("post text %q, %v", p.Text, err)
	}
	// The same content again edits nothing.
	if res := r.next(); len(res.Edited) != 0 {
		t.Fatalf("unchanged item edited: %+v", res)
	}

	// Approved again, it goes out at its time; a later change leaves it.
	if err := r.Chat.React("bob", id, "✅"); err != nil {
		t.Fatal(err)
	}
	r.WantState(id, approvals.StateApproved)
	r.Clock.Set(p.Schedule.At)
	r.Cycle()
	r.WantState(id, approvals.StatePublished)
	late := edited
	late.title = "Release 1.1 (withdrawn)"
	f.set(late)
	if res := r.next(); len(res.Edited) != 0 {
		t.Fatalf("a published post was edited: %+v", res)
	}
	if p2, _ := r.Service.Posts.GetPost(r.Ctx, id); p2.Text != p.Text {
		t.Fatalf("published post's text changed to %q", p2.Text)
	}
	if !strings.Contains(r.logs.String(), "feed item changed after its post was published; the post is left as it is") {
		t.Fatalf("no log line:\n%s", r.logs)
	}
	if got := r.Rec.Texts(); len(got) != 1 || got[0] != "Release 1.1: Bug fixes, and a security fix." {
		t.Fatalf("published %q", got)
	}
}

// TestCanceledPostIsLeftAlone: a canceled post is not brought back by its
// item's change.
func TestCanceledPostIsLeftAlone(t *testing.T) {
	f := newFeedServer(t)
	r := newRig(t, heedtest.Options{}, feeds.Feed{Name: "blog", URL: f.URL()})
	r.poll()
	f.set(second)
	id := r.next().Added[0]
	if err := r.Service.Posts.CancelPost(r.Ctx, id, "alice", "test"); err != nil {
		t.Fatal(err)
	}
	edited := second
	edited.title = "Release 1.1, again"
	f.set(edited)
	if res := r.next(); len(res.Edited)+len(res.Added) != 0 {
		t.Fatalf("%+v", res)
	}
	if !strings.Contains(r.logs.String(), "after its post was canceled") {
		t.Fatalf("no log line:\n%s", r.logs)
	}
}

// TestRestartImportsNothingTwice: a new heed on the same database (a
// restart), whose fetcher remembers nothing, makes no post again of an
// item made a post before, nor of the first fetch's past.
func TestRestartImportsNothingTwice(t *testing.T) {
	f := newFeedServer(t, first)
	clock := heedtest.NewClock(t0)
	r1 := newRig(t, heedtest.Options{Clock: clock}, feeds.Feed{Name: "blog", URL: f.URL()})
	r1.poll()
	f.set(second, first)
	if res := r1.next(); len(res.Added) != 1 {
		t.Fatalf("before the restart: %+v", res)
	}
	r1.Store.Close()

	r2 := newRig(t, heedtest.Options{Clock: clock, DBPath: r1.DBPath}, feeds.Feed{Name: "blog", URL: f.URL()})
	if res := r2.poll(); len(res.Added) != 0 || len(r2.posts()) != 1 {
		t.Fatalf("after the restart: %+v, %d posts", res, len(r2.posts()))
	}
	if h, _, _ := f.last(); h.Get("If-None-Match") != "" {
		t.Fatalf("the new heed's first fetch was conditional: %v", h)
	}
	f.set(third, second, first)
	if res := r2.next(); len(res.Added) != 1 || len(r2.posts()) != 2 {
		t.Fatalf("a new item after the restart: %+v, %d posts", res, len(r2.posts()))
	}
}

// TestConditionalRequests: a fetch names the last answer's ETag; a 304
// makes nothing and counts as a good fetch.
func TestConditionalRequests(t *testing.T) {
	f := newFeedServer(t, first)
	r := newRig(t, heedtest.Options{}, feeds.Feed{Name: "blog", URL: f.URL(), Every: 5 * time.Minute})
	r.poll()
	if h, _, _ := f.last(); h.Get("If-None-Match") != "" {
		t.Fatalf("first request was conditional")
	}
	if res := r.next(); len(res.Added) != 0 {
		t.Fatalf("304 made posts: %+v", res)
	}
	h, n, notMod := f.last()
	if h.Get("If-None-Match") == "" || notMod != 1 || n != 2 {
		t.Fatalf("second request: If-None-Match %q, %d requests, %d answered 304", h.Get("If-None-Match"), n, notMod)
	}
	if st := r.src.Status()[0]; !st.LastOK.Equal(r.Clock.Now()) || st.Failures != 0 || !st.NextAttempt.Equal(r.Clock.Now().Add(5*time.Minute)) {
		t.Fatalf("status after 304: %+v", st)
	}
	f.set(second, first)
	if res := r.next(); len(res.Added) != 1 {
		t.Fatalf("after a change: %+v", res)
	}
}

// TestBrokenFeedHoldsNothingUp: a feed that fails (HTTP 500, a document
// cut off, one over the size cap, one that hangs) crashes nothing, does
// not stop another feed's new item from becoming a post, nor an approved
// post from going out while it hangs; it backs off, its failure is logged
// and saved for `heed status`, and it recovers.
func TestBrokenFeedHoldsNothingUp(t *testing.T) {
	for _, mode := range []string{"500", "garbage", "huge", "hang"} {
		t.Run(mode, func(t *testing.T) {
			bad := newFeedServer(t, first)
			good := newFeedServer(t, first)
			r := newRig(t, heedtest.Options{},
				feeds.Feed{Name: "broken", URL: bad.URL(), Every: time.Minute},
				feeds.Feed{Name: "good", URL: good.URL(), Every: time.Minute})
			r.poll()
			approved := r.Add("approved before", 5*time.Minute)
			r.Cycle()
			if err := r.Chat.React("alice", approved.ID, "✅"); err != nil {
				t.Fatal(err)
			}

			bad.setMode(mode)
			good.set(second, first)
			r.Clock.Set(approved.Schedule.At)
			polled := make(chan feeds.Result, 1)
			go func() { polled <- r.poll() }()
			if mode == "hang" {
				select {
				case <-bad.started:
				case <-time.After(30 * time.Second):
					t.Fatal("the feed was not fetched")
				}
				// While the broken feed hangs, the approved post goes out.
				r.Cycle()
				r.WantState(approved.ID, approvals.StatePublished)
				bad.unhang()
			}
			var res feeds.Result
			select {
			case res = <-polled:
			case <-time.After(30 * time.Second):
				t.Fatal("the poll did not end")
			}
			if len(res.Added) != 1 {
				t.Fatalf("the good feed's new item: %+v", res)
			}
			r.Cycle()
			r.WantState(approved.ID, approvals.StatePublished)

			st := r.src.Status()
			if st[0].Failures != 1 || st[0].Error == "" || !st[0].NextAttempt.Equal(r.Clock.Now().Add(2*time.Minute)) || st[1].Failures != 0 {
				t.Fatalf("status %+v", st)
			}
			if !strings.Contains(r.logs.String(), "feed failed") || !strings.Contains(r.logs.String(), "feed=broken") {
				t.Fatalf("no log line:\n%s", r.logs)
			}
			if err := r.src.SaveStatus(r.Ctx, r.Store, r.Clock.Now()); err != nil {
				t.Fatal(err)
			}
			h, ok, err := feeds.ReadStatus(r.Ctx, r.Store)
			if err != nil || !ok {
				t.Fatalf("read status: %v, %v", ok, err)
			}
			if lines := h.Lines(time.UTC); len(lines) != 2 || !strings.HasPrefix(lines[0], "⚠ feed broken") || !strings.Contains(lines[1], "feed good") {
				t.Fatalf("status lines %q", lines)
			}
			if got := failuresMetric(t, r); got["broken"] != 1 || got["good"] != 0 || len(got) != 2 {
				t.Fatalf("heed_feed_failures %v", got)
			}

			// Backing off: not fetched again before its time; then it
			// recovers, and its past is still the past.
			_, before, _ := bad.last()
			r.Clock.Advance(time.Minute)
			r.poll()
			if _, after, _ := bad.last(); after != before {
				t.Fatal("a failing feed was fetched before its backoff ended")
			}
			bad.set(first)
			r.Clock.Set(st[0].NextAttempt)
			if res := r.poll(); len(res.Added) != 0 || r.src.Status()[0].Failures != 0 {
				t.Fatalf("recovered: %+v, %+v", res, r.src.Status()[0])
			}
		})
	}
}

// TestSlotsTakeTheNextFreeOne: with slots, each new item takes the next
// slot in the room's zone that no post of the room holds yet.
func TestSlotsTakeTheNextFreeOne(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	slots, err := timing.ParseSlots([]string{"Mon-Fri 09:30", "Mon-Fri 14:00"})
	if err != nil {
		t.Fatal(err)
	}
	f := newFeedServer(t)
	r := newRig(t, heedtest.Options{}, feeds.Feed{Name: "blog", URL: f.URL(), Slots: slots, Zone: berlin})
	r.poll() // Mon 10:00 in Berlin
	f.set(third, second, first)
	res := r.next()
	if len(res.Added) != 3 {
		t.Fatalf("%+v", res)
	}
	var got []string
	for _, id := range res.Added {
		p, _ := r.Service.Posts.GetPost(r.Ctx, id)
		got = append(got, p.Schedule.At.In(berlin).Format("Mon 15:04"))
	}
	if strings.Join(got, ", ") != "Mon 14:00, Tue 09:30, Tue 14:00" {
		t.Fatalf("slots %q", got)
	}
}

// TestBadFeedSettings name the field at fault.
func TestBadFeedSettings(t *testing.T) {
	ok := feeds.Feed{Name: "blog", URL: "https://example.org/feed", Targets: []string{"rec"}, Delay: time.Hour}
	tests := []struct {
		edit func(*feeds.Feed)
		want string
	}{
		{func(f *feeds.Feed) { f.Name = "" }, "name:"},
		{func(f *feeds.Feed) { f.URL = "example.org/feed?token=s3cr3t" }, `url: "example.org/feed" is not an http(s) URL`},
		{func(f *feeds.Feed) { f.Targets = nil }, "targets:"},
		{func(f *feeds.Feed) { f.Delay = 0 }, "delay or slots:"},
		{func(f *feeds.Feed) { f.Backfill = -1 }, "backfill:"},
		{func(f *feeds.Feed) { f.Text = "{{.Title" }, "text:"},
		{func(f *feeds.Feed) { f.Text = "{{.Author}}" }, "text: template: text:1:2: executing \"text\" at <.Author>"},
		{func(f *feeds.Feed) { f.Variants = map[string]string{"other": "x"} }, `variants.other: "other" is not one of the feed's targets`},
	}
	for _, tc := range tests {
		f := ok
		tc.edit(&f)
		if err := feeds.Check(f); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check: %v, want %q", err, tc.want)
		}
	}
	if err := feeds.Check(ok); err != nil {
		t.Fatal(err)
	}
}

// TestRunFeedsPollsOnTheSystemClock: the wiring's loop polls with the
// system's injected clock and saves the feeds' status.
func TestRunFeedsPollsOnTheSystemClock(t *testing.T) {
	f := newFeedServer(t, first)
	r := newRig(t, heedtest.Options{}, feeds.Feed{Name: "blog", URL: f.URL(), Backfill: 1})
	ctx, cancel := context.WithCancel(r.Ctx)
	defer cancel()
	passes := make(chan feeds.Result, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.System.RunFeeds(ctx, r.src, func(res feeds.Result) {
			select {
			case passes <- res:
			default:
			}
		})
	}()
	var res feeds.Result
	select {
	case res = <-passes:
	case <-time.After(30 * time.Second):
		t.Fatal("no pass")
	}
	cancel()
	<-done
	if len(res.Added) != 1 {
		t.Fatalf("%+v", res)
	}
	p, _ := r.Service.Posts.GetPost(r.Ctx, res.Added[0])
	if !p.Schedule.At.Equal(t0.Add(2 * time.Hour)) {
		t.Fatalf("scheduled at %s, want 2h after the injected clock's %s", p.Schedule.At, t0)
	}
	if h, ok, err := feeds.ReadStatus(r.Ctx, r.Store); err != nil || !ok || !h.At.Equal(t0) {
		t.Fatalf("status %+v %v %v", h, ok, err)
	}
}

// failuresMetric reads heed_feed_failures by feed from the system's
// metrics.
func failuresMetric(t *testing.T, r *rig) map[string]float64 {
	t.Helper()
	mfs, err := r.System.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "heed_feed_failures" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	return out
}
