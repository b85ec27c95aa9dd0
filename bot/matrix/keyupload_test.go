package matrix

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"

	"github.com/heed-dev/heed/bot/matrix/matrixtest"
)

// dropFirstKeyUpload is an HTTP proxy in front of upstream: the first
// /keys/upload reaches the homeserver, which stores the keys, and its
// answer is lost (the connection closes), as when a network drops it.
func dropFirstKeyUpload(t testing.TB, upstream string) (string, *atomic.Int32) {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	var dropped atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/keys/upload") || !dropped.CompareAndSwap(0, 1) {
			rp.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK {
			t.Errorf("the dropped key upload failed upstream: %d %s", rec.Code, rec.Body)
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &dropped
}

// A key upload whose answer was lost went through: heed finds its own keys
// on the homeserver and carries on with them, rather than taking them for
// another device's and refusing to start.
func TestE2EKeyUploadAnswerLost(t *testing.T) {
	var dropped *atomic.Int32
	var proxied string
	w := newWorldWith(t, matrixtest.Shared(t), worldOptions{crypto: &cryptoOptions{encrypted: true},
		homeserver: func(t testing.TB, upstream string) string {
			if proxied == "" {
				proxied, dropped = dropFirstKeyUpload(t, upstream)
			}
			return proxied
		}})
	if dropped.Load() != 1 {
		t.Fatalf("the key upload's answer was not dropped (%d)", dropped.Load())
	}
	_, card := w.card("After a lost key upload answer", time.Hour)
	s := w.watch.Wait(t, "the card", realWait, func(e *event.Event) bool { return e.ID == card })
	if !wasEncrypted(s.Event) {
		t.Fatalf("the card was sent in the clear")
	}
	if strings.Contains(w.logs.String(), "does not hold") {
		t.Errorf("heed took its own keys for another device's:\n%s", w.logs.String())
	}
}
