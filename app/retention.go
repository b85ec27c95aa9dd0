package app

import (
	"context"
	"time"

	"github.com/heed-dev/heed/sqlite"
)

// RunRetention trims, until ctx ends, what has outlived its retention: a
// pass at start, then one every interval, on the system's clock. Each pass
// deletes at most keep.Batch rows per table; a pass that found a whole
// batch is followed by the next after a second, so that a backlog is
// worked off without holding the write lock for long. passed, when set, is
// told of every pass. With nothing to trim it returns at once.
func (s *System) RunRetention(ctx context.Context, keep sqlite.Retention, interval time.Duration, passed func(sqlite.Trimmed, error)) {
	if keep.SeenEvents <= 0 && keep.Presence <= 0 && keep.Audit <= 0 && keep.IdempotencyKeys <= 0 {
		return
	}
	log := s.log.With("part", "retention")
	for {
		n, err := s.Store.Trim(ctx, s.now(), keep)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("trimming failed; trying again at the next pass", "err", err)
		case n != (sqlite.Trimmed{}):
			log.Info("trimmed", "seen_events", n.SeenEvents, "presence", n.Presence, "audit", n.Audit, "idempotency_keys", n.IdempotencyKeys)
		}
		if passed != nil {
			passed(n, err)
		}
		wait := interval
		if err == nil && n.Full(keep.Batch) {
			wait = min(interval, time.Second)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
