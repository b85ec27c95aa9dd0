package sqlite_test

import (
	"sync"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/internal/heedtest"
	"github.com/heed-dev/heed/sqlite"
)

// TestClaimReminderOnce: of two heeds on one database that both found the
// same reminder due, only one claims it, and only its claim is audited; a
// released claim can be made again, and the release is audited; a new time
// has slots of its own; RemindersDue reports the last slot claimed.
func TestClaimReminderOnce(t *testing.T) { onBoth(t, testClaimReminderOnce) }

func testClaimReminderOnce(t *testing.T, o heedtest.Options) {
	s := heedtest.New(t, o)
	other, err := sqlite.Open(s.Ctx, s.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	svc2 := sqlite.NewService(other, s.Catalog, s.Engine.PolicyFor)
	svc2.Now = s.Clock.Now

	p := s.Add("launch", 3*time.Hour)
	s.Cycle()
	r := approvals.Reminder{Occurrence: p.ID, PostID: p.ID, At: p.Schedule.At, Slot: 0, Place: "mem:review", Detail: "reminder 1"}
	var wg sync.WaitGroup
	claims := make([]bool, 2)
	for i, svc := range []approvals.ReviewService{s.Service.Reviews, svc2.Reviews} {
		wg.Go(func() {
			ok, err := svc.ClaimReminder(s.Ctx, r)
			if err != nil {
				t.Error(err)
			}
			claims[i] = ok
		})
	}
	wg.Wait()
	if claims[0] == claims[1] {
		t.Fatalf("claims = %v, want exactly one", claims)
	}
	if again, err := s.Service.Reviews.ClaimReminder(s.Ctx, r); err != nil || again {
		t.Fatalf("claimed the same slot again: %v %v", again, err)
	}
	due, err := s.Service.Reviews.RemindersDue(s.Ctx, s.Clock.Now(), 4*time.Hour)
	if err != nil || len(due) != 1 || due[0].LastSlot != 0 || due[0].Occurrence != p.ID {
		t.Fatalf("due = %+v, %v", due, err)
	}
	if err := s.Service.Reviews.ReleaseReminder(s.Ctx, r, "chat down"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Service.Reviews.ClaimReminder(s.Ctx, r); err != nil || !ok {
		t.Fatalf("a released reminder cannot be claimed: %v %v", ok, err)
	}
	moved := r
	moved.At = r.At.Add(time.Hour)
	if ok, err := s.Service.Reviews.ClaimReminder(s.Ctx, moved); err != nil || !ok {
		t.Fatalf("the same slot of a new time cannot be claimed: %v %v", ok, err)
	}
	var actions []string
	entries, err := s.Service.Audit.Audit(s.Ctx, 0, p.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Action == "reminder" || e.Action == "reminder.unsent" {
			actions = append(actions, e.Action+": "+e.Detail)
		}
	}
	want := []string{"reminder: reminder 1", "reminder.unsent: reminder 1 not sent: chat down", "reminder: reminder 1", "reminder: reminder 1"}
	if len(actions) != len(want) {
		t.Fatalf("audit = %q, want %q", actions, want)
	}
	for i := range want {
		if actions[i] != want[i] {
			t.Fatalf("audit = %q, want %q", actions, want)
		}
	}
}
