package invariants

import (
	"sync"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/internal/heedtest"
	"github.com/heed-dev/heed/publish"
)

// twoTargets is a stack with a second recording target, rec2, and an
// approved post due to rec and rec2. The claim takes both targets at once
// and sends them one after the other.
func twoTargets(t *testing.T) (*heedtest.Stack, *heedtest.Recorder, approvals.Post) {
	t.Helper()
	rec2 := heedtest.NewRecorder()
	s := heedtest.New(t, heedtest.Options{Targets: []publish.Target{{Name: "rec2", Kind: "recorder", Publisher: rec2}}})
	s.Dispatcher.Workers = 1
	p := s.Add("two targets", 10*time.Minute, "rec", "rec2")
	s.Cycle()
	if err := s.Chat.React("alice", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	s.WantState(p.ID, approvals.StateApproved)
	return s, rec2, p
}

// TestInvariant2_PauseStopsTheNextTargetAtTheWire: a pause typed while the
// first target of a post is being sent stops the second one, which was
// claimed in the same transaction: each request is checked again just
// before it is written. The second delivery is held, not unknown.
func TestInvariant2_PauseStopsTheNextTargetAtTheWire(t *testing.T) {
	s, rec2, p := twoTargets(t)
	var once sync.Once
	s.Rec.Before = func(publish.Request) {
		once.Do(func() {
			if _, err := s.Service.Pauses.PauseAll(s.Ctx, "bob", "", "breaking news", "test"); err != nil {
				t.Error(err)
			}
		})
	}
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	if n := len(rec2.Requests()); n != 0 {
		t.Fatalf("rec2 got %d request(s) after the pause", n)
	}
	v := s.View(p.ID)
	for _, d := range v.Deliveries {
		if d.Target == "rec2" && d.State != approvals.DeliveryHeld {
			t.Fatalf("rec2's delivery is %s, want held", d.State)
		}
	}
	s.WantState(p.ID, approvals.StateHeld)
}

// TestInvariant1_WithdrawnApprovalStopsTheNextTargetAtTheWire: the same
// for an approval taken back while the first target is being sent.
func TestInvariant1_WithdrawnApprovalStopsTheNextTargetAtTheWire(t *testing.T) {
	s, rec2, p := twoTargets(t)
	var once sync.Once
	s.Rec.Before = func(publish.Request) {
		once.Do(func() {
			if err := s.Chat.Unreact("alice", p.ID, "✅"); err != nil {
				t.Error(err)
			}
		})
	}
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	if n := len(rec2.Requests()); n != 0 {
		t.Fatalf("rec2 got %d request(s) after the approval was taken back", n)
	}
}
