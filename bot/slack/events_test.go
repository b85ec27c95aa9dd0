package slack

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/bot/slack/slackfake"
)

// fixture reads a testdata payload and moves it into the test workspace.
func fixture(t testing.TB, name string, replace ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	// Replacements given come first: for the same old string, the first wins.
	r := strings.NewReplacer(append(replace, "C0REVIEW01", chReview, "U0ALICE001", alice, "U0BOB00001", bob)...)
	return []byte(r.Replace(string(b)))
}

// marker proves that nothing before it reached the engine: events are
// handed over in order, so if the next event is the marker, whatever was
// sent before it was dropped.
func (e *env) marker(t *testing.T, card slackfake.Message) {
	t.Helper()
	e.f.React(carol, chReview, card.TS, "eyes")
	if ev := e.rec.next(t); ev.Emoji != "eyes" || ev.User != carol {
		t.Fatalf("something reached the engine before the marker: %+v", ev)
	}
	e.f.Unreact(carol, chReview, card.TS, "eyes")
	e.rec.next(t)
}

func TestEventsAPIRejectsForgeriesAndReplays(t *testing.T) {
	e := newEnv(t, setup{mode: ModeEvents, fake: slackfake.Options{NoEcho: true}})
	m := e.card(t, sampleCard(1))
	now := time.Now().Unix()
	o := e.f.Options()

	status, body := e.f.PostSigned(now, fixture(t, "events/url_verification.json"), nil)
	if status != http.StatusOK || string(body) != "heed-fixture-challenge-3eZbrw1aBm2rZgRN" {
		t.Fatalf("url_verification: %d %q", status, body)
	}

	ev := fixture(t, "events/reaction_added-skin-tone.json", "1795219200.000100", m.TS, "U0HEEDBOT1", o.BotUserID)
	sig := slackfake.Sign(o.SigningSecret, now, ev)
	forged := slackfake.Sign("not-the-secret", now, ev)
	ts := itoa(now)
	for name, h := range map[string]http.Header{
		"forged signature":  {"X-Slack-Signature": {forged}, "X-Slack-Request-Timestamp": {ts}},
		"no signature":      {"X-Slack-Request-Timestamp": {ts}},
		"no timestamp":      {"X-Slack-Signature": {sig}},
		"no headers":        {},
		"bad timestamp":     {"X-Slack-Signature": {sig}, "X-Slack-Request-Timestamp": {"soon"}},
		"short signature":   {"X-Slack-Signature": {"v0=abcd"}, "X-Slack-Request-Timestamp": {ts}},
		"v1 signature":      {"X-Slack-Signature": {strings.Replace(sig, "v0=", "v1=", 1)}, "X-Slack-Request-Timestamp": {ts}},
		"signature of body": {"X-Slack-Signature": {slackfake.Sign(o.SigningSecret, now, append(ev, ' '))}, "X-Slack-Request-Timestamp": {ts}},
	} {
		h.Set("Content-Type", "application/json")
		if status, _ := e.f.PostRaw(ev, h); status != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", name, status)
		}
	}
	// Stale and future timestamps, signed with the right secret.
	for _, skew := range []time.Duration{-6 * time.Minute, 6 * time.Minute} {
		at := time.Now().Add(skew).Unix()
		if status, _ := e.f.PostSigned(at, ev, nil); status != http.StatusUnauthorized {
			t.Errorf("timestamp %v away: status %d, want 401", skew, status)
		}
	}
	// Stale by heed's own clock, though fresh by the wall clock.
	e.clock.Advance(6 * time.Minute)
	if status, _ := e.f.PostSigned(now, ev, nil); status != http.StatusUnauthorized {
		t.Errorf("stale by the injected clock: status %d, want 401", status)
	}
	e.clock.Advance(-6 * time.Minute)
	e.marker(t, m)

	// The genuine delivery counts once; its retries (same event_id) are
	// acknowledged and dropped.
	if status, _ := e.f.PostSigned(now, ev, nil); status != http.StatusOK {
		t.Fatalf("genuine: %d", status)
	}
	if got := e.rec.next(t); got.ID != "Ev0FIXTURE01" || got.Emoji != "+1::skin-tone-4" {
		t.Fatalf("genuine event = %+v", got)
	}
	for i := 1; i <= 3; i++ {
		h := http.Header{"X-Slack-Retry-Num": {itoa(int64(i))}, "X-Slack-Retry-Reason": {"http_timeout"}}
		if status, _ := e.f.PostSigned(time.Now().Unix(), ev, h); status != http.StatusOK {
			t.Fatalf("retry %d: %d", i, status)
		}
	}
	e.marker(t, m)

	// Other refusals: method, size, garbage.
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %v %v", resp, err)
	}
	big := bytes.Repeat([]byte("x"), maxBody+1)
	if status, _ := e.f.PostSigned(now, big, nil); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("huge body: %d", status)
	}
	if status, _ := e.f.PostSigned(now, []byte("{not json"), nil); status != http.StatusBadRequest {
		t.Fatalf("garbage: %d", status)
	}
	e.marker(t, m)
}

// Slack wants an answer within 3 seconds; heed answers before the engine
// has looked at the event, and hands events over in order.
func TestEventsAPIAnswersWhileTheEngineIsBusy(t *testing.T) {
	e := newEnv(t, setup{mode: ModeEvents, fake: slackfake.Options{NoEcho: true}, noRun: true})
	m := e.card(t, sampleCard(1))
	e.rec.block = make(chan struct{})
	e.start(t)
	emoji := []string{"white_check_mark", "x", "+1", "-1", "eyes"}
	for _, name := range emoji {
		start := time.Now()
		d := e.f.React(alice, chReview, m.TS, name)
		if took := time.Since(start); took > 3*time.Second || len(d.Statuses()) != 1 {
			t.Fatalf("delivery of %s took %v, statuses %v", name, took, d.Statuses())
		}
	}
	close(e.rec.block)
	for _, name := range emoji {
		if ev := e.rec.next(t); ev.Emoji != name {
			t.Fatalf("got %s, want %s: out of order", ev.Emoji, name)
		}
	}
}

// A full queue refuses the delivery (503), so that Slack retries it, and
// forgets its event_id, so that the retry counts.
func TestEventsAPIFullQueueAsksForRetry(t *testing.T) {
	e := newEnv(t, setup{mode: ModeEvents, fake: slackfake.Options{NoEcho: true}, noRun: true, opts: []Option{WithQueueSize(1)}})
	m := e.card(t, sampleCard(1))
	e.rec.block = make(chan struct{})
	e.start(t)
	e.f.React(alice, chReview, m.TS, "white_check_mark") // taken by the worker, which waits
	select {
	case <-e.rec.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not take the first event within 10s")
	}
	e.f.React(bob, chReview, m.TS, "white_check_mark") // fills the queue

	ev := fixture(t, "events/reaction_added-skin-tone.json", "1795219200.000100", m.TS, "U0ALICE001", carol)
	if status, _ := e.f.PostSigned(time.Now().Unix(), ev, nil); status != http.StatusServiceUnavailable {
		t.Fatalf("a delivery into a full queue: %d, want 503", status)
	}
	close(e.rec.block)
	e.rec.next(t)
	e.rec.next(t)
	if status, _ := e.f.PostSigned(time.Now().Unix(), ev, http.Header{"X-Slack-Retry-Num": {"1"}}); status != http.StatusOK {
		t.Fatalf("retry after the queue drained: %d", status)
	}
	if got := e.rec.next(t); got.User != carol {
		t.Fatalf("retried event = %+v", got)
	}
}

func TestSocketModeReconnects(t *testing.T) {
	e := newEnv(t, setup{fake: slackfake.Options{NoEcho: true}})
	m := e.card(t, sampleCard(1))
	acks := len(e.f.Acks())
	e.f.Drop(t)
	e.f.WaitConnections(t, 2)
	e.f.React(alice, chReview, m.TS, "white_check_mark")
	if ev := e.rec.next(t); ev.User != alice {
		t.Fatalf("after a drop: %+v", ev)
	}
	e.f.Disconnect(t, "refresh_requested")
	e.f.WaitConnections(t, 3)
	e.f.React(bob, chReview, m.TS, "x")
	if ev := e.rec.next(t); ev.User != bob {
		t.Fatalf("after a refresh: %+v", ev)
	}
	// Reactions made while the socket is down arrive, in order, once it
	// is back.
	e.f.RefuseSockets(true)
	e.f.Drop(t)
	d1 := e.f.React(carol, chReview, m.TS, "+1")
	d2 := e.f.Unreact(carol, chReview, m.TS, "+1")
	e.f.RefuseSockets(false)
	e.f.WaitConnections(t, 4)
	if ev := e.rec.next(t); ev.Kind != bot.Reaction || ev.User != carol {
		t.Fatalf("first after reconnect: %+v", ev)
	}
	if ev := e.rec.next(t); ev.Kind != bot.Unreaction || ev.User != carol {
		t.Fatalf("second after reconnect: %+v", ev)
	}
	// Every envelope was acknowledged.
	d1.Wait(t, 10*time.Second)
	d2.Wait(t, 10*time.Second)
	if n := len(e.f.Acks()) - acks; n != 4 {
		t.Fatalf("%d acks, want 4", n)
	}
}

func TestSocketModeRefusedTokenEndsRun(t *testing.T) {
	e := newEnv(t, setup{noRun: true})
	e.a.cfg.AppToken = "xapp-revoked"
	done := make(chan error, 1)
	go func() { done <- e.a.Run(t.Context(), e.rec) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "app_token") || strings.Contains(err.Error(), "xapp-revoked") {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run kept going with a refused token")
	}
}

// Alive advances only while the socket is connected and Slack's frames
// are read; a deaf or dropped socket stops it, so the deaf-listener guard
// holds publishing.
func TestAliveFollowsTheSocket(t *testing.T) {
	e := newEnv(t, setup{fake: slackfake.Options{NoEcho: true}})
	m := e.card(t, sampleCard(1))
	t0 := e.clock.Now()
	if !e.a.Alive().Equal(t0) {
		t.Fatalf("Alive after hello = %v, want %v", e.a.Alive(), t0)
	}
	// Deafen sends one last ping and waits for its pong: that read counts.
	e.clock.Advance(time.Minute)
	e.f.Deafen(t, true)
	if !e.a.Alive().Equal(t0.Add(time.Minute)) {
		t.Fatalf("Alive after a ping = %v", e.a.Alive())
	}
	e.clock.Advance(3 * time.Minute)
	if !e.a.Alive().Equal(t0.Add(time.Minute)) {
		t.Fatalf("a deaf socket kept Alive moving: %v", e.a.Alive())
	}
	e.f.Deafen(t, false)
	e.f.React(alice, chReview, m.TS, "white_check_mark")
	e.rec.next(t)
	if !e.a.Alive().Equal(t0.Add(4 * time.Minute)) {
		t.Fatalf("Alive after an envelope = %v", e.a.Alive())
	}

	// Dropped, and kept out: Alive stays where it was.
	e.f.RefuseSockets(true)
	e.f.Drop(t)
	e.clock.Advance(3 * time.Minute)
	e.f.React(bob, chReview, m.TS, "x") // queued by Slack until the app is back
	if got := e.a.Alive(); !got.Equal(t0.Add(4 * time.Minute)) {
		t.Fatalf("Alive moved while disconnected: %v", got)
	}
	e.f.RefuseSockets(false)
	e.f.WaitConnections(t, 2)
	e.rec.next(t)
	if got := e.a.Alive(); !got.Equal(t0.Add(7 * time.Minute)) {
		t.Fatalf("Alive after reconnecting = %v", got)
	}
}

func TestAliveInEventsMode(t *testing.T) {
	e := newEnv(t, setup{mode: ModeEvents})
	if !e.a.Alive().IsZero() {
		t.Fatalf("Alive before any request = %v", e.a.Alive())
	}
	body := fixture(t, "events/url_verification.json")
	e.f.PostRaw(body, http.Header{"X-Slack-Signature": {"v0=" + strings.Repeat("0", 64)}, "X-Slack-Request-Timestamp": {itoa(time.Now().Unix())}})
	if !e.a.Alive().IsZero() {
		t.Fatal("a forged request counted as a sign of life")
	}
	e.f.PostSigned(time.Now().Unix(), body, nil)
	if !e.a.Alive().Equal(e.clock.Now()) {
		t.Fatalf("Alive after a signed request = %v", e.a.Alive())
	}
}

// FuzzEventsHandler feeds arbitrary bodies to the Events API endpoint.
// It must never panic, and without a valid signature nothing may change:
// no event queued, nothing marked as seen, no sign of life.
func FuzzEventsHandler(f *testing.F) {
	for _, dir := range []string{"events", "http", "socket"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*"))
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			ctype := "application/json"
			if strings.HasSuffix(p, ".txt") {
				ctype = "application/x-www-form-urlencoded"
			}
			f.Add(b, ctype)
		}
	}
	f.Add([]byte("payload="+`{"type":"block_actions","user":{"id":"U1"},"container":{"channel_id":"C0REVIEW01","message_ts":"1.2"},"actions":[{"action_id":"heed_approve"}]}`), "application/x-www-form-urlencoded")
	for _, p := range []string{"http/message_action.json", "http/view_submission.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte("payload="+url.QueryEscape(string(b))), "application/x-www-form-urlencoded")
	}
	f.Add([]byte(`{"type":"event_callback","event_id":"","event":{"type":"message","channel":"C0REVIEW01","ts":"1","text":"<@U0HEEDBOT1>"}}`), "application/json")

	const secret = "fuzz-signing-secret"
	clock := newClock()
	a, err := New(Config{Mode: ModeEvents, BotToken: "xoxb-fuzz", SigningSecret: secret, APIURL: "http://127.0.0.1:1/api/",
		Channels: []ChannelConfig{{ID: "C0REVIEW01"}}}, WithClock(clock.Now), WithQueueSize(64))
	if err != nil {
		f.Fatal(err)
	}
	a.id = &identity{UserID: "U0HEEDBOT1", BotID: "B0HEEDBOT1"}
	h := a.EventsHandler()
	post := func(body []byte, header http.Header) int {
		req := httptest.NewRequest(http.MethodPost, "/slack/events", bytes.NewReader(body))
		req.Header = header
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	f.Fuzz(func(t *testing.T, body []byte, ctype string) {
		now := time.Now().Unix()
		a.lastHeard.Store(0)
		seen := len(a.seen.seen)
		for _, hdr := range []http.Header{
			{"Content-Type": {ctype}},
			{"Content-Type": {ctype}, "X-Slack-Request-Timestamp": {itoa(now)}, "X-Slack-Signature": {slackfake.Sign("wrong", now, body)}},
			{"Content-Type": {ctype}, "X-Slack-Request-Timestamp": {itoa(now - 600)}, "X-Slack-Signature": {slackfake.Sign(secret, now-600, body)}},
		} {
			if code := post(body, hdr); code != http.StatusUnauthorized && code != http.StatusRequestEntityTooLarge {
				t.Fatalf("unsigned request answered %d", code)
			}
			if len(a.queue) != 0 || len(a.seen.seen) != seen || !a.Alive().IsZero() {
				t.Fatalf("an unsigned request changed state: queue %d, seen %d→%d, alive %v", len(a.queue), seen, len(a.seen.seen), a.Alive())
			}
		}
		// Signed, it may be queued, but must not panic or answer oddly.
		code := post(body, http.Header{"Content-Type": {ctype}, "X-Slack-Request-Timestamp": {itoa(now)},
			"X-Slack-Signature": {slackfake.Sign(secret, now, body)}})
		switch code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable:
		default:
			t.Fatalf("signed request answered %d", code)
		}
		for len(a.queue) > 0 {
			<-a.queue
		}
	})
}
