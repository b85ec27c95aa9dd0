package invariants

import (
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/internal/heedtest"
)

// waitingRetry is an approved occurrence whose first send was refused with
// a rate limit (Retry-After 30 s): its delivery waits for a retry.
func waitingRetry(t *testing.T, s *heedtest.Stack) approvals.Post {
	t.Helper()
	p := approved(t, s, "retried")
	s.Rec.FailNext(heedtest.ErrRateLimited)
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	if n := len(s.Rec.Requests()); n != 0 {
		t.Fatalf("%d sends before the retry", n)
	}
	v := s.View(p.ID)
	if len(v.Deliveries) != 1 || v.Deliveries[0].State != approvals.DeliveryRetry {
		t.Fatalf("deliveries %+v, want one waiting for a retry", v.Deliveries)
	}
	return p
}

// retryDue moves the clock past the retry time and runs a cycle; nothing
// may have been sent.
func retryDue(t *testing.T, s *heedtest.Stack, p approvals.Post, why string) {
	t.Helper()
	s.Clock.Advance(time.Minute)
	s.Cycle()
	if n := len(s.Rec.Requests()); n != 0 {
		t.Fatalf("retried %s: %d send(s)", why, n)
	}
}

// TestInvariant2_RetryChecksThePause: a retry is a claim like the first
// one: a pause made while the delivery waits for its retry holds it.
func TestInvariant2_RetryChecksThePause(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	p := waitingRetry(t, s)
	if err := s.Chat.Say("bob", "pause"); err != nil {
		t.Fatal(err)
	}
	retryDue(t, s, p, "during a pause")
	// Held by the retry's claim, not only at the wire.
	if d := s.View(p.ID).Deliveries[0]; d.State != approvals.DeliveryHeld || !strings.Contains(d.Error, "before a retry") {
		t.Fatalf("delivery %s (%q), want held by the retry's claim", d.State, d.Error)
	}
}

// TestInvariant1_RetryChecksTheApproval: an approval taken back while the
// delivery waits for its retry stops the retry.
func TestInvariant1_RetryChecksTheApproval(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	p := waitingRetry(t, s)
	if err := s.Chat.Unreact("alice", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	retryDue(t, s, p, "after the approval was taken back")
	if d := s.View(p.ID).Deliveries[0]; d.State != approvals.DeliveryHeld || !strings.Contains(d.Error, "before a retry") {
		t.Fatalf("delivery %s (%q), want held by the retry's claim", d.State, d.Error)
	}
}

// TestDeafChatHoldsTheRetry: while the review room cannot be heard (a
// pause could not reach heed), a retry waits.
func TestDeafChatHoldsTheRetry(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	p := waitingRetry(t, s)
	s.Chat.SetDeaf(true)
	s.Clock.Advance(5 * time.Minute) // past deaf_after
	retryDue(t, s, p, "while the chat was deaf")
	s.Chat.SetDeaf(false)
	s.Cycle()
	if n := len(s.Rec.Requests()); n != 1 {
		t.Fatalf("%d sends once the chat was heard again, want 1", n)
	}
}

// TestInvariant9_ClaimIgnoresTheStateCache: the state column of an
// occurrence in review is a cache. The claim asks approvals.Decide: a
// stale in_review over a valid approval still publishes, and a stale
// approved over no approval does not.
func TestInvariant9_ClaimIgnoresTheStateCache(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	ok := approved(t, s, "approved, cache says in review")
	not := s.Add("no approval, cache says approved", 10*time.Minute)
	s.Cycle()
	db := s.Store.DB()
	if _, err := db.ExecContext(s.Ctx, `UPDATE occurrences SET state = 'in_review' WHERE id = ?`, ok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(s.Ctx, `UPDATE occurrences SET state = 'approved' WHERE id = ?`, not.ID); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	s.WantState(ok.ID, approvals.StatePublished)
	s.WantState(not.ID, approvals.StateMissed)
	if got := s.Rec.Texts(); len(got) != 1 || got[0] != "approved, cache says in review" {
		t.Fatalf("published %q", got)
	}
}

// TestInvariant4_RedeliveredReactionDoesNotCountAgain: a chat that
// delivers a reaction event again after the reaction was taken back (a
// retried Slack delivery, a repeated /sync) does not bring the approval
// back.
func TestInvariant4_RedeliveredReactionDoesNotCountAgain(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	p := s.Add("redelivered", 10*time.Minute)
	s.Cycle()
	card, _ := s.Chat.Card(p.ID)
	ev := heedtestEvent(card.Ref, "alice", "✅", "ev-original")
	if err := s.Chat.Deliver(ev); err != nil {
		t.Fatal(err)
	}
	s.WantState(p.ID, approvals.StateApproved)
	un := ev
	un.ID, un.Kind = "ev-withdrawn", bot.Unreaction
	if err := s.Chat.Deliver(un); err != nil {
		t.Fatal(err)
	}
	s.WantState(p.ID, approvals.StateInReview)
	if err := s.Chat.Deliver(ev); err != nil {
		t.Fatal(err)
	}
	s.WantState(p.ID, approvals.StateInReview)
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	if n := len(s.Rec.Requests()); n != 0 {
		t.Fatalf("published after a redelivered, withdrawn approval: %d", n)
	}
}

// TestResolveAllFromChat: after a crash left outcomes unknown, an approver
// settles them all with one line; someone else cannot.
func TestResolveAllFromChat(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	a, b := approved(t, s, "first"), approved(t, s, "second")
	s.Rec.FailNext(heedtest.ErrTimeout, heedtest.ErrTimeout)
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	s.WantState(a.ID, approvals.StateUnknown)
	s.WantState(b.ID, approvals.StateUnknown)
	if err := s.Chat.Say("mallory", "resolve all published"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.Chat.LastReply(), "cannot resolve") {
		t.Fatalf("a non-approver: %q", s.Chat.LastReply())
	}
	if err := s.Chat.Say("bob", "resolve all published"); err != nil {
		t.Fatal(err)
	}
	s.WantState(a.ID, approvals.StatePublished)
	s.WantState(b.ID, approvals.StatePublished)
	if !strings.Contains(s.Chat.LastReply(), "resolved as published by @bob") {
		t.Fatalf("reply: %q", s.Chat.LastReply())
	}
}
