// Package httpd is heed's one HTTP listener: /healthz, /readyz, /metrics,
// and whatever else is mounted on it (a chat's webhook endpoint, such as
// Slack's Events API). It is off unless http.listen is configured.
package httpd

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// Check is one readiness check's result: OK, or the reason it is not.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Reason string `json:"reason,omitempty"`
}

// Readiness runs the readiness checks.
type Readiness func(ctx context.Context) []Check

// Report is what /healthz and /readyz answer.
type Report struct {
	Status string  `json:"status"` // ok, ready, not ready
	Checks []Check `json:"checks,omitempty"`
}

// MetricsAuth guards /metrics as miniflux does: the client's address must
// be in Allow, and when Password is set the request must carry User and
// Password as basic auth too.
type MetricsAuth struct {
	Allow    []netip.Prefix
	User     string
	Password string
}

// DefaultMetricsAllow is the allow-list when none is configured: loopback.
var DefaultMetricsAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// allowed says whether r may read the metrics.
func (m MetricsAuth) allowed(r *http.Request) (ok bool, wantAuth bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false, false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false, false
	}
	ip = ip.Unmap()
	in := false
	for _, p := range m.Allow {
		if p.Contains(ip) {
			in = true
			break
		}
	}
	if !in {
		return false, false
	}
	if m.Password == "" {
		return true, false
	}
	user, pass, has := r.BasicAuth()
	if !has {
		return false, true
	}
	// Both compared in constant time, and both always compared.
	u := subtle.ConstantTimeCompare([]byte(user), []byte(m.User))
	p := subtle.ConstantTimeCompare([]byte(pass), []byte(m.Password))
	return u&p == 1, true
}

// Server is the listener's handler. Mount more endpoints with Handle
// before Serve.
type Server struct {
	mux   *http.ServeMux
	log   *slog.Logger
	ready Readiness
}

// Options are what New takes.
type Options struct {
	Ready       Readiness
	Metrics     http.Handler // nil: no /metrics
	MetricsAuth MetricsAuth
	Log         *slog.Logger
}

// New builds the server with /healthz, /readyz and (when Metrics is set)
// /metrics.
func New(o Options) *Server {
	s := &Server{mux: http.NewServeMux(), log: o.Log, ready: o.Ready}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, Report{Status: "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	if o.Metrics != nil {
		auth := o.MetricsAuth
		if auth.Allow == nil {
			auth.Allow = DefaultMetricsAllow
		}
		s.mux.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ok, wantAuth := auth.allowed(r)
			if !ok {
				if wantAuth {
					w.Header().Set("WWW-Authenticate", `Basic realm="heed metrics"`)
					http.Error(w, "unauthorized", http.StatusUnauthorized)
					return
				}
				http.Error(w, "forbidden", http.StatusForbidden)
				return
			}
			o.Metrics.ServeHTTP(w, r)
		}))
	}
	return s
}

// Handle mounts h at pattern (http.ServeMux patterns).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	rep := Ready(r.Context(), s.ready)
	status := http.StatusOK
	if rep.Status != "ready" {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, rep)
}

// Ready runs the checks into a report: ready when every check is OK.
func Ready(ctx context.Context, ready Readiness) Report {
	rep := Report{Status: "ready", Checks: []Check{}}
	if ready != nil {
		rep.Checks = ready(ctx)
	}
	for _, c := range rep.Checks {
		if !c.OK {
			rep.Status = "not ready"
		}
	}
	return rep
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Serve answers on ln until ctx ends, then stops taking requests and lets
// those under way finish within grace.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http listener: %w", err)
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
		defer cancel()
		err := srv.Shutdown(shut)
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if err != nil {
			_ = srv.Close()
		}
		return nil
	}
}
