package safeguards

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/approvals/timing"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/internal/heedtest"
)

const remindMark = "⏳"

// reminders returns the reminders sent for occurrence occ.
func reminders(s *heedtest.Stack, occ int64) []string {
	var out []string
	for _, r := range s.Chat.Replies {
		if strings.Contains(r, remindMark+" #"+itoa(occ)+" ") {
			out = append(out, r)
		}
	}
	return out
}

// at sets the clock and runs a cycle.
func at(s *heedtest.Stack, t time.Time) {
	s.Clock.Set(t)
	s.Cycle()
}

// TestRemindersAtTheirSlotsOnceAcrossRestart: an occurrence nobody
// approved gets a reminder approve_by before its time and one every
// remind_every after, each once, also when heed restarts on the same
// database; the last before its time escalates; each is audited.
func TestRemindersAtTheirSlotsOnceAcrossRestart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "heed.db")
	t0 := time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
	clock := heedtest.NewClock(t0)
	g := room(timing.RoomSafeguards{ApproveBy: 2 * time.Hour, RemindEvery: 30 * time.Minute, EscalateTo: []string{"dave"}})
	s := heedtest.New(t, heedtest.Options{DBPath: db, Clock: clock, Safeguards: g})
	p := s.Add("launch", 3*time.Hour) // 12:00
	s.Cycle()

	at(s, t0.Add(59*time.Minute))
	if got := reminders(s, p.ID); len(got) != 0 {
		t.Fatalf("reminded before approve_by: %q", got)
	}
	at(s, t0.Add(time.Hour)) // 10:00: approve_by before
	got := reminders(s, p.ID)
	if len(got) != 1 {
		t.Fatalf("%d reminders at approve_by, want 1: %q", len(got), s.Chat.Replies)
	}
	wantContains(t, "first reminder", got[0], "alice bob carol: ⏳ #1 still needs approval: it goes out at Mon 12:00 (in 2 h) to rec only if approved.",
		"React ✅ or 👍 on the card to approve, or ❌ or 👎 to reject.")
	wantNotContains(t, "first reminder", got[0], "dave", "last reminder")
	for _, m := range []time.Duration{61, 75, 89} {
		at(s, t0.Add(m*time.Minute))
	}
	if n := len(reminders(s, p.ID)); n != 1 {
		t.Fatalf("%d reminders before remind_every passed, want 1", n)
	}
	at(s, t0.Add(90*time.Minute))
	if n := len(reminders(s, p.ID)); n != 2 {
		t.Fatalf("%d reminders at the second slot, want 2", n)
	}

	// A restarted heed on the same database sends the second slot's again
	// neither at once nor later in that slot.
	s2 := heedtest.New(t, heedtest.Options{DBPath: db, Clock: clock, Safeguards: g})
	s2.Cycle()
	at(s2, t0.Add(100*time.Minute))
	if got := reminders(s2, p.ID); len(got) != 0 {
		t.Fatalf("restarted heed reminded again in the same slot: %q", got)
	}
	at(s2, t0.Add(2*time.Hour)) // 11:00
	at(s2, t0.Add(2*time.Hour+30*time.Minute))
	got = reminders(s2, p.ID)
	if len(got) != 2 {
		t.Fatalf("%d reminders after the restart, want 2 (11:00, 11:30): %q", len(got), s2.Chat.Replies)
	}
	wantNotContains(t, "third reminder", got[0], "dave")
	wantContains(t, "last reminder", got[1], "This is the last reminder before its time.", "\nEscalating to dave: please decide")
	at(s2, t0.Add(2*time.Hour+59*time.Minute))
	if n := len(reminders(s2, p.ID)); n != 2 {
		t.Fatalf("%d reminders after the last slot, want 2", n)
	}

	a := audits(t, s2, p.ID, "reminder")
	if len(a) != 4 {
		t.Fatalf("%d reminder audit lines, want 4: %+v", len(a), a)
	}
	if a[0].Actor != "heed" || a[0].Place != "mem:review" || !strings.Contains(a[0].Detail, "reminder 1; mentioned alice bob carol") {
		t.Fatalf("first reminder's audit line: %+v", a[0])
	}
	if !strings.Contains(a[3].Detail, "reminder 4 (the last before its time)") || !strings.Contains(a[3].Detail, "escalated to dave") {
		t.Fatalf("last reminder's audit line: %+v", a[3])
	}

	// At its time it misses; nothing more is reminded.
	at(s2, t0.Add(3*time.Hour))
	s2.WantState(p.ID, approvals.StateMissed)
	at(s2, t0.Add(3*time.Hour+time.Minute))
	if n := len(reminders(s2, p.ID)); n != 2 {
		t.Fatalf("reminded after the miss: %q", s2.Chat.Replies)
	}
}

// TestRemindersStopOnceApprovedOrRejected: a reminder mentions only those
// who have not approved, and none comes once the occurrence is approved or
// rejected.
func TestRemindersStopOnceApprovedOrRejected(t *testing.T) {
	t0 := time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
	s := heedtest.New(t, heedtest.Options{Start: t0,
		Rooms:      []bot.Room{{Name: "review", Adapter: "mem", ID: "review", Policy: approvals.Policy{Approvers: heedtest.DefaultApprovers, Required: 2}}},
		Safeguards: room(timing.RoomSafeguards{ApproveBy: time.Hour, RemindEvery: 10 * time.Minute})})
	approvedOne := s.Add("to approve", 2*time.Hour)
	rejectedOne := s.Add("to reject", 2*time.Hour)
	s.Cycle()
	react(t, s, "alice", approvedOne.ID, "✅")

	at(s, t0.Add(time.Hour))
	got := reminders(s, approvedOne.ID)
	if len(got) != 1 {
		t.Fatalf("%d reminders, want 1: %q", len(got), s.Chat.Replies)
	}
	wantContains(t, "reminder after one approval", got[0], "bob carol: ⏳", "(1 of 2 approvals so far)")
	wantNotContains(t, "reminder after one approval", got[0], "alice")
	if n := len(reminders(s, rejectedOne.ID)); n != 1 {
		t.Fatalf("%d reminders of the other, want 1", n)
	}

	react(t, s, "bob", approvedOne.ID, "👍")
	s.WantState(approvedOne.ID, approvals.StateApproved)
	react(t, s, "carol", rejectedOne.ID, "❌")
	s.WantState(rejectedOne.ID, approvals.StateRejected)
	for m := 61; m < 120; m++ {
		at(s, t0.Add(time.Duration(m)*time.Minute))
	}
	if n, m := len(reminders(s, approvedOne.ID)), len(reminders(s, rejectedOne.ID)); n != 1 || m != 1 {
		t.Fatalf("reminders went on after the decision: %d and %d, want 1 and 1: %q", n, m, s.Chat.Replies)
	}
}

// TestRemindersQuietOutsideStaffedHours: a reminder whose slot comes
// outside the room's staffed hours waits for the next staffed moment, the
// slots missed meanwhile folding into one; when that moment is the
// occurrence's time or after, none is sent.
func TestRemindersQuietOutsideStaffedHours(t *testing.T) {
	// Monday 2030-01-07 09:00 UTC is 10:00 in Berlin; staffed from 08:00 UTC.
	t0 := time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
	g := room(timing.RoomSafeguards{Hours: hours(t, []string{"Mon-Fri 09:00-18:00"}), ApproveBy: 2 * time.Hour, RemindEvery: 30 * time.Minute, EscalateTo: []string{"dave"}})
	s := heedtest.New(t, heedtest.Options{Start: t0, Safeguards: g})
	tue := time.Date(2030, 1, 8, 0, 0, 0, 0, time.UTC)
	later := addAt(t, s, "at ten", "2030-01-08 10:00", "Europe/Berlin")  // 09:00 UTC
	early := addAt(t, s, "at nine", "2030-01-08 09:00", "Europe/Berlin") // 08:00 UTC: the first staffed moment
	s.Cycle()

	for _, hm := range []time.Duration{6 * 60, 6*60 + 30, 7 * 60, 7*60 + 30, 7*60 + 59} {
		at(s, tue.Add(hm*time.Minute))
	}
	if n, m := len(reminders(s, later.ID)), len(reminders(s, early.ID)); n != 0 || m != 0 {
		t.Fatalf("reminded outside staffed hours: %q", s.Chat.Replies)
	}
	at(s, tue.Add(8*time.Hour)) // 09:00 Berlin
	got := reminders(s, later.ID)
	if len(got) != 1 {
		t.Fatalf("%d reminders at the first staffed moment, want 1: %q", len(got), s.Chat.Replies)
	}
	wantNotContains(t, "reminder at the first staffed moment", got[0], "dave")
	at(s, tue.Add(8*time.Hour+30*time.Minute))
	got = reminders(s, later.ID)
	if len(got) != 2 || !strings.Contains(got[1], "Escalating to dave") {
		t.Fatalf("the last reminder did not come in staffed hours: %q", got)
	}
	if m := len(reminders(s, early.ID)); m != 0 {
		t.Fatalf("reminded at or after the occurrence's time: %q", s.Chat.Replies)
	}
	if a := audits(t, s, later.ID, "reminder"); len(a) != 2 || !strings.Contains(a[0].Detail, "reminder 3;") {
		t.Fatalf("audit lines: %+v", a)
	}
}

// TestMissedMentionsTheAuthorOnce: an occurrence that misses its time says
// so in its card's thread, mentioning its approvers and its author, once.
func TestMissedMentionsTheAuthorOnce(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{Safeguards: room(timing.RoomSafeguards{})})
	p := s.Add("nobody looked", time.Hour)
	s.Cycle()
	for range 3 {
		s.Clock.Advance(time.Hour)
		s.Cycle()
	}
	s.WantState(p.ID, approvals.StateMissed)
	var notices []string
	for _, r := range s.Chat.Replies {
		if strings.Contains(r, "missed its time") {
			notices = append(notices, r)
		}
	}
	if len(notices) != 1 {
		t.Fatalf("%d missed notices, want 1: %q", len(notices), s.Chat.Replies)
	}
	wantContains(t, "missed notice", notices[0], "alice bob carol author: ⌛ #1 missed its time")
}

// TestRefusedReminderIsTriedAgainLater: a reminder the chat refused is
// released, audited as unsent, and sent a minute later, not at every
// cycle meanwhile.
func TestRefusedReminderIsTriedAgainLater(t *testing.T) {
	t0 := time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
	s := heedtest.New(t, heedtest.Options{Start: t0, Safeguards: room(timing.RoomSafeguards{ApproveBy: time.Hour})})
	p := s.Add("launch", 2*time.Hour)
	s.Cycle()
	s.Chat.RefuseReplies(true)
	at(s, t0.Add(time.Hour))
	for _, sec := range []time.Duration{1, 10, 59} {
		at(s, t0.Add(time.Hour+sec*time.Second))
	}
	if n, m := len(audits(t, s, p.ID, "reminder")), len(audits(t, s, p.ID, "reminder.unsent")); n != 1 || m != 1 {
		t.Fatalf("%d reminder and %d unsent audit lines while the chat refuses, want 1 and 1", n, m)
	}
	wantContains(t, "unsent audit line", audits(t, s, p.ID, "reminder.unsent")[0].Detail, "reminder 1 not sent: mem: the chat refused the reply")
	s.Chat.RefuseReplies(false)
	at(s, t0.Add(time.Hour+time.Minute))
	if got := reminders(s, p.ID); len(got) != 1 {
		t.Fatalf("%d reminders once the chat takes them again, want 1: %q", len(got), s.Chat.Replies)
	}
	if n := len(audits(t, s, p.ID, "reminder")); n != 2 {
		t.Fatalf("%d reminder audit lines, want 2", n)
	}
}
