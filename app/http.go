package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/feeds"
	"github.com/heed-dev/heed/httpd"
	"github.com/heed-dev/heed/httpd/api"
	"github.com/heed-dev/heed/metrics"
)

// HTTPOptions are what System.HTTP takes.
type HTTPOptions struct {
	// DispatchWithin: /readyz fails when the dispatcher has not completed
	// a cycle for this long (default 2m).
	DispatchWithin time.Duration
	MetricsAuth    httpd.MetricsAuth
	// People are the configured people: an API token's person must be
	// one of them (none configured: every token's person is taken).
	People approvals.People
}

// HTTPOptions are the listener's options from the config.
func (c *Config) HTTPOptions() HTTPOptions {
	allow, _ := c.HTTP.Allow()
	return HTTPOptions{
		DispatchWithin: c.HTTP.ReadyDispatchWithin.Or(0),
		MetricsAuth:    httpd.MetricsAuth{Allow: allow, User: c.HTTP.MetricsUser, Password: c.HTTP.MetricsPassword},
		People:         c.people,
	}
}

// HTTP builds heed's HTTP listener's handler for the system: /healthz,
// /readyz, /metrics, the HTTP API (/api/v1), the endpoints of the chats
// that receive requests on it (bot.HTTPEndpoint), and the web view, where
// people sign in with the same tokens as the API's.
func (s *System) HTTP(o HTTPOptions) *httpd.Server {
	if o.DispatchWithin == 0 {
		o.DispatchWithin = 2 * time.Minute
	}
	srv := httpd.New(httpd.Options{
		Ready:       func(ctx context.Context) []httpd.Check { return s.Ready(ctx, o.DispatchWithin) },
		Metrics:     s.metricsHandler(),
		MetricsAuth: o.MetricsAuth,
		Log:         s.log.With("part", "http"),
	})
	known := knownPeople(o.People)
	srv.Handle("/api/v1/", s.API(known))
	for _, a := range s.Engine.Adapters {
		if ep, ok := a.(bot.HTTPEndpoint); ok {
			if path, h := ep.HTTPEndpoint(); path != "" {
				srv.Handle(path, h)
				s.log.Info("serving a chat's endpoint on the HTTP listener", "chat", a.Name(), "path", path)
			}
		}
	}
	srv.Handle("/", s.WebView(signIn{tokens: s.Service.Tokens, known: known}))
	return srv
}

// knownPeople says whether a token's person is still one of the
// configured people; nil (none configured) takes every person.
func knownPeople(people approvals.People) func(string) bool {
	if len(people.Names()) == 0 {
		return nil
	}
	return func(person string) bool { return people.Of(person) == person }
}

// signIn verifies a web sign-in's token as the API does: a token the store
// knows and has not revoked, of a person still configured.
type signIn struct {
	tokens approvals.TokenService
	known  func(string) bool
}

func (v signIn) Verify(ctx context.Context, secret string) (string, error) {
	person, err := v.tokens.Verify(ctx, secret)
	if err != nil {
		return "", err
	}
	if v.known != nil && !v.known(person) {
		return "", approvals.ErrTokenRefused
	}
	return person, nil
}

// API is the HTTP API on the system's services, for the tokens' people
// that known takes (nil: all).
func (s *System) API(known func(string) bool) *api.API {
	var rooms []string
	for _, r := range s.Engine.Rooms {
		rooms = append(rooms, r.Name)
	}
	zone := "UTC"
	if s.Engine.Zone != nil {
		zone = s.Engine.Zone.String()
	}
	svc := s.Service
	return api.New(api.Deps{
		Tokens: svc.Tokens, Posts: svc.Posts, Adder: svc.Posts, Reviews: svc.Reviews, Occurrences: svc.Reviews,
		Pauses: svc.Pauses, Audit: svc.Audit, Targets: svc.Targets, Rooms: rooms, Known: known,
		MayResume: s.MayResume, Wake: s.Dispatcher.Wake, Zone: zone, Now: s.now, Log: s.log.With("part", "api"),
	})
}

// Ready runs the readiness checks: the store answers a query, every chat
// with a review room is heard, and the dispatcher completed a cycle within
// dispatchWithin.
func (s *System) Ready(ctx context.Context, dispatchWithin time.Duration) []httpd.Check {
	now := s.now()
	var checks []httpd.Check
	store := httpd.Check{Name: "store", OK: true}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	var one int
	if err := s.Store.DB().QueryRowContext(qctx, "SELECT 1").Scan(&one); err != nil {
		store.OK, store.Reason = false, "the database cannot be read: "+err.Error()
	}
	cancel()
	checks = append(checks, store)
	for _, h := range s.Engine.Hearing(now) {
		c := httpd.Check{Name: "chat " + h.Chat, OK: h.Deaf == ""}
		if !c.OK {
			c.Reason = h.Deaf
		}
		checks = append(checks, c)
	}
	disp := httpd.Check{Name: "dispatcher", OK: true}
	switch last := s.Dispatcher.LastCycle(); {
	case last.IsZero():
		disp.OK, disp.Reason = false, "the dispatcher has not completed a cycle yet"
	case now.Sub(last) > dispatchWithin:
		disp.OK, disp.Reason = false, fmt.Sprintf("the dispatcher has not completed a cycle since %s (%s ago; allowed: %s)",
			last.UTC().Format(time.RFC3339), now.Sub(last).Round(time.Second), dispatchWithin)
	}
	checks = append(checks, disp)
	return checks
}

// metricsHandler serves the system's metrics registry.
func (s *System) metricsHandler() http.Handler { return s.Metrics.Handler() }

// snapshot is what the metrics read at a scrape: the database's counts
// (one query each), whether each chat is heard, and the failures of the
// tripwire's feeds and of the feeds posts come from, as last saved.
func (s *System) snapshot(ctx context.Context) (metrics.Snapshot, error) {
	snap := metrics.Snapshot{Chats: map[string]bool{}, FeedFailures: map[string]int{}, SourceFeedFailures: map[string]int{}}
	for _, h := range s.Engine.Hearing(s.now()) {
		snap.Chats[h.Chat] = h.Deaf == ""
	}
	g, err := s.Store.ReadGauges(ctx)
	if err != nil {
		return snap, err
	}
	snap.Occurrences, snap.Deliveries, snap.PausesActive, snap.CardQueue = g.Occurrences, g.Deliveries, g.PausesActive, g.CardQueue
	fh, _, err := feeds.ReadStatus(ctx, s.Store)
	if err != nil {
		return snap, err
	}
	for _, f := range fh.Feeds {
		snap.SourceFeedFailures[f.Name] = f.Failures
	}
	raw, err := s.Store.GetKV(ctx, bot.TripwireStatusKey)
	if err != nil || raw == "" {
		return snap, err
	}
	var ts bot.TripwireStatus
	if err := json.Unmarshal([]byte(raw), &ts); err != nil {
		return snap, fmt.Errorf("read the tripwire status: %w", err)
	}
	for _, f := range ts.Feeds {
		name := f.Name
		if name == "" {
			name = f.URL
		}
		snap.FeedFailures[name] = f.Failures
	}
	return snap, nil
}
