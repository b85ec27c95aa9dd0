package dispatch_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/dispatch"
	"github.com/heed-dev/heed/internal/heedtest"
	"github.com/heed-dev/heed/internal/pgtest"
	"github.com/heed-dev/heed/publish"
)

// The replica benchmarks measure heed scaled out: several replicas (each
// a whole heed, as app.Build wires it for `heed run`) dispatching from one
// PostgreSQL database, against one process on SQLite. docs/PERFORMANCE.md
// reports them. Run with
//
//	go test -tags goolm -run '^$' -bench 'Replica' -benchmem -benchtime 1x -timeout 30m ./dispatch/

// replicaLoadSize is how many approved occurrences come due at once.
func replicaLoadSize() int {
	if testing.Short() {
		return 300
	}
	return 3_000
}

// replicaSet is k heed replicas on one database (k = 1 and a SQLite file:
// the single process), each with its own dispatcher, all publishing to
// one slow target.
type replicaSet struct {
	log *errorLog
	r   []*heedtest.Stack
	d   []*dispatch.Dispatcher
	net *slowNet
	at  time.Time
	n   int
}

// newReplicaSet writes n approved occurrences due at one second, far
// enough ahead to write them first (doubling the lead when the machine
// was too slow for it), and builds k replicas on the database.
func newReplicaSet(b *testing.B, postgres bool, k, n int) *replicaSet {
	b.Helper()
	for lead := 2 * time.Second; ; lead *= 2 {
		var db string
		if postgres {
			db = pgtest.URL(b)
		} else {
			db = filepath.Join(b.TempDir(), "heed.db")
		}
		rs := &replicaSet{net: newSlowNet(100 * time.Millisecond), n: n, log: &errorLog{}}
		for i := range k {
			o := heedtest.Options{
				Start: time.Now(), DBPath: db,
				Targets: []publish.Target{{Name: "net", Kind: "slow", Publisher: rs.net}},
			}
			if postgres {
				o.Replica = fmt.Sprintf("r%d", i+1)
			}
			s := heedtest.New(b, o)
			s.Service.Now = time.Now
			rs.r = append(rs.r, s)
			rs.d = append(rs.d, &dispatch.Dispatcher{
				Deliveries: s.Service.Deliveries, Targets: s.Catalog, Runner: fmt.Sprintf("r%d", i+1),
				Workers: 32, Log: slog.New(rs.log), Now: time.Now,
			})
		}
		rs.at = time.Now().Add(lead).Truncate(time.Second)
		s := rs.r[0]
		if _, err := heedtest.BulkInsert(s.Ctx, s.Store, time.Now(), n, func(i int, r *heedtest.BulkRow) {
			r.Text, r.Targets, r.At = textOf(i), []string{"net"}, rs.at
			r.State, r.Approvers = approvals.StateApproved, []string{"alice"}
		}); err != nil {
			b.Fatal(err)
		}
		if time.Until(rs.at) > 0 {
			return rs
		}
		if lead > time.Minute {
			b.Fatalf("writing %d occurrences took more than %s", n, lead)
		}
	}
}

// run waits for the occurrences' time, then has every replica run
// dispatch cycles on the real clock until one finds nothing to do; it
// returns the time from their due time to the last replica's end.
func (rs *replicaSet) run(b *testing.B) time.Duration {
	b.Helper()
	t := time.NewTimer(time.Until(rs.at))
	<-t.C
	var wg sync.WaitGroup
	errs := make([]error, len(rs.d))
	for i, d := range rs.d {
		wg.Go(func() {
			for {
				st, err := d.RunOnce(rs.r[i].Ctx, time.Now())
				if err != nil {
					errs[i] = err
					return
				}
				if st == (dispatch.Stats{}) {
					return
				}
			}
		})
	}
	wg.Wait()
	wall := time.Since(rs.at)
	for i, err := range errs {
		if err != nil {
			b.Fatalf("r%d: %v", i+1, err)
		}
	}
	return wall
}

// errorLog is a slog.Handler that keeps the errors the dispatchers log.
type errorLog struct {
	mu   sync.Mutex
	errs []string
}

func (l *errorLog) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelError }
func (l *errorLog) WithAttrs([]slog.Attr) slog.Handler            { return l }
func (l *errorLog) WithGroup(string) slog.Handler                 { return l }
func (l *errorLog) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool { msg += " " + a.String(); return true })
	l.mu.Lock()
	l.errs = append(l.errs, msg)
	l.mu.Unlock()
	return nil
}

// unrecorded reports how many occurrences were sent (each exactly once)
// but whose outcome the store did not record; it fails on a duplicate or
// a lost send.
func (rs *replicaSet) unrecorded(b *testing.B) int {
	b.Helper()
	s := rs.r[0]
	c, err := s.Service.Reviews.Counts(s.Ctx)
	if err != nil {
		b.Fatal(err)
	}
	rs.net.mu.Lock()
	defer rs.net.mu.Unlock()
	if rs.net.sends != rs.n || len(rs.net.starts) != rs.n {
		b.Fatalf("%d sends of %d texts, want each of %d once", rs.net.sends, len(rs.net.starts), rs.n)
	}
	missing := rs.n - c[approvals.StatePublished]
	rs.log.mu.Lock()
	defer rs.log.mu.Unlock()
	if missing != 0 || len(rs.log.errs) != 0 {
		b.Logf("published %d of %d (%v); %d errors logged, the first: %q", c[approvals.StatePublished], rs.n, c, len(rs.log.errs), rs.log.errs[:min(1, len(rs.log.errs))])
	}
	return missing
}

// BenchmarkReplicaThroughput publishes the same load (3,000 approved
// occurrences due in one second, a target that takes 100 ms per call, 32
// workers per replica) with one process on SQLite, then 1, 2 and 3
// replicas on one PostgreSQL database, in the same run, and reports each
// one's posts per second and its ratio to SQLite's.
func BenchmarkReplicaThroughput(b *testing.B) {
	configs := []struct {
		name     string
		postgres bool
		k        int
	}{{"sqlite-1", false, 1}, {"pg-1", true, 1}, {"pg-2", true, 2}, {"pg-3", true, 3}}
	walls := make([]time.Duration, len(configs))
	unrecorded := make([]int, len(configs))
	n := replicaLoadSize()
	for b.Loop() {
		for i, c := range configs {
			b.StopTimer()
			rs := newReplicaSet(b, c.postgres, c.k, n)
			b.StartTimer()
			walls[i] += rs.run(b)
			b.StopTimer()
			unrecorded[i] += rs.unrecorded(b)
			b.StartTimer()
		}
	}
	rate := func(i int) float64 { return float64(n*b.N) / walls[i].Seconds() }
	for i, c := range configs {
		b.ReportMetric(rate(i), c.name+"-posts/s")
		b.ReportMetric(float64(unrecorded[i])/float64(b.N), c.name+"-unrecorded")
		if i > 0 {
			b.ReportMetric(rate(i)/rate(0), c.name+"/sqlite")
		}
	}
	b.ReportMetric(float64(n), "posts/config")
}

// wireCount sits between heed and PostgreSQL and counts what heed sends:
// statements (a simple Query, or an extended-protocol Execute) and round
// trips (each Query or Sync waits for the server's answer).
type wireCount struct {
	ln                     net.Listener
	statements, roundTrips atomic.Int64
}

// newWireCount listens on 127.0.0.1 and forwards every connection to the
// database of dbURL; it returns the URL that goes through it.
func newWireCount(b *testing.B, dbURL string) (*wireCount, string) {
	b.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	w := &wireCount{ln: ln}
	server := u.Host
	var wg sync.WaitGroup
	b.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { w.serve(c, server) })
		}
	})
	u.Host = ln.Addr().String()
	return w, u.String()
}

func (w *wireCount) serve(c net.Conn, server string) {
	defer c.Close()
	s, err := net.Dial("tcp", server)
	if err != nil {
		return
	}
	defer s.Close()
	go func() { io.Copy(c, s); c.Close() }()
	r := bufio.NewReader(c)
	// Untyped messages first: an SSL or GSS encryption request (the
	// server answers it with one byte, 'N' here), then the startup.
	for {
		body, err := readMessage(r, 0, s)
		if err != nil {
			return
		}
		if code := binary.BigEndian.Uint32(body); code != 80877103 && code != 80877104 {
			break
		}
	}
	for {
		typ, err := r.ReadByte()
		if err != nil {
			return
		}
		switch typ {
		case 'Q':
			w.statements.Add(1)
			w.roundTrips.Add(1)
		case 'E':
			w.statements.Add(1)
		case 'S':
			w.roundTrips.Add(1)
		}
		if _, err := readMessage(r, typ, s); err != nil {
			return
		}
	}
}

// readMessage reads one message's length and body from r and writes it,
// with its type byte if any, to s.
func readMessage(r *bufio.Reader, typ byte, s net.Conn) ([]byte, error) {
	var hdr [5]byte
	h := hdr[1:]
	if _, err := io.ReadFull(r, h); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h)
	if n < 4 || n > 1<<30 {
		return nil, fmt.Errorf("bad message length %d", n)
	}
	body := make([]byte, n-4)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	out := hdr[:]
	if typ == 0 {
		out = h
	} else {
		hdr[0] = typ
	}
	if _, err := s.Write(append(slices.Clone(out), body...)); err != nil {
		return nil, err
	}
	return body, nil
}

// BenchmarkReplicaClaim times the claim transaction (DeliveryService.
// Settle of an approved, due occurrence: pause gate, approval, lock,
// delivery row) one at a time, idle, on SQLite and on PostgreSQL, and
// counts its SQL statements (and, on PostgreSQL, its round trips to the
// server, each of which a network would lengthen); the same for the
// transaction that records the outcome after the send (RecordPublish,
// outside the timer). Allocations per op are those of 500 claims.
func BenchmarkReplicaClaim(b *testing.B) {
	const n = 500
	for _, postgres := range []bool{false, true} {
		name := "sqlite"
		if postgres {
			name = "pg"
		}
		b.Run(name, func(b *testing.B) {
			var took, recTook []time.Duration
			var statements, trips, recStatements, recTrips int64
			for b.Loop() {
				b.StopTimer()
				o := heedtest.Options{}
				var wire *wireCount
				if postgres {
					wire, o.DBPath = newWireCount(b, pgtest.URL(b))
				} else {
					o.DBPath, o.CountSQL = filepath.Join(b.TempDir(), "heed.db"), true
				}
				s := heedtest.New(b, o)
				at := s.Clock.Now()
				first, err := heedtest.BulkInsert(s.Ctx, s.Store, at, n, func(i int, r *heedtest.BulkRow) {
					r.Text, r.Targets, r.At = textOf(i), []string{"rec"}, at
					r.State, r.Approvers = approvals.StateApproved, []string{"alice"}
				})
				if err != nil {
					b.Fatal(err)
				}
				now := at.Add(time.Second)
				count := func() (statements, trips int64) {
					if wire != nil {
						return wire.statements.Load(), wire.roundTrips.Load()
					}
					return heedtest.SQLCount.Now().Statements, 0
				}
				for id := first; id < first+n; id++ {
					st0, rt0 := count()
					b.StartTimer()
					t0 := time.Now()
					res, err := s.Service.Deliveries.Settle(s.Ctx, id, now, approvals.SettleOptions{Runner: "bench"})
					d := time.Since(t0)
					b.StopTimer()
					if err != nil || res.Outcome != approvals.OutcomeClaimed || len(res.Claims) != 1 {
						b.Fatalf("claim %d: %+v %v", id, res, err)
					}
					st1, rt1 := count()
					took = append(took, d)
					statements += st1 - st0
					trips += rt1 - rt0
					// The outcome, as the dispatcher records it after the send.
					t0 = time.Now()
					err = s.Service.Deliveries.RecordPublish(s.Ctx, res.Claims[0], approvals.Outcome{Kind: approvals.OutcomeOK, RemoteID: "r"}, now)
					recTook = append(recTook, time.Since(t0))
					if err != nil {
						b.Fatal(err)
					}
					st2, rt2 := count()
					recStatements += st2 - st1
					recTrips += rt2 - rt1
				}
				b.StartTimer()
			}
			slices.Sort(took)
			slices.Sort(recTook)
			per := float64(len(took))
			b.ReportMetric(float64(quantile(took, 0.5).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(quantile(took, 0.99).Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(statements)/per, "statements/claim")
			b.ReportMetric(float64(quantile(recTook, 0.5).Microseconds())/1000, "record-p50-ms")
			b.ReportMetric(float64(quantile(recTook, 0.99).Microseconds())/1000, "record-p99-ms")
			b.ReportMetric(float64(recStatements)/per, "statements/record")
			if postgres {
				b.ReportMetric(float64(trips)/per, "round-trips/claim")
				b.ReportMetric(float64(recTrips)/per, "round-trips/record")
			}
		})
	}
}

// BenchmarkReplicaPauseToHalt runs the throughput load on 3 replicas on
// PostgreSQL and records a pause, through the first replica's store, once
// a quarter of the occurrences have been checked by a claim. It reports
// when the last send started relative to PauseAll's return (negative:
// before) and how many began after it; of those, when their claim was
// checked (inside the claim's transaction) relative to that return; and
// how long PauseAll took under that load and idle on the same database
// just before.
func BenchmarkReplicaPauseToHalt(b *testing.B) {
	var lastStart, pauseTook, pauseIdle time.Duration
	lateCheck := -time.Hour
	var afterPause, sent, held int
	for b.Loop() {
		b.StopTimer()
		rs := newReplicaSet(b, true, 3, replicaLoadSize())
		s := rs.r[0]
		t0 := time.Now()
		if _, err := s.Service.Pauses.PauseAll(s.Ctx, "alice", "", "idle measurement", "bench"); err != nil {
			b.Fatal(err)
		}
		pauseIdle += time.Since(t0)
		if _, err := s.Service.Pauses.Resume(s.Ctx, "alice", "", "bench"); err != nil {
			b.Fatal(err)
		}
		trigger := make(chan struct{})
		rs.net.onCheck = func(k int) {
			if k == rs.n/4 {
				close(trigger)
			}
		}
		var called, returned time.Time
		paused := make(chan error, 1)
		go func() {
			select {
			case <-trigger:
			case <-s.Ctx.Done():
				paused <- s.Ctx.Err()
				return
			}
			called = time.Now()
			_, err := s.Service.Pauses.PauseAll(s.Ctx, "bob", "", "bench: pause across replicas", "bench")
			returned = time.Now()
			paused <- err
		}()
		b.StartTimer()
		rs.run(b)
		b.StopTimer()
		if err := <-paused; err != nil {
			b.Fatal(err)
		}
		pauseTook += returned.Sub(called)
		c, err := s.Service.Reviews.Counts(s.Ctx)
		if err != nil {
			b.Fatal(err)
		}
		if c[approvals.StatePublished]+c[approvals.StateHeld] != rs.n {
			b.Fatalf("after the pause: %v, want all %d published or held", c, rs.n)
		}
		held += c[approvals.StateHeld]
		rs.net.mu.Lock()
		var last time.Time
		checked := map[string]time.Time{}
		for _, ch := range rs.net.checks {
			checked[ch.text] = ch.at
		}
		for text, start := range rs.net.starts {
			if start.After(last) {
				last = start
			}
			if start.After(returned) {
				afterPause++
				lateCheck = max(lateCheck, checked[text].Sub(returned))
			}
		}
		sent += len(rs.net.starts)
		if rs.net.sends != len(rs.net.starts) {
			b.Errorf("%d sends of %d texts", rs.net.sends, len(rs.net.starts))
		}
		rs.net.mu.Unlock()
		lastStart += last.Sub(returned)
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(float64(lastStart.Microseconds())/1000/n, "last-send-start-vs-pause-ms")
	b.ReportMetric(float64(afterPause)/n, "sends-begun-after-pause/op")
	b.ReportMetric(float64(pauseTook.Microseconds())/1000/n, "pause-under-load-ms")
	b.ReportMetric(float64(pauseIdle.Microseconds())/1000/n, "pause-idle-ms")
	if afterPause > 0 {
		b.ReportMetric(float64(lateCheck.Microseconds())/1000, "latest-claim-check-of-those-vs-pause-ms")
	}
	b.ReportMetric(float64(sent)/n, "sent/op")
	b.ReportMetric(float64(held)/n, "held/op")
}

// BenchmarkReplicaFailover measures, over 20 trials, how long after the
// replica holding the chat stops renewing its lease another replica holds
// it. Three replicas on one PostgreSQL database share an injected clock,
// stepped 10 ms at a time; each runs its lease cycle every quarter of
// the lease (bot.DefaultLease) at a phase of its own, as separate
// processes would. The holder dies just after a renewal; the failover
// time is the injected time from that renewal to the cycle that takes the
// chat, plus that cycle's own time on the real clock. Each trial's dead
// holder is replaced by a fresh replica.
func BenchmarkReplicaFailover(b *testing.B) {
	const trials, tick = 20, 10 * time.Millisecond
	var took []time.Duration
	var takeoverSQL time.Duration
	for b.Loop() {
		b.StopTimer()
		db := pgtest.URL(b)
		clock := heedtest.NewClock(time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC))
		chat := heedtest.NewMemChat(clock.Now)
		next := 0
		type replica struct {
			s     *heedtest.Stack
			phase time.Duration
		}
		newReplica := func() replica {
			next++
			s := heedtest.New(b, heedtest.Options{DBPath: db, Clock: clock, Chat: chat, Replica: fmt.Sprintf("r%d", next)})
			step := s.Engine.RenewEvery()
			return replica{s, time.Duration(next*7919) * time.Millisecond % step}
		}
		rs := []replica{newReplica(), newReplica(), newReplica()}
		step := rs[0].s.Engine.RenewEvery()
		start := clock.Now()
		// cycle runs the lease cycle of every replica whose turn falls in
		// the tick that just ended; it returns who took the chat.
		cycle := func(skip int) (int, time.Duration) {
			now := clock.Now()
			for i, r := range rs {
				if i == skip {
					continue
				}
				since := now.Sub(start) - r.phase
				if since < 0 || since%step >= tick {
					continue
				}
				t0 := time.Now()
				names, err := r.s.Engine.HoldCycle(r.s.Ctx)
				d := time.Since(t0)
				if err != nil {
					b.Fatalf("r%d lease cycle: %v", i+1, err)
				}
				if slices.Contains(names, "mem") {
					return i, d
				}
			}
			return -1, 0
		}
		holder := -1
		for holder < 0 {
			clock.Advance(tick)
			holder, _ = cycle(-1)
		}
		b.StartTimer()
		for range trials {
			// Run until the holder has just renewed, then stop it.
			for {
				clock.Advance(tick)
				cycle(-1)
				if since := clock.Now().Sub(start) - rs[holder].phase; since%step < tick {
					break
				}
			}
			died := clock.Now()
			var next int
			var d time.Duration
			for next = -1; next < 0; {
				clock.Advance(tick)
				if clock.Now().Sub(died) > 2*bot.DefaultLease {
					b.Fatalf("no replica took the chat within twice the lease of its holder's last renewal")
				}
				next, d = cycle(holder)
			}
			took = append(took, clock.Now().Sub(died)+d)
			takeoverSQL += d
			rs[holder] = newReplica()
			holder = next
		}
	}
	slices.Sort(took)
	b.ReportMetric(quantile(took, 0.5).Seconds(), "p50-failover-s")
	b.ReportMetric(quantile(took, 1).Seconds(), "max-failover-s")
	b.ReportMetric(quantile(took, 0).Seconds(), "min-failover-s")
	b.ReportMetric(float64(takeoverSQL.Microseconds())/1000/float64(len(took)), "takeover-cycle-ms")
	b.ReportMetric(bot.DefaultLease.Seconds(), "lease-s")
}
