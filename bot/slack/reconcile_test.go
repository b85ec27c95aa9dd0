package slack

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot/slack/slackfake"
)

// Reading the open cards back on start (reconcile.go): a card is never
// skipped for good, and nothing is published on decisions that may have
// been taken back while heed was down.

// cardIs matches Web API calls about the message ts (reactions.get names
// it timestamp, conversations.replies ts).
func cardIs(ts string) func(url.Values) bool {
	return func(p url.Values) bool { return p.Get("timestamp") == ts || p.Get("ts") == ts }
}

func userIs(id string) func(url.Values) bool {
	return func(p url.Values) bool { return p.Get("user") == id }
}

// approveAll has alice approve each card, and waits until each says so.
func (x *stackEnv) approveAll(t *testing.T, cards ...slackfake.Message) {
	t.Helper()
	for _, c := range cards {
		x.f.React(alice, chReview, c.TS, "white_check_mark")
		c.ExpectUpdateText(t, "approved by @alice")
	}
}

// stopHeed stops heed and, in Socket Mode, waits until its socket is gone.
func (x *stackEnv) stopHeed(t *testing.T) {
	t.Helper()
	x.stop()
	x.stop = nil
	if x.a.cfg.Mode == ModeSocket {
		x.f.WaitDisconnected(t)
	}
}

// gatedSleep is the adapter's sleep for a test that lets each wait go by
// hand: every wait is reported on waits, and ends when the test sends on
// next (or the adapter stops).
type gatedSleep struct {
	waits chan time.Duration
	next  chan struct{}
}

func newGatedSleep() *gatedSleep {
	return &gatedSleep{waits: make(chan time.Duration, 100), next: make(chan struct{})}
}

func (g *gatedSleep) sleep(ctx context.Context, d time.Duration) error {
	g.waits <- d
	select {
	case <-g.next:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// expect waits for the adapter's next wait and checks how long it is.
func (g *gatedSleep) expect(t *testing.T, want time.Duration) {
	t.Helper()
	select {
	case d := <-g.waits:
		if d != want {
			t.Fatalf("the adapter waited %v, want %v", d, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the adapter did not wait %v within 10s", want)
	}
}

// release ends the wait the adapter is in.
func (g *gatedSleep) release(t *testing.T) {
	t.Helper()
	select {
	case g.next <- struct{}{}:
	case <-time.After(10 * time.Second):
		t.Fatal("the adapter was not waiting")
	}
}

// An HTTP 500 on reactions.get for one card, three times: that card is
// read again after 1 s, 2 s and 4 s, and until it is read the chat counts
// as not heard, so an approved post that comes due meanwhile is held, not
// published. The approval taken back while heed was down is withdrawn
// once the card is read, and that post is not published; publishing
// resumes for the one still approved.
func TestE2EReconcileRetriesACardUntilItCanBeRead(t *testing.T) {
	x := newStack(t, stackSetup{})
	early, earlyOcc := x.post(t, "Due while the cards are read back", 10*time.Minute)
	taken, takenOcc := x.post(t, "Taken back while heed was down", 20*time.Minute)
	kept, keptOcc := x.post(t, "Still approved", 20*time.Minute)
	x.approveAll(t, early, taken, kept)

	x.stopHeed(t)
	x.f.ReactSilently(alice, chReview, taken.TS, "white_check_mark", false) // Slack gave up on the event
	x.f.FailHTTP("reactions.get", http.StatusInternalServerError, 3, cardIs(taken.TS))

	g := newGatedSleep()
	conns := x.f.Connections()
	y := newStack(t, stackSetup{dbPath: x.s.DBPath, clock: x.s.Clock, fake: x.f, noStart: true, opts: []Option{WithSleep(g.sleep)}})
	y.run(t)
	y.f.WaitConnections(t, conns+1)
	y.f.Sync(t)

	g.expect(t, time.Second)
	why := y.s.Engine.Deaf(y.s.Clock.Now())
	for _, want := range []string{"reading back the reactions on its open cards", "#" + itoa(takenOcc), "500"} {
		if !strings.Contains(why, want) {
			t.Fatalf("Deaf while a card cannot be read = %q, want it to say %q", why, want)
		}
	}
	y.advance(t, 10*time.Minute)
	y.s.Cycle()
	if got := y.s.Rec.Texts(); len(got) != 0 {
		t.Fatalf("published while a card was not read back: %q", got)
	}
	y.s.WantState(earlyOcc, approvals.StateHeld)
	y.s.WantState(takenOcc, approvals.StateApproved) // still the stale fact, not yet due

	y.f.Sync(t)
	g.release(t)
	g.expect(t, 2*time.Second)
	g.release(t)
	g.expect(t, 4*time.Second)
	g.release(t)
	y.waitReconciled(t)
	taken.ExpectUpdateText(t, "no approvals yet (0/1)")
	if n := len(y.f.Calls("reactions.get")); n != 3+3 {
		t.Fatalf("%d reactions.get calls, want 6: each of 3 cards once, the failing one 3 more times", n)
	}
	select {
	case d := <-g.waits:
		t.Fatalf("the adapter waited %v more after every card was read", d)
	default:
	}

	y.advance(t, 10*time.Minute)
	y.s.Cycle()
	if got := y.s.Rec.Texts(); len(got) != 1 || got[0] != "Still approved" {
		t.Fatalf("published %q, want only the post still approved", got)
	}
	y.s.WantState(keptOcc, approvals.StatePublished)
	y.s.WantState(takenOcc, approvals.StateMissed)
	if n := countAudit(t, y.s, takenOcc, "decision.withdraw", "@alice"); n != 1 {
		t.Fatalf("the withdrawal is in the audit log %d times, want once", n)
	}
}

// A 429 on reactions.get while the cards are read back is waited out as
// Retry-After says, holding only reactions.get: a pause typed meanwhile
// takes effect at once, and its receipt goes out.
func TestE2EReconcileWaitsOutRetryAfter(t *testing.T) {
	x := newStack(t, stackSetup{})
	card, occ := x.post(t, "Read back after a 429", 10*time.Minute)
	x.approveAll(t, card)
	x.stopHeed(t)
	x.f.ReactSilently(alice, chReview, card.TS, "white_check_mark", false)
	x.f.RateLimitMethod("reactions.get", 1, 30)

	g := newGatedSleep()
	conns := x.f.Connections()
	y := newStack(t, stackSetup{dbPath: x.s.DBPath, clock: x.s.Clock, fake: x.f, noStart: true, opts: []Option{WithSleep(g.sleep)}})
	y.run(t)
	y.f.WaitConnections(t, conns+1)
	g.expect(t, 30*time.Second)
	if why := y.a.Deaf(); why == "" {
		t.Fatal("Slack counts as heard while a card waits to be read back")
	}
	y.typePause(t, bob, "pause while heed reads back", "Paused all publishing. By @bob, reason: while heed reads back")
	y.wantPaused(t, 1)
	g.release(t)
	y.waitReconciled(t)
	card.ExpectUpdateText(t, "no approvals yet (0/1)")
	if calls := y.f.Calls("reactions.get"); len(calls) != 2 || calls[0].Status != http.StatusTooManyRequests || calls[1].Status != http.StatusOK {
		t.Fatalf("reactions.get calls = %+v, want the 429 and one more", calls)
	}
	y.s.WantState(occ, approvals.StateInReview)
}

// A reaction from someone Slack cannot find (user_not_found) does not keep
// its card from being read back: the reactor is named by id, and counts
// only if that id may approve. A reactor whose lookup fails for a while
// (HTTP 500) makes the card be read again until the lookup works.
func TestE2EReconcileReactorSlackCannotLookUp(t *testing.T) {
	x := newStack(t, stackSetup{})
	taken, takenOcc := x.post(t, "Taken back, and a stranger reacted", 10*time.Minute)
	late, lateOcc := x.post(t, "Approved by carol while heed was down", 10*time.Minute)
	x.approveAll(t, taken)

	x.stopHeed(t)
	x.f.ReactSilently(alice, chReview, taken.TS, "white_check_mark", false)
	x.f.ReactSilently("UGHOST01", chReview, taken.TS, "white_check_mark", true) // not in the workspace
	x.f.ReactSilently(carol, chReview, late.TS, "white_check_mark", true)
	x.f.FailHTTP("users.info", http.StatusInternalServerError, 4, userIs(carol))

	var mu sync.Mutex
	var waits []time.Duration
	sleep := func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return ctx.Err()
	}
	y := newStack(t, stackSetup{dbPath: x.s.DBPath, clock: x.s.Clock, fake: x.f, opts: []Option{WithSleep(sleep)}})
	taken.ExpectUpdateText(t, "no approvals yet (0/1)", "from UGHOST01 (name not found) does not count: not an approver")
	late.ExpectUpdateText(t, "approved by @carol (1/1)")
	carolLookups := 0
	for _, c := range y.f.Calls("users.info") {
		if c.Params.Get("user") == carol {
			carolLookups++
		}
	}
	if carolLookups < 5 {
		t.Fatalf("carol was looked up %d times, want the 4 failures and the answer", carolLookups)
	}
	mu.Lock()
	if len(waits) == 0 {
		t.Error("the card was read again without a wait")
	}
	mu.Unlock()

	y.advance(t, 10*time.Minute)
	y.s.Cycle()
	if got := y.s.Rec.Texts(); len(got) != 1 || got[0] != "Approved by carol while heed was down" {
		t.Fatalf("published %q", got)
	}
	y.s.WantState(lateOcc, approvals.StatePublished)
	y.s.WantState(takenOcc, approvals.StateMissed)
}

// In events mode heed hears Slack only when a request comes; the open
// cards are read back at start all the same, before any request, so that
// the first request does not open a window in which a withdrawn approval
// still counts. heed runs as `heed run` runs it (Engine.Run).
func TestE2EEventsModeReconcilesAtStart(t *testing.T) {
	// Slack signs with the wall clock: heed's clock stays within minutes.
	x := newStack(t, stackSetup{mode: ModeEvents})
	taken, takenOcc := x.post(t, "Taken back while heed was down", 3*time.Minute)
	kept, keptOcc := x.post(t, "Still approved", 3*time.Minute)
	x.approveAll(t, taken, kept)

	x.stopHeed(t)
	x.f.ReactSilently(alice, chReview, taken.TS, "white_check_mark", false)
	x.s.Clock.Advance(3 * time.Minute)

	y := newStack(t, stackSetup{mode: ModeEvents, dbPath: x.s.DBPath, clock: x.s.Clock, fake: x.f, noStart: true})
	y.runHeed(t)
	y.waitReconciled(t)
	taken.ExpectUpdateText(t, "no approvals yet (0/1)")
	if !y.a.Alive().IsZero() {
		t.Fatal("a request reached heed: the test must show the read-back without one")
	}
	y.f.Sync(t) // the first signed request
	eventually(t, 10*time.Second, "Slack to count as heard", func() bool { return y.s.Engine.Deaf(y.s.Clock.Now()) == "" })
	y.s.Cycle()
	if got := y.s.Rec.Texts(); len(got) != 1 || got[0] != "Still approved" {
		t.Fatalf("published %q, want only the post still approved", got)
	}
	y.s.WantState(keptOcc, approvals.StatePublished)
	y.s.WantState(takenOcc, approvals.StateMissed)
}

// runHeed runs the engine as heed run does (it starts the adapter), until
// the test ends.
func (x *stackEnv) runHeed(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.s.Engine.Run(ctx, time.Hour) }()
	x.stop = func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Engine.Run: %v", err)
		}
	}
	t.Cleanup(func() {
		if x.stop != nil {
			x.stop()
		}
	})
}

// The same signed button press, sent twice (a replay, or a proxy that
// repeats a request), changes nothing the second time, also after heed
// restarts; a new press by the same person counts.
func TestE2EReplayedButtonPressChangesNothing(t *testing.T) {
	for _, mode := range []string{ModeEvents, ModeSocket} {
		t.Run(mode, func(t *testing.T) {
			x := newStack(t, stackSetup{mode: mode})
			card, occ := x.post(t, "Pressed once", time.Hour)
			press := card.Click(alice, actionApprove)
			card = card.ExpectUpdateText(t, "approved by @alice (1/1)")
			records := len(x.f.Thread(chReview, card.TS))

			statuses := 0
			unchanged := func(y *stackEnv, when string) {
				t.Helper()
				// Events are handled in order: once status is answered, the
				// replay before it was handled.
				statuses++
				y.f.Say(bob, chReview, "status")
				eventually(t, 10*time.Second, "the answer to status", func() bool {
					n := 0
					for _, m := range y.f.Messages(chReview) {
						if strings.Contains(m.Text, "Not paused") {
							n++
						}
					}
					return n == statuses
				})
				y.s.WantState(occ, approvals.StateApproved)
				if n := len(y.f.Thread(chReview, card.TS)); n != records {
					t.Fatalf("%s: %d records in the card's thread, want %d", when, n, records)
				}
				if n := countAudit(t, y.s, occ, "decision.withdraw", "@alice"); n != 0 {
					t.Fatalf("%s: the audit log has %d withdrawals", when, n)
				}
			}

			d := x.f.Replay(press)
			if st := d.Statuses(); mode == ModeEvents && (len(st) != 1 || st[0] != http.StatusOK) {
				t.Fatalf("the replay was answered %v, want 200 (acknowledged, and dropped)", st)
			}
			unchanged(x, "replayed")
			if got, _ := x.f.Message(chReview, card.TS); got.Edits != card.Edits {
				t.Fatalf("the replay edited the card:\n%s", got.AllText())
			}

			x.stopHeed(t)
			y := newStack(t, stackSetup{mode: mode, dbPath: x.s.DBPath, clock: x.s.Clock, fake: x.f})
			y.f.Replay(press)
			unchanged(y, "replayed after a restart")
			if n := countAudit(t, y.s, occ, "decision.approve", "@alice"); n != 1 {
				t.Fatalf("alice's approval is in the audit log %d times", n)
			}

			// A new press is a new decision: it takes the approval back.
			card.Click(alice, actionApprove)
			card.ExpectUpdateText(t, "no approvals yet (0/1)")
			y.s.WantState(occ, approvals.StateInReview)
			y.f.ExpectReply(t, chReview, card.TS, "@alice took back")
		})
	}
}

// A reaction taken back by someone Slack cannot look up just then (HTTP
// 500 on users.info) still takes the decision back: a withdrawal needs no
// name.
func TestE2EWithdrawalWhenTheUserCannotBeLookedUp(t *testing.T) {
	x := newStack(t, stackSetup{opts: []Option{WithSleep(func(ctx context.Context, _ time.Duration) error { return ctx.Err() })}})
	card, occ := x.post(t, "Withdrawn by a stranger to users.info", 2*time.Hour)
	x.approveAll(t, card)
	x.advance(t, 61*time.Minute) // past the cache of users.info answers
	x.f.FailHTTP("users.info", http.StatusInternalServerError, 100, userIs(alice))
	x.f.Unreact(alice, chReview, card.TS, "white_check_mark")
	card.ExpectUpdateText(t, "no approvals yet (0/1)")
	x.s.WantState(occ, approvals.StateInReview)
	if n := countAudit(t, x.s, occ, "decision.withdraw", "@alice"); n != 1 {
		t.Fatalf("the withdrawal is in the audit log %d times, want once", n)
	}
}

// A card deleted from Slack while heed was down (an admin removed the
// message) has no reactions left to read: it does not keep heed deaf, and
// the approval on it no longer counts.
func TestE2EReconcileCardDeletedFromSlack(t *testing.T) {
	x := newStack(t, stackSetup{})
	gone, goneOcc := x.post(t, "Its card was deleted", 10*time.Minute)
	kept, keptOcc := x.post(t, "Its card is still there", 10*time.Minute)
	x.approveAll(t, gone, kept)
	x.stopHeed(t)
	admin := slackapi.New(x.f.Options().BotToken, slackapi.OptionAPIURL(x.f.APIURL()))
	if _, _, err := admin.DeleteMessage(chReview, gone.TS); err != nil {
		t.Fatal(err)
	}

	y := newStack(t, stackSetup{dbPath: x.s.DBPath, clock: x.s.Clock, fake: x.f}) // waits until every card was read back
	y.advance(t, 10*time.Minute)
	y.s.Cycle()
	if got := y.s.Rec.Texts(); len(got) != 1 || got[0] != "Its card is still there" {
		t.Fatalf("published %q", got)
	}
	y.s.WantState(keptOcc, approvals.StatePublished)
	y.s.WantState(goneOcc, approvals.StateMissed)
}
