package feedfetch

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)

const doc = `<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><guid>g1</guid><title>One</title><link>https://example.org/1</link></item></channel></rss>`

// TestConditionalAndForget: the second fetch names the first's ETag and
// Last-Modified and gets nil for 304; after Forget it asks for the whole
// feed again; a Retry-After longer than the backoff parks the feed.
func TestConditionalAndForget(t *testing.T) {
	var mu sync.Mutex
	var got []http.Header
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Clone())
		st := status
		mu.Unlock()
		if st != http.StatusOK {
			w.Header().Set("Retry-After", "7200")
			w.WriteHeader(st)
			return
		}
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Last-Modified", "Mon, 07 Jan 2030 08:00:00 GMT")
		_, _ = w.Write([]byte(doc))
	}))
	t.Cleanup(srv.Close)
	f, err := New("", srv.URL+"/feed?token=s3cr3t", Options{Interval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if f.Name() != srv.Listener.Addr().String() || f.SafeURL() != srv.URL+"/feed" {
		t.Fatalf("name %q, url %q", f.Name(), f.SafeURL())
	}
	d, err := f.Fetch(context.Background(), t0)
	if err != nil || d == nil || ItemKey(d.Items[0]) != "g1" || ItemLink(d.Items[0]) != "https://example.org/1" {
		t.Fatalf("first fetch: %v, %v", d, err)
	}
	if d, err := f.Fetch(context.Background(), t0.Add(time.Minute)); err != nil || d != nil {
		t.Fatalf("304: %v, %v", d, err)
	}
	f.Forget()
	if d, err := f.Fetch(context.Background(), t0.Add(2*time.Minute)); err != nil || d == nil {
		t.Fatalf("after Forget: %v, %v", d, err)
	}
	mu.Lock()
	if got[1].Get("If-None-Match") != `"v1"` || got[1].Get("If-Modified-Since") == "" || got[2].Get("If-None-Match") != "" {
		t.Fatalf("requests: %v", got)
	}
	status = http.StatusTooManyRequests
	mu.Unlock()
	now := t0.Add(3 * time.Minute)
	if _, err := f.Fetch(context.Background(), now); err == nil {
		t.Fatal("429 was not a failure")
	}
	if st := f.Status(); st.Failures != 1 || !st.NextAttempt.Equal(now.Add(2*time.Hour)) || f.Due(now.Add(time.Hour)) {
		t.Fatalf("status %+v", st)
	}
}
