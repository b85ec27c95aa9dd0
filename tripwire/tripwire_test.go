package tripwire

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2027, 11, 9, 8, 0, 0, 0, time.UTC)

type item struct {
	guid, title, link, description string
	published                      time.Time // zero: no pubDate
}

// rss renders an RSS 2.0 document (https://www.rssboard.org/rss-specification).
func rss(items ...item) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<rss version="2.0"><channel><title>Example Wire</title><link>http://example.org/</link><description>Breaking news</description>` + "\n")
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
		if !it.published.IsZero() {
			fmt.Fprintf(&b, "<pubDate>%s</pubDate>", it.published.Format(time.RFC1123Z))
		}
		b.WriteString("</item>\n")
	}
	b.WriteString("</channel></rss>\n")
	return b.String()
}

// fakeFeed is an RSS server whose answer the test sets step by step.
type fakeFeed struct {
	mu           sync.Mutex
	mode         string // ok, 500, 503, badxml, badsyntax, html, huge, hugechunked, hang
	body         string
	etag         string // sent when set; a matching If-None-Match gets 304
	lastModified string
	requests     []http.Header
	hugeDone     chan int64    // bytes a huge answer managed to write
	release      chan struct{} // ends a hanging answer
}

const hugeSize = 50 << 20

func newFakeFeed(t *testing.T) (*fakeFeed, *httptest.Server) {
	f := &fakeFeed{mode: "ok", hugeDone: make(chan int64, 1), release: make(chan struct{})}
	srv := httptest.NewServer(f)
	t.Cleanup(func() {
		close(f.release)
		srv.Close()
	})
	return f, srv
}

func (f *fakeFeed) set(mode, body, etag string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode, f.body, f.etag = mode, body, etag
}

func (f *fakeFeed) requestCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func (f *fakeFeed) lastRequest() http.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[len(f.requests)-1]
}

func (f *fakeFeed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Header.Clone())
	mode, body, etag, lastModified := f.mode, f.body, f.etag, f.lastModified
	f.mu.Unlock()

	switch mode {
	case "ok":
		if etag != "" && r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if etag != "" {
			w.Header().Set("ETag", etag)
		}
		if lastModified != "" {
			w.Header().Set("Last-Modified", lastModified)
		}
		w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
		_, _ = w.Write([]byte(body))
	case "500":
		http.Error(w, "internal error", http.StatusInternalServerError)
	case "503":
		w.Header().Set("Retry-After", "3600")
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	case "badxml":
		// Cut off mid-document, as a dropped connection leaves it. (gofeed
		// reads past merely sloppy XML such as a misspelt end tag.)
		w.Header().Set("Content-Type", "application/rss+xml")
		_, _ = w.Write([]byte(`<rss version="2.0"><channel><title>x</title><item><title>Explosion downtown</title></item>`))
	case "badsyntax":
		w.Header().Set("Content-Type", "application/rss+xml")
		_, _ = w.Write([]byte(`<rss version="2.0"><channel><title>x</title><item><title>Explosion <downtown</title></item></channel></rss>`))
	case "html":
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<!doctype html><html><body><h1>Explosion of errors</h1></body></html>"))
	case "huge", "hugechunked":
		if mode == "huge" {
			w.Header().Set("Content-Length", strconv.Itoa(hugeSize))
		}
		w.Header().Set("Content-Type", "application/rss+xml")
		chunk := bytes.Repeat([]byte("<!-- padding padding padding -->\n"), 1<<15) // 1 MiB
		var written int64
		for written < hugeSize {
			n, err := w.Write(chunk[:min(len(chunk), hugeSize-int(written))])
			written += int64(n)
			if err != nil {
				break
			}
			if fl, ok := w.(http.Flusher); ok {
				fl.Flush()
			}
		}
		f.hugeDone <- written
	case "hang":
		select {
		case <-r.Context().Done():
		case <-f.release:
		}
	}
}

func newWatcher(t *testing.T, cfg Config) *Watcher {
	t.Helper()
	if cfg.Keywords == nil {
		cfg.Keywords = []string{"explosion", "attack*", "mass shooting", "Anschlag"}
	}
	cfg.Interval = time.Minute
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func titles(alerts []Alert) []string {
	var out []string
	for _, a := range alerts {
		out = append(out, a.Title)
	}
	return out
}

func TestMatchingItemAlertsOnce(t *testing.T) {
	f, srv := newFakeFeed(t)
	// Served without validators, so every fetch is a full 200.
	calm := item{guid: "a", title: "Markets open higher", link: "http://example.org/a", published: t0.Add(-10 * time.Minute)}
	old := item{guid: "old", title: "Explosion at a factory", link: "http://example.org/old", published: t0.Add(-3 * 24 * time.Hour)}
	f.set("ok", rss(calm, old), "")
	w := newWatcher(t, Config{Feeds: []Feed{{Name: "wire", URL: srv.URL + "/breaking.rss"}}})

	if got := w.Poll(context.Background(), t0); len(got) != 0 {
		t.Fatalf("first poll alerted %q; the matching item is days old", titles(got))
	}
	breaking := item{guid: "b", title: "Explosion at the central station", link: "http://example.org/b",
		description: "Police have closed the area.", published: t0.Add(90 * time.Second)}
	f.set("ok", rss(breaking, calm, old), "")

	// Not due yet: no request.
	if got := w.Poll(context.Background(), t0.Add(30*time.Second)); len(got) != 0 || f.requestCount() != 1 {
		t.Fatalf("poll before the interval: %d alerts, %d requests", len(got), f.requestCount())
	}
	got := w.Poll(context.Background(), t0.Add(2*time.Minute))
	want := []Alert{{
		Feed: "wire", Key: "b", Title: "Explosion at the central station", Link: "http://example.org/b",
		Published: t0.Add(90 * time.Second), Keywords: []string{"explosion"},
	}}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Fatalf("alert (-want +got):\n%s", diff)
	}
	// The same document again: nothing new.
	if got := w.Poll(context.Background(), t0.Add(4*time.Minute)); len(got) != 0 {
		t.Fatalf("re-fetch alerted again: %q", titles(got))
	}
	if f.requestCount() != 3 {
		t.Fatalf("%d requests, want 3", f.requestCount())
	}
	st := w.Status()[0]
	if !st.LastOK.Equal(t0.Add(4*time.Minute)) || st.Error != "" || st.Failures != 0 || !st.NextAttempt.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("status %+v", st)
	}
}

func TestConditionalRequests(t *testing.T) {
	f, srv := newFakeFeed(t)
	lastMod := "Tue, 09 Nov 2027 07:58:00 GMT"
	f.lastModified = lastMod
	first := item{guid: "1", title: "Attacks on shipping reported", published: t0.Add(-5 * time.Minute)}
	f.set("ok", rss(first), `"v1"`)
	w := newWatcher(t, Config{Feeds: []Feed{{URL: srv.URL + "/feed"}}})

	got := w.Poll(context.Background(), t0)
	if diff := cmp.Diff([]string{"Attacks on shipping reported"}, titles(got)); diff != "" {
		t.Fatalf("first poll (-want +got):\n%s", diff)
	}
	if h := f.lastRequest(); h.Get("If-None-Match") != "" || h.Get("If-Modified-Since") != "" {
		t.Fatalf("first request was conditional: %v", h)
	}
	if got := w.Poll(context.Background(), t0.Add(time.Minute)); len(got) != 0 {
		t.Fatalf("304 alerted: %q", titles(got))
	}
	h := f.lastRequest()
	if h.Get("If-None-Match") != `"v1"` || h.Get("If-Modified-Since") != lastMod {
		t.Fatalf("second request headers: If-None-Match %q, If-Modified-Since %q", h.Get("If-None-Match"), h.Get("If-Modified-Since"))
	}
	if st := w.Status()[0]; !st.LastOK.Equal(t0.Add(time.Minute)) || st.Error != "" {
		t.Fatalf("status after 304: %+v", st)
	}

	// A new version: the new item alerts, the old one does not.
	second := item{guid: "2", title: "Mass  shooting reported", published: t0.Add(90 * time.Second)}
	f.set("ok", rss(second, first), `"v2"`)
	got = w.Poll(context.Background(), t0.Add(2*time.Minute))
	if diff := cmp.Diff([]string{"Mass  shooting reported"}, titles(got)); diff != "" {
		t.Fatalf("after change (-want +got):\n%s", diff)
	}
	if got[0].Keywords[0] != "mass shooting" {
		t.Fatalf("keywords %q", got[0].Keywords)
	}
	w.Poll(context.Background(), t0.Add(3*time.Minute))
	if h := f.lastRequest(); h.Get("If-None-Match") != `"v2"` {
		t.Fatalf("validator not updated: %q", h.Get("If-None-Match"))
	}
}

// A broken answer changes nothing: validators, memory of seen items and
// earlier alerts stay as they were, and the failure shows in Status.
func TestBrokenFeedChangesNothing(t *testing.T) {
	tests := []struct {
		mode      string
		wantError string
	}{
		{"500", "HTTP 500 Internal Server Error"},
		{"badxml", "not a valid RSS, Atom or JSON feed: XML syntax error on line 1: unexpected EOF"},
		{"badsyntax", "not a valid RSS, Atom or JSON feed: XML syntax error"},
		{"html", "not a valid RSS, Atom or JSON feed: failed to detect feed type"},
		{"huge", "response of 52428800 bytes is over the 1048576-byte limit"},
		{"hugechunked", "response is over the 1048576-byte limit"},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			f, srv := newFakeFeed(t)
			seen := item{guid: "s", title: "Anschlag in der Innenstadt", published: t0.Add(-time.Minute)}
			f.set("ok", rss(seen), `"v1"`)
			w := newWatcher(t, Config{Feeds: []Feed{{Name: "wire", URL: srv.URL}}, MaxBytes: 1 << 20})
			if got := w.Poll(context.Background(), t0); len(got) != 1 {
				t.Fatalf("setup: %d alerts, want 1", len(got))
			}
			okStatus := w.Status()[0]

			f.set(tc.mode, "", "")
			if got := w.Poll(context.Background(), t0.Add(time.Minute)); len(got) != 0 {
				t.Fatalf("broken feed alerted %q", titles(got))
			}
			if strings.HasPrefix(tc.mode, "huge") {
				select {
				case n := <-f.hugeDone:
					if n >= hugeSize {
						t.Fatalf("the client read the whole %d-byte body", n)
					}
					t.Logf("the server got %d of %d bytes out before the client hung up", n, hugeSize)
				case <-time.After(30 * time.Second):
					t.Fatal("the server is still writing the huge body")
				}
			}
			st := w.Status()[0]
			if !strings.Contains(st.Error, tc.wantError) || st.Failures != 1 ||
				!st.LastError.Equal(t0.Add(time.Minute)) || !st.LastOK.Equal(okStatus.LastOK) ||
				!st.NextAttempt.Equal(t0.Add(3*time.Minute)) {
				t.Fatalf("status %+v\nwant error %q, one failure, next attempt in 2 min", st, tc.wantError)
			}

			// Back to normal, serving the same document in full: the seen
			// item does not alert again, and the old validator is still sent.
			f.set("ok", rss(seen), `"v9"`)
			if got := w.Poll(context.Background(), t0.Add(3*time.Minute)); len(got) != 0 {
				t.Fatalf("recovered feed re-alerted %q", titles(got))
			}
			if h := f.lastRequest(); h.Get("If-None-Match") != `"v1"` {
				t.Fatalf("If-None-Match after failure = %q, want the last good one", h.Get("If-None-Match"))
			}
			if st := w.Status()[0]; st.Error != "" || st.Failures != 0 || !st.LastError.Equal(t0.Add(time.Minute)) {
				t.Fatalf("status after recovery %+v", st)
			}
		})
	}
}

func TestBackoffSchedule(t *testing.T) {
	f, srv := newFakeFeed(t)
	f.set("500", "", "")
	w := newWatcher(t, Config{Feeds: []Feed{{URL: srv.URL}}, MaxBackoff: 10 * time.Minute})
	now := t0
	// Interval is 1 min: waits double from 2 min and stop at MaxBackoff.
	for i, want := range []time.Duration{2, 4, 8, 10, 10} {
		w.Poll(context.Background(), now)
		st := w.Status()[0]
		if st.Failures != i+1 || !st.NextAttempt.Equal(now.Add(want*time.Minute)) {
			t.Fatalf("failure %d: next attempt %s after now, failures %d; want %d min", i+1, st.NextAttempt.Sub(now), st.Failures, want)
		}
		// Polling before then does not touch the server.
		before := f.requestCount()
		w.Poll(context.Background(), st.NextAttempt.Add(-time.Second))
		if f.requestCount() != before {
			t.Fatal("polled a feed that was backing off")
		}
		now = st.NextAttempt
	}
	f.set("ok", rss(item{guid: "x", title: "calm"}), "")
	w.Poll(context.Background(), now)
	if st := w.Status()[0]; st.Failures != 0 || !st.NextAttempt.Equal(now.Add(time.Minute)) {
		t.Fatalf("after success: %+v", st)
	}
	// The schedule starts over.
	f.set("500", "", "")
	now = now.Add(time.Minute)
	w.Poll(context.Background(), now)
	if st := w.Status()[0]; !st.NextAttempt.Equal(now.Add(2 * time.Minute)) {
		t.Fatalf("backoff did not reset: next in %s", st.NextAttempt.Sub(now))
	}
}

func TestRetryAfter(t *testing.T) {
	f, srv := newFakeFeed(t)
	f.set("503", "", "")
	w := newWatcher(t, Config{Feeds: []Feed{{URL: srv.URL}}})
	w.Poll(context.Background(), t0)
	if st := w.Status()[0]; !st.NextAttempt.Equal(t0.Add(time.Hour)) || !strings.Contains(st.Error, "503") {
		t.Fatalf("status %+v, want the server's one hour", st)
	}
}

func TestTimeout(t *testing.T) {
	f, srv := newFakeFeed(t)
	f.set("hang", "", "")
	w, err := New(Config{Feeds: []Feed{{URL: srv.URL}}, Keywords: []string{"x"}, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w.Poll(context.Background(), t0)
	if st := w.Status()[0]; st.Error != "no complete answer within 100ms" {
		t.Fatalf("status %+v", st)
	}
}

// A canceled context (shutdown) is not the feed's fault.
func TestCanceledPollIsNotAFailure(t *testing.T) {
	f, srv := newFakeFeed(t)
	f.set("ok", rss(), "")
	w := newWatcher(t, Config{Feeds: []Feed{{URL: srv.URL}}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w.Poll(ctx, t0)
	if st := w.Status()[0]; st.Failures != 0 || st.Error != "" {
		t.Fatalf("status %+v", st)
	}
}

func TestOneBrokenFeedDoesNotStopOthers(t *testing.T) {
	bad, badSrv := newFakeFeed(t)
	bad.set("500", "", "")
	good, goodSrv := newFakeFeed(t)
	good.set("ok", rss(item{guid: "g", title: "Explosion reported", published: t0}), "")
	w := newWatcher(t, Config{Feeds: []Feed{{Name: "bad", URL: badSrv.URL}, {Name: "good", URL: goodSrv.URL}}})
	got := w.Poll(context.Background(), t0)
	if len(got) != 1 || got[0].Feed != "good" {
		t.Fatalf("alerts %+v", got)
	}
	st := w.Status()
	if st[0].Name != "bad" || st[0].Failures != 1 || st[1].Name != "good" || st[1].Failures != 0 {
		t.Fatalf("status %+v", st)
	}
	if !w.Next().Equal(t0.Add(time.Minute)) {
		t.Fatalf("Next = %s, want the good feed's next fetch", w.Next())
	}
}

func TestFirstFetchAndAge(t *testing.T) {
	f, srv := newFakeFeed(t)
	undated := item{guid: "u1", title: "Explosion heard (undated)"}
	fresh := item{guid: "f1", title: "Attack on power grid", published: t0.Add(-30 * time.Minute)}
	stale := item{guid: "s1", title: "Explosion last week", published: t0.Add(-3 * time.Hour)}
	f.set("ok", rss(undated, fresh, stale), "")
	w := newWatcher(t, Config{Feeds: []Feed{{URL: srv.URL}}})
	if diff := cmp.Diff([]string{"Attack on power grid"}, titles(w.Poll(context.Background(), t0))); diff != "" {
		t.Fatalf("first fetch (-want +got):\n%s", diff)
	}
	// After the first fetch, a new undated item is news.
	undated2 := item{guid: "u2", title: "Second explosion heard (undated)"}
	f.set("ok", rss(undated2, undated, fresh, stale), "")
	if diff := cmp.Diff([]string{"Second explosion heard (undated)"}, titles(w.Poll(context.Background(), t0.Add(time.Minute)))); diff != "" {
		t.Fatalf("second fetch (-want +got):\n%s", diff)
	}
}

func TestAtomFeed(t *testing.T) {
	atom, err := os.ReadFile("testdata/atom.xml")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/atom+xml")
		_, _ = w.Write(atom)
	}))
	t.Cleanup(srv.Close)
	w, err := New(Config{Feeds: []Feed{{URL: srv.URL}}, Keywords: []string{"überschwemmung"}})
	if err != nil {
		t.Fatal(err)
	}
	got := w.Poll(context.Background(), t0)
	if len(got) != 1 || got[0].Link != "http://example.org/breaking/flood-old-town" ||
		got[0].Key != "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a" || got[0].Keywords[0] != "überschwemmung" {
		t.Fatalf("alerts %+v", got)
	}
}

func TestSecretsStayOutOfStatusAndLogs(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close() // connection refused from now on
	var logs bytes.Buffer
	feedURL := strings.Replace(addr, "http://", "http://user:hunter2@", 1) + "/private.rss?token=s3cr3t"
	w, err := New(Config{
		Feeds:    []Feed{{Name: "private", URL: feedURL}},
		Keywords: []string{"x"},
		Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Poll(context.Background(), t0)
	st := w.Status()[0]
	if st.Error == "" || !strings.HasPrefix(st.Error, "request failed:") {
		t.Fatalf("status %+v, want a request failure", st)
	}
	if st.URL != addr+"/private.rss" {
		t.Fatalf("status URL %q", st.URL)
	}
	for _, text := range []string{fmt.Sprintf("%+v", st), logs.String()} {
		if strings.Contains(text, "s3cr3t") || strings.Contains(text, "hunter2") {
			t.Fatalf("a secret leaked: %s", text)
		}
	}
	if !strings.Contains(logs.String(), "tripwire feed failed") {
		t.Fatalf("no log line: %q", logs.String())
	}
	// A bad URL's error does not echo the token either.
	_, err = New(Config{Feeds: []Feed{{URL: "ftp://example.org/feed?token=s3cr3t"}}, Keywords: []string{"x"}})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("error %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Keywords: []string{"x"}}, "tripwire: no feeds; list at least one RSS or Atom URL"},
		{Config{Feeds: []Feed{{URL: "http://example.org/"}}}, "tripwire: no keywords"},
		{Config{Feeds: []Feed{{URL: "http://example.org/"}}, Keywords: []string{"x", "  "}}, "tripwire: empty keyword"},
		{Config{Feeds: []Feed{{URL: "http://example.org/"}}, Keywords: []string{"*"}}, "tripwire: empty keyword"},
		{Config{Feeds: []Feed{{Name: "wire", URL: "example.org/feed"}}, Keywords: []string{"x"}}, `tripwire: feed "wire": "example.org/feed" is not an http(s) URL`},
		{Config{Feeds: []Feed{{URL: "http://a.example/1"}, {URL: "http://a.example/2"}}, Keywords: []string{"x"}},
			`tripwire: two feeds are named "a.example"; give each feed its own name`},
	}
	for _, tc := range tests {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) error = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestKeywordMatching(t *testing.T) {
	w := newWatcher(t, Config{
		Feeds:    []Feed{{URL: "http://example.org/"}},
		Keywords: []string{"attack", "terror*", "mass shooting", "Anschlag", "überschwemmung", "U.S. troops"},
	})
	tests := []struct {
		text string
		want []string
	}{
		{"Attack on convoy", []string{"attack"}},
		{"ATTACK!", []string{"attack"}},
		{"heart attack", []string{"attack"}},
		{"Attacks continue", nil}, // whole words only
		{"Counterattack launched", nil},
		{"attack_plan leaked", nil},
		{"Terrorism trial opens", []string{"terror*"}},
		{"anti-terror unit", []string{"terror*"}},
		{"Mass\n  shooting in mall", []string{"mass shooting"}},
		{"massshooting", nil},
		{"Anschlag auf Synagoge", []string{"Anschlag"}},
		{"Anschlagsserie", nil},
		{"ÜBERSCHWEMMUNG im Tal", []string{"überschwemmung"}},
		{"Hochwasserüberschwemmung", nil}, // ü joined to a letter is inside a word
		{"<p><b>attack</b> reported</p>", []string{"attack"}},
		{"(attack), \"attack\"", []string{"attack"}},
		{"U.S. troops withdraw", []string{"U.S. troops"}},
		{"US troops withdraw", nil},
		{"Attack and terror", []string{"attack", "terror*"}},
		{"Markets open higher", nil},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, w.match(tc.text)); diff != "" {
			t.Errorf("match(%q) (-want +got):\n%s", tc.text, diff)
		}
	}
}

// fakeClock lets the test see each wait Run asks for and end it.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits chan wait
}

type wait struct {
	d  time.Duration
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.waits <- wait{d, ch}
	return ch
}

func (c *fakeClock) advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

func TestRun(t *testing.T) {
	f, srv := newFakeFeed(t)
	f.set("ok", rss(item{guid: "1", title: "Explosion near port", published: t0}), "")
	clock := &fakeClock{now: t0, waits: make(chan wait)}
	w := newWatcher(t, Config{Feeds: []Feed{{URL: srv.URL}}, Clock: clock})

	alerts := make(chan Alert, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, func(a Alert) { alerts <- a }) }()

	next := func() wait {
		t.Helper()
		select {
		case wt := <-clock.waits:
			return wt
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not wait")
			return wait{}
		}
	}
	wt := next()
	if wt.d != time.Minute {
		t.Fatalf("Run waits %s, want the 1 min interval", wt.d)
	}
	if a := <-alerts; a.Title != "Explosion near port" {
		t.Fatalf("alert %+v", a)
	}
	f.set("ok", rss(item{guid: "2", title: "Second explosion", published: t0.Add(time.Minute)}), "")
	wt.ch <- clock.advance(wt.d)
	wt = next()
	if a := <-alerts; a.Title != "Second explosion" {
		t.Fatalf("alert %+v", a)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run returned %v", err)
	}
	if f.requestCount() != 2 {
		t.Fatalf("%d requests, want 2", f.requestCount())
	}
}
