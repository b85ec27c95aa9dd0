package publishtest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"testing"
)

// Proxy is a Backend in front of a real server (GoToSocial for Mastodon,
// say): point the publisher at Proxy.URL and every request passes through to
// the server, except that FailNext makes the next post-creating request fail
// as the package doc describes. Failures are answered in the common
// {"error":"..."} shape; TimeoutAfterSend forwards the request, lets the
// server create the post, then stalls.
type Proxy struct {
	// URL is the proxy's base URL, to use in place of the server's.
	URL string

	rec    Recorder
	isPost func(*http.Request) bool
	posts  func() []Post
}

// NewProxy starts a proxy to upstream for the life of t. isPost tells a
// post-creating request (POST /api/v1/statuses, say) from the others; posts
// reads the server's posts back through its own API.
func NewProxy(t *testing.T, upstream string, isPost func(*http.Request) bool, posts func() []Post) *Proxy {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatalf("publishtest.NewProxy: upstream: %v", err)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) }}
	p := &Proxy{isPost: isPost, posts: posts}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.rec.Called()
		var f Failure
		if p.isPost(r) {
			f = p.rec.TakeFailure()
		}
		fail := func(status int, msg string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			json.NewEncoder(w).Encode(map[string]string{"error": msg})
		}
		switch f {
		case Retryable:
			w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds))
			fail(http.StatusTooManyRequests, "publishtest: too many requests")
		case Permanent:
			fail(http.StatusUnprocessableEntity, PermanentMessage)
		case Auth:
			fail(http.StatusUnauthorized, "publishtest: the access token is invalid")
		case TimeoutAfterSend:
			// The server must finish creating the post even though the
			// client is about to give up, so the forward is detached from
			// the client's cancellation.
			rp.ServeHTTP(httptest.NewRecorder(), r.WithContext(context.WithoutCancel(r.Context())))
			Stall(r)
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// Posts returns the server's posts, as the posts function given to NewProxy
// reads them.
func (p *Proxy) Posts() []Post { return p.posts() }

// Calls returns how many requests passed through the proxy.
func (p *Proxy) Calls() int { return p.rec.Calls() }

// FailNext makes the next post-creating request fail once with f.
func (p *Proxy) FailNext(f Failure) { p.rec.FailNext(f) }
