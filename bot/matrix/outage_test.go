package matrix

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/bot/matrix/matrixtest"
	"github.com/heed-dev/heed/dispatch"
	"github.com/heed-dev/heed/publish"
)

// End-to-end tests of heed cut off from a real Dendrite by a proxy, while
// the people in the room carry on.

// beforeEach runs f before the engine handles each event the adapter hands
// it, as another goroutine of heed (the dispatcher) may run at that moment.
type beforeEach struct {
	*bot.Engine
	f func(bot.Event)
}

func (b beforeEach) HandleEvent(ctx context.Context, ev bot.Event) error {
	b.f(ev)
	return b.Engine.HandleEvent(ctx, ev)
}

// waitLog waits until the log holds more than n lines containing s.
func (w *world) waitLog(s string, n int) {
	w.t.Helper()
	deadline := time.Now().Add(realWait)
	for strings.Count(w.logs.String(), s) <= n {
		if time.Now().After(deadline) {
			w.t.Fatalf("the log did not say %q (log:\n%s)", s, w.logs)
		}
		time.Sleep(10 * time.Millisecond) // polling the log of a real server's sync, bounded by the deadline
	}
}

// waitDeaf waits until heed's Liveness, at the clock's time, says why the
// room cannot be heard, and returns that.
func (w *world) waitDeaf() string {
	w.t.Helper()
	deadline := time.Now().Add(realWait)
	for {
		if why := w.s.Engine.Deaf(w.clock.Now()); why != "" {
			return why
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("heed still counts the room as heard %v after it was cut off (log:\n%s)", realWait, w.logs)
		}
		time.Sleep(10 * time.Millisecond) // polling a real server's sync, bounded by the deadline
	}
}

// opsSays has user type text in the second chat's review room and returns
// heed's answer there.
func (w *world) opsSays(user, text string) string {
	w.t.Helper()
	ev := bot.Event{ID: "ops-" + matrixtest.Random(4), Kind: bot.Message, Adapter: w.mem.Name(), Room: "review",
		User: user, UserName: "@" + user, Text: text, At: w.clock.Now()}
	if err := w.s.Engine.HandleEvent(context.Background(), ev); err != nil {
		w.t.Fatal(err)
	}
	return w.mem.LastReply()
}

// E2E: heed is cut off from the homeserver; a member types `pause`
// meanwhile and an approved post becomes overdue. When the connection
// returns, the dispatcher runs just as the batch with the pause reaches
// the engine: it must find the room unheard, so nothing goes out, and the
// pause then holds the post.
func TestE2EPauseWhileCutOffComesFirst(t *testing.T) {
	type cycle struct {
		st  dispatch.Stats
		err error
	}
	atPause := make(chan cycle, 1)
	var w *world
	var once sync.Once
	first := func(ev bot.Event) {
		if ev.Kind == bot.Message && strings.HasPrefix(ev.Text, "pause") {
			once.Do(func() {
				st, err := w.s.Dispatcher.RunOnce(context.Background(), w.clock.Now())
				atPause <- cycle{st, err}
			})
		}
	}
	w = newWorldWith(t, matrixtest.Shared(t), worldOptions{proxy: true,
		wrap: func(h bot.Handler) bot.Handler { return beforeEach{h.(*bot.Engine), first} }})
	occ, card := w.card("Goes out in five minutes unless paused", 5*time.Minute)
	w.react(w.alice, card, "✅")
	w.waitEdit(card, "approved by "+string(w.alice.ID))

	failed := strings.Count(w.logs.String(), "/sync failed")
	w.proxy.Cut(t)
	w.waitLog("/sync failed", failed)
	w.say(w.eve, "pause incident while heed is cut off")
	w.clock.Advance(6 * time.Minute) // the post is overdue
	w.proxy.Restore(t)

	select {
	case c := <-atPause:
		if c.err != nil || c.st.Claimed != 0 {
			t.Errorf("a dispatch cycle run as the pause reached the engine: %+v, %v; want nothing claimed (the backlog is not handled yet)", c.st, c.err)
		}
	case <-time.After(realWait):
		t.Fatalf("the pause typed while heed was cut off never reached the engine (log:\n%s)", w.logs)
	}
	w.waitBotSays("⏸ Paused all publishing. By " + string(w.eve.ID) + ", reason: incident while heed is cut off")
	w.waitAlive()
	if st := w.s.Cycle(); st.Claimed != 0 {
		t.Errorf("after the pause: %+v, want nothing claimed", st)
	}
	if got := w.s.Rec.Texts(); len(got) != 0 {
		t.Fatalf("published %q although a pause was typed before the connection returned", got)
	}
	if st := w.s.State(occ); st != approvals.StateHeld && st != approvals.StateApproved {
		t.Errorf("#%d is %s, want held or still waiting (note %q)", occ, st, w.s.View(occ).Note)
	}
}

// E2E: the homeserver cannot be reached before an approved post's time.
// heed is deaf at once; the post does not go out at its time, nor late
// when the homeserver can be reached again; its card (edited once heed is
// back) and `status`, asked in another chat meanwhile, say why.
func TestE2EUnreachableHomeserverHoldsThePost(t *testing.T) {
	w := newWorldWith(t, matrixtest.Shared(t), worldOptions{proxy: true, mem: true})
	occ, card := w.card("Due while heed cannot reach the homeserver", 5*time.Minute)
	w.react(w.alice, card, "✅")
	w.waitEdit(card, "approved by "+string(w.alice.ID))

	w.proxy.Cut(t)
	// The clock has not moved: this is the failed sync, not silence.
	if why := w.waitDeaf(); !strings.Contains(why, "the Matrix homeserver could not be reached since 09:00:00 UTC") {
		t.Errorf("deaf because %q, want the homeserver unreachable since 09:00:00 UTC", why)
	}
	reply := w.opsSays("bob", "status")
	t.Logf("status while cut off: %s", reply)
	if !strings.Contains(reply, "⚠ publishing holds: the Matrix homeserver could not be reached since 09:00:00 UTC") {
		t.Errorf("status while cut off: %q, want it to name the deaf Matrix chat", reply)
	}

	w.clock.Advance(5 * time.Minute) // its time
	if st := w.s.Cycle(); st.Claimed != 0 || st.Published != 0 {
		t.Errorf("at its time, cut off: %+v, want nothing claimed", st)
	}
	if v := w.s.View(occ); !strings.Contains(v.Note, "the Matrix homeserver could not be reached") {
		t.Errorf("#%d is %s with note %q, want the note to say the Matrix homeserver could not be reached", occ, v.State, v.Note)
	}
	w.clock.Advance(11 * time.Minute) // past late_grace, still cut off
	w.s.Cycle()
	w.s.WantState(occ, approvals.StateHeld)

	w.proxy.Restore(t)
	w.waitAlive()
	if st := w.s.Cycle(); st.Claimed != 0 {
		t.Errorf("once the homeserver is back: %+v, want nothing claimed", st)
	}
	if got := w.s.Rec.Texts(); len(got) != 0 {
		t.Fatalf("published %q: at its time heed could not have heard a pause", got)
	}
	w.s.WantState(occ, approvals.StateHeld)
	// The card's edits failed while heed was cut off, and go out after.
	body := w.waitEdit(card, "HELD")
	t.Logf("the held card: %s", body)
	if !strings.Contains(body, "the Matrix homeserver could not be reached") {
		t.Errorf("the held card does not say why: %q", body)
	}
	if reply := w.opsSays("bob", "status"); strings.Contains(reply, "publishing holds") || !strings.Contains(reply, "held 1") {
		t.Errorf("status once heed hears the room again: %q, want no hold and the held post counted", reply)
	}
}

// E2E: the connection drops while a publish is under way. Its outcome's
// reply in the card's thread and the card's edit cannot be sent then; both
// are sent once heed reaches the homeserver again, the reply once.
func TestE2EOutcomeRepliedAfterTheLinkReturns(t *testing.T) {
	w := newWorldWith(t, matrixtest.Shared(t), worldOptions{proxy: true})
	occ, card := w.card("Published just as the link drops", 5*time.Minute)
	w.react(w.alice, card, "✅")
	w.waitEdit(card, "approved by "+string(w.alice.ID))

	var cut sync.Once
	w.s.Rec.Before = func(publish.Request) { cut.Do(func() { w.proxy.Cut(t) }) }
	w.advance(5 * time.Minute)
	if st := w.s.Cycle(); st.Published != 1 {
		t.Fatalf("at its time: %+v, want it published", st)
	}
	w.waitLog("reply failed", 0)

	w.proxy.Restore(t)
	w.waitAlive()
	w.s.Cycle() // the engine's next tick
	reply := fmt.Sprintf("✅ #%d published to rec", occ)
	w.waitBotSays(reply)
	w.waitEdit(card, "PUBLISHED")
	n := 0
	for _, s := range w.watch.Events() {
		if body, _ := s.Event.Content.Raw["body"].(string); s.Event.Sender == w.bot.ID && strings.HasPrefix(body, reply) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the outcome was replied %d times, want once", n)
	}
}
