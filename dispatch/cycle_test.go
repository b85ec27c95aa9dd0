package dispatch_test

import (
	"context"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/dispatch"
)

// unwritable is a delivery service whose store cannot be written.
type unwritable struct {
	approvals.DeliveryService
}

func (unwritable) Due(context.Context, time.Time, int) ([]int64, error) { return []int64{1}, nil }
func (unwritable) RetriesDue(context.Context, time.Time, int) ([]approvals.DeliveryRef, error) {
	return nil, nil
}
func (unwritable) Settle(context.Context, int64, time.Time, approvals.SettleOptions) (approvals.SettleResult, error) {
	return approvals.SettleResult{}, approvals.Errorf(approvals.EUNAVAILABLE, "the disk is full")
}

// TestFailedCycleIsNoCycle: LastCycle, which /readyz reads, moves only
// when a cycle could read and write the store.
func TestFailedCycleIsNoCycle(t *testing.T) {
	now := time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
	d := &dispatch.Dispatcher{Deliveries: unwritable{}, Targets: dispatch.NewCatalog(), Now: func() time.Time { return now }}
	if !d.LastCycle().IsZero() {
		t.Fatal("a cycle before any ran")
	}
	if _, err := d.RunOnce(t.Context(), now); err == nil {
		t.Fatal("the cycle did not fail")
	}
	if !d.LastCycle().IsZero() {
		t.Fatalf("a failed cycle counts: %s", d.LastCycle())
	}
}
