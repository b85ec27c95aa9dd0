package app_test

import (
	"bufio"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/heed-dev/heed/app"
	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/bot/slack/slackfake"
	"github.com/heed-dev/heed/dispatch"
	"github.com/heed-dev/heed/internal/heedtest"
	"github.com/heed-dev/heed/publish"
)

// scrape reads /metrics over HTTP into series → value.
func scrape(t *testing.T, srv *httptest.Server) map[string]float64 {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetricsAfterAScriptedDay: a day through the real wiring (three
// posts approved, one published, one a target answers 429 before it goes
// out, a pause that holds the third), then /metrics scraped over HTTP:
// the counters and gauges say what happened, and the names pass the
// Prometheus lint.
func TestMetricsAfterAScriptedDay(t *testing.T) {
	flaky := heedtest.NewRecorder()
	s := heedtest.New(t, heedtest.Options{Targets: []publish.Target{{Name: "flaky", Kind: "recorder", Publisher: flaky}}})
	srv := serve(t, s)

	a := s.Add("first", 10*time.Minute)
	b := s.Add("second", 20*time.Minute, "flaky")
	c := s.Add("third", time.Hour)
	s.Cycle()
	for _, p := range []approvals.Post{a, b, c} {
		if err := s.Chat.React("alice", p.ID, "✅"); err != nil {
			t.Fatal(err)
		}
	}
	s.Cycle()
	s.WantState(a.ID, approvals.StateApproved)

	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	s.WantState(a.ID, approvals.StatePublished)

	flaky.FailNext(publish.RetryableError(errors.New("429 Too Many Requests"), 45*time.Second))
	s.Clock.Advance(10 * time.Minute)
	s.Cycle() // the 429
	s.Clock.Advance(2 * time.Minute)
	s.Cycle() // the retry goes out
	s.WantState(b.ID, approvals.StatePublished)

	if err := s.Chat.Say("bob", "pause"); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(time.Hour)
	s.Cycle()
	held := s.State(c.ID)
	if held == approvals.StatePublished {
		t.Fatal("the pause did not hold the third post")
	}

	dirty, err := s.Service.Reviews.Dirty(s.Ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	got := scrape(t, srv)
	if q := got["heed_card_render_queue"]; q != float64(len(dirty)) {
		t.Errorf("heed_card_render_queue = %v, but %d cards wait to be rendered", q, len(dirty))
	}
	want := map[string]float64{
		`heed_occurrences{state="published"}`:                                     2,
		`heed_occurrences{state="` + string(held) + `"}`:                          1,
		`heed_deliveries{state="published",target="rec"}`:                         1,
		`heed_deliveries{state="published",target="flaky"}`:                       1,
		`heed_publish_errors_total{kind="retryable",target="flaky"}`:              1,
		`heed_publish_duration_seconds_count{outcome="ok",target="rec"}`:          1,
		`heed_publish_duration_seconds_count{outcome="ok",target="flaky"}`:        1,
		`heed_publish_duration_seconds_count{outcome="retryable",target="flaky"}`: 1,
		`heed_rate_limit_waits_total{name="flaky",scope="target"}`:                1,
		`heed_rate_limit_wait_seconds_total{name="flaky",scope="target"}`:         45,
		`heed_dispatch_lag_seconds_count`:                                         3, // a, b, b's retry
		`heed_pauses_active`:                                                      1,
		`heed_chat_heard{chat="mem"}`:                                             1,
		`heed_scrape_error`:                                                       0,
	}
	for series, v := range want {
		if g, ok := got[series]; !ok || g != v {
			t.Errorf("%s = %v (present: %v), want %v", series, g, ok, v)
		}
	}
	// b's retry was claimed two minutes after its time: the lag says so.
	if sum := got[`heed_dispatch_lag_seconds_sum`]; sum < 120 || sum > 121 {
		t.Errorf("dispatch lag sum %v s, want the retry's 120 s (the others were on time)", sum)
	}
	for series := range got {
		if strings.HasPrefix(series, "heed_publish_errors_total") && !strings.Contains(series, `target="flaky"`) {
			t.Errorf("an error counted that did not happen: %s", series)
		}
	}

	problems, err := testutil.GatherAndLint(s.System.Metrics.Registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}

	// A deaf chat shows at the next scrape.
	s.Chat.SetDeaf(true)
	s.Clock.Advance(3 * time.Minute)
	if v := scrape(t, srv)[`heed_chat_heard{chat="mem"}`]; v != 0 {
		t.Errorf("heed_chat_heard of a deaf chat = %v", v)
	}
}

// TestChatRateLimitCounted: a Slack chat's 429, built from the config by
// the wiring, is counted under the chat's name.
func TestChatRateLimitCounted(t *testing.T) {
	f := slackfake.New(t, slackfake.Options{})
	t.Setenv("HEED_T_SIGNING", f.Options().SigningSecret)
	t.Setenv("HEED_T_BOT", f.Options().BotToken)
	src := strings.Replace(strings.Replace(slackEvents, "bot_token: xoxb-test", "bot_token: ${HEED_T_BOT}\n    api_url: "+f.APIURL(), 1),
		"  slack:\n", "  team:\n", 1)
	src = strings.Replace(src, "    id: C0123456\n", "    chat: team\n    id: C0123456\n", 1)
	c, err := app.LoadConfig(writeConfig(t, src))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := openStore(t)
	sys, err := app.FromConfig(t.Context(), c, st, dispatch.NewCatalog(), app.Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f.RateLimitMethod("chat.postMessage", 1, 1)
	_, _ = sys.Engine.Adapters[0].PostCard(t.Context(), "C0123456", bot.Card{Number: 1, Text: "limited", Zone: time.UTC})
	srv := httptest.NewServer(sys.HTTP(c.HTTPOptions()))
	t.Cleanup(srv.Close)
	got := scrape(t, srv)
	if v := got[`heed_rate_limit_waits_total{name="team",scope="chat"}`]; v != 1 {
		t.Fatalf("chat rate-limit waits = %v, want 1", v)
	}
	if v := got[`heed_rate_limit_wait_seconds_total{name="team",scope="chat"}`]; v != 1 {
		t.Fatalf("chat rate-limit wait seconds = %v, want 1", v)
	}
}
