package httpd

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func metricsStatus(t *testing.T, auth MetricsAuth, remote string, user, pass string) int {
	t.Helper()
	srv := New(Options{Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("heed_up 1\n")) }), MetricsAuth: auth})
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.RemoteAddr = remote
	if user != "" || pass != "" {
		req.SetBasicAuth(user, pass)
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	return rec.Code
}

// TestMetricsAllowList: /metrics answers the allowed networks only;
// loopback by default.
func TestMetricsAllowList(t *testing.T) {
	for _, tc := range []struct {
		allow  []string
		remote string
		want   int
	}{
		{nil, "127.0.0.1:5000", http.StatusOK},
		{nil, "[::1]:5000", http.StatusOK},
		{nil, "10.1.2.3:5000", http.StatusForbidden},
		{nil, "[::ffff:10.1.2.3]:5000", http.StatusForbidden},
		{[]string{"10.0.0.0/8"}, "10.1.2.3:5000", http.StatusOK},
		{[]string{"10.0.0.0/8"}, "[::ffff:10.1.2.3]:5000", http.StatusOK},
		{[]string{"10.0.0.0/8"}, "127.0.0.1:5000", http.StatusForbidden},
		{[]string{"10.0.0.0/8"}, "not an address", http.StatusForbidden},
	} {
		var auth MetricsAuth
		for _, a := range tc.allow {
			auth.Allow = append(auth.Allow, netip.MustParsePrefix(a))
		}
		if got := metricsStatus(t, auth, tc.remote, "", ""); got != tc.want {
			t.Errorf("allow %v, from %s: %d, want %d", tc.allow, tc.remote, got, tc.want)
		}
	}
}

// TestMetricsBasicAuth: with a password set, /metrics wants it (and the
// user) as basic auth, from an allowed network still.
func TestMetricsBasicAuth(t *testing.T) {
	auth := MetricsAuth{Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, User: "prom", Password: "s3cret"}
	for _, tc := range []struct {
		user, pass string
		want       int
	}{
		{"", "", http.StatusUnauthorized},
		{"prom", "wrong", http.StatusUnauthorized},
		{"other", "s3cret", http.StatusUnauthorized},
		{"prom", "s3cret", http.StatusOK},
	} {
		if got := metricsStatus(t, auth, "192.0.2.7:5000", tc.user, tc.pass); got != tc.want {
			t.Errorf("%q/%q: %d, want %d", tc.user, tc.pass, got, tc.want)
		}
	}
	auth.Allow = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	if got := metricsStatus(t, auth, "192.0.2.7:5000", "prom", "s3cret"); got != http.StatusForbidden {
		t.Errorf("right password from outside the allow-list: %d", got)
	}
}

// TestReadyzAnswers503WithReasons: one failing check makes /readyz 503.
func TestReadyzAnswers503WithReasons(t *testing.T) {
	checks := []Check{{Name: "store", OK: true}, {Name: "dispatcher", Reason: "stuck"}}
	srv := New(Options{Ready: func(context.Context) []Check { return checks }})
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	checks[1].OK = true
	rec = httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}
