package slack

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/approvals/timing"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/bot/slack/slackfake"
	"github.com/heed-dev/heed/internal/heedtest"
)

// The end-to-end tests run a whole heed (store, engine, dispatcher, a
// recording target) against the fake Slack, GoAlert style: people react,
// type and click in the fake; the tests assert on the cards and on what
// was published. The review channel's policy: alice is an approver in
// heed's configuration, members of the user group SSOCIAL (carol) are
// approvers through Slack; bob is a plain member.

type stackEnv struct {
	*env
	s *heedtest.Stack
}

type stackSetup struct {
	mode     string
	required int
	dbPath   string          // reuse a database (restart)
	clock    *heedtest.Clock // share a clock (restart)
	fake     *slackfake.Fake // reuse the fake workspace (restart)
	opts     []Option        // more adapter options
	noStart  bool            // do not run the adapter yet
	fakeOpts slackfake.Options
	guards   *timing.Safeguards // timing safeguards (reminders); nil: none
	replica  string             // one of several replicas on dbPath (PostgreSQL)
}

func newStack(t testing.TB, o stackSetup) *stackEnv {
	t.Helper()
	if o.clock == nil {
		// Slack signs with the wall clock's seconds; heed's clock starts
		// there so that signed requests are fresh for both.
		o.clock = heedtest.NewClock(time.Now().Truncate(time.Second))
	}
	var e *env
	opts := append([]Option{WithClock(o.clock.Now)}, o.opts...)
	if o.fake == nil {
		fo := o.fakeOpts
		fo.Now = o.clock.Now
		e = newEnv(t, setup{mode: o.mode, noRun: true, fake: fo, opts: opts})
	} else {
		e = adapterFor(t, o.fake, o.mode, opts)
	}
	s := heedtest.New(t, heedtest.Options{
		Adapters: []bot.Adapter{e.a},
		Rooms: []bot.Room{{Name: "review", Adapter: "slack", ID: chReview,
			Policy: approvals.Policy{Approvers: []string{alice}, Required: o.required}}},
		Clock:      o.clock,
		DBPath:     o.dbPath,
		Safeguards: o.guards,
		Replica:    o.replica,
	})
	e.h = s.Engine
	WithState(s.Store)(e.a) // as heed run gives it the database
	if !o.noStart {
		e.start(t)
	}
	return &stackEnv{env: e, s: s}
}

// adapterFor builds a second adapter on an existing fake workspace, as a
// restarted heed would.
func adapterFor(t testing.TB, f *slackfake.Fake, mode string, opts []Option) *env {
	t.Helper()
	o := f.Options()
	cfg := Config{Mode: mode, BotToken: o.BotToken, AppToken: o.AppToken, SigningSecret: o.SigningSecret, APIURL: f.APIURL(), Listen: testListen,
		Channels: []ChannelConfig{{ID: chReview, ApproverGroups: []string{groupSocial}}}}
	e := &env{f: f, rec: newRecorder(), clock: newClock(), logs: &syncBuffer{}}
	a, err := New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	e.a = a
	if mode == ModeEvents {
		// Slack now delivers to the restarted heed.
		e.srv = httptest.NewServer(a.EventsHandler())
		t.Cleanup(e.srv.Close)
		f.DeliverTo(e.srv.URL)
	}
	return e
}

// advance moves heed's clock, then lets Slack be heard at the new time (a
// delivery the app acknowledges), as its pings would within seconds.
func (x *stackEnv) advance(t *testing.T, d time.Duration) {
	t.Helper()
	x.s.Clock.Advance(d)
	x.f.Sync(t)
}

// post schedules a post due in `in` and returns its card as posted.
func (x *stackEnv) post(t testing.TB, text string, in time.Duration) (slackfake.Message, int64) {
	t.Helper()
	x.s.Add(text, in)
	x.s.Cycle()
	card := x.f.ExpectMessage(t, chReview, func(m slackfake.Message) bool {
		return m.Metadata != nil && m.Metadata.EventType == "heed_card" && strings.Contains(m.AllText(), text)
	})
	occ, _ := card.Metadata.EventPayload["occurrence"].(float64)
	if occ == 0 {
		t.Fatalf("card without an occurrence number: %+v", card.Metadata)
	}
	return card, int64(occ)
}

// 1. Card posted, approver's ✅ approves it, card updated; at its time it
// is published and the thread says so.
func TestE2EApproveAndPublish(t *testing.T) {
	x := newStack(t, stackSetup{})
	card, occ := x.post(t, "Launch day! <!channel> & friends", 10*time.Minute)
	card.AssertText(t, "IN REVIEW", "Launch day! <!channel> & friends", "→ *rec* (recorder)", "no approvals yet (0/1)")
	if got := card.Actions(); len(got) != 2 {
		t.Fatalf("buttons = %v", got)
	}

	x.f.React(alice, chReview, card.TS, "white_check_mark")
	card = card.ExpectUpdateText(t, "APPROVED", "approved by @alice (1/1)")
	x.s.WantState(occ, approvals.StateApproved)

	x.advance(t, 10*time.Minute)
	x.s.Cycle()
	if got := x.s.Rec.Texts(); len(got) != 1 || got[0] != "Launch day! <!channel> & friends" {
		t.Fatalf("published %q", got)
	}
	x.s.WantState(occ, approvals.StatePublished)
	card.ExpectUpdateText(t, "PUBLISHED")
	x.f.ExpectReply(t, chReview, card.TS, "published to rec")
	if got := x.f.LastMessage(chReview); got.TS != card.TS {
		t.Fatalf("something besides the card went to the channel: %+v", got)
	}
}

// 2. +1::skin-tone-4 counts as 👍.
func TestE2ESkinToneThumbsUp(t *testing.T) {
	x := newStack(t, stackSetup{})
	card, occ := x.post(t, "Skin tones", time.Hour)
	x.f.React(alice, chReview, card.TS, "+1::skin-tone-4")
	card.ExpectUpdateText(t, "APPROVED", "approved by @alice (1/1)")
	x.s.WantState(occ, approvals.StateApproved)
}

// 3. A non-approver's reaction does not count, and the card says why.
func TestE2ENonApproverDoesNotCount(t *testing.T) {
	x := newStack(t, stackSetup{})
	card, occ := x.post(t, "Not yours", time.Hour)
	x.f.React(bob, chReview, card.TS, "white_check_mark")
	card.ExpectUpdateText(t, "from @bob does not count: not an approver", "no approvals yet (0/1)")
	x.s.WantState(occ, approvals.StateInReview)
	// Another bot's reaction does not count either.
	x.f.React(deploybot, chReview, card.TS, "+1")
	card.ExpectUpdateText(t, "from @deploybot does not count")
	x.s.WantState(occ, approvals.StateInReview)
}

// 4. A user-group member approves.
func TestE2EUserGroupMemberApproves(t *testing.T) {
	x := newStack(t, stackSetup{})
	card, occ := x.post(t, "Group approval", time.Hour)
	x.f.React(carol, chReview, card.TS, "white_check_mark")
	card.ExpectUpdateText(t, "approved by @carol (1/1)")
	x.s.WantState(occ, approvals.StateApproved)
}

// A user group's new member: the ✅ bob gave before joining counts once
// heed reads the group again, without a new reaction.
func TestE2EUserGroupChangeWeighsReactionsAgain(t *testing.T) {
	x := newStack(t, stackSetup{})
	card, occ := x.post(t, "Joined later", time.Hour)
	x.f.React(bob, chReview, card.TS, "white_check_mark")
	card = card.ExpectUpdateText(t, "from @bob does not count")
	x.f.SetGroup(groupSocial, carol, bob)
	x.advance(t, 6*time.Minute)        // past group_refresh (5m)
	x.f.Say(alice, chReview, "status") // the next event read from the channel reads the group again first
	card.ExpectUpdateText(t, "approved by @bob (1/1)")
	x.s.WantState(occ, approvals.StateApproved)
}

// 5. reaction_removed withdraws.
func TestE2EUnreactionWithdraws(t *testing.T) {
	x := newStack(t, stackSetup{})
	card, occ := x.post(t, "Changed my mind", 10*time.Minute)
	x.f.React(alice, chReview, card.TS, "white_check_mark")
	card = card.ExpectUpdateText(t, "approved by @alice")
	x.f.Unreact(alice, chReview, card.TS, "white_check_mark")
	card.ExpectUpdateText(t, "IN REVIEW", "no approvals yet (0/1)")
	x.s.WantState(occ, approvals.StateInReview)
	x.advance(t, 10*time.Minute)
	x.s.Cycle()
	if got := x.s.Rec.Texts(); len(got) != 0 {
		t.Fatalf("published after the approval was withdrawn: %q", got)
	}
}

// Buttons are the same decisions as reactions, with the same checks.
func TestE2EButtons(t *testing.T) {
	x := newStack(t, stackSetup{})
	card, occ := x.post(t, "Click to approve", time.Hour)
	card.Click(bob, actionApprove)
	card = card.ExpectUpdateText(t, "from @bob does not count: not an approver")
	card.Click(alice, actionApprove)
	card = card.ExpectUpdateText(t, "approved by @alice (1/1)")
	x.s.WantState(occ, approvals.StateApproved)
	card.Click(alice, actionApprove) // again: taken back
	card.ExpectUpdateText(t, "no approvals yet (0/1)")
	x.s.WantState(occ, approvals.StateInReview)
	card.Click(carol, actionReject)
	card.ExpectUpdateText(t, "REJECTED", "rejected by @carol")
	x.s.WantState(occ, approvals.StateRejected)
}

// 6. pause from a plain member halts publishing, with a receipt; resume
// from a non-approver is refused; the slash command works the same.
func TestE2EPauseAndResume(t *testing.T) {
	x := newStack(t, stackSetup{})
	card, occ := x.post(t, "Cheerful post", 10*time.Minute)
	x.f.React(alice, chReview, card.TS, "white_check_mark")
	card.ExpectUpdateText(t, "approved by @alice")

	x.f.Say(bob, chReview, "pause breaking news")
	x.f.ExpectMessage(t, chReview, func(m slackfake.Message) bool {
		return strings.Contains(m.Text, "Paused all publishing. By @bob, reason: breaking news") && strings.Contains(m.Text, "1 upcoming")
	})
	x.advance(t, 10*time.Minute)
	x.s.Cycle()
	if got := x.s.Rec.Texts(); len(got) != 0 {
		t.Fatalf("published during a pause: %q", got)
	}
	x.s.WantState(occ, approvals.StateHeld)

	x.f.Say(bob, chReview, "<@"+x.f.Options().BotUserID+"> resume")
	x.f.ExpectMessage(t, chReview, func(m slackfake.Message) bool {
		return strings.Contains(m.Text, "@bob cannot resume: not an approver")
	})
	first := x.f.LastMessage(chReview)
	x.f.Slash(bob, chReview, "/heed", "resume")
	x.f.ExpectMessage(t, chReview, func(m slackfake.Message) bool {
		return strings.Contains(m.Text, "@bob cannot resume") && m.TS != first.TS
	})
	x.s.Cycle()
	x.s.WantState(occ, approvals.StateHeld)

	x.f.Slash(alice, chReview, "/heed", "resume")
	x.f.ExpectMessage(t, chReview, func(m slackfake.Message) bool {
		return strings.Contains(m.Text, "Resumed by @alice") && strings.Contains(m.Text, "#"+itoa(occ))
	})
	x.s.Cycle()
	if got := x.s.Rec.Texts(); len(got) != 0 {
		t.Fatalf("a held post went out by itself after resume: %q", got)
	}
	// /heed pause from a plain member pauses too.
	x.f.Slash(bob, chReview, "/heed", "pause again")
	x.f.ExpectMessage(t, chReview, func(m slackfake.Message) bool {
		return strings.Contains(m.Text, "By @bob, reason: again")
	})
}

// 7. Forged signature, stale timestamp and replayed event_id are all
// rejected and change nothing.
func TestE2EForgedStaleReplayedChangeNothing(t *testing.T) {
	x := newStack(t, stackSetup{mode: ModeEvents})
	card, occ := x.post(t, "Guarded", time.Hour)
	o := x.f.Options()
	now := x.s.Clock.Now().Unix()

	// alice's approval, as Slack would send it.
	approve := fixture(t, "events/reaction_added-skin-tone.json", "1795219200.000100", card.TS, "U0HEEDBOT1", o.BotUserID)
	forged := http.Header{"Content-Type": {"application/json"}, "X-Slack-Request-Timestamp": {itoa(now)},
		"X-Slack-Signature": {slackfake.Sign("a-guessed-secret", now, approve)}}
	if st, _ := x.f.PostRaw(approve, forged); st != http.StatusUnauthorized {
		t.Fatalf("forged: %d", st)
	}
	if st, _ := x.f.PostSigned(now-6*60, approve, nil); st != http.StatusUnauthorized {
		t.Fatalf("stale: %d", st)
	}
	// Nothing happened: a later genuine event is handled first.
	x.f.Say(bob, chReview, "status")
	x.f.ExpectMessage(t, chReview, func(m slackfake.Message) bool { return strings.Contains(m.Text, "Not paused") })
	x.s.WantState(occ, approvals.StateInReview)
	if got, _ := x.f.Message(chReview, card.TS); got.Edits != card.Edits {
		t.Fatalf("the card changed: %d edits", got.Edits)
	}

	// The genuine approval counts; then alice takes it back; a replay of
	// the approval (same event_id, freshly signed, as a retry) is dropped.
	x.f.ReactSilently(alice, chReview, card.TS, "+1::skin-tone-4", true)
	if st, _ := x.f.PostSigned(now, approve, nil); st != http.StatusOK {
		t.Fatalf("genuine: %d", st)
	}
	card = card.ExpectUpdateText(t, "approved by @alice")
	x.f.Unreact(alice, chReview, card.TS, "+1::skin-tone-4")
	card = card.ExpectUpdateText(t, "no approvals yet")
	if st, _ := x.f.PostSigned(now, approve, http.Header{"X-Slack-Retry-Num": {"1"}, "X-Slack-Retry-Reason": {"http_timeout"}}); st != http.StatusOK {
		t.Fatalf("replay: %d", st)
	}
	x.f.Say(bob, chReview, "queue")
	x.f.ExpectMessage(t, chReview, func(m slackfake.Message) bool { return strings.HasPrefix(m.Text, "#"+itoa(occ)+" in_review") })
	x.s.WantState(occ, approvals.StateInReview)
	if got, _ := x.f.Message(chReview, card.TS); got.Edits != card.Edits {
		t.Fatalf("the replay changed the card:\n%s", got.AllText())
	}
}

// 8. A reaction made while heed was down is reconciled on restart, exactly
// once, and one taken back while down is withdrawn.
func TestE2EReconcileOnRestart(t *testing.T) {
	x := newStack(t, stackSetup{required: 2})
	card, occ := x.post(t, "Needs two", time.Hour)
	x.f.React(carol, chReview, card.TS, "white_check_mark")
	card = card.ExpectUpdateText(t, "approved by @carol (1/2)")

	// heed stops.
	x.stop()
	x.stop = nil
	x.f.WaitDisconnected(t)
	// While it is down: carol's reaction is taken back and Slack gives up
	// on that event; alice approves and Slack keeps that event queued.
	x.f.ReactSilently(carol, chReview, card.TS, "white_check_mark", false)
	x.f.RefuseSockets(true)
	pending := x.f.React(alice, chReview, card.TS, "white_check_mark")

	// heed starts again on the same database, and reads the card back as
	// it starts, before the socket is back.
	y := newStack(t, stackSetup{required: 2, dbPath: x.s.DBPath, clock: x.s.Clock, fake: x.f, noStart: true})
	y.run(t)
	y.waitReconciled(t)
	card = card.ExpectUpdateText(t, "approved by @alice (1/2)")
	card.AssertNoText(t, "@carol")
	// The queued event arrives now, and changes nothing.
	x.f.RefuseSockets(false)
	pending.Wait(t, 10*time.Second)
	y.s.Cycle()
	y.s.WantState(occ, approvals.StateInReview)
	if n := countAudit(t, y.s, occ, "decision.approve", "@alice"); n != 1 {
		t.Fatalf("alice's approval is in the audit log %d times, want once", n)
	}
	if n := countAudit(t, y.s, occ, "decision.withdraw", "@carol"); n != 1 {
		t.Fatalf("carol's withdrawal is in the audit log %d times, want once", n)
	}
	// A second reconcile changes nothing.
	if err := y.s.Engine.Reconcile(context.Background(), "slack"); err != nil {
		t.Fatal(err)
	}
	if n := countAudit(t, y.s, occ, "decision.approve", "@alice"); n != 1 {
		t.Fatalf("after a second reconcile: %d", n)
	}
}

func countAudit(t *testing.T, s *heedtest.Stack, occ int64, action, actor string) int {
	t.Helper()
	entries, err := s.Service.Audit.Audit(s.Ctx, 0, occ, 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Action == action && e.Actor == actor {
			n++
		}
	}
	return n
}

// 9. Socket drop: publishing holds while heed cannot hear the channel,
// then recovers once the socket is back.
func TestE2ESocketDropHoldsThenRecovers(t *testing.T) {
	x := newStack(t, stackSetup{})
	card, occ := x.post(t, "Only if heard", 5*time.Minute)
	x.f.React(alice, chReview, card.TS, "white_check_mark")
	card = card.ExpectUpdateText(t, "approved by @alice")

	x.f.RefuseSockets(true)
	x.f.Drop(t)
	x.s.Clock.Advance(5 * time.Minute)
	x.s.Cycle()
	if got := x.s.Rec.Texts(); len(got) != 0 {
		t.Fatalf("published while the socket was down: %q", got)
	}
	if why := x.s.Engine.Deaf(x.s.Clock.Now()); !strings.Contains(why, "slack chat has not been heard from") {
		t.Fatalf("Deaf = %q", why)
	}
	card = card.ExpectUpdateText(t, "not been heard from")
	x.s.WantState(occ, approvals.StateHeld)

	// Back: the held post needs a fresh decision, which publishes it now.
	x.f.RefuseSockets(false)
	x.f.WaitConnections(t, 2)
	x.f.Sync(t)
	x.s.Cycle()
	if got := x.s.Rec.Texts(); len(got) != 0 {
		t.Fatalf("a post held while deaf went out without a fresh decision: %q", got)
	}
	x.f.Unreact(alice, chReview, card.TS, "white_check_mark")
	x.f.React(alice, chReview, card.TS, "white_check_mark")
	card.ExpectUpdateText(t, "publishing now")
	x.s.Cycle()
	if got := x.s.Rec.Texts(); len(got) != 1 {
		t.Fatalf("not published after a fresh decision: %q", got)
	}
	x.s.WantState(occ, approvals.StatePublished)

	// A deaf socket (open, silent) holds publishing the same way.
	card2, occ2 := x.post(t, "Deaf socket", 5*time.Minute)
	x.f.React(alice, chReview, card2.TS, "white_check_mark")
	card2.ExpectUpdateText(t, "approved by @alice")
	x.f.Deafen(t, true)
	x.s.Clock.Advance(5 * time.Minute)
	x.s.Cycle()
	x.s.WantState(occ2, approvals.StateHeld)
	x.f.Deafen(t, false)
	x.f.Sync(t)
	x.s.Cycle()
	x.s.WantState(occ2, approvals.StateHeld)
}

// 10. A 429 storm: every Web API call waits out Retry-After; all cards,
// updates and replies arrive, in order.
func TestE2E429Storm(t *testing.T) {
	var mu sync.Mutex
	var waits []time.Duration
	sleep := func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return ctx.Err()
	}
	x := newStack(t, stackSetup{opts: []Option{WithSleep(sleep)}, fakeOpts: slackfake.Options{NoEcho: true}})
	x.f.RateLimit(25, 2)
	for i := 1; i <= 5; i++ {
		x.s.Add("storm post "+itoa(int64(i)), time.Duration(i)*time.Minute)
	}
	x.s.Cycle()
	cards := x.f.Messages(chReview)
	if len(cards) != 5 {
		t.Fatalf("%d cards, want 5", len(cards))
	}
	for i, c := range cards {
		c.AssertText(t, "storm post "+itoa(int64(i+1)))
	}
	for _, c := range cards {
		x.f.React(alice, chReview, c.TS, "white_check_mark")
	}
	for _, c := range cards {
		c.ExpectUpdateText(t, "approved by @alice")
	}
	x.advance(t, 5*time.Minute)
	x.s.Cycle()
	if got := x.s.Rec.Texts(); len(got) != 5 {
		t.Fatalf("published %d, want 5", len(got))
	}
	for _, c := range cards {
		x.f.ExpectReply(t, chReview, c.TS, "published to rec")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(waits) != 25 {
		t.Fatalf("%d waits, want 25", len(waits))
	}
	for _, w := range waits {
		if w != 2*time.Second {
			t.Fatalf("waited %v, want Retry-After 2s", w)
		}
	}
}
