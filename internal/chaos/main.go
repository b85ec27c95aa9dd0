// Command chaos is heed's crash harness (issue 16, "Crash, stop and restart
// lose nothing"). It builds the real heed binary once, runs it on its
// embedded defaults (SQLite, the console chat) with two webhook targets
// that post to a receiver of its own, and while approved posts come due it
//
//   - kills heed with SIGKILL at random moments and restarts it at once,
//   - stops it with SIGTERM while a request is held open in flight,
//   - fills the disk under its database (a small tmpfs), kills it there,
//     and frees the disk,
//   - pauses it with `heed pause` while a request is held open in flight,
//     and resumes it.
//
// Posts are scheduled with `heed import` and approved the way a person
// does it in the console chat: `+N ✅` typed on heed's standard input by an
// approver who did not write them. At the end it reads heed's database
// (read-only) and the receiver's records, prints the figures, and exits 1
// on any duplicate, lost post, send after a pause, unknown outcome on the
// keyed target or after a graceful stop, or refused start. See
// docs/RELIABILITY.md.
//
//	go run ./internal/chaos -kills 15 -terms 3 -diskfull 1 -pauses 2
//
// With -replicas N -postgres it runs N `heed run` replicas on one database
// of a throwaway PostgreSQL cluster instead (replicas.go), kills them at
// random while -posts approved posts come due within -window, pauses
// midway, and judges the run with the same verdict:
//
//	go run ./internal/chaos -replicas 3 -postgres -posts 2000 -kills 50 -pauses 1
//
// It is not linked into heed; scripts/chaos.sh runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/heed-dev/heed/internal/pgtest"
)

const (
	keyedTarget = "keyed" // honours_idempotency_key: true
	plainTarget = "plain"
	secret      = "chaos-webhook-secret"
	approver    = "alice" // types `+N ✅` in heed's console
	author      = "writer"
	pauser      = "bob"
)

type options struct {
	kills, terms, diskFull, pauses int
	seed                           uint64
	timeout                        time.Duration
	dir                            string
	heed                           string
	maxDelay                       time.Duration
	drop                           float64
	diskSize                       int64
	verbose                        bool

	// Replicas mode (replicas.go): several `heed run` on one PostgreSQL.
	replicas int
	postgres bool
	posts    int
	window   time.Duration
}

func main() {
	var o options
	var seed int64
	flag.IntVar(&o.kills, "kills", 15, "SIGKILL cycles")
	flag.IntVar(&o.terms, "terms", 3, "SIGTERM cycles, each with a request in flight")
	flag.IntVar(&o.diskFull, "diskfull", 1, "disk-full cycles (skipped, and said so, where no tmpfs can be mounted)")
	flag.IntVar(&o.pauses, "pauses", 2, "pause cycles, each with a request in flight")
	flag.Int64Var(&seed, "seed", 0, "seed for the order of cycles, the kill moments and the receiver's delays (0: from the clock)")
	flag.DurationVar(&o.timeout, "timeout", 4*time.Minute, "bound on the cycles; the final drain and stop add at most 3 minutes")
	flag.StringVar(&o.dir, "dir", "", "keep the database, heed's log, the receiver's records and the report in this new or empty directory (default: a temporary directory, removed unless the run fails)")
	flag.StringVar(&o.heed, "heed", "", "a heed binary to run (default: build ./cmd/heed with CGO_ENABLED=0)")
	flag.DurationVar(&o.maxDelay, "delay", 200*time.Millisecond, "the receiver answers each request after a random delay up to this")
	flag.Float64Var(&o.drop, "drop", 0, "share of requests (0 to 1) the receiver takes and then answers by cutting the connection, as a receiver that crashes mid-request (off by default; see docs/RELIABILITY.md)")
	flag.Int64Var(&o.diskSize, "disksize", 128<<20, "size in bytes of the tmpfs that holds the database")
	flag.BoolVar(&o.verbose, "v", false, "print every cycle")
	flag.IntVar(&o.replicas, "replicas", 0, "run this many `heed run` replicas on one PostgreSQL database (needs -postgres) and SIGKILL them at random while -posts come due within -window; -kills counts the kills, -pauses the pauses typed meanwhile (0: one heed on SQLite, the cycles above)")
	flag.BoolVar(&o.postgres, "postgres", false, "keep heed's database on a throwaway PostgreSQL cluster the harness starts and stops (internal/pgtest); needed by -replicas")
	flag.IntVar(&o.posts, "posts", 2000, "with -replicas: approved posts, due within -window")
	flag.DurationVar(&o.window, "window", time.Minute, "with -replicas: the posts' times are spread over this")
	flag.Parse()
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	o.seed = uint64(seed)
	if o.kills < 0 || o.terms < 0 || o.diskFull < 0 || o.pauses < 0 || o.drop < 0 || o.drop > 1 {
		fmt.Fprintln(os.Stderr, "chaos: counts must be 0 or more, and -drop from 0 to 1")
		os.Exit(2)
	}
	if err := o.checkReplicas(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	os.Exit(mainRun(o, seed))
}

func mainRun(o options, seed int64) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r := &run{o: o, rng: rand.New(rand.NewPCG(o.seed, 1)), posts: map[int64]planned{}, began: time.Now(), loadStart: loadAverage()}
	if err := r.setUp(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		r.tearDown(true)
		return 2
	}
	var err error
	if o.replicas > 0 {
		r.say("chaos: seed %d · %d replicas on PostgreSQL · %d posts within %s · %d kills, %d pauses · heed %s · files in %s", seed, o.replicas, o.posts, o.window, o.kills, o.pauses, r.bin, r.dir)
		err = r.replicaRun(ctx)
	} else {
		r.say("chaos: seed %d · %d kills, %d SIGTERM, %d disk-full, %d pauses · heed %s · files in %s", seed, o.kills, o.terms, o.diskFull, o.pauses, r.bin, r.dir)
		err = r.cycles(ctx)
	}
	if o.replicas > 0 && (err == nil || !errors.Is(err, context.Canceled)) {
		r.finishReplicas(err)
	} else if err == nil || !errors.Is(err, context.Canceled) {
		r.finish(err)
	} else {
		r.say("chaos: interrupted")
		r.harnessErr = err
	}
	failed := r.report()
	r.tearDown(failed)
	if failed {
		return 1
	}
	return 0
}

// run is one harness run.
type run struct {
	o         options
	rng       *rand.Rand
	began     time.Time
	loadStart string

	dir, bin, cfg, dbPath, diskDir string
	mounted                        bool
	mountErr                       error
	env                            []string
	host                           string
	chaosLog                       *os.File
	heedLog                        *os.File
	recvLog                        *os.File
	recv                           *receiver
	db                             *db
	p                              *proc

	posts   map[int64]planned
	nextKey int
	lastDue time.Time
	lead    time.Duration // posts are scheduled this much later than the next whole second

	// Replicas mode.
	cluster     *pgtest.Cluster
	procs       []*proc // the replicas running, by slot
	replicaNote []string
	maxRejoin   time.Duration // SIGKILL to the new replica registered

	// Figures of the process side.
	starts          int
	refused         int // starts refused although the holder was dead
	refusedFull     int // starts refused while the disk was full: expected
	unexpectedExits []string
	killsDone       int
	killLeft        map[string]int // deliveries left publishing by a SIGKILL, per target
	killsInFlight   int            // kills that cut at least one publish short
	maxRestart      time.Duration  // kill to the new heed holding the lease
	termsDone       int
	stops           int      // graceful stops (SIGTERM cycles, disk-full set-up, the end)
	stopUnknown     []string // deliveries a graceful stop left publishing: unknown at the next start
	heldNotDone     []string // a request held in flight across SIGTERM whose outcome was not recorded published
	slowStops       int      // SIGTERM did not stop heed within a minute
	badExits        []string // SIGTERM stops with a non-zero exit
	maxStop         time.Duration
	health          []string // `heed healthcheck` said the wrong thing
	diskDone        int
	diskHits        int // disk-full cycles in which heed logged that its disk was full
	diskNote        string
	pauses          []pauseRec
	timedOut        bool
	harnessErr      error
	drainErr        error
}

func (r *run) say(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	fmt.Println(line)
	if r.chaosLog != nil {
		fmt.Fprintln(r.chaosLog, line)
	}
}

func (r *run) logf(format string, args ...any) {
	if r.o.verbose {
		r.say(format, args...)
	} else if r.chaosLog != nil {
		fmt.Fprintf(r.chaosLog, format+"\n", args...)
	}
}

func (r *run) setUp(ctx context.Context) error {
	var err error
	r.dir = r.o.dir
	if r.dir == "" {
		if r.dir, err = os.MkdirTemp("", "heed-chaos-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return err
	} else if _, err := os.Stat(filepath.Join(r.dir, "chaos.log")); err == nil {
		// Two runs in one directory would share heed's database and logs.
		dir := r.dir
		r.dir = "" // not ours: tearDown leaves it alone
		return fmt.Errorf("-dir %s already holds a run's files (chaos.log): give a new or empty directory", dir)
	}
	if r.dir, err = filepath.Abs(r.dir); err != nil {
		return err
	}
	if r.chaosLog, err = os.OpenFile(filepath.Join(r.dir, "chaos.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		return err
	}
	if r.heedLog, err = os.OpenFile(filepath.Join(r.dir, "heed.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		return err
	}
	if r.recvLog, err = os.OpenFile(filepath.Join(r.dir, "deliveries.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		return err
	}
	if r.host, err = os.Hostname(); err != nil {
		return err
	}
	r.bin = r.o.heed
	if r.bin == "" {
		r.bin = filepath.Join(r.dir, "heed")
		build := exec.CommandContext(ctx, "go", "build", "-tags", "goolm", "-o", r.bin, "./cmd/heed")
		build.Dir, err = moduleRoot()
		if err != nil {
			return err
		}
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("building heed: %v\n%s", err, out)
		}
	}
	// The database lives on a small disk of its own when one can be
	// mounted, so that a disk-full cycle fills that and nothing else.
	r.diskDir = filepath.Join(r.dir, "disk")
	if err := os.MkdirAll(r.diskDir, 0o700); err != nil {
		return err
	}
	if r.o.diskFull > 0 && !r.o.postgres {
		if r.mountErr = mountTmpfs(r.diskDir, r.o.diskSize); r.mountErr == nil {
			r.mounted = true
		}
	}
	r.dbPath = filepath.Join(r.diskDir, "heed.db")
	if r.o.postgres {
		if r.dbPath, err = r.startPostgres(ctx); err != nil {
			return err
		}
	}
	if r.recv, err = newReceiver(secret, keyedTarget, r.o.maxDelay, r.o.drop, r.o.seed, r.recvLog); err != nil {
		return err
	}
	r.cfg = filepath.Join(r.dir, "heed.yaml")
	cfg := fmt.Sprintf(`# Written by the chaos harness (internal/chaos). The console chat and its
# review room are heed's embedded defaults.
database: %s
zone: UTC
last_call: 0          # no reminders in the console
shutdown_grace: 30s   # the default, spelled out: SIGTERM lets publishes under way finish
late_grace: 10m
targets:
  %s:
    kind: webhook
    url: %s
    secret: ${HEED_WEBHOOK_SECRET}
    timeout: 60s
    honours_idempotency_key: true
  %s:
    kind: webhook
    url: %s
    secret: ${HEED_WEBHOOK_SECRET}
    timeout: 60s
`, r.dbPath, keyedTarget, r.recv.URL(keyedTarget), plainTarget, r.recv.URL(plainTarget))
	if err := os.WriteFile(r.cfg, []byte(cfg), 0o600); err != nil {
		return err
	}
	r.env = append(os.Environ(), "HEED_WEBHOOK_SECRET="+secret, "HEED_CONFIG=")
	r.killLeft = map[string]int{}
	if r.o.replicas > 0 {
		return r.startReplicas(ctx)
	}
	return r.start(ctx, "first start")
}

// moduleRoot is the directory of heed's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the harness from inside heed's module")
	}
	return filepath.Dir(mod), nil
}

// cycles runs every cycle, in an order drawn from the seed.
func (r *run) cycles(ctx context.Context) error {
	var kinds []string
	for _, k := range []struct {
		name string
		n    int
	}{{"kill", r.o.kills}, {"term", r.o.terms}, {"disk", r.o.diskFull}, {"pause", r.o.pauses}} {
		for range k.n {
			kinds = append(kinds, k.name)
		}
	}
	r.rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	if r.o.diskFull > 0 && !r.mounted {
		r.diskNote = fmt.Sprintf("disk-full cycles skipped: no small disk could be mounted here (%v). Filling the real disk would harm others, and a loop device needs the same privilege", r.mountErr)
		r.say("chaos: %s", r.diskNote)
	}
	deadline := time.Now().Add(r.o.timeout)
	for i, kind := range kinds {
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			r.timedOut = true
			r.say("chaos: -timeout %s reached after %d of %d cycles", r.o.timeout, i, len(kinds))
			return nil
		}
		if err := r.alive(ctx); err != nil {
			return err
		}
		began := time.Now()
		var what string
		var err error
		switch kind {
		case "kill":
			what, err = r.killCycle(ctx)
		case "term":
			what, err = r.termCycle(ctx)
		case "disk":
			if !r.mounted {
				continue
			}
			what, err = r.diskCycle(ctx)
		case "pause":
			what, err = r.pauseCycle(ctx)
		}
		if err != nil {
			return fmt.Errorf("cycle %d (%s): %w", i+1, kind, err)
		}
		r.logf("[%d/%d] %-5s %5.2fs  %s", i+1, len(kinds), kind, time.Since(began).Seconds(), what)
		if !r.o.verbose && (i+1)%50 == 0 {
			r.say("chaos: %d of %d cycles, %s", i+1, len(kinds), time.Since(r.began).Round(time.Second))
		}
	}
	return nil
}

// alive restarts a heed that exited without being told to, and records it:
// heed must not die on its own.
func (r *run) alive(ctx context.Context) error {
	if r.p == nil || !r.p.exited() {
		return nil
	}
	r.unexpectedExits = append(r.unexpectedExits, fmt.Sprintf("heed run #%d exited by itself (%v); its log is in heed.log", r.p.n, r.p.err))
	return r.start(ctx, "after it exited by itself")
}

// killCycle schedules and approves posts, then kills heed at a random
// moment while posts come due, and restarts it at once.
func (r *run) killCycle(ctx context.Context) (string, error) {
	if _, err := r.feed(ctx, r.offsets(2, 2, 4)); err != nil {
		return "", err
	}
	wait := r.killMoment()
	if err := sleep(ctx, wait); err != nil {
		return "", err
	}
	if err := r.alive(ctx); err != nil {
		return "", err
	}
	killed := time.Now()
	left, err := r.kill(ctx)
	if err != nil {
		return "", err
	}
	r.killsDone++
	// A killed heed is not healthy: healthcheck must see its holder gone.
	if out, err := r.cli(ctx, "healthcheck"); err == nil || !strings.Contains(out, "no longer running") {
		r.health = append(r.health, fmt.Sprintf("`heed healthcheck` after SIGKILL of heed run #%d: %v: %s", r.p.n, err, strings.TrimSpace(out)))
	}
	if len(left) > 0 {
		r.killsInFlight++
	}
	for _, d := range left {
		r.killLeft[d.Target]++
	}
	if err := r.start(ctx, "after SIGKILL"); err != nil {
		return "", err
	}
	took := time.Since(killed)
	r.maxRestart = max(r.maxRestart, took)
	return fmt.Sprintf("killed after %s, %d publish(es) cut short, holding the lease again %s later", wait.Round(time.Millisecond), len(left), took.Round(time.Millisecond)), nil
}

// killMoment is how long to wait before a kill: mostly a moment just
// after a post's time, when heed claims and sends it (the receiver answers
// after its random delay, so requests are in flight then); otherwise any
// moment in the next 2.5 s.
func (r *run) killMoment() time.Duration {
	now := time.Now()
	if r.rng.IntN(10) < 7 {
		var dues []time.Time
		for _, p := range r.posts {
			if p.At.After(now) && p.At.Before(now.Add(3*time.Second)) && !slices.ContainsFunc(dues, p.At.Equal) {
				dues = append(dues, p.At)
			}
		}
		if len(dues) > 0 {
			slices.SortFunc(dues, time.Time.Compare)
			at := dues[r.rng.IntN(len(dues))].Add(time.Duration(r.rng.Int64N(int64(400 * time.Millisecond))))
			return time.Until(at)
		}
	}
	return time.Duration(r.rng.Int64N(int64(2500 * time.Millisecond)))
}

// termCycle stops heed with SIGTERM while the receiver holds a request
// open: heed must let it finish and record it, and leave nothing under
// way.
func (r *run) termCycle(ctx context.Context) (string, error) {
	if _, err := r.feed(ctx, r.offsets(2, 2, 4)); err != nil {
		return "", err
	}
	h := r.recv.arm()
	held, err := r.caught(ctx, h)
	if err != nil {
		return "", err
	}
	if err := r.p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return "", err
	}
	hold := 50*time.Millisecond + time.Duration(r.rng.Int64N(int64(750*time.Millisecond)))
	sleep(ctx, hold)
	close(h.release)
	if _, err := r.stopped(ctx, "SIGTERM cycle"); err != nil {
		return "", err
	}
	r.termsDone++
	d, err := r.reader().delivery(ctx, held.Occurrence, held.Target)
	if err != nil {
		return "", err
	}
	if d.State != "published" {
		r.heldNotDone = append(r.heldNotDone, fmt.Sprintf("#%d → %s was in flight at SIGTERM and is %q afterwards (%s)", held.Occurrence, held.Target, d.State, d.Error))
	}
	if err := r.start(ctx, "after SIGTERM"); err != nil {
		return "", err
	}
	return fmt.Sprintf("SIGTERM with #%d → %s held in flight for %s: %s", held.Occurrence, held.Target, hold.Round(time.Millisecond), d.State), nil
}

// pauseCycle pauses heed with `heed pause` while the receiver holds a
// request open, lets posts come due during the pause, and resumes.
func (r *run) pauseCycle(ctx context.Context) (string, error) {
	n := len(r.pauses) + 1
	// Retry claims leave no audit row; with none waiting, every request
	// after the pause can be judged by its claim's audit id.
	pending := r.until(ctx, 60*time.Second, func() (bool, error) {
		c, err := r.reader().count(ctx, `SELECT count(*) FROM deliveries WHERE state = 'retry'`)
		return c == 0, err
	}) != nil
	batch, err := r.feed(ctx, r.offsets(4, 2, 5))
	if err != nil {
		return "", err
	}
	h := r.recv.arm()
	held, err := r.caught(ctx, h)
	if err != nil {
		return "", err
	}
	rec := pauseRec{N: n, Held: held, RetriesPending: pending, CLIStart: time.Now()}
	out, err := r.cli(ctx, "pause", "--as", pauser, "--reason", fmt.Sprintf("chaos pause %d", n))
	rec.CLIEnd = time.Now()
	close(h.release)
	rec.HoldExpired = h.expired.Load()
	if err != nil {
		return "", fmt.Errorf("heed pause: %v\n%s", err, out)
	}
	if rec.AuditID, err = r.reader().lastAuditID(ctx, "pause"); err != nil {
		return "", err
	}
	// Posts of this batch come due during the pause: they must be held.
	last := batch[0].At
	for _, p := range batch {
		last = later(last, p.At)
	}
	if err := sleepUntil(ctx, last.Add(1500*time.Millisecond)); err != nil {
		return "", err
	}
	rec.ResumeStart = time.Now()
	if out, err := r.cli(ctx, "resume", "--as", approver); err != nil {
		return "", fmt.Errorf("heed resume: %v\n%s", err, out)
	}
	r.pauses = append(r.pauses, rec)
	return fmt.Sprintf("pause %d (audit %d) with #%d → %s held in flight; `heed pause` took %s", n, rec.AuditID, held.Occurrence, held.Target, rec.CLIEnd.Sub(rec.CLIStart).Round(time.Millisecond)), nil
}

// diskCycle fills the disk under heed's database while posts come due,
// kills heed there, tries to start it on the full disk, frees the disk and
// starts it again.
func (r *run) diskCycle(ctx context.Context) (string, error) {
	// SQLite deletes the write-ahead log when its last connection closes,
	// so after a clean stop heed starts with an empty one that must grow
	// with its next write: the full disk then bites at once, instead of
	// once the log outgrows the space it already holds.
	r.db.close()
	r.db = nil
	if err := r.p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return "", err
	}
	if _, err := r.stopped(ctx, "before a disk-full cycle"); err != nil {
		return "", err
	}
	if err := r.start(ctx, "before filling the disk"); err != nil {
		return "", err
	}
	batch, err := r.feed(ctx, r.offsets(3, 2, 4))
	if err != nil {
		return "", err
	}
	last := batch[0].At
	for _, p := range batch {
		last = later(last, p.At)
	}
	off := r.logSize()
	filler := filepath.Join(r.diskDir, "filler")
	filled, err := fill(filler)
	if err != nil {
		os.Remove(filler)
		return "", err
	}
	full := func(text string) bool {
		return strings.Contains(text, "is full") || strings.Contains(text, "cannot be written")
	}
	hit := r.until(ctx, time.Until(last.Add(3*time.Second)), func() (bool, error) { return full(r.logSince(off)), nil }) == nil
	if hit {
		r.diskHits++
	}
	if err := sleepUntil(ctx, last.Add(time.Second)); err != nil {
		os.Remove(filler)
		return "", err
	}
	if err := r.alive(ctx); err != nil {
		os.Remove(filler)
		return "", err
	}
	left, err := r.kill(ctx)
	if err != nil {
		os.Remove(filler)
		return "", err
	}
	startedFull := "started"
	p, err := r.startOnce(ctx, "on the full disk")
	switch {
	case err == nil:
		r.p = p
	case errors.Is(err, errDiskFull):
		r.refusedFull++
		startedFull = "refused: " + strings.TrimPrefix(err.Error(), errDiskFull.Error()+": ")
	case errors.Is(err, errLeaseRefused):
		r.refused++
		startedFull = "refused for the lease"
	default:
		os.Remove(filler)
		return "", err
	}
	if err := os.Remove(filler); err != nil {
		return "", err
	}
	if r.p == nil || r.p.exited() {
		if err := r.start(ctx, "after the disk was freed"); err != nil {
			return "", err
		}
	}
	// What came due on the full disk goes out late, within late_grace.
	if err := r.until(ctx, 90*time.Second, func() (bool, error) {
		n, err := r.reader().unsettled(ctx, time.Now())
		return n == 0, err
	}); err != nil {
		return "", fmt.Errorf("after the disk was freed: %w", err)
	}
	r.diskDone++
	return fmt.Sprintf("filled %d MB; heed logged a full disk: %v; killed with %d publish(es) cut short; a start on the full disk %s", filled>>20, hit, len(left), startedFull), nil
}

// feed schedules posts due offsets seconds from the next whole second,
// with `heed import` as one person, and approves each in heed's console as
// another (`+N ✅`), waiting until heed has recorded every approval.
func (r *run) feed(ctx context.Context, offsets []int) ([]planned, error) {
	for try := 0; ; try++ {
		base := time.Now().Truncate(time.Second).Add(time.Second + r.lead)
		var cal strings.Builder
		cal.WriteString("posts:\n")
		var batch []planned
		var keys []string
		for _, off := range offsets {
			r.nextKey++
			// A retry after a slow import schedules 3 s later each time.
			p := planned{Key: fmt.Sprintf("chaos-%d", r.nextKey), At: base.Add(time.Duration(off+3*try) * time.Second), Targets: []string{keyedTarget, plainTarget}}
			if r.rng.IntN(2) == 0 {
				p.Targets[0], p.Targets[1] = p.Targets[1], p.Targets[0]
			}
			fmt.Fprintf(&cal, "  - key: %s\n    at: %q\n    to: [%s]\n    text: \"chaos post %d\"\n", p.Key, p.At.UTC().Format(time.RFC3339), strings.Join(p.Targets, ", "), r.nextKey)
			batch = append(batch, p)
			keys = append(keys, p.Key)
		}
		file := filepath.Join(r.dir, "calendar.yaml")
		if err := os.WriteFile(file, []byte(cal.String()), 0o600); err != nil {
			return nil, err
		}
		out, err := r.cli(ctx, "import", "--as", author, file)
		if err != nil {
			if strings.Contains(out, "in the past") && try < 3 {
				continue // a slow import: schedule them again, later
			}
			return nil, fmt.Errorf("heed import: %v\n%s", err, out)
		}
		ids, err := r.reader().postIDs(ctx, keys)
		if err != nil {
			return nil, err
		}
		console, err := r.console(ctx)
		if err != nil {
			return nil, err
		}
		var occ []int64
		for i := range batch {
			id, ok := ids[batch[i].Key]
			if !ok {
				return nil, fmt.Errorf("post %s is not in the database after its import", batch[i].Key)
			}
			batch[i].ID = id
			occ = append(occ, id)
			if _, err := fmt.Fprintf(console, "+%d ✅\n", id); err != nil {
				return nil, fmt.Errorf("typing the approval of #%d into heed's console: %w", id, err)
			}
		}
		if err := r.until(ctx, 60*time.Second+time.Duration(len(occ))*20*time.Millisecond, func() (bool, error) {
			n, err := r.reader().approved(ctx, occ)
			return n == len(occ), err
		}); err != nil {
			return nil, fmt.Errorf("approvals of %v: %w", occ, err)
		}
		for _, p := range batch {
			r.posts[p.ID] = p
			r.lastDue = later(r.lastDue, p.At)
		}
		return batch, nil
	}
}

// offsets draws n due times, whole seconds from lo to hi ahead.
func (r *run) offsets(n, lo, hi int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = lo + r.rng.IntN(hi-lo+1)
	}
	slices.Sort(out)
	return out
}

// caught waits for an armed hold to catch a request.
func (r *run) caught(ctx context.Context, h *hold) (arrival, error) {
	select {
	case a := <-h.got:
		return a, nil
	case <-time.After(60 * time.Second):
		r.recv.disarm(h)
		return arrival{}, errors.New("no request reached the receiver within a minute to hold in flight")
	case <-ctx.Done():
		r.recv.disarm(h)
		return arrival{}, ctx.Err()
	}
}

// finish lets everything come due and settle, stops heed gracefully and
// keeps its database.
func (r *run) finish(cycleErr error) {
	r.harnessErr = cycleErr
	ctx := context.Background()
	if r.p != nil && r.p.exited() {
		r.alive(ctx)
	}
	if r.p == nil || r.p.exited() {
		return
	}
	sleepUntil(ctx, r.lastDue.Add(time.Second))
	r.drainErr = r.until(ctx, 2*time.Minute, func() (bool, error) {
		n, err := r.reader().unsettled(ctx, time.Now())
		return n == 0, err
	})
	r.db.close()
	r.db = nil
	r.p.cmd.Process.Signal(syscall.SIGTERM)
	r.stopped(ctx, "at the end")
}

// kill sends SIGKILL, reaps heed, and returns the deliveries it left
// under way.
func (r *run) kill(ctx context.Context) ([]delivery, error) {
	r.p.cmd.Process.Kill()
	<-r.p.done
	r.p.stdin.Close()
	return r.reader().deliveriesIn(ctx, "publishing")
}

// stopped waits for a heed sent SIGTERM to exit, and records what the
// graceful stop left under way: each such delivery becomes unknown (or,
// on the keyed target, is sent again) at the next start.
func (r *run) stopped(ctx context.Context, why string) ([]delivery, error) {
	began := time.Now()
	select {
	case <-r.p.done:
	case <-time.After(time.Minute):
		r.slowStops++
		r.p.cmd.Process.Kill()
		<-r.p.done
	}
	r.p.stdin.Close()
	took := time.Since(began)
	r.maxStop = max(r.maxStop, took)
	r.stops++
	if code := r.p.cmd.ProcessState.ExitCode(); code != 0 {
		r.badExits = append(r.badExits, fmt.Sprintf("heed run #%d exited %d after SIGTERM (%s)", r.p.n, code, why))
	}
	left, err := r.reader().deliveriesIn(ctx, "publishing")
	if err != nil {
		return nil, err
	}
	for _, d := range left {
		r.stopUnknown = append(r.stopUnknown, fmt.Sprintf("#%d → %s left publishing by a SIGTERM stop (%s) of heed run #%d", d.Occurrence, d.Target, why, r.p.n))
	}
	return left, nil
}

// reader is the read-only handle on heed's database.
func (r *run) reader() *db {
	if r.db == nil {
		r.db, _ = openDB(r.dbPath)
	}
	return r.db
}

// until polls cond every 20 ms until it holds, or fails after d.
func (r *run) until(ctx context.Context, d time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(d)
	var last error
	for {
		ok, err := cond()
		if ok && err == nil {
			return nil
		}
		last = err
		if !time.Now().Before(deadline) {
			if last != nil {
				return fmt.Errorf("not within %s (last error: %v)", d, last)
			}
			return fmt.Errorf("not within %s", d)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// cli runs a heed command (not `run`) against the harness's config, and
// records it in heed.log.
func (r *run) cli(ctx context.Context, args ...string) (string, error) {
	c, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(c, r.bin, append(args, "--config", r.cfg)...)
	cmd.Env = r.env
	out, err := cmd.CombinedOutput()
	fmt.Fprintf(r.heedLog, "=== heed %s\n%s", strings.Join(args, " "), out)
	return string(out), err
}

func (r *run) logSize() int64 {
	fi, err := r.heedLog.Stat()
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logSince is heed.log from offset off.
func (r *run) logSince(off int64) string {
	f, err := os.Open(r.heedLog.Name())
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// tearDown stops whatever still runs, keeps a copy of the database and
// unmounts the small disk. Files are kept on failure or with -dir.
func (r *run) tearDown(failed bool) {
	if r.p != nil && !r.p.exited() {
		r.p.cmd.Process.Kill()
		<-r.p.done
	}
	r.stopReplicas()
	r.db.close()
	if r.recv != nil {
		r.recv.close()
	}
	if r.mounted {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if b, err := os.ReadFile(r.dbPath + suffix); err == nil {
				os.WriteFile(filepath.Join(r.dir, "heed.db"+suffix), b, 0o600)
			}
		}
		if err := unmount(r.diskDir); err != nil {
			fmt.Fprintf(os.Stderr, "chaos: unmounting %s: %v\n", r.diskDir, err)
		}
	}
	for _, f := range []*os.File{r.chaosLog, r.heedLog, r.recvLog} {
		if f != nil {
			f.Close()
		}
	}
	if r.dir == "" {
		return
	}
	if r.o.postgres && (failed || r.o.dir != "") {
		fmt.Printf("chaos: heed.log, deliveries.jsonl, chaos.log and report.txt are in %s (the PostgreSQL cluster is stopped and deleted)\n", r.dir)
		return
	}
	if failed || r.o.dir != "" {
		fmt.Printf("chaos: the database, heed.log, deliveries.jsonl, chaos.log and report.txt are in %s\n", r.dir)
		return
	}
	os.RemoveAll(r.dir)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// sleep waits d, or less if ctx ends. The harness polls real processes;
// waiting is its job.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func sleepUntil(ctx context.Context, t time.Time) error { return sleep(ctx, time.Until(t)) }

// fill writes path until the disk under it is full, and returns how many
// bytes it took.
func fill(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for _, size := range []int{1 << 20, 4096, 512} {
		for {
			w, err := f.Write(buf[:size])
			n += int64(w)
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			if err != nil {
				return n, err
			}
		}
	}
	return n, nil
}
