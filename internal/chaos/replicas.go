package main

// Replicas mode: several `heed run` processes share one PostgreSQL
// database (docs/SCALING.md). Every replica dispatches; one holds the
// console chat, where the approvals are typed. The harness schedules
// -posts approved posts due within -window, SIGKILLs replicas at random
// moments while they come due and starts each again at once, types
// `heed pause` midway (the receiver holding a request open across it),
// resumes, lets everything settle and judges the run with the same
// verdict as the single-heed mode.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/heed-dev/heed/internal/pgtest"
)

// stale is how long a killed replica's deliveries under way stay so before
// the other replicas settle them (docs/SCALING.md: 30 s without a
// heartbeat, or 4 chat leases if longer; the harness keeps the default
// lease).
const stale = 30 * time.Second

func (o options) checkReplicas() error {
	switch {
	case o.replicas < 0:
		return errors.New("-replicas must be 0 or more")
	case o.replicas > 0 && !o.postgres:
		return errors.New("-replicas needs -postgres: on SQLite a second heed run refuses to start")
	case o.postgres && o.replicas == 0:
		return errors.New("-postgres runs with -replicas N (N ≥ 2); the single-heed cycles run on SQLite")
	case o.replicas == 1:
		return errors.New("-replicas needs at least 2: the harness kills only replicas that do not hold the console chat")
	case o.replicas > 0 && (o.posts < 1 || o.window < time.Second):
		return errors.New("-posts must be 1 or more and -window at least 1s")
	}
	return nil
}

// startPostgres starts a throwaway cluster and makes heed's database on it.
func (r *run) startPostgres(ctx context.Context) (string, error) {
	c, err := pgtest.Start(ctx)
	if err != nil {
		return "", fmt.Errorf("starting a PostgreSQL cluster: %w", err)
	}
	r.cluster = c
	url, name, err := c.CreateDatabase(ctx)
	if err != nil {
		return "", err
	}
	r.logf("chaos: PostgreSQL cluster in %s on 127.0.0.1:%d, database %s", c.Dir, c.Port, name)
	return url, nil
}

// startReplicas migrates the database once, then starts every replica and
// waits until one holds the console chat.
func (r *run) startReplicas(ctx context.Context) error {
	if out, err := r.cli(ctx, "migrate"); err != nil {
		return fmt.Errorf("heed migrate: %v\n%s", err, out)
	}
	r.procs = make([]*proc, r.o.replicas)
	for i := range r.procs {
		if err := r.startReplica(ctx, i, "first start"); err != nil {
			return err
		}
	}
	return r.until(ctx, time.Minute, func() (bool, error) {
		_, err := r.console(ctx)
		return err == nil, nil
	})
}

// startReplica starts `heed run` in slot i and waits until it has
// registered as a replica.
func (r *run) startReplica(ctx context.Context, i int, why string) error {
	r.starts++
	n := r.starts
	off := r.logSize()
	fmt.Fprintf(r.heedLog, "\n=== heed run #%d (replica %d, %s) %s\n", n, i+1, why, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(r.bin, "run", "--config", r.cfg, "--as", approver)
	cmd.Env = r.env
	cmd.Stdout, cmd.Stderr = r.heedLog, r.heedLog
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &proc{n: n, cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	r.procs[i] = p
	err = r.until(ctx, time.Minute, func() (bool, error) {
		if p.exited() {
			return false, errExited
		}
		c, err := r.reader().count(ctx, `SELECT count(*) FROM replicas WHERE host = ? AND pid = ?`, r.host, cmd.Process.Pid)
		return c == 1, err
	})
	if p.exited() {
		return fmt.Errorf("heed run #%d (replica %d) exited at start (%v):\n%s", n, i+1, p.err, tail(r.logSince(off), 20))
	}
	if err != nil {
		return fmt.Errorf("heed run #%d (replica %d) did not register: %w", n, i+1, err)
	}
	return nil
}

var errExited = errors.New("exited")

// holder is the slot of the replica holding the console chat (-1: none
// of the running ones).
func (r *run) holder(ctx context.Context) (int, error) {
	var pid int
	var host string
	err := r.reader().queryRow(ctx, `SELECT r.pid, r.host FROM chat_leases l JOIN replicas r ON r.id = l.holder WHERE l.chat = 'console' AND l.expires_at > ?`, ms(time.Now())).Scan(&pid, &host)
	if errors.Is(err, sql.ErrNoRows) {
		return -1, nil
	}
	if err != nil {
		return -1, err
	}
	for i, p := range r.procs {
		if p != nil && !p.exited() && host == r.host && p.cmd.Process.Pid == pid {
			return i, nil
		}
	}
	return -1, nil
}

// console is where approvals are typed: heed's standard input, or in
// replicas mode that of the replica holding the console chat.
func (r *run) console(ctx context.Context) (io.Writer, error) {
	if r.o.replicas == 0 {
		return r.p.stdin, nil
	}
	i, err := r.holder(ctx)
	if err != nil {
		return nil, err
	}
	if i < 0 {
		return nil, errors.New("no running replica holds the console chat")
	}
	return r.procs[i].stdin, nil
}

// replicaRun schedules and approves the posts, then kills replicas and
// pauses while they come due.
func (r *run) replicaRun(ctx context.Context) error {
	// The posts are spread over the window in whole seconds, and the
	// first comes due once the import and every approval have had time.
	r.lead = 10*time.Second + time.Duration(r.o.posts)*15*time.Millisecond
	secs := max(1, int(r.o.window/time.Second))
	offsets := make([]int, r.o.posts)
	for i := range offsets {
		offsets[i] = i * secs / r.o.posts
	}
	began := time.Now()
	batch, err := r.feed(ctx, offsets)
	if err != nil {
		return err
	}
	first := batch[0].At
	r.say("chaos: %d posts imported and approved in %s; due from %s to %s", len(batch), time.Since(began).Round(time.Millisecond),
		first.UTC().Format(time.TimeOnly), r.lastDue.UTC().Format(time.TimeOnly))
	if time.Now().After(first) {
		r.replicaNote = append(r.replicaNote, fmt.Sprintf("the approvals were done %s after the first post's time", time.Since(first).Round(time.Millisecond)))
	}

	// Kill and pause moments, drawn over the window (and a little after
	// it, while the last ones are sent).
	span := r.lastDue.Add(2 * time.Second).Sub(first)
	type event struct {
		at    time.Time
		pause bool
	}
	var events []event
	for range r.o.kills {
		events = append(events, event{at: first.Add(time.Duration(r.rng.Int64N(int64(span))))})
	}
	for k := range r.o.pauses {
		events = append(events, event{at: first.Add(span * time.Duration(k+1) / time.Duration(r.o.pauses+1)), pause: true})
	}
	slices.SortStableFunc(events, func(a, b event) int { return a.at.Compare(b.at) })
	deadline := time.Now().Add(r.o.timeout)
	for i, e := range events {
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			r.timedOut = true
			r.say("chaos: -timeout %s reached after %d of %d kills and pauses", r.o.timeout, i, len(events))
			return nil
		}
		if err := sleepUntil(ctx, e.at); err != nil {
			return err
		}
		if err := r.replicasAlive(ctx); err != nil {
			return err
		}
		var what string
		if e.pause {
			what, err = r.replicaPause(ctx)
		} else {
			what, err = r.killReplica(ctx)
		}
		if err != nil {
			return fmt.Errorf("event %d: %w", i+1, err)
		}
		r.logf("[%d/%d] %s", i+1, len(events), what)
	}
	return nil
}

// replicasAlive starts again a replica that exited without being told to,
// and records it.
func (r *run) replicasAlive(ctx context.Context) error {
	for i, p := range r.procs {
		if p != nil && p.exited() {
			r.unexpectedExits = append(r.unexpectedExits, fmt.Sprintf("heed run #%d (replica %d) exited by itself (%v); its log is in heed.log", p.n, i+1, p.err))
			if err := r.startReplica(ctx, i, "after it exited by itself"); err != nil {
				return err
			}
		}
	}
	return nil
}

// killReplica SIGKILLs a replica that does not hold the console chat (the
// chat's holder going away holds what comes due until another takes the
// chat over: docs/SCALING.md, "How failover behaves") and starts it again
// at once.
func (r *run) killReplica(ctx context.Context) (string, error) {
	h, err := r.holder(ctx)
	if err != nil {
		return "", err
	}
	var slots []int
	for i := range r.procs {
		if i != h {
			slots = append(slots, i)
		}
	}
	i := slots[r.rng.IntN(len(slots))]
	p := r.procs[i]
	pid := p.cmd.Process.Pid
	killed := time.Now()
	p.cmd.Process.Kill()
	<-p.done
	p.stdin.Close()
	r.killsDone++
	if err := r.startReplica(ctx, i, "after SIGKILL"); err != nil {
		return "", err
	}
	took := time.Since(killed)
	r.maxRejoin = max(r.maxRejoin, took)
	return fmt.Sprintf("killed replica %d (pid %d), registered again %s later", i+1, pid, took.Round(time.Millisecond)), nil
}

// replicaPause types `heed pause` while the receiver holds a request open,
// waits 3 s, and resumes.
func (r *run) replicaPause(ctx context.Context) (string, error) {
	n := len(r.pauses) + 1
	// Retry claims leave no audit row, so a resend during the pause can
	// be judged only when none can come: no retry waiting, and nothing
	// left under way by a killed replica (the others send that again
	// with its key once the replica is stale).
	args := []any{r.host, 0} // pid 0: no process
	for _, p := range r.procs {
		if p != nil && !p.exited() {
			args = append(args, p.cmd.Process.Pid)
		}
	}
	retries, err := r.reader().count(ctx, `SELECT count(*) FROM deliveries WHERE state = 'retry' OR (state = 'publishing' AND claimed_by NOT IN
		(SELECT id FROM replicas WHERE host = ? AND pid IN (?`+strings.Repeat(",?", len(args)-2)+`)))`, args...)
	if err != nil {
		return "", err
	}
	h := r.recv.arm()
	held, err := r.caught(ctx, h)
	if err != nil {
		return "", err
	}
	rec := pauseRec{N: n, Held: held, RetriesPending: retries > 0, CLIStart: time.Now()}
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
	if err := sleep(ctx, 3*time.Second); err != nil {
		return "", err
	}
	rec.ResumeStart = time.Now()
	if out, err := r.cli(ctx, "resume", "--as", approver); err != nil {
		return "", fmt.Errorf("heed resume: %v\n%s", err, out)
	}
	r.pauses = append(r.pauses, rec)
	return fmt.Sprintf("pause %d (audit %d) with #%d → %s held in flight; `heed pause` took %s", n, rec.AuditID, held.Occurrence, held.Target, rec.CLIEnd.Sub(rec.CLIStart).Round(time.Millisecond)), nil
}

// finishReplicas lets everything come due and settle (what a killed
// replica left under way is settled by the others once it is stale), then
// stops every replica with SIGTERM.
func (r *run) finishReplicas(cycleErr error) {
	r.harnessErr = cycleErr
	ctx := context.Background()
	if r.procs == nil {
		return
	}
	if cycleErr == nil {
		if err := r.replicasAlive(ctx); err != nil {
			r.harnessErr = err
		}
	}
	sleepUntil(ctx, r.lastDue.Add(time.Second))
	r.drainErr = r.until(ctx, stale+90*time.Second, func() (bool, error) {
		n, err := r.reader().unsettled(ctx, time.Now())
		return n == 0, err
	})
	for _, p := range r.procs {
		if p != nil && !p.exited() {
			p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for i, p := range r.procs {
		if p == nil {
			continue
		}
		began := time.Now()
		select {
		case <-p.done:
		case <-time.After(time.Minute):
			r.slowStops++
			p.cmd.Process.Kill()
			<-p.done
		}
		p.stdin.Close()
		r.maxStop = max(r.maxStop, time.Since(began))
		r.stops++
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			r.badExits = append(r.badExits, fmt.Sprintf("heed run #%d (replica %d) exited %d after SIGTERM at the end", p.n, i+1, code))
		}
	}
	left, err := r.reader().deliveriesIn(ctx, "publishing")
	if err != nil {
		r.replicaNote = append(r.replicaNote, "reading what the last stops left under way: "+err.Error())
	}
	for _, d := range left {
		r.stopUnknown = append(r.stopUnknown, fmt.Sprintf("#%d → %s left publishing by the SIGTERM stops at the end", d.Occurrence, d.Target))
	}
}

// stopReplicas kills every replica still running, and stops the cluster.
func (r *run) stopReplicas() {
	for _, p := range r.procs {
		if p != nil && !p.exited() {
			p.cmd.Process.Kill()
			<-p.done
		}
	}
	if r.cluster != nil {
		r.db.close()
		r.db = nil
		if err := r.cluster.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "chaos: stopping the PostgreSQL cluster in %s: %v\n", r.cluster.Dir, err)
		}
		r.cluster = nil
	}
}
