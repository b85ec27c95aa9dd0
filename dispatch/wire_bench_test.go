package dispatch_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/dispatch"
	"github.com/heed-dev/heed/internal/heedtest"
	"github.com/heed-dev/heed/publish"
)

// receiver is a target that records, on the real clock, when each request
// reached it.
type receiver struct {
	delay  time.Duration
	onSend func(k int) // told the count after each request arrives

	mu    sync.Mutex
	times []time.Time
}

func (r *receiver) Publish(ctx context.Context, req publish.Request) (publish.Result, error) {
	r.mu.Lock()
	r.times = append(r.times, time.Now())
	k := len(r.times)
	r.mu.Unlock()
	if r.onSend != nil {
		r.onSend(k)
	}
	t := time.NewTimer(r.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return publish.Result{}, publish.AmbiguousError(ctx.Err())
	}
	return publish.Result{RemoteID: req.IdempotencyKey}, nil
}

// BenchmarkRequestsAfterPause: 2,000 approved occurrences are due at once
// (with -short, 200); a pause is recorded once the 20th request has
// reached a target. It counts the requests that reached any target after
// the pause committed, which must be none: every request is checked for a
// pause just before it is written, after its rate-limit wait, and every
// target of a post separately. Cases: one target at 100 requests/s, three
// targets each, and one target at 1 request/s (the example config's
// website target).
func BenchmarkRequestsAfterPause(b *testing.B) {
	n := 2000
	if testing.Short() {
		n = 200
	}
	for _, tc := range []struct {
		name    string
		targets int
		limit   rate.Limit
		trigger int
	}{
		{"targets=1", 1, 100, 20},
		{"targets=3", 3, 100, 20},
		{"targets=1/rate_limit=1", 1, 1, 2},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var after, before int
			for b.Loop() {
				b.StopTimer()
				nets := make([]*receiver, tc.targets)
				var ts []publish.Target
				var names []string
				for i := range nets {
					nets[i] = &receiver{delay: 10 * time.Millisecond}
					name := fmt.Sprintf("net%d", i)
					names = append(names, name)
					ts = append(ts, publish.Target{Name: name, Kind: "receiver", Publisher: nets[i], Limiter: rate.NewLimiter(tc.limit, 1)})
				}
				s := heedtest.New(b, heedtest.Options{Start: time.Now(), Targets: ts})
				s.Service.Now = time.Now
				at := time.Now().Truncate(time.Second)
				if _, err := heedtest.BulkInsert(s.Ctx, s.Store, time.Now(), n, func(i int, r *heedtest.BulkRow) {
					r.Text, r.Targets, r.At = fmt.Sprintf("post %06d", i), names, at
					r.State, r.Approvers = approvals.StateApproved, []string{"alice"}
				}); err != nil {
					b.Fatal(err)
				}
				d := &dispatch.Dispatcher{Deliveries: s.Service.Deliveries, Targets: s.Catalog, Runner: "bench", Workers: 32,
					LateGrace: time.Hour, Log: slog.New(slog.DiscardHandler), Now: time.Now}
				var committed time.Time
				var once sync.Once
				done := make(chan struct{})
				pause := func(int) {
					once.Do(func() {
						go func() {
							defer close(done)
							if _, err := s.Service.Pauses.PauseAll(s.Ctx, "bob", "", "bench", "bench"); err != nil {
								b.Error(err)
							}
							committed = time.Now()
						}()
					})
				}
				total := 0
				for _, r := range nets {
					r.onSend = func(int) {
						sent := 0
						for _, x := range nets {
							x.mu.Lock()
							sent += len(x.times)
							x.mu.Unlock()
						}
						if sent >= tc.trigger {
							pause(sent)
						}
					}
				}
				b.StartTimer()
				for {
					st, err := d.RunOnce(s.Ctx, time.Now())
					if err != nil {
						b.Fatal(err)
					}
					if st == (dispatch.Stats{}) {
						break
					}
				}
				b.StopTimer()
				<-done
				for _, r := range nets {
					r.mu.Lock()
					for _, t := range r.times {
						total++
						if t.After(committed) {
							after++
						}
					}
					r.mu.Unlock()
				}
				before += total
				b.StartTimer()
			}
			b.ReportMetric(float64(after)/float64(b.N), "requests-after-pause/op")
			b.ReportMetric(float64(before)/float64(b.N), "requests/op")
		})
	}
}
