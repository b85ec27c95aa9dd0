package dispatch_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/internal/heedtest"
)

// countingDeliveries counts the dispatch cycles Run makes.
type countingDeliveries struct {
	approvals.DeliveryService
	cycles atomic.Int64
}

func (c *countingDeliveries) Due(ctx context.Context, now time.Time, limit int) ([]int64, error) {
	c.cycles.Add(1)
	return c.DeliveryService.Due(ctx, now, limit)
}

// TestDeafDispatcherSleeps: while the chat cannot be heard, a retry whose
// time has passed cannot go out, and Run sleeps until its poll instead of
// cycling without pause on that overdue work.
func TestDeafDispatcherSleeps(t *testing.T) {
	// Run sleeps by the real clock: the stack's time is two hours ago, so
	// the retry is overdue for it too.
	s := heedtest.New(t, heedtest.Options{Start: time.Now().Add(-2 * time.Hour)})
	p := approvedPost(t, s, "waits for a retry")
	s.Rec.FailNext(heedtest.ErrRateLimited)
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	if d := s.View(p.ID).Deliveries[0]; d.State != approvals.DeliveryRetry {
		t.Fatalf("delivery %s, want retry", d.State)
	}
	s.Clock.Advance(time.Hour) // the retry is overdue
	s.Chat.SetDeaf(true)
	s.Clock.Advance(5 * time.Minute)

	counted := &countingDeliveries{DeliveryService: s.Service.Deliveries}
	s.Dispatcher.Deliveries = counted
	ctx, cancel := context.WithTimeout(s.Ctx, 500*time.Millisecond)
	defer cancel()
	_ = s.Dispatcher.Run(ctx, 100*time.Millisecond)
	if n := counted.cycles.Load(); n > 20 {
		t.Fatalf("%d dispatch cycles in 500 ms while deaf with 100 ms poll: it spins", n)
	}
	if n := len(s.Rec.Requests()); n != 0 {
		t.Fatalf("sent %d while deaf", n)
	}
}
