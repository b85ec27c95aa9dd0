package safeguards

import (
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/approvals/timing"
	"github.com/heed-dev/heed/internal/heedtest"
)

func TestStopReactionHoldsOneOccurrence(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{Safeguards: room(timing.RoomSafeguards{LastCall: 15 * time.Minute})})
	p := approved(t, s, "cheerful beach post", time.Hour)
	other := approved(t, s, "unrelated post", time.Hour)
	s.Chat.Bots["otherbot"] = true

	react(t, s, "otherbot", p.ID, "🛑") // a bot never holds anything
	s.WantState(p.ID, approvals.StateApproved)

	// eve is no approver, but anyone in the review room may hold.
	react(t, s, "eve", p.ID, "🛑")
	s.WantState(p.ID, approvals.StateHeld)
	s.WantState(other.ID, approvals.StateApproved)
	if s.Chat.RepliesContaining("#1 is held by @eve") != 1 || s.Chat.RepliesContaining("fresh decision") == 0 {
		t.Fatalf("no reply says who held #1: %q", s.Chat.Replies)
	}
	wantContains(t, "card", s.Chat.CardText(p.ID), "HELD", "held: 🛑 by @eve")
	if a := audits(t, s, p.ID, "occurrence.hold"); len(a) != 1 || a[0].Actor != "@eve" {
		t.Fatalf("hold audit: %+v", a)
	}

	// Nothing goes out at its time, and no last call is sent for it.
	s.Clock.Advance(time.Hour)
	s.Cycle()
	s.WantState(p.ID, approvals.StateHeld)
	s.WantState(other.ID, approvals.StatePublished)
	if got := s.Rec.Texts(); len(got) != 1 || got[0] != "unrelated post" {
		t.Fatalf("published %q", got)
	}
	if n := s.Chat.RepliesContaining("⏰ #1"); n != 0 {
		t.Fatalf("last call for a held occurrence: %q", s.Chat.Replies)
	}
}

func TestStopNeedsAFreshDecisionAndKeepsTheTime(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	p := approved(t, s, "think twice", time.Hour)
	at := s.View(p.ID).At
	react(t, s, "dave", p.ID, "🛑")
	s.WantState(p.ID, approvals.StateHeld)
	wantContains(t, "card", s.Chat.CardText(p.ID), "✅ from @alice does not count: given before it was held", "React ✅ or 👍 to approve it again (it keeps its time)")

	// alice's earlier ✅ no longer counts; bob's fresh one does, and the
	// post keeps its time, which is still ahead.
	react(t, s, "bob", p.ID, "✅")
	s.WantState(p.ID, approvals.StateApproved)
	v := s.View(p.ID)
	if !v.At.Equal(at) || len(v.Verdict.Approvals) != 1 || v.Verdict.Approvals[0].User != "bob" {
		t.Fatalf("after a fresh approval: at %s (was %s), approvals %+v", v.At, at, v.Verdict.Approvals)
	}
	s.Clock.Advance(59 * time.Minute)
	s.Cycle()
	if len(s.Rec.Texts()) != 0 {
		t.Fatal("published before its time")
	}
	s.Clock.Advance(time.Minute)
	s.Cycle()
	s.WantState(p.ID, approvals.StatePublished)

	// A 🛑 on a published card changes nothing.
	react(t, s, "dave", p.ID, "🛑")
	s.WantState(p.ID, approvals.StatePublished)
}

func TestStopWhileHeedIsDownIsReconciled(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	p := approved(t, s, "reconcile me", time.Hour)
	s.Chat.SetDown(true)
	react(t, s, "eve", p.ID, "🛑")
	s.Chat.SetDown(false)
	s.WantState(p.ID, approvals.StateApproved)
	if err := s.Engine.Reconcile(s.Ctx, ""); err != nil {
		t.Fatal(err)
	}
	s.WantState(p.ID, approvals.StateHeld)
	// A second reconciliation (another restart) holds nothing again.
	react(t, s, "bob", p.ID, "✅")
	s.WantState(p.ID, approvals.StateApproved)
	if err := s.Engine.Reconcile(s.Ctx, ""); err != nil {
		t.Fatal(err)
	}
	s.WantState(p.ID, approvals.StateApproved)
}

// Slack sends short names; they hold and retract like the emoji.
func TestShortNamesHoldAndRetract(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	held := approved(t, s, "hold me", time.Hour)
	out := approved(t, s, "take me back", 10*time.Minute)
	react(t, s, "eve", held.ID, "octagonal_sign")
	s.WantState(held.ID, approvals.StateHeld)
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	s.WantState(out.ID, approvals.StatePublished)
	react(t, s, "bob", out.ID, ":wastebasket:")
	if got := s.Rec.Retracted(); len(got) != 1 {
		t.Fatalf("retracted %+v", got)
	}
}
