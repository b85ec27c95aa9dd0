package dispatch_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/dispatch"
	"github.com/heed-dev/heed/internal/heedtest"
	"github.com/heed-dev/heed/publish"
)

// The dispatch benchmarks measure how late publishing runs behind schedule
// when many approved occurrences fall due at once, and how a pause halts
// it under that load: docs/PERFORMANCE.md reports them. Run with
//
//	go test -run '^$' -bench 'Dispatch|PauseUnderLoad' -benchtime 1x ./publish/
//
// Times are read from the real clock: the target's 100 ms per call is a
// timer standing in for the network, and the dispatcher really runs late.

// slowNet is a target whose every publish takes delay. It records, on the
// real clock, when each call started and ended and when each claim checked
// the payload: Validate runs inside Settle's transaction, which holds the
// write lock, so its time is when that claim (or hold) was being decided.
type slowNet struct {
	delay   time.Duration
	onCheck func(n int) // told the count after each Validate

	mu     sync.Mutex
	sends  int                  // Publish calls, duplicates included
	starts map[string]time.Time // by text: each post's text is unique
	ends   map[string]time.Time
	checks []check
}

type check struct {
	text string
	at   time.Time
}

var (
	_ publish.Publisher = (*slowNet)(nil)
	_ publish.Validator = (*slowNet)(nil)
)

func newSlowNet(delay time.Duration) *slowNet {
	return &slowNet{delay: delay, starts: map[string]time.Time{}, ends: map[string]time.Time{}}
}

func (n *slowNet) Publish(ctx context.Context, req publish.Request) (publish.Result, error) {
	start := time.Now()
	t := time.NewTimer(n.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return publish.Result{}, publish.AmbiguousError(ctx.Err())
	}
	end := time.Now()
	n.mu.Lock()
	n.sends++
	n.starts[req.Text], n.ends[req.Text] = start, end
	n.mu.Unlock()
	return publish.Result{RemoteID: req.IdempotencyKey}, nil
}

func (n *slowNet) Validate(req publish.Request) []publish.Problem {
	n.mu.Lock()
	n.checks = append(n.checks, check{req.Text, time.Now()})
	k := len(n.checks)
	n.mu.Unlock()
	if n.onCheck != nil {
		n.onCheck(k)
	}
	return nil
}

// dispatchLoad is what the benchmarks run: n approved occurrences due at
// the same second, a dispatcher with the given workers.
type dispatchLoad struct {
	s   *heedtest.Stack
	net *slowNet
	d   *dispatch.Dispatcher
	at  time.Time // when every occurrence is due
	n   int
}

// newDispatchLoad schedules n approved occurrences far enough ahead to
// write them first; the dispatcher then waits for their time as Run does.
// If writing them took longer than that (a busy machine), it starts again
// with twice the lead.
func newDispatchLoad(b *testing.B, n, workers int) *dispatchLoad {
	b.Helper()
	for lead := 2 * time.Second; ; lead *= 2 {
		l := tryDispatchLoad(b, n, workers, lead)
		if time.Until(l.at) > 0 {
			return l
		}
		if lead > time.Minute {
			b.Fatalf("writing %d occurrences took more than %s", n, lead)
		}
	}
}

func loadSize() int {
	if testing.Short() {
		return 500
	}
	return 10_000
}

func tryDispatchLoad(b *testing.B, n, workers int, lead time.Duration) *dispatchLoad {
	b.Helper()
	net := newSlowNet(100 * time.Millisecond)
	s := heedtest.New(b, heedtest.Options{
		Start:   time.Now(),
		Targets: []publish.Target{{Name: "net", Kind: "slow", Publisher: net}},
	})
	s.Service.Now = time.Now
	at := time.Now().Add(lead).Truncate(time.Second)
	if _, err := heedtest.BulkInsert(s.Ctx, s.Store, time.Now(), n, func(i int, r *heedtest.BulkRow) {
		r.Text, r.Targets, r.At = textOf(i), []string{"net"}, at
		r.State, r.Approvers = approvals.StateApproved, []string{"alice"}
	}); err != nil {
		b.Fatal(err)
	}
	d := &dispatch.Dispatcher{
		Deliveries: s.Service.Deliveries, Targets: s.Catalog, Runner: "bench", Workers: workers,
		Log: slog.New(slog.DiscardHandler), Now: time.Now,
	}
	return &dispatchLoad{s: s, net: net, d: d, at: at, n: n}
}

func textOf(i int) string { return fmt.Sprintf("post %06d", i) }

// waitForTime sleeps until the occurrences' time, as Dispatcher.Run sleeps
// until NextWake: the dispatcher wakes on time, and all the lag after that
// is its own.
func (l *dispatchLoad) waitForTime(b *testing.B) {
	b.Helper()
	until := time.Until(l.at)
	if until <= 0 {
		b.Fatalf("the occurrences were due %s before the dispatcher could start", -until)
	}
	t := time.NewTimer(until)
	defer t.Stop()
	<-t.C
}

// drain runs dispatch cycles at the real time until one finds nothing to do.
func (l *dispatchLoad) drain(b *testing.B) {
	b.Helper()
	for {
		st, err := l.d.RunOnce(l.s.Ctx, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if st == (dispatch.Stats{}) {
			return
		}
	}
}

func (l *dispatchLoad) counts(b *testing.B) map[approvals.State]int {
	b.Helper()
	c, err := l.s.Service.Reviews.Counts(l.s.Ctx)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// quantile returns the q-quantile of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// BenchmarkDispatch publishes 10,000 approved occurrences due in the same
// second through a target that takes 100 ms per call, and reports the lag
// of each publish call's start and end behind the scheduled time.
func BenchmarkDispatch(b *testing.B) {
	for _, workers := range []int{32, 128} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			var startLag, doneLag []time.Duration
			var wall time.Duration
			for b.Loop() {
				b.StopTimer()
				l := newDispatchLoad(b, loadSize(), workers)
				l.waitForTime(b)
				b.StartTimer()
				l.drain(b)
				wall += time.Since(l.at)
				b.StopTimer()
				if c := l.counts(b); c[approvals.StatePublished] != l.n {
					b.Fatalf("published %d of %d: %v", c[approvals.StatePublished], l.n, c)
				}
				l.net.mu.Lock()
				for i := range l.n {
					start, ok := l.net.starts[textOf(i)]
					if !ok {
						b.Fatalf("%s was never sent", textOf(i))
					}
					startLag = append(startLag, start.Sub(l.at))
					doneLag = append(doneLag, l.net.ends[textOf(i)].Sub(l.at))
				}
				l.net.mu.Unlock()
				b.StartTimer()
			}
			slices.Sort(startLag)
			slices.Sort(doneLag)
			b.ReportMetric(quantile(startLag, 0.5).Seconds(), "p50-start-lag-s")
			b.ReportMetric(quantile(startLag, 0.99).Seconds(), "p99-start-lag-s")
			b.ReportMetric(quantile(startLag, 0).Seconds(), "first-start-lag-s")
			b.ReportMetric(quantile(doneLag, 0.5).Seconds(), "p50-done-lag-s")
			b.ReportMetric(quantile(doneLag, 0.99).Seconds(), "p99-done-lag-s")
			b.ReportMetric(wall.Seconds()/float64(b.N), "wall-s")
		})
	}
}

// BenchmarkPauseUnderLoad runs the load of BenchmarkDispatch (32 workers)
// and records a pause once 25% of the occurrences have been checked by a
// claim, that is while the dispatcher is claiming. It reports how long
// PauseAll took under that load and on the same database idle just before,
// bounds on how long it waited for the write lock, when the last
// successful claim and the first hold were decided relative to PauseAll's
// return, how many claims were made while PauseAll waited, and how many
// sends began after it returned (claimed before it).
// Claims committed after the pause (found from the order of the audit log)
// must be zero.
func BenchmarkPauseUnderLoad(b *testing.B) {
	var pauseLoad, pauseIdle, lastClaim, firstHold, waitMin, waitMax time.Duration
	var claimed, held, duringPause, afterPause int
	for b.Loop() {
		b.StopTimer()
		l := newDispatchLoad(b, loadSize(), 32)
		ctx := l.s.Ctx

		t0 := time.Now()
		if _, err := l.s.Service.Pauses.PauseAll(ctx, "alice", "", "idle measurement", "bench"); err != nil {
			b.Fatal(err)
		}
		pauseIdle += time.Since(t0)
		if _, err := l.s.Service.Pauses.Resume(ctx, "alice", "", "bench"); err != nil {
			b.Fatal(err)
		}

		trigger := make(chan struct{})
		pauseAt := l.n / 4
		l.net.onCheck = func(k int) {
			if k == pauseAt {
				close(trigger)
			}
		}
		var called, returned time.Time
		paused := make(chan error, 1)
		go func() {
			select {
			case <-trigger:
			case <-ctx.Done():
				paused <- ctx.Err()
				return
			}
			called = time.Now()
			_, err := l.s.Service.Pauses.PauseAll(ctx, "bob", "", "bench: pause under load", "bench")
			returned = time.Now()
			paused <- err
		}()

		l.waitForTime(b)
		b.StartTimer()
		l.drain(b)
		b.StopTimer()
		if err := <-paused; err != nil {
			b.Fatal(err)
		}
		pauseLoad += returned.Sub(called)

		// Commit order: the audit log's ids are assigned under the write
		// lock, so a claim with an id above the pause's committed after it.
		db := l.s.Store.DB()
		var pauseID int64
		var after int
		if err := db.QueryRowContext(ctx, `SELECT max(id) FROM audit WHERE action = 'pause'`).Scan(&pauseID); err != nil {
			b.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM audit WHERE action = 'publish.claim' AND id > ?`, pauseID).Scan(&after); err != nil {
			b.Fatal(err)
		}
		if after != 0 {
			b.Fatalf("%d claims committed after the pause", after)
		}
		c := l.counts(b)
		if c[approvals.StatePublished]+c[approvals.StateHeld] != l.n {
			b.Fatalf("after the pause: %v, want all %d published or held", c, l.n)
		}
		claimed += c[approvals.StatePublished]
		held += c[approvals.StateHeld]

		l.net.mu.Lock()
		var last, first time.Time
		for _, ch := range l.net.checks {
			if _, sent := l.net.starts[ch.text]; sent {
				if ch.at.After(last) {
					last = ch.at
				}
				if ch.at.After(called) {
					duringPause++ // claimed while PauseAll waited for the write lock
				}
			} else if first.IsZero() || ch.at.Before(first) {
				first = ch.at
			}
		}
		for _, start := range l.net.starts {
			if start.After(returned) {
				afterPause++ // claimed before the pause, still under way: it finishes
			}
		}
		l.net.mu.Unlock()
		lastClaim += last.Sub(returned)
		if first.IsZero() {
			// Every claim was made before the pause got the write lock:
			// there was nothing left to hold.
			first = returned
		}
		firstHold += first.Sub(returned)
		// The pause took the write lock after the last claim's transaction
		// and before the first hold's: that brackets its wait.
		waitMin += max(0, last.Sub(called))
		waitMax += max(0, first.Sub(called))
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(float64(pauseLoad.Microseconds())/1000/n, "pause-under-load-ms")
	b.ReportMetric(float64(pauseIdle.Microseconds())/1000/n, "pause-idle-ms")
	b.ReportMetric(float64(waitMin.Microseconds())/1000/n, "lock-wait-min-ms")
	b.ReportMetric(float64(waitMax.Microseconds())/1000/n, "lock-wait-max-ms")
	b.ReportMetric(float64(lastClaim.Microseconds())/1000/n, "last-claim-vs-pause-ms")
	b.ReportMetric(float64(firstHold.Microseconds())/1000/n, "first-hold-vs-pause-ms")
	b.ReportMetric(float64(claimed)/n, "claimed/op")
	b.ReportMetric(float64(held)/n, "held/op")
	b.ReportMetric(float64(duringPause)/n, "claims-while-pause-waited/op")
	b.ReportMetric(float64(afterPause)/n, "sends-begun-after-pause/op")
}
