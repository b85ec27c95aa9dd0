package safeguards

import (
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/approvals/timing"
	"github.com/heed-dev/heed/internal/heedtest"
)

func hours(t *testing.T, windows []string, holidays ...string) *timing.Hours {
	t.Helper()
	h, err := timing.ParseHours("Europe/Berlin", windows, holidays)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestOffHoursHeldUnlessAllowed(t *testing.T) {
	// Monday 2030-01-07 09:00 UTC is 10:00 in Berlin.
	s := heedtest.New(t, heedtest.Options{Safeguards: room(timing.RoomSafeguards{Hours: hours(t, []string{"Mon-Fri 09:00-18:00"})})})
	staffed := approved(t, s, "at noon", 2*time.Hour)    // 12:00 Berlin
	held := approved(t, s, "late evening", 11*time.Hour) // 21:00 Berlin
	allowed := approved(t, s, "late too", 11*time.Hour+time.Minute)

	wantNotContains(t, "staffed card", s.Chat.CardText(staffed.ID), "outside staffed hours")
	wantContains(t, "off-hours card", s.Chat.CardText(held.ID),
		"outside staffed hours (Mon-Fri 09:00-18:00, Europe/Berlin): Mon 2030-01-07 21:00 CET", "heed holds it unless an approver types `allow 2 off-hours`")

	// Only approvers may allow.
	wantContains(t, "eve's allow", say(t, s, "eve", "allow 3 off-hours"), "@eve cannot allow #3 off hours: not an approver")
	wantContains(t, "bob's allow", say(t, s, "bob", "allow 3 off-hours"), "#3 may go out outside staffed hours: allowed by @bob")
	wantContains(t, "card", s.Chat.CardText(allowed.ID), "allowed by @bob")
	if a := audits(t, s, allowed.ID, "allow.off_hours"); len(a) != 1 || a[0].Actor != "@bob" {
		t.Fatalf("allow audit: %+v", a)
	}
	wantContains(t, "second allow", say(t, s, "bob", "allow 3 off-hours"), "allowed off hours already, by @bob")
	wantContains(t, "allow on staffed", say(t, s, "bob", "allow 1 off-hours"), "within staffed hours")

	s.Clock.Advance(2 * time.Hour)
	s.Cycle()
	s.WantState(staffed.ID, approvals.StatePublished)
	s.Clock.Advance(9*time.Hour + time.Minute)
	s.Cycle()
	s.WantState(held.ID, approvals.StateHeld)
	s.WantState(allowed.ID, approvals.StatePublished)
	wantContains(t, "held card", s.Chat.CardText(held.ID), "held: outside staffed hours", "nobody allowed it", "`allow 2 off-hours`")
	if got := s.Rec.Texts(); len(got) != 2 {
		t.Fatalf("published %q, want the staffed and the allowed one", got)
	}

	// Allowing it after the hold, then approving again, publishes it now.
	wantContains(t, "allow held", say(t, s, "alice", "allow 2 off-hours"), "It is held: approve it again to publish it now.")
	react(t, s, "carol", held.ID, "✅")
	s.Cycle()
	s.WantState(held.ID, approvals.StatePublished)
}

func TestHolidayHeldUnlessAllowed(t *testing.T) {
	// Monday 31 December 2029; 1 January is Neujahr in every German state.
	start := time.Date(2029, 12, 31, 9, 0, 0, 0, time.UTC)
	s := heedtest.New(t, heedtest.Options{Start: start,
		Safeguards: room(timing.RoomSafeguards{Hours: hours(t, []string{"Mon-Fri 09:00-18:00"}, "DE-BY")})})
	p := addAt(t, s, "happy new year", "2030-01-01 11:00", "Europe/Berlin")
	s.Cycle()
	react(t, s, "alice", p.ID, "✅")
	wantContains(t, "card", s.Chat.CardText(p.ID), "holiday in DE-BY: Neujahrstag (Tue 2030-01-01)")
	s.Clock.Set(time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC))
	s.Cycle()
	s.WantState(p.ID, approvals.StateHeld)
	if len(s.Rec.Texts()) != 0 {
		t.Fatal("published on a holiday")
	}

	q := addAt(t, s, "we are open anyway", "2030-01-01 15:00", "Europe/Berlin")
	s.Cycle()
	react(t, s, "alice", q.ID, "✅")
	say(t, s, "bob", "allow "+itoa(q.ID)+" off-hours")
	s.Clock.Set(time.Date(2030, 1, 1, 14, 0, 0, 0, time.UTC))
	s.Cycle()
	s.WantState(q.ID, approvals.StatePublished)
}

func TestOnDutyHoldsWhenNoApproverWasSeen(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{Safeguards: room(timing.RoomSafeguards{OnDuty: 30 * time.Minute})})
	alone := approved(t, s, "nobody around", 2*time.Hour) // alice approved at 09:00
	around := approved(t, s, "alice is around", 2*time.Hour+time.Minute)
	onlyEve := approved(t, s, "only eve around", 2*time.Hour+2*time.Minute)

	s.Clock.Advance(time.Hour + 20*time.Minute) // 10:20
	say(t, s, "eve", "lunch anyone?")           // not an approver: does not count
	s.Clock.Advance(15 * time.Minute)           // 10:35
	s.Cycle()
	s.WantState(alone.ID, approvals.StateApproved)
	s.Clock.Set(s.View(alone.ID).At)
	s.Cycle()
	s.WantState(alone.ID, approvals.StateHeld)
	wantContains(t, "held card", s.Chat.CardText(alone.ID), "HELD", "no approver was seen in the room in the 30m before its time",
		"the last was alice at 2030-01-07 09:00 UTC")

	s.Clock.Set(s.View(around.ID).At.Add(-10 * time.Minute))
	say(t, s, "alice", "back from lunch")
	s.Clock.Set(s.View(around.ID).At)
	s.Cycle()
	s.WantState(around.ID, approvals.StatePublished)

	// onlyEve, a minute later, goes out on alice's message too: the window
	// looks back from each occurrence's own time.
	s.Clock.Set(s.View(onlyEve.ID).At)
	s.Cycle()
	s.WantState(onlyEve.ID, approvals.StatePublished)

	// A fresh approval is a sign of life: the held one goes out now.
	react(t, s, "bob", alone.ID, "✅")
	s.Cycle()
	s.WantState(alone.ID, approvals.StatePublished)
}

func TestOnDutyNotFooledByNonApprovers(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{Safeguards: room(timing.RoomSafeguards{OnDuty: 30 * time.Minute})})
	p := approved(t, s, "only eve around", 2*time.Hour)
	s.Clock.Advance(time.Hour + 50*time.Minute)
	say(t, s, "eve", "anyone?")
	s.Chat.Bots["otherbot"] = true
	say(t, s, "otherbot", "I am always here")
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	s.WantState(p.ID, approvals.StateHeld)
}
