package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/internal/heedtest"
	"github.com/heed-dev/heed/internal/pgtest"
	"github.com/heed-dev/heed/sqlite"
)

// replica opens the stack's PostgreSQL database as another heed process
// would: a Store and services of its own, with the stack's targets,
// policies and clock.
func replica(t *testing.T, s *heedtest.Stack) *sqlite.Service {
	t.Helper()
	st, err := sqlite.Open(t.Context(), s.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := sqlite.NewService(st, s.Catalog, s.Service.Policy)
	svc.Now = s.Clock.Now
	return svc
}

// dueApproved stores n occurrences approved by alice whose time has come.
func dueApproved(t *testing.T, s *heedtest.Stack, n int) {
	t.Helper()
	now := s.Clock.Now()
	if _, err := heedtest.BulkInsert(s.Ctx, s.Store, now, n, func(i int, r *heedtest.BulkRow) {
		r.At, r.State, r.Approvers = now.Add(-time.Minute-time.Duration(i)*time.Second), approvals.StateApproved, []string{"alice"}
	}); err != nil {
		t.Fatal(err)
	}
}

// settleDue settles what is due, as a dispatcher does, until nothing is:
// each result goes to record, which may stop it by returning an error.
func settleDue(ctx context.Context, svc *sqlite.Service, name string, now time.Time, record func(before bool, res approvals.SettleResult) error, before func() bool) error {
	for {
		ids, err := svc.Deliveries.Due(ctx, now, 20)
		if err != nil {
			return fmt.Errorf("%s: due: %w", name, err)
		}
		if len(ids) == 0 {
			return nil
		}
		for _, id := range ids {
			b := before()
			res, err := svc.Deliveries.Settle(ctx, id, now, approvals.SettleOptions{Runner: name})
			if err != nil {
				return fmt.Errorf("%s: settle #%d: %w", name, id, err)
			}
			if err := record(b, res); err != nil {
				return err
			}
		}
	}
}

// TestPostgresReplicasNeverClaimTwice: four heed processes on one
// PostgreSQL database settle the same 200 due, approved occurrences at
// once, then the same retries: each delivery is claimed exactly once each
// time, and all of them are.
func TestPostgresReplicasNeverClaimTwice(t *testing.T) {
	const n, replicas = 200, 4
	s := heedtest.New(t, heedtest.Options{Postgres: true})
	dueApproved(t, s, n)
	svcs := make([]*sqlite.Service, replicas)
	for i := range svcs {
		svcs[i] = replica(t, s)
	}
	now := s.Clock.Now()

	var mu sync.Mutex
	claims := map[string][]string{} // occurrence → target: who claimed it
	var all []approvals.Claim
	run := func(f func(i int, svc *sqlite.Service) error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, replicas)
		for i, svc := range svcs {
			wg.Go(func() { errs <- f(i, svc) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	run(func(i int, svc *sqlite.Service) error {
		name := fmt.Sprintf("replica %d", i)
		return settleDue(s.Ctx, svc, name, now, func(_ bool, res approvals.SettleResult) error {
			mu.Lock()
			defer mu.Unlock()
			for _, c := range res.Claims {
				k := fmt.Sprintf("#%d → %s", c.Occurrence, c.Target)
				claims[k] = append(claims[k], name)
				all = append(all, c)
			}
			return nil
		}, func() bool { return false })
	})
	if len(claims) != n {
		t.Fatalf("%d deliveries claimed, want %d", len(claims), n)
	}
	per := map[string]int{}
	for k, who := range claims {
		if len(who) != 1 {
			t.Errorf("%s claimed %d times: %v", k, len(who), who)
		}
		per[who[0]]++
	}
	t.Logf("claims per replica: %v", per)

	// Every delivery fails with a retryable error; the replicas then claim
	// the retries at once.
	later := now.Add(time.Minute)
	for _, c := range all {
		if err := s.Service.Deliveries.RecordPublish(s.Ctx, c, approvals.Outcome{Kind: approvals.OutcomeRetryable, Err: "503", NextAttempt: later}, now); err != nil {
			t.Fatal(err)
		}
	}
	retried := map[string]int{}
	run(func(i int, svc *sqlite.Service) error {
		for {
			refs, err := svc.Deliveries.RetriesDue(s.Ctx, later, 20)
			if err != nil || len(refs) == 0 {
				return err
			}
			for _, ref := range refs {
				c, ok, err := svc.Deliveries.ClaimRetry(s.Ctx, ref, later, approvals.SettleOptions{Runner: fmt.Sprintf("replica %d", i)})
				if err != nil {
					return fmt.Errorf("replica %d: retry #%d: %w", i, ref.Occurrence, err)
				}
				if ok {
					if c.Attempt != 2 {
						return fmt.Errorf("retry of #%d is attempt %d, want 2", c.Occurrence, c.Attempt)
					}
					mu.Lock()
					retried[fmt.Sprintf("#%d → %s", c.Occurrence, c.Target)]++
					mu.Unlock()
				}
			}
		}
	})
	if len(retried) != n {
		t.Fatalf("%d retries claimed, want %d", len(retried), n)
	}
	for k, times := range retried {
		if times != 1 {
			t.Errorf("retry of %s claimed %d times", k, times)
		}
	}
	var publishing int
	if err := s.Store.DB().QueryRow(`SELECT count(*) FROM deliveries WHERE state = 'publishing' AND attempts = 2`).Scan(&publishing); err != nil || publishing != n {
		t.Fatalf("%d deliveries publishing on their second attempt (%v), want %d", publishing, err, n)
	}
}

// TestPostgresPauseStopsClaimsOnEveryReplica: while four heed processes
// settle 300 due, approved occurrences, one of them records a pause. No
// claim starts after the pause returned, no delivery was claimed in a
// transaction that committed after the pause's (PostgreSQL's commit
// timestamps), and everything not claimed before it is held.
func TestPostgresPauseStopsClaimsOnEveryReplica(t *testing.T) {
	const n, replicas = 300, 4
	s := heedtest.New(t, heedtest.Options{Postgres: true})
	dueApproved(t, s, n)
	now := s.Clock.Now()

	var (
		paused   atomic.Bool
		pauseID  atomic.Int64
		claimed  atomic.Int64
		held     atomic.Int64
		once     sync.Once
		mu       sync.Mutex
		problems []string
		wg       sync.WaitGroup
	)
	errs := make(chan error, replicas)
	for i := range replicas {
		svc := replica(t, s)
		wg.Go(func() {
			name := fmt.Sprintf("replica %d", i)
			errs <- settleDue(s.Ctx, svc, name, now, func(after bool, res approvals.SettleResult) error {
				if after && len(res.Claims) > 0 {
					mu.Lock()
					problems = append(problems, fmt.Sprintf("%s claimed #%d after the pause returned", name, res.Claims[0].Occurrence))
					mu.Unlock()
				}
				switch res.Outcome {
				case approvals.OutcomeHeld:
					held.Add(1)
				case approvals.OutcomeClaimed:
					if claimed.Add(1) >= n/4 {
						var err error
						once.Do(func() {
							var rc approvals.PauseReceipt
							rc, err = svc.Pauses.PauseAll(s.Ctx, "dave", "", "breaking news", "test")
							pauseID.Store(rc.Pause.ID)
							paused.Store(true)
						})
						return err
					}
				}
				return nil
			}, paused.Load)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range problems {
		t.Error(p)
	}
	if !paused.Load() {
		t.Fatal("the pause was never made")
	}
	if c, h := claimed.Load(), held.Load(); c+h != n || h == 0 {
		t.Fatalf("%d claimed and %d held of %d; want all settled, some held", c, h, n)
	}
	t.Logf("%d claimed before the pause, %d held after it", claimed.Load(), held.Load())
	var late int
	if err := s.Store.DB().QueryRow(`SELECT count(*) FROM deliveries d, pauses p
		WHERE p.id = ? AND pg_xact_commit_timestamp(d.xmin) >= pg_xact_commit_timestamp(p.xmin)`, pauseID.Load()).Scan(&late); err != nil {
		t.Fatal(err)
	}
	if late != 0 {
		t.Fatalf("%d deliveries were claimed in transactions that committed after the pause", late)
	}
}

// TestPostgresClaimWaitsForAPauseInFlight: a claim that meets a pause
// being written (its transaction has taken the pause gate and not yet
// committed) waits for it, and once it commits, holds the occurrence
// rather than claim it.
func TestPostgresClaimWaitsForAPauseInFlight(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{Postgres: true})
	p := s.Add("due", 10*time.Minute)
	s.Cycle()
	if err := s.Chat.React("alice", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	s.WantState(p.ID, approvals.StateApproved)
	s.Clock.Advance(10 * time.Minute)
	pauser := replica(t, s).Store

	written, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	pausing := make(chan error, 1)
	go func() {
		pausing <- pauser.Tx(s.Ctx, func(tx *sql.Tx) error {
			if err := pauser.WritePauseGate(s.Ctx, tx); err != nil {
				return err
			}
			if _, err := tx.ExecContext(s.Ctx, `INSERT INTO pauses (target, by, reason, at) VALUES ('', 'dave', 'in flight', ?)`, s.Clock.Now().UnixMilli()); err != nil {
				return err
			}
			once.Do(func() { close(written) })
			<-release
			return nil
		})
	}()
	select {
	case <-written:
	case err := <-pausing:
		t.Fatalf("the pause ended before it was written: %v", err)
	}

	type result struct {
		res approvals.SettleResult
		err error
	}
	settled := make(chan result, 1)
	go func() {
		res, err := s.Service.Deliveries.Settle(s.Ctx, p.ID, s.Clock.Now(), approvals.SettleOptions{Runner: "test"})
		settled <- result{res, err}
	}()
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for waiting := 0; waiting == 0; {
		select {
		case r := <-settled:
			close(release)
			t.Fatalf("the claim went ahead while a pause was being written: %+v, %v", r.res, r.err)
		case <-deadline.C:
			close(release)
			t.Fatal("the claim neither finished nor waited for a lock within a minute")
		case <-tick.C:
		}
		if err := s.Store.DB().QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	if err := <-pausing; err != nil {
		t.Fatal(err)
	}
	r := <-settled
	if r.err != nil || r.res.Outcome != approvals.OutcomeHeld || len(r.res.Claims) != 0 {
		t.Fatalf("the claim after the pause committed: %+v, %v; want held", r.res, r.err)
	}
	s.WantState(p.ID, approvals.StateHeld)
}

// TestPostgresTransactionRunsAgainAfterAConflict: a transaction that
// collides with another process's write (a serialization failure) runs
// again, seeing that write, rather than fail.
func TestPostgresTransactionRunsAgainAfterAConflict(t *testing.T) {
	url := pgtest.URL(t)
	open := func() *sqlite.Store {
		st, err := sqlite.Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	st, other := open(), open()
	ctx := t.Context()
	if err := st.SetKV(ctx, "k", "first"); err != nil {
		t.Fatal(err)
	}
	attempts := 0
	err := st.Tx(ctx, func(tx *sql.Tx) error {
		attempts++
		var v string
		if err := tx.QueryRowContext(ctx, `SELECT value FROM kv WHERE key = 'k'`).Scan(&v); err != nil {
			return err
		}
		if attempts == 1 {
			if err := other.SetKV(ctx, "k", "theirs"); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE kv SET value = ? WHERE key = 'k'`, v+"+mine")
		return err
	})
	if err != nil {
		t.Fatalf("after %d attempt(s): %v", attempts, err)
	}
	if v, err := st.GetKV(ctx, "k"); attempts != 2 || v != "theirs+mine" || err != nil {
		t.Fatalf("%d attempts, value %q (%v); want 2 attempts, theirs+mine", attempts, v, err)
	}
}

// TestPostgresOpenExisting: a command that must not create a database
// refuses an empty PostgreSQL database, naming what to do, and leaves it
// empty; once migrated, the schema is at the version SQLite's is.
func TestPostgresOpenExisting(t *testing.T) {
	url := pgtest.URL(t)
	ctx := t.Context()
	_, err := sqlite.OpenExisting(ctx, url)
	if approvals.ErrorCode(err) != approvals.ENOTFOUND || !strings.Contains(err.Error(), "holds no heed database") || !strings.Contains(err.Error(), "heed migrate") {
		t.Fatalf("OpenExisting on an empty database: %v", err)
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables int
	if err := db.QueryRow(`SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("OpenExisting left %d tables in an empty database (%v)", tables, err)
	}
	st, err := sqlite.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	id := st.InstallID()
	st.Close()
	st, err = sqlite.OpenExisting(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Dialect() != sqlite.DialectPostgres || st.InstallID() != id {
		t.Errorf("dialect %q, install id %q then %q", st.Dialect(), id, st.InstallID())
	}
	cur, known, err := st.SchemaVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lite := heedtest.New(t, heedtest.Options{DBPath: filepath.Join(t.TempDir(), "heed.db")})
	liteCur, liteKnown, err := lite.Store.SchemaVersions(ctx)
	if err != nil || cur != known || liteCur != cur || liteKnown != known {
		t.Fatalf("PostgreSQL schema %d of %d, SQLite's %d of %d (%v): the dialects' migrations must keep step", cur, known, liteCur, liteKnown, err)
	}
}

// TestPostgresTransactionsUnderContentionAllCommit: many replicas' stores
// doing read-modify-write on one row at once all commit in the end; none
// gives up with a serialization failure (an outcome that could not be
// recorded this way left a sent post unrecorded).
func TestPostgresTransactionsUnderContentionAllCommit(t *testing.T) {
	url := pgtest.URL(t)
	const stores, each = 8, 15
	var sts []*sqlite.Store
	for range stores {
		st, err := sqlite.Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		sts = append(sts, st)
	}
	ctx := t.Context()
	if err := sts[0].SetKV(ctx, "n", "0"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, stores*each)
	for _, st := range sts {
		wg.Go(func() {
			for range each {
				errs <- st.Tx(ctx, func(tx *sql.Tx) error {
					var v string
					if err := tx.QueryRowContext(ctx, `SELECT value FROM kv WHERE key = 'n'`).Scan(&v); err != nil {
						return err
					}
					n, _ := strconv.Atoi(v)
					_, err := tx.ExecContext(ctx, `UPDATE kv SET value = ? WHERE key = 'n'`, strconv.Itoa(n+1))
					return err
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a transaction gave up: %v", err)
		}
	}
	if v, _ := sts[0].GetKV(ctx, "n"); v != strconv.Itoa(stores*each) {
		t.Fatalf("n = %s, want %d", v, stores*each)
	}
}

// TestPostgresTransactionRetriesPastAFewTries: a transaction that loses
// to a concurrent commit eight times in a row (its row updated and
// committed by another store after its snapshot, each time) is run again
// until it commits, rather than giving up after a few tries: whatever the
// machine's timing, which the test above leaves to chance.
func TestPostgresTransactionRetriesPastAFewTries(t *testing.T) {
	url := pgtest.URL(t)
	var sts [2]*sqlite.Store
	for i := range sts {
		st, err := sqlite.Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		sts[i] = st
	}
	ctx := t.Context()
	if err := sts[0].SetKV(ctx, "n", "0"); err != nil {
		t.Fatal(err)
	}
	const losses = 8
	attempts := 0
	err := sts[0].Tx(ctx, func(tx *sql.Tx) error {
		attempts++
		var v string
		if err := tx.QueryRowContext(ctx, `SELECT value FROM kv WHERE key = 'n'`).Scan(&v); err != nil {
			return err
		}
		if attempts <= losses {
			// Another store commits to the row after this snapshot: the
			// update below fails to serialize.
			if err := sts[1].SetKV(ctx, "n", "other "+strconv.Itoa(attempts)); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE kv SET value = ? WHERE key = 'n'`, v+"+1")
		return err
	})
	if err != nil {
		t.Fatalf("the transaction gave up after %d attempts: %v", attempts, err)
	}
	if attempts != losses+1 {
		t.Fatalf("%d attempts, want %d: %d lost to a concurrent commit and one committed", attempts, losses+1, losses)
	}
	if v, _ := sts[0].GetKV(ctx, "n"); v != "other "+strconv.Itoa(losses)+"+1" {
		t.Fatalf("n = %q", v)
	}
}
