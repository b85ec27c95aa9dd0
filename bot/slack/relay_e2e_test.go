package slack

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot/slack/slackfake"
	"github.com/heed-dev/heed/internal/pgtest"
)

// eventsReplicas is two heed replicas on one PostgreSQL database serving
// one Slack app in events mode, as behind a load balancer: x holds the
// chat, y does not, and Slack's deliveries go to y.
func eventsReplicas(t *testing.T) (x, y *stackEnv) {
	t.Helper()
	url := pgtest.URL(t)
	// The holder reads what y kept when the test says (DrainKept).
	byHand := []Option{func(a *Adapter) { a.keptEvery = -1 }}
	x = newStack(t, stackSetup{mode: ModeEvents, dbPath: url, replica: "r1", noStart: true, opts: byHand})
	if !holdSlack(t, x) {
		t.Fatal("the first replica did not take the Slack chat")
	}
	x.start(t)
	y = newStack(t, stackSetup{mode: ModeEvents, dbPath: url, replica: "r2", clock: x.s.Clock, fake: x.f, noStart: true})
	if holdSlack(t, y) {
		t.Fatal("the second replica took a chat the first holds")
	}
	return x, y // adapterFor pointed Slack at y
}

// count runs a count query on the replicas' database.
func count(t *testing.T, x *stackEnv, q string) int {
	t.Helper()
	var n int
	if err := x.s.Store.DB().QueryRowContext(x.s.Ctx, q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestE2EReplicasEventsAPIKeptForTheHolder: a signed reaction that
// reaches the replica not holding the Slack chat is answered 200 and kept
// in the database; that replica posts and edits nothing, and the holder
// handles it: the card is approved, edited in place, never posted twice.
// Slack's retries of the same event_id, to the holder and to the other
// replica, count once.
func TestE2EReplicasEventsAPIKeptForTheHolder(t *testing.T) {
	x, y := eventsReplicas(t)
	card, occ := x.post(t, "Heard by any replica", time.Hour)
	d := x.f.React(alice, chReview, card.TS, "white_check_mark")
	if st := d.Statuses(); !slices.Equal(st, []int{200}) {
		t.Fatalf("the replica not holding the chat answered %v, want [200]", st)
	}
	y.s.Cycle() // renders nothing: it does not hold the chat
	if n := len(cards(x.f)); n != 1 {
		t.Fatalf("%d cards, want 1", n)
	}
	x.s.WantState(occ, approvals.StateInReview) // kept, not yet read by the holder
	if n := count(t, x, `SELECT count(*) FROM chat_inbox WHERE key = 'ev:`+d.EventID+`'`); n != 1 {
		t.Fatalf("the reaction kept %d times, want 1", n)
	}
	// The holder reads it from the database and acts on it.
	if n := x.a.DrainKept(x.s.Ctx); n < 1 {
		t.Fatalf("the holder read %d kept requests, want the reaction", n)
	}
	card = card.ExpectUpdateText(t, "APPROVED", "approved by @alice (1/1)")
	x.s.WantState(occ, approvals.StateApproved)
	if n := count(t, x, `SELECT count(*) FROM chat_inbox WHERE key = 'ev:`+d.EventID+`'`); n != 0 {
		t.Fatalf("the handled request is still kept (%d)", n)
	}
	// Slack sends it again (its ack was lost, say), to the holder, and
	// once more to the other replica, which keeps it again.
	x.f.DeliverTo(x.srv.URL)
	if st := x.f.Replay(d).Statuses(); !slices.Equal(st, []int{200}) {
		t.Fatalf("the holder answered the retry %v", st)
	}
	x.f.DeliverTo(y.srv.URL)
	if st := x.f.Replay(d).Statuses(); !slices.Equal(st, []int{200}) {
		t.Fatalf("the other replica answered the retry %v", st)
	}
	x.a.DrainKept(x.s.Ctx)
	ctx, cancel := context.WithTimeout(x.s.Ctx, 10*time.Second)
	defer cancel()
	if !x.a.prioLane.wait(ctx) || !x.a.normLane.wait(ctx) {
		t.Fatal("the holder did not handle the retries within 10 s")
	}
	x.s.Cycle()
	if n := count(t, x, fmt.Sprintf(`SELECT count(*) FROM audit WHERE action = 'decision.approve' AND occurrence_id = %d`, occ)); n != 1 {
		t.Fatalf("%d approvals audited for one reaction delivered twice, to two replicas; want 1", n)
	}
	if n := len(cards(x.f)); n != 1 {
		t.Fatalf("%d cards, want 1", n)
	}
}

// TestE2EReplicasPauseOnANonHolderStopsClaimsAtOnce: `pause` typed in
// the review channel reaches the replica that does not hold the chat. It
// records the pause before it answers Slack, so the moment the answer is
// out, no replica claims anything: an approved post due then is held, on
// the holder too, before the holder read anything kept. That replica
// posts the receipt, and the holder its note of a pause made elsewhere.
// Slack's retry of the same event, to the holder, is recorded as seen by
// the replica that took it (seen_events) and makes no second pause.
func TestE2EReplicasPauseOnANonHolderStopsClaimsAtOnce(t *testing.T) {
	x, y := eventsReplicas(t)
	card, occ := x.post(t, "Held by a pause heard elsewhere", time.Minute)
	x.f.DeliverTo(x.srv.URL)
	x.f.React(alice, chReview, card.TS, "white_check_mark")
	card.ExpectUpdateText(t, "APPROVED")
	x.f.DeliverTo(y.srv.URL)

	_, d := x.f.Say(bob, chReview, "pause breaking news")
	if st := d.Statuses(); !slices.Equal(st, []int{200}) {
		t.Fatalf("the replica not holding the chat answered the pause %v, want [200]", st)
	}
	x.wantPaused(t, 1) // in force as Slack has its answer, before the holder read anything
	if n := count(t, x, `SELECT count(*) FROM chat_inbox WHERE key = 'ev:`+d.EventID+`'`); n != 0 {
		t.Fatal("the pause was kept for the holder, not recorded at once")
	}
	due := x.s.View(occ).At
	step := x.s.Engine.RenewEvery()
	for !x.s.Clock.Now().After(due) {
		x.s.Clock.Advance(step)
		holdSlack(t, x)
		holdSlack(t, y)
		x.f.Sync(t) // Slack is heard: kept by y, read by the holder
		x.a.DrainKept(x.s.Ctx)
		x.s.Cycle()
		y.s.Cycle()
	}
	if got := append(x.s.Rec.Texts(), y.s.Rec.Texts()...); len(got) != 0 {
		t.Fatalf("published %q after a pause had been answered", got)
	}
	x.s.WantState(occ, approvals.StateHeld)
	x.f.ExpectMessage(t, chReview, says("Paused all publishing. By "+bob+", reason: breaking news"))             // y's receipt
	x.f.ExpectMessage(t, chReview, says("paused all publishing from outside this chat (reason: breaking news)")) // the holder's note

	x.f.DeliverTo(x.srv.URL)
	if st := x.f.Replay(d).Statuses(); !slices.Equal(st, []int{200}) {
		t.Fatalf("the holder answered the pause's retry %v", st)
	}
	ctx, cancel := context.WithTimeout(x.s.Ctx, 10*time.Second)
	defer cancel()
	if !x.a.prioLane.wait(ctx) || !x.a.normLane.wait(ctx) {
		t.Fatal("the holder did not handle the retry within 10 s")
	}
	x.s.Cycle()
	if n := count(t, x, `SELECT count(*) FROM audit WHERE action = 'pause'`); n != 1 {
		t.Fatalf("%d pauses audited for one pause delivered to two replicas; want 1", n)
	}
	x.wantPaused(t, 1)
}

// TestE2EReplicasSlashPauseOnANonHolder: `/heed pause` that reaches the
// replica not holding the chat is in force once Slack has its answer,
// and a slash command outside the review channels is answered there,
// privately, and kept for nobody.
func TestE2EReplicasSlashPauseOnANonHolder(t *testing.T) {
	x, _ := eventsReplicas(t)
	d := x.f.Slash(bob, chReview, "/heed", "pause incident")
	if st := d.Statuses(); !slices.Equal(st, []int{200}) {
		t.Fatalf("the replica not holding the chat answered %v, want [200]", st)
	}
	x.wantPaused(t, 1)
	d = x.f.Slash(bob, chOther, "/heed", "pause")
	if st := d.Statuses(); !slices.Equal(st, []int{200}) || !strings.Contains(string(d.Response()), "only listens in its review channels") {
		t.Fatalf("outside the review channels: %v %s", st, d.Response())
	}
	if n := count(t, x, `SELECT count(*) FROM chat_inbox WHERE body LIKE '%`+chOther+`%'`); n != 0 {
		t.Fatalf("a slash command outside the review channels was kept (%d)", n)
	}
	x.wantPaused(t, 1)
}

// TestE2EReplicasFormOnANonHolder: the scheduling form's shortcut and
// submission are answered by the replica they reach, holder or not, since
// Slack shows the answer in the form: the modal opens, a time in the past
// gets its error in the form, and a valid submission is stored there; the
// holder posts the card, once.
func TestE2EReplicasFormOnANonHolder(t *testing.T) {
	x, y := eventsReplicas(t)
	msg := x.f.SaySilently(alice, chReview, "", "Scheduled on any replica")
	x.f.Shortcut(alice, msg, callbackSchedule)
	v := x.f.ExpectView(t, func(v slackfake.View) bool { return v.CallbackID == callbackSchedule && v.Open })
	if n := count(t, x, `SELECT count(*) FROM chat_inbox`); n != 0 {
		t.Fatalf("the shortcut was kept for the holder (%d), not answered", n)
	}
	day, hm := dayAfter(x, -time.Hour)
	if r := submitted(t, v.Submit(t, alice, map[string]any{blockTargets: []string{"rec"}, blockDate: day, blockTime: hm})); r.Action != "errors" || !strings.Contains(r.Errors[blockTime], "in the past") {
		t.Fatalf("a time in the past: %+v, want an error on the time", r)
	}
	day, hm = dayAfter(x, time.Hour)
	if r := submitted(t, v.Submit(t, alice, map[string]any{blockTargets: []string{"rec"}, blockDate: day, blockTime: hm})); r.Action == "errors" {
		t.Fatalf("a valid submission: %+v", r)
	}
	ps, err := x.s.Service.Posts.ListPosts(x.s.Ctx, true, 10)
	if err != nil || len(ps) != 1 || ps[0].Text != "Scheduled on any replica" {
		t.Fatalf("posts: %+v, %v", ps, err)
	}
	y.s.Cycle() // renders nothing: it does not hold the chat
	x.s.Cycle()
	x.s.Cycle()
	if n := len(cards(x.f)); n != 1 {
		t.Fatalf("%d cards, want the holder's one", n)
	}
}
