package sqlite_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/internal/heedtest"
	"github.com/heed-dev/heed/sqlite"
)

// The store benchmarks show that the dispatcher's per-cycle queries cost
// the same whatever the history: docs/PERFORMANCE.md reports them. Run with
//
//	go test -run '^$' -bench Store -benchmem ./sqlite/
//
// Each size's database is built once (straight SQL, heedtest.BulkInsert)
// in the benchmark's temp dir, or in HEED_BENCH_CACHE when set. Under
// -short only the smallest size is built; HEED_BENCH_SIZES (comma separated)
// picks others.

var benchNow = time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)

// In every size, benchDue occurrences are due at benchNow and benchOpen
// more wait in the review window (about 140 posts a day: a busy team); the
// rest is history.
const (
	benchDue  = 10
	benchOpen = 1000
)

func benchSizes(b *testing.B) []int {
	if env := os.Getenv("HEED_BENCH_SIZES"); env != "" {
		var out []int
		for _, f := range strings.Split(env, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < benchDue+benchOpen {
				b.Fatalf("HEED_BENCH_SIZES: %q is not a size of at least %d", f, benchDue+benchOpen)
			}
			out = append(out, n)
		}
		return out
	}
	if testing.Short() {
		return []int{10_000}
	}
	return []int{10_000, 100_000, 1_000_000}
}

// historyRow fills row i of a store that has run for years: benchDue
// occurrences due now, benchOpen open within the review window, and the
// others settled in the past two years, some of them held or rejected and
// never decided again. It is deterministic.
func historyRow(rng *rand.Rand) func(i int, r *heedtest.BulkRow) {
	return func(i int, r *heedtest.BulkRow) {
		if i < benchDue {
			r.At = benchNow.Add(-time.Duration(i+1) * time.Minute)
			r.State = approvals.StateInReview
			if i%2 == 0 {
				r.State, r.Approvers = approvals.StateApproved, []string{"alice"}
			}
			return
		}
		if i < benchDue+benchOpen {
			r.At = benchNow.Add(time.Minute + time.Duration(rng.Int64N(int64(7*24*time.Hour))))
			switch k := rng.IntN(10); {
			case k < 7:
				r.State = approvals.StateInReview
			case k < 9:
				r.State, r.Approvers = approvals.StateApproved, []string{"alice"}
			default:
				r.State = approvals.StateScheduled
			}
			return
		}
		r.At = benchNow.Add(-time.Hour - time.Duration(rng.Int64N(int64(2*365*24*time.Hour))))
		switch k := rng.IntN(100); {
		case k < 81:
			r.State, r.Approvers = approvals.StatePublished, []string{"alice"}
		case k < 88:
			r.State = approvals.StateMissed
		case k < 92:
			r.State = approvals.StateCanceled
		case k < 95:
			r.State = approvals.StateRejected
		case k < 97:
			r.State = approvals.StateHeld
		case k < 99:
			r.State, r.Approvers = approvals.StateFailed, []string{"alice"}
		default:
			r.State, r.Approvers = approvals.StateUnknown, []string{"alice"}
		}
	}
}

// buildHistory makes a stack over a database with n occurrences (see
// historyRow) and n/100 posts beyond the review window. The database is
// built once in dir and reused while dir lives (scripts/bench.sh keeps one
// dir for a whole run, so that -count does not rebuild a million rows).
func buildHistory(b *testing.B, dir string, n int) *heedtest.Stack {
	b.Helper()
	path := filepath.Join(dir, fmt.Sprintf("history-%d.db", n))
	done := path + ".done"
	if _, err := os.Stat(done); err == nil {
		return heedtest.New(b, heedtest.Options{Start: benchNow, DBPath: path})
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			b.Fatal(err)
		}
	}
	start := time.Now()
	s := heedtest.New(b, heedtest.Options{Start: benchNow, DBPath: path})
	rng := rand.New(rand.NewPCG(uint64(n), 1))
	if _, err := heedtest.BulkInsert(s.Ctx, s.Store, benchNow, n, historyRow(rng)); err != nil {
		b.Fatal(err)
	}
	if _, err := heedtest.BulkInsert(s.Ctx, s.Store, benchNow, n/100, func(i int, r *heedtest.BulkRow) {
		r.At = benchNow.Add(8*24*time.Hour + time.Duration(rng.Int64N(int64(365*24*time.Hour))))
	}); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(done, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %d occurrences in %s", n, time.Since(start).Round(time.Millisecond))
	return s
}

// benchDir is HEED_BENCH_CACHE if set, else the benchmark's own temp dir.
func benchDir(b *testing.B) string {
	if dir := os.Getenv("HEED_BENCH_CACHE"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		return dir
	}
	return b.TempDir()
}

func BenchmarkStore(b *testing.B) {
	dir := benchDir(b)
	for _, n := range benchSizes(b) {
		b.Run(fmt.Sprintf("occurrences=%d", n), func(b *testing.B) {
			s := buildHistory(b, dir, n)
			ctx := s.Ctx
			b.Run("Due", func(b *testing.B) {
				defer reportCPU(b, cpuNow())
				for b.Loop() {
					ids, err := s.Service.Deliveries.Due(ctx, benchNow, 1000)
					if err != nil {
						b.Fatal(err)
					}
					if len(ids) != benchDue {
						b.Fatalf("Due gave %d occurrences, want %d", len(ids), benchDue)
					}
				}
			})
			b.Run("NextWake", func(b *testing.B) {
				want := benchNow.Add(-benchDue * time.Minute)
				defer reportCPU(b, cpuNow())
				for b.Loop() {
					next, ok, err := s.Service.Deliveries.NextWake(ctx)
					if err != nil {
						b.Fatal(err)
					}
					if !ok || !next.Equal(want) {
						b.Fatalf("NextWake = %s %v, want %s", next, ok, want)
					}
				}
			})
			// PauseAll is timed alone; the resume that lets the next
			// iteration start from the same state, and clearing the cards
			// it marked for re-rendering, are not. The cards it marked are
			// counted in two parts: open ones in the review window, and
			// held or rejected ones whose time is more than a window ago.
			b.Run("PauseAll", func(b *testing.B) {
				var open, old int
				var cpu time.Duration
				for b.Loop() {
					c0 := cpuNow()
					if _, err := s.Service.Pauses.PauseAll(ctx, "alice", "", "bench", "bench"); err != nil {
						b.Fatal(err)
					}
					cpu += cpuNow() - c0
					b.StopTimer()
					if _, err := s.Service.Pauses.Resume(ctx, "alice", "", "bench"); err != nil {
						b.Fatal(err)
					}
					if err := s.Store.DB().QueryRowContext(ctx, `SELECT
						count(*) FILTER (WHERE state IN ('scheduled','in_review','approved')),
						count(*) FILTER (WHERE state IN ('held','rejected') AND at < ?)
						FROM occurrences WHERE dirty > 0`, benchNow.Add(-7*24*time.Hour).UnixMilli()).Scan(&open, &old); err != nil {
						b.Fatal(err)
					}
					if _, err := s.Store.DB().ExecContext(ctx, `UPDATE occurrences SET dirty = 0 WHERE dirty > 0`); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				if cpu > 0 {
					b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
				}
				b.ReportMetric(float64(open), "open-cards-marked/op")
				b.ReportMetric(float64(old), "old-held-rejected-marked/op")
			})
		})
	}
}

// cpuNow is this process's CPU time, user and system, from /proc/self/stat
// (0 where there is none). Unlike wall time it does not grow while other
// processes have the CPU, which on a busy shared machine is most of the
// noise in ns/op. It counts in clock ticks (10 ms), so it is only
// meaningful summed over many operations.
func cpuNow() time.Duration {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: utime and stime are fields 14 and 15 of the whole line.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}

// reportCPU reports the CPU time per operation since start.
func reportCPU(b *testing.B, start time.Duration) {
	if end := cpuNow(); start > 0 && b.N > 0 {
		b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
	}
}

// TestBulkInsertMatchesService checks that rows written by
// heedtest.BulkInsert are what the service itself would have stored: the
// same payload hash as a post added and approved through the service, a
// valid approval, and a dispatch that publishes the approved one, misses
// the unapproved one and leaves the settled one alone.
func TestBulkInsertMatchesService(t *testing.T) { onBoth(t, testBulkInsertMatchesService) }

func testBulkInsertMatchesService(t *testing.T, db heedtest.Options) {
	s := heedtest.New(t, db)
	ctx := s.Ctx
	at := s.Clock.Now().Add(10 * time.Minute)

	ref := s.Add("same words", 10*time.Minute)
	s.Cycle()
	if _, err := s.Service.Reviews.React(ctx, approvals.ReactionInput{Occurrence: ref.ID, User: "alice", Emoji: "✅", Source: "test"}); err != nil {
		t.Fatal(err)
	}
	s.WantState(ref.ID, approvals.StateApproved)
	refView := s.View(ref.ID)

	states := []approvals.State{approvals.StateApproved, approvals.StateInReview, approvals.StatePublished, ""}
	first, err := heedtest.BulkInsert(ctx, s.Store, s.Clock.Now(), len(states), func(i int, r *heedtest.BulkRow) {
		r.Text, r.At, r.State = "same words", at.Add(time.Duration(i)*time.Second), states[i]
		if i == 0 || i == 2 {
			r.Approvers = []string{"alice"}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if first <= ref.ID {
		t.Fatalf("bulk ids start at %d, at or below the service's %d", first, ref.ID)
	}
	approved, review, published, unmade := first, first+1, first+2, first+3

	v := s.View(approved)
	if v.Hash != refView.Hash {
		t.Errorf("bulk hash %s, service hash %s for the same payload", v.Hash, refView.Hash)
	}
	if approvals.CombinedHash(v.Hashes) != v.Hash {
		t.Errorf("bulk hash %s does not match the payload's %s", v.Hash, approvals.CombinedHash(v.Hashes))
	}
	if !v.Verdict.Approved() {
		t.Errorf("bulk approval not counted: %+v", v.Verdict)
	}
	if d := s.View(published).Deliveries; len(d) != 1 || d[0].State != approvals.DeliveryPublished ||
		d[0].Key != approvals.IdempotencyKey(s.Store.InstallID(), published, "rec", s.View(published).Hashes["rec"]) {
		t.Errorf("published occurrence's deliveries: %+v", d)
	}
	if _, err := s.Service.Reviews.Occurrence(ctx, unmade); approvals.ErrorCode(err) != approvals.ENOTFOUND {
		t.Errorf("a post stored without a state has an occurrence (err %v)", err)
	}
	p, err := s.Service.Posts.GetPost(ctx, unmade)
	if err != nil || !p.Schedule.At.Equal(at.Add(3*time.Second)) {
		t.Errorf("unmade post %+v, %v", p, err)
	}

	// A new post takes the next id after the bulk rows.
	next := s.Add("after the bulk rows", time.Hour)
	if next.ID != unmade+1 {
		t.Errorf("next post id %d, want %d", next.ID, unmade+1)
	}

	s.Clock.Advance(10*time.Minute + 3*time.Second)
	st := s.Cycle()
	if st.Published != 2 || st.Missed != 2 {
		t.Errorf("dispatch stats %+v, want 2 published (service and bulk) and 2 missed (in review, and the post made into an occurrence only now)", st)
	}
	s.WantState(approved, approvals.StatePublished)
	s.WantState(review, approvals.StateMissed)
	s.WantState(published, approvals.StatePublished)
	s.WantState(unmade, approvals.StateMissed) // materialized by the cycle, never approved
	if got := s.Rec.Texts(); len(got) != 2 {
		t.Errorf("published %q, want the service's and the bulk approved post", got)
	}
}

// TestFillPeakMemDB is scripts/peakmem.sh's way to fill a database; it is
// skipped unless HEED_FILL_DB names the file. HEED_FILL_POSTS posts
// (default 1,000,000) to HEED_FILL_TARGET (default "log") are scheduled
// from HEED_FILL_FROM to HEED_FILL_TO after now (Go durations, default 8d
// to 400d: all beyond the default 7-day review window).
func TestFillPeakMemDB(t *testing.T) {
	path := os.Getenv("HEED_FILL_DB")
	if path == "" {
		t.Skip("HEED_FILL_DB is not set: this only fills a database for scripts/peakmem.sh")
	}
	n := envInt(t, "HEED_FILL_POSTS", 1_000_000)
	from := envDuration(t, "HEED_FILL_FROM", 8*24*time.Hour)
	to := envDuration(t, "HEED_FILL_TO", 400*24*time.Hour)
	target := os.Getenv("HEED_FILL_TARGET")
	if target == "" {
		target = "log"
	}
	if to <= from {
		t.Fatalf("HEED_FILL_TO %s is not after HEED_FILL_FROM %s", to, from)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	rng := rand.New(rand.NewPCG(1, 2))
	started := time.Now()
	if _, err := heedtest.BulkInsert(ctx, st, now, n, func(i int, r *heedtest.BulkRow) {
		r.Targets = []string{target}
		r.At = now.Add(from + time.Duration(rng.Int64N(int64(to-from))))
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("filled %s with %d posts in %s", path, n, time.Since(started).Round(time.Millisecond))
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q is not a count", name, v)
	}
	return n
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	if d, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil {
			t.Fatalf("%s=%q is not a duration", name, v)
		}
		return time.Duration(n) * 24 * time.Hour
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s=%q is not a duration: %v", name, v, err)
	}
	return d
}
