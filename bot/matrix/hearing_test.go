package matrix

import (
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/internal/heedtest"
)

// The review rooms count as heard only while /sync works and once what a
// gap left is handled; the engine's Liveness (bot.Engine.Deaf, which the
// dispatcher asks before every claim) is what these tests read.

// liveness is the dispatcher's Liveness over a alone, as heed wires it.
func liveness(a *Adapter) func(time.Time) string {
	e := &bot.Engine{
		Adapters: []bot.Adapter{a},
		Rooms:    []bot.Room{{Name: "review", Adapter: a.Name(), ID: "!review:heed.test"}},
		Log:      slog.New(slog.DiscardHandler),
	}
	return e.Deaf
}

// hearingAdapter is an adapter on the fake homeserver with a test clock at
// 09:00 UTC, retrying after 1 ms, and a handler that records what the
// engine's Liveness said at each event and each reconciliation.
type hearingAdapter struct {
	*Adapter
	f     *fakeHS
	clock *heedtest.Clock
	h     *reconcilingRecorder
	live  func() string
	waits atomic.Int64 // retries waited for
}

func newHearingAdapter(t *testing.T, f *fakeHS) *hearingAdapter {
	t.Helper()
	f.joined = []string{"!review:heed.test", "!review2:heed.test"}
	ha := &hearingAdapter{f: f, clock: heedtest.NewClock(time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC))}
	a, _ := newTestAdapter(t, f, newMemState(), WithClock(ha.clock.Now), WithSleep(func(ctx context.Context, d time.Duration) error {
		ha.waits.Add(1)
		return sleepCtx(ctx, time.Millisecond)
	}))
	ha.Adapter = a
	live := liveness(a)
	ha.live = func() string { return live(ha.clock.Now()) }
	ha.h = newReconcilingRecorder(ha.Adapter, ha.live)
	return ha
}

// observed is what the adapter showed while the engine handled an event or
// read the cards back.
type observed struct {
	what  string // the event's text, or "reconcile"
	alive time.Time
	deaf  string
}

// reconcilingRecorder is a recorder that also reads cards back, as
// bot.Engine does, through the adapter's CardReactions.
type reconcilingRecorder struct {
	*recorder
	a    *Adapter
	live func() string
	mu   sync.Mutex
	seen []observed
}

func newReconcilingRecorder(a *Adapter, live func() string) *reconcilingRecorder {
	r := &reconcilingRecorder{recorder: newRecorder(), a: a, live: live}
	r.during = func(ev bot.Event) { r.observe(ev.Text) }
	return r
}

func (r *reconcilingRecorder) observe(what string) {
	o := observed{what: what, alive: r.a.Alive(), deaf: r.live()}
	r.mu.Lock()
	r.seen = append(r.seen, o)
	r.mu.Unlock()
}

// Reconcile reads one card's reactions back; the engine logs a failed
// read and goes on.
func (r *reconcilingRecorder) Reconcile(ctx context.Context, adapter string) error {
	r.observe("reconcile")
	_, _ = r.a.CardReactions(ctx, "!review:heed.test", "$card1:heed.test")
	return nil
}

func (r *reconcilingRecorder) observed() []observed {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]observed(nil), r.seen...)
}

func textEvent(id, body string) map[string]any {
	return map[string]any{"type": "m.room.message", "event_id": id, "sender": "@eve:heed.test",
		"origin_server_ts": time.Now().UnixMilli(), "content": map[string]any{"msgtype": "m.text", "body": body}}
}

// batch is a /sync answer with events in !review; prev, when set, marks
// its timeline limited with that prev_batch.
func batch(next, prev string, events ...any) string {
	tl := map[string]any{"events": events}
	if prev != "" {
		tl["limited"], tl["prev_batch"] = true, prev
	}
	b, _ := json.Marshal(map[string]any{"next_batch": next, "rooms": map[string]any{"join": map[string]any{
		"!review:heed.test": map[string]any{"timeline": tl}}}})
	return string(b)
}

// A failed /sync makes the rooms unheard at once, not after deaf_after of
// silence: the clock has not moved since the last sync, and the engine
// says why. The reason keeps its first words through the retries, so a
// card note that shows it is not edited at each one; /sync working again
// clears it.
func TestFailedSyncIsDeafAtOnce(t *testing.T) {
	for _, tc := range []struct {
		how  string
		want string // what the reason says of the error
	}{
		{"502", `502`},
		{"drop", `EOF|reset`},
		{"refused", ``},
	} {
		t.Run(tc.how, func(t *testing.T) {
			ha := newHearingAdapter(t, newFakeHS(t))
			runAdapter(t, ha.Adapter, ha.h)
			waitFor(t, "the first sync handled", func() bool { return !ha.Alive().IsZero() })
			if why := ha.live(); why != "" {
				t.Fatalf("deaf after the first sync: %q", why)
			}
			if tc.how == "refused" {
				ha.f.Listener.Close()
				ha.f.CloseClientConnections()
			} else {
				ha.f.failSync(tc.how)
			}
			waitFor(t, "the engine to hear that the chat is deaf", func() bool { return ha.live() != "" })
			why := ha.live()
			t.Logf("deaf because %s", why)
			if !strings.HasPrefix(why, "the Matrix homeserver could not be reached since 09:00:00 UTC (") ||
				!regexp.MustCompile(tc.want).MatchString(why) || strings.Contains(why, "_matrix/client") {
				t.Errorf("deaf because %q, want the homeserver unreachable since 09:00:00 UTC and the error (%s) without the URL", why, tc.want)
			}
			n := ha.waits.Load()
			waitFor(t, "three more failed syncs", func() bool { return ha.waits.Load() >= n+3 })
			if again := ha.live(); again != why {
				t.Errorf("the reason changed with a retry: %q, then %q", why, again)
			}
			if tc.how == "refused" {
				return
			}
			ha.clock.Advance(time.Minute)
			ha.f.failSync("")
			waitFor(t, "the rooms heard again", func() bool { return ha.Alive().Equal(ha.clock.Now()) })
			if why := ha.live(); why != "" {
				t.Errorf("still deaf once /sync works again: %q", why)
			}
		})
	}
}

// After a failed /sync the rooms count as heard only once the batch that
// ends the gap is handled and the cards are read back: a dispatcher asking
// while the `pause` in that batch is being handled hears "deaf", not the
// new sync's time.
func TestHeardOnlyOnceTheBacklogIsHandled(t *testing.T) {
	ha := newHearingAdapter(t, newFakeHS(t))
	runAdapter(t, ha.Adapter, ha.h)
	waitFor(t, "the first sync handled", func() bool { return !ha.Alive().IsZero() })
	heardAt := ha.Alive()
	// The start is a gap too: the cards were read back first.
	if got := ha.h.observed(); len(got) != 1 || got[0].what != "reconcile" || !got[0].alive.IsZero() || got[0].deaf == "" {
		t.Fatalf("at the start: %+v, want the cards read back once while the chat is not heard yet", got)
	}

	ha.clock.Advance(time.Minute)
	ha.f.failSync("502")
	waitFor(t, "a failed /sync", func() bool { return ha.f.syncFailures() > 0 })
	ha.f.queueSync(batch("s_after", "", textEvent("$pause:heed.test", "pause")))
	ha.f.failSync("")
	if ev := waitEvent(t, ha.h.recorder); ev.Text != "pause" {
		t.Fatalf("got %+v", ev)
	}
	waitFor(t, "the rooms heard again", func() bool { return ha.Alive().Equal(ha.clock.Now()) })
	got := ha.h.observed()[1:]
	if len(got) != 2 || got[0].what != "pause" || got[1].what != "reconcile" {
		t.Fatalf("after the outage: %+v, want the pause handled, then the cards read back", got)
	}
	for _, o := range got {
		if !o.alive.Equal(heardAt) || !strings.Contains(o.deaf, "could not be reached since 09:01:00 UTC") {
			t.Errorf("while handling %s: Alive %v (heard before the outage at %v), Liveness %q; want the old Alive and deaf",
				o.what, o.alive, heardAt, o.deaf)
		}
	}
	if why := ha.live(); why != "" {
		t.Errorf("deaf once the backlog is handled: %q", why)
	}
}

// A limited timeline is a gap on a healthy connection: the events it left
// out are read back through /messages, and until they and the cards are
// handled, the rooms count as unheard.
func TestLimitedSyncIsDeafUntilTheGapIsRead(t *testing.T) {
	ha := newHearingAdapter(t, newFakeHS(t))
	runAdapter(t, ha.Adapter, ha.h)
	waitFor(t, "the first sync handled", func() bool { return !ha.Alive().IsZero() })
	heardAt := ha.Alive()

	ha.clock.Advance(time.Minute)
	ha.f.mu.Lock()
	ha.f.msgPages["p_gap"] = json.RawMessage(mustJSON(t, map[string]any{"chunk": []any{textEvent("$pause:heed.test", "pause")}}))
	ha.f.mu.Unlock()
	ha.f.queueSync(batch("s_limited", "p_gap", textEvent("$status:heed.test", "status")))
	for _, want := range []string{"pause", "status"} {
		if ev := waitEvent(t, ha.h.recorder); ev.Text != want {
			t.Fatalf("got %q, want %q", ev.Text, want)
		}
	}
	waitFor(t, "the rooms heard again", func() bool { return ha.Alive().Equal(ha.clock.Now()) })
	got := ha.h.observed()[1:]
	if len(got) != 3 || got[2].what != "reconcile" {
		t.Fatalf("after the limited sync: %+v, want the gap, the batch, then the cards read back", got)
	}
	for _, o := range got {
		if !o.alive.Equal(heardAt) || !strings.Contains(o.deaf, "reading back events a Matrix /sync left out since 09:01:00 UTC") {
			t.Errorf("while handling %s: Alive %v (last heard %v), Liveness %q; want the old Alive and deaf", o.what, o.alive, heardAt, o.deaf)
		}
	}
	if why := ha.live(); why != "" {
		t.Errorf("deaf once the gap is read: %q", why)
	}
}

// A gap that cannot be read back for a reason that may pass (here a 502)
// is not skipped: the batch is fetched again and the gap read then, so a
// `pause` in it is handled, in order.
func TestGapReadFailureFetchesTheBatchAgain(t *testing.T) {
	ha := newHearingAdapter(t, newFakeHS(t))
	runAdapter(t, ha.Adapter, ha.h)
	waitFor(t, "the first sync handled", func() bool { return !ha.Alive().IsZero() })

	ha.f.mu.Lock()
	ha.f.msgPages["p_gap"] = json.RawMessage(mustJSON(t, map[string]any{"chunk": []any{textEvent("$pause:heed.test", "pause")}}))
	ha.f.msgFail = 1
	ha.f.mu.Unlock()
	b := batch("s_limited", "p_gap", textEvent("$status:heed.test", "status"))
	ha.f.queueSync(b, b) // the homeserver answers the same token with the same batch
	var got []string
	for len(got) < 2 {
		got = append(got, waitEvent(t, ha.h.recorder).Text)
	}
	if strings.Join(got, ",") != "pause,status" {
		t.Errorf("handled %q, want the pause from the gap, then the status", got)
	}
	since := ha.f.since()
	n := 0
	for _, s := range since {
		if s == since[1] {
			n++
		}
	}
	if n != 2 {
		t.Errorf("sync tokens %q: the batch whose gap could not be read was not fetched again with the same token", since)
	}
}

// Cards that could not be read back (the homeserver failing) keep the
// rooms unheard until a reading succeeds.
func TestCardsNotReadBackKeepTheRoomsUnheard(t *testing.T) {
	f := newFakeHS(t)
	f.relFail = 1
	ha := newHearingAdapter(t, f)
	runAdapter(t, ha.Adapter, ha.h)
	waitFor(t, "the first sync handled", func() bool { return !ha.Alive().IsZero() })
	got := ha.h.observed()
	if len(got) != 2 {
		t.Fatalf("read the cards back %d times before the rooms counted as heard, want 2 (the first read failed): %+v", len(got), got)
	}
	for _, o := range got {
		if !o.alive.IsZero() || o.deaf == "" {
			t.Errorf("while reading the cards back: Alive %v, Liveness %q; want not heard yet", o.alive, o.deaf)
		}
	}
}

// A reply sent again after its answer was lost keeps its transaction id,
// so the homeserver posts it once.
func TestReplyAfterALostAnswerIsSentOnce(t *testing.T) {
	f := newFakeHS(t)
	f.sendLose = 1
	a, _ := newTestAdapter(t, f, newMemState())
	if err := a.connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := a.Reply(t.Context(), "!review:heed.test", "$card1:heed.test", "✅ #1 published to rec"); err == nil {
		t.Fatal("Reply succeeded although its answer was lost")
	}
	if err := a.Reply(t.Context(), "!review:heed.test", "$card1:heed.test", "✅ #1 published to rec"); err != nil {
		t.Fatal(err)
	}
	if err := a.Reply(t.Context(), "!review:heed.test", "$card1:heed.test", "✅ #1 published to rec"); err != nil {
		t.Fatal(err)
	}
	if sent := f.sentEvents(); len(sent) != 2 {
		t.Errorf("%d replies posted, want 2: the retry once, and a later reply of the same text again", len(sent))
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
