package app_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/app"
	_ "github.com/heed-dev/heed/bot/slack" // the slack chat kind
	"github.com/heed-dev/heed/dispatch"
	"github.com/heed-dev/heed/httpd"
	"github.com/heed-dev/heed/internal/heedtest"
)

// get fetches path from srv and decodes its JSON report.
func get(t *testing.T, srv *httptest.Server, path string) (int, httpd.Report) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep httpd.Report
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return resp.StatusCode, rep
}

func failing(rep httpd.Report) string {
	var out []string
	for _, c := range rep.Checks {
		if !c.OK {
			out = append(out, c.Name+": "+c.Reason)
		}
	}
	return strings.Join(out, "; ")
}

func serve(t *testing.T, s *heedtest.Stack) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(s.System.HTTP(app.HTTPOptions{DispatchWithin: 2 * time.Minute}))
	t.Cleanup(srv.Close)
	return srv
}

// TestHealthzAnswers: /healthz says the process is alive, whatever the
// rest is doing (here: no dispatch cycle yet, so /readyz is not ready).
func TestHealthzAnswers(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	srv := serve(t, s)
	if code, rep := get(t, srv, "/healthz"); code != http.StatusOK || rep.Status != "ok" {
		t.Fatalf("/healthz: %d %+v", code, rep)
	}
	code, rep := get(t, srv, "/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(failing(rep), "dispatcher: the dispatcher has not completed a cycle yet") {
		t.Fatalf("/readyz before any cycle: %d %s", code, failing(rep))
	}
}

// TestReadyzDeafChat: a chat that is not heard makes /readyz answer 503
// with the chat and why.
func TestReadyzDeafChat(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	srv := serve(t, s)
	s.Cycle()
	if code, rep := get(t, srv, "/readyz"); code != http.StatusOK || rep.Status != "ready" || len(rep.Checks) != 3 {
		t.Fatalf("/readyz: %d %+v", code, rep)
	}
	s.Chat.SetDeaf(true)
	s.Clock.Advance(3 * time.Minute) // past the default deaf_after, 2m
	s.Cycle()
	code, rep := get(t, srv, "/readyz")
	if code != http.StatusServiceUnavailable || rep.Status != "not ready" {
		t.Fatalf("/readyz with a deaf chat: %d %+v", code, rep)
	}
	if got := failing(rep); !strings.Contains(got, "chat mem: the mem chat has not been heard from since") || strings.Contains(got, "dispatcher") {
		t.Fatalf("reasons: %s", got)
	}
}

// TestReadyzStuckDispatcher: a dispatcher that has not completed a cycle
// within its period makes /readyz answer 503, on the injected clock.
func TestReadyzStuckDispatcher(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	srv := serve(t, s)
	s.Cycle()
	s.Clock.Advance(time.Minute)
	if code, rep := get(t, srv, "/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz a minute after a cycle: %d %s", code, failing(rep))
	}
	s.Clock.Advance(90 * time.Second)
	code, rep := get(t, srv, "/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(failing(rep), "dispatcher: the dispatcher has not completed a cycle since") {
		t.Fatalf("/readyz with a stuck dispatcher: %d %s", code, failing(rep))
	}
	s.Cycle()
	if code, rep := get(t, srv, "/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz after the next cycle: %d %s", code, failing(rep))
	}
}

// TestReadyzStoreUnreachable: a store that cannot be read is a reason.
func TestReadyzStoreUnreachable(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	srv := serve(t, s)
	s.Cycle()
	s.Store.Close()
	code, rep := get(t, srv, "/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(failing(rep), "store: the database cannot be read") {
		t.Fatalf("/readyz with a closed store: %d %s", code, failing(rep))
	}
}

const slackEvents = `
http:
  listen: 127.0.0.1:8080
chats:
  slack:
    kind: slack
    mode: events
    bot_token: xoxb-test
    signing_secret: ${HEED_T_SIGNING}
rooms:
  - name: review
    id: C0123456
    approvers: [U0123456]
people:
  alice: [U0123456]
`

// TestSlackEventsOnTheListener: with http.listen set, the Slack chat in
// events mode is served on heed's listener at its path (a request reaches
// the chat's handler, which answers 503 until the chat runs).
func TestSlackEventsOnTheListener(t *testing.T) {
	t.Setenv("HEED_T_SIGNING", "secret")
	c, err := app.LoadConfig(writeConfig(t, slackEvents))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := openStore(t)
	sys, err := app.FromConfig(t.Context(), c, st, dispatch.NewCatalog(), app.Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sys.HTTP(c.HTTPOptions()))
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Post(srv.URL+"/slack/events", "application/json", strings.NewReader(`{"type":"url_verification"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("request to /slack/events: %d, want 503 from the Slack chat that is not running", resp.StatusCode)
	}
	if !c.SharesListener("slack") {
		t.Fatal("the slack chat does not share the listener")
	}
}

// TestSlackEventsKeepsItsListenWithoutHTTP: without http.listen, the
// Slack chat serves the Events API itself, as before: nothing is mounted.
func TestSlackEventsKeepsItsListenWithoutHTTP(t *testing.T) {
	t.Setenv("HEED_T_SIGNING", "secret")
	c, err := app.LoadConfig(writeConfig(t, strings.Replace(slackEvents, "http:\n  listen: 127.0.0.1:8080\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if c.SharesListener("slack") {
		t.Fatal("the slack chat shares a listener that is not configured")
	}
	st, _ := openStore(t)
	sys, err := app.FromConfig(t.Context(), c, st, dispatch.NewCatalog(), app.Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sys.HTTP(c.HTTPOptions()))
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Post(srv.URL+"/slack/events", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/slack/events on a listener the chat does not share: %d", resp.StatusCode)
	}
}

// TestHTTPConfigErrors: settings that cannot work are refused with what
// to fix.
func TestHTTPConfigErrors(t *testing.T) {
	t.Setenv("HEED_T_SIGNING", "secret")
	t.Setenv("HEED_T_METRICS", "pw")
	for _, tc := range []struct{ src, want string }{
		{strings.Replace(slackEvents, "    mode: events\n", "    mode: events\n    listen: 127.0.0.1:3000\n", 1),
			"chats.slack.listen (127.0.0.1:3000) and http.listen (127.0.0.1:8080) differ"},
		{strings.Replace(slackEvents, "    mode: events\n", "    mode: events\n    path: /metrics\n", 1),
			"chats.slack.path /metrics is one of heed's own paths"},
		{"http:\n  listen: 8080\n", `http.listen "8080": give host:port`},
		{"http:\n  listen: 127.0.0.1:8080\n  metrics_allow: [10.0.0.0/33]\n", `http.metrics_allow: "10.0.0.0/33" is not a network`},
		{"http:\n  listen: 127.0.0.1:8080\n  metrics_user: prom\n", "set both metrics_user and metrics_password"},
		{"http:\n  listen: 127.0.0.1:8080\n  metrics_user: prom\n  metrics_password: pw\n", "http.metrics_password: write it as ${HEED_METRICS_PASSWORD}"},
	} {
		_, err := app.LoadConfig(writeConfig(t, tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s\nerr: %v\nwant: %s", tc.src, err, tc.want)
		}
	}
	// The same address twice is one listener.
	if _, err := app.LoadConfig(writeConfig(t, strings.Replace(slackEvents, "    mode: events\n", "    mode: events\n    listen: 127.0.0.1:8080\n", 1))); err != nil {
		t.Errorf("slack listen equal to http.listen: %v", err)
	}
	if _, err := app.LoadConfig(writeConfig(t, "http:\n  listen: 127.0.0.1:8080\n  metrics_allow: [127.0.0.1, 10.0.0.0/8]\n  metrics_user: prom\n  metrics_password: ${HEED_T_METRICS}\n")); err != nil {
		t.Errorf("metrics settings: %v", err)
	}
}
