package safeguards

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/approvals/timing"
	"github.com/heed-dev/heed/internal/heedtest"
)

const lastCallMark = "⏰"

func TestLastCallOnceAcrossRestart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "heed.db")
	clock := heedtest.NewClock(time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC))
	g := room(timing.RoomSafeguards{LastCall: 15 * time.Minute})
	s := heedtest.New(t, heedtest.Options{DBPath: db, Clock: clock, Safeguards: g})
	p := s.Add("release day", time.Hour, "rec")
	s.Cycle()
	react(t, s, "alice", p.ID, "✅")
	react(t, s, "bob", p.ID, "👍")

	clock.Advance(44 * time.Minute) // 16 min before
	s.Cycle()
	if n := s.Chat.RepliesContaining(lastCallMark); n != 0 {
		t.Fatalf("last call sent %d min early: %q", 16, s.Chat.Replies)
	}
	clock.Advance(time.Minute) // exactly the lead before
	s.Cycle()
	if n := s.Chat.RepliesContaining(lastCallMark); n != 1 {
		t.Fatalf("%d last calls at the lead, want 1: %q", n, s.Chat.Replies)
	}
	wantContains(t, "last call", s.Chat.LastReply(),
		"@alice @bob: ", "going out at 10:00 (in 15 min) to rec", "Type `pause`, or react 🛑 on the card to hold this one.")
	for range 3 {
		clock.Advance(time.Minute)
		s.Cycle()
	}
	if n := s.Chat.RepliesContaining(lastCallMark); n != 1 {
		t.Fatalf("%d last calls after more cycles, want 1", n)
	}

	// A restarted heed on the same database sends no second one.
	s2 := heedtest.New(t, heedtest.Options{DBPath: db, Clock: clock, Safeguards: g})
	s2.Cycle()
	clock.Advance(time.Minute)
	s2.Cycle()
	if n := s2.Chat.RepliesContaining(lastCallMark); n != 0 {
		t.Fatalf("restarted heed sent the last call again: %q", s2.Chat.Replies)
	}
	clock.Set(time.Date(2030, 1, 7, 10, 0, 0, 0, time.UTC))
	s2.Cycle()
	s2.WantState(p.ID, approvals.StatePublished)
}

func TestLastCallAtOnceWhenCloserThanLead(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{Safeguards: room(timing.RoomSafeguards{LastCall: 15 * time.Minute})})
	p := s.Add("soon", 5*time.Minute)
	s.Cycle()
	if n := s.Chat.RepliesContaining(lastCallMark); n != 0 {
		t.Fatalf("a last call before any approval: %q", s.Chat.Replies)
	}
	react(t, s, "carol", p.ID, "✅")
	// No cycle: the approval itself brings the last call.
	if n := s.Chat.RepliesContaining(lastCallMark); n != 1 {
		t.Fatalf("%d last calls right after the approval, want 1: %q", n, s.Chat.Replies)
	}
	wantContains(t, "last call", s.Chat.LastReply(), "@carol: ", "(in 5 min)")
	s.Cycle()
	if n := s.Chat.RepliesContaining(lastCallMark); n != 1 {
		t.Fatalf("%d last calls after a cycle, want 1", n)
	}
}

func TestLastCallAgainAfterTheTimeMoves(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{Safeguards: room(timing.RoomSafeguards{LastCall: 15 * time.Minute})})
	p := approved(t, s, "moved", 10*time.Minute)
	if n := s.Chat.RepliesContaining(lastCallMark); n != 1 {
		t.Fatalf("%d last calls, want 1", n)
	}
	if _, err := s.Service.Reviews.Delay(s.Ctx, p.ID, time.Minute, "bob", "test"); err != nil {
		t.Fatal(err)
	}
	react(t, s, "bob", p.ID, "✅")
	if n := s.Chat.RepliesContaining(lastCallMark); n != 2 {
		t.Fatalf("%d last calls after a delay and a fresh approval, want 2: %q", n, s.Chat.Replies)
	}
	last := s.Chat.Replies[len(s.Chat.Replies)-1]
	for _, r := range s.Chat.Replies {
		if strings.Contains(r, lastCallMark) {
			last = r
		}
	}
	if !strings.Contains(last, "@bob: ") || strings.Contains(last, "@alice") {
		t.Fatalf("the second last call should mention only bob, whose approval counts: %q", last)
	}
}

func TestNoLastCallWhenOff(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{Safeguards: room(timing.RoomSafeguards{})})
	approved(t, s, "quiet", 5*time.Minute)
	s.Clock.Advance(5 * time.Minute)
	s.Cycle()
	if n := s.Chat.RepliesContaining(lastCallMark); n != 0 {
		t.Fatalf("last call sent with last_call 0: %q", s.Chat.Replies)
	}
	if got := s.Rec.Texts(); len(got) != 1 {
		t.Fatalf("published %q", got)
	}
}
