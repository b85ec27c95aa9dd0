package main

// Chat-holder failover with real processes: three `heed run` replicas on
// one throwaway PostgreSQL database serve a Matrix review room on the
// test Dendrite; the replica holding the Matrix connection is SIGKILLed
// and another must take the chat over within twice chat_lease, post no
// card twice, and honour a `pause` typed during the takeover before
// anything publishes. Each trial kills the holder once and times the
// takeover; -failover-trials sets how many (docs/PERFORMANCE.md records
// 20).

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/heed-dev/heed/bot/matrix/matrixtest"
	"github.com/heed-dev/heed/internal/pgtest"
)

// TestMain starts the shared Dendrite and PostgreSQL when a test asks
// for them, and stops them at the end, and removes the heed binary the
// tests built.
func TestMain(m *testing.M) {
	code := matrixtest.Main(m)
	if heedBin.dir != "" {
		os.RemoveAll(heedBin.dir)
	}
	os.Exit(code)
}

var (
	failoverTrials = flag.Int("failover-trials", 2, "holder kills timed by TestFailoverRealReplicasMatrix (docs/PERFORMANCE.md: 20)")
	// Short, so that a takeover is quick to wait for, yet twice the
	// shortest heed allows, so that a loaded machine (the whole suite runs
	// beside these tests) delays a renewal or a takeover well within the
	// bounds checked.
	failoverLeaseFlag = flag.Duration("failover-lease", 4*time.Second, "the replicas' chat_lease in the real-process failover tests")
)

// heedBin is heed built once for the test binary, as the harness does.
var heedBin struct {
	once      sync.Once
	dir, path string
	err       error
}

func buildHeed(t *testing.T) string {
	t.Helper()
	heedBin.once.Do(func() {
		root, err := moduleRoot()
		if err == nil {
			heedBin.dir, err = os.MkdirTemp("", "heed-failover-")
		}
		if err != nil {
			heedBin.err = err
			return
		}
		heedBin.path = filepath.Join(heedBin.dir, "heed")
		build := exec.Command("go", "build", "-tags", "goolm", "-o", heedBin.path, "./cmd/heed")
		build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			heedBin.err = fmt.Errorf("building heed: %v\n%s", err, out)
		}
	})
	if heedBin.err != nil {
		t.Fatal(heedBin.err)
	}
	return heedBin.path
}

// fleet is n `heed run` replicas of one configuration.
type fleet struct {
	t        *testing.T
	bin, cfg string
	env      []string
	dir      string
	db       *db
	host     string
	procs    []*proc
	logs     []string // each start's log file
}

func (f *fleet) cli(ctx context.Context, args ...string) (string, error) {
	c, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(c, f.bin, append(args, "--config", f.cfg)...)
	cmd.Env = f.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// start starts `heed run` in slot i and waits until it registered.
func (f *fleet) start(ctx context.Context, i int) {
	f.t.Helper()
	path := filepath.Join(f.dir, fmt.Sprintf("heed-%d.log", len(f.logs)+1))
	log, err := os.Create(path)
	if err != nil {
		f.t.Fatal(err)
	}
	f.logs = append(f.logs, path)
	cmd := exec.Command(f.bin, "run", "--config", f.cfg)
	cmd.Env = f.env
	cmd.Stdout, cmd.Stderr = log, log
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	p := &proc{n: len(f.logs), cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); log.Close(); close(p.done) }()
	f.procs[i] = p
	f.until(ctx, time.Minute, fmt.Sprintf("heed run #%d to register", p.n), func() (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("heed run #%d exited (%v):\n%s", p.n, p.err, f.logTail(p.n))
		}
		c, err := f.db.count(ctx, `SELECT count(*) FROM replicas WHERE host = ? AND pid = ?`, f.host, cmd.Process.Pid)
		return c == 1, err
	})
}

func (f *fleet) logTail(n int) string {
	b, _ := os.ReadFile(f.logs[n-1])
	return tail(string(b), 30)
}

// until polls cond every 20 ms until it holds, and fails the test after
// d, or at once when a replica exited.
func (f *fleet) until(ctx context.Context, d time.Duration, what string, cond func() (bool, error)) {
	f.t.Helper()
	deadline := time.Now().Add(d)
	var last error
	for {
		ok, err := cond()
		if ok && err == nil {
			return
		}
		if err != nil && strings.Contains(err.Error(), "exited") {
			f.t.Fatal(err)
		}
		last = err
		if time.Now().After(deadline) {
			f.t.Fatalf("waited %s for %s (last error: %v)", d, what, last)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			f.t.Fatal(err)
		}
	}
}

// lease is the chat's lease row, with the pid of its holder.
type lease struct {
	holder string
	pid    int
	since  time.Time
	alive  time.Time
	deaf   string
	live   bool
}

func (f *fleet) lease(ctx context.Context, chat string) (lease, error) {
	var l lease
	var since, alive, expires int64
	var pid sql.NullInt64
	err := f.db.queryRow(ctx, `SELECT l.holder, r.pid, l.since, l.alive_at, l.deaf, l.expires_at FROM chat_leases l
		LEFT JOIN replicas r ON r.id = l.holder WHERE l.chat = ?`, chat).Scan(&l.holder, &pid, &since, &alive, &l.deaf, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return lease{}, nil
	}
	l.pid, l.since, l.live = int(pid.Int64), time.UnixMilli(since), expires > time.Now().UnixMilli()
	if alive > 0 {
		l.alive = time.UnixMilli(alive)
	}
	return l, err
}

// heard waits until a running replica holds chat and its connection is
// heard, and returns its slot and lease.
func (f *fleet) heard(ctx context.Context, chat string, d time.Duration) (int, lease) {
	f.t.Helper()
	slot, got := -1, lease{}
	f.until(ctx, d, "a replica holding the "+chat+" chat and hearing it", func() (bool, error) {
		l, err := f.lease(ctx, chat)
		if err != nil || !l.live || l.deaf != "" || l.alive.IsZero() {
			return false, err
		}
		for i, p := range f.procs {
			if p != nil && !p.exited() && p.cmd.Process.Pid == l.pid {
				slot, got = i, l
				return true, nil
			}
		}
		return false, nil
	})
	return slot, got
}

func (f *fleet) stop() {
	for _, p := range f.procs {
		if p != nil && !p.exited() {
			p.cmd.Process.Kill()
			<-p.done
		}
	}
}

// matrixWorld is a review room on Dendrite with heed's bot, an admin who
// watches the room, an approver and a member.
type matrixWorld struct {
	room              id.RoomID
	bot, admin, alice *matrixtest.User
	bob               *matrixtest.User
	watch             *matrixtest.Watcher
}

// isCard reports whether e is the first post of card #n by the bot (no
// edit, no thread reply).
func (w *matrixWorld) isCard(e *event.Event, n int64) bool {
	if e.Sender != w.bot.ID || e.Type != event.EventMessage || e.RoomID != w.room {
		return false
	}
	if _, rel := e.Content.Raw["m.relates_to"]; rel {
		return false
	}
	body, _ := e.Content.Raw["body"].(string)
	return strings.HasPrefix(body, fmt.Sprintf("#%d ", n))
}

// isEdit reports whether e edits card #n to show state.
func (w *matrixWorld) isEdit(e *event.Event, n int64, state string) bool {
	if e.Sender != w.bot.ID || e.RoomID != w.room {
		return false
	}
	nc, _ := e.Content.Raw["m.new_content"].(map[string]any)
	body, _ := nc["body"].(string)
	return strings.HasPrefix(body, fmt.Sprintf("#%d %s", n, state))
}

// reply reports whether e is the bot's answer in the room (no card, no
// edit) that contains text, sent since since (the homeserver's clock is
// this machine's).
func (w *matrixWorld) reply(e *event.Event, text string, since time.Time) bool {
	if e.Sender != w.bot.ID || e.RoomID != w.room || e.Type != event.EventMessage {
		return false
	}
	if _, rel := e.Content.Raw["m.relates_to"]; rel {
		return false
	}
	body, _ := e.Content.Raw["body"].(string)
	return strings.Contains(body, text) && e.Timestamp >= since.UnixMilli()
}

// say sends a plain text message into the room as u.
func (w *matrixWorld) say(t *testing.T, u *matrixtest.User, text string) {
	t.Helper()
	if _, err := u.Client.SendText(context.Background(), w.room, text); err != nil {
		t.Fatalf("%s says %q: %v", u.ID, text, err)
	}
}

// TestFailoverRealReplicasMatrix: three real `heed run` replicas on one
// PostgreSQL database serve a Matrix review room on Dendrite. Two
// approved posts come due around a SIGKILL of the replica holding the
// Matrix connection: one just after the kill, the other after the
// takeover bound; bob types `pause` right after the kill. Another replica
// takes the chat over within twice chat_lease, reads the pause back from
// the room before anything publishes, and both posts are held: the
// webhook receiver gets nothing, and each card is in the room once, edited
// in place. Then further trials kill each new holder while `status` is
// typed, and time the takeover (-failover-trials).
func TestFailoverRealReplicasMatrix(t *testing.T) {
	ctx := t.Context()
	failoverLease := *failoverLeaseFlag
	srv := matrixtest.Shared(t)
	w := &matrixWorld{bot: srv.Register(t, "heed"), admin: srv.Register(t, "admin"), alice: srv.Register(t, "alice"), bob: srv.Register(t, "bob")}
	w.room = w.admin.CreateRoom(t, true, w.bot, w.alice, w.bob)
	w.watch = w.admin.Watch(t)
	url := pgtest.URL(t)

	f := &fleet{t: t, bin: buildHeed(t), dir: t.TempDir(), procs: make([]*proc, 3)}
	var err error
	if f.host, err = os.Hostname(); err != nil {
		t.Fatal(err)
	}
	recv, err := newReceiver(secret, keyedTarget, 0, 0, 1, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(recv.close)
	f.cfg = filepath.Join(f.dir, "heed.yaml")
	cfg := fmt.Sprintf(`database: %s
zone: UTC
last_call: 0
chat_lease: %s
people:
  %s: [%s]
chats:
  team:
    kind: matrix
    homeserver: %s
    user_id: %q
    password: ${HEED_TEST_MATRIX_PASSWORD}
rooms:
  - name: review
    chat: team
    id: %q
    approvers: [%q]
targets:
  %s:
    kind: webhook
    url: %s
    secret: ${HEED_WEBHOOK_SECRET}
`, url, failoverLease, author, author, srv.URL, w.bot.ID, w.room, w.alice.ID, plainTarget, recv.URL(plainTarget))
	f.launch(t, ctx, url, cfg, "HEED_WEBHOOK_SECRET="+secret, "HEED_TEST_MATRIX_PASSWORD="+w.bot.Password)
	f.heard(ctx, "team", time.Minute) // a replica holds the chat and heard it

	// Two posts: a due just after the kill, b after the takeover bound.
	// The time to add and approve them, on a loaded machine, is 20 s.
	dueA := time.Now().Add(20*time.Second + failoverLease).Truncate(time.Second)
	// a comes due ⅝ of a lease after the kill: the dead holder is taken
	// for dead (half a lease without renewal) and its lease has not
	// lapsed yet (¾ at the earliest).
	killAt := dueA.Add(-failoverLease / 2 * 5 / 4)
	dueB := killAt.Add(3*failoverLease + time.Second)
	var ids []int64
	for _, p := range []struct {
		text string
		at   time.Time
	}{{"failover post A", dueA}, {"failover post B", dueB}} {
		if out, err := f.cli(ctx, "post", "add", "--as", author, "--at", p.at.UTC().Format(time.RFC3339), "--to", plainTarget, "--text", p.text); err != nil {
			t.Fatalf("heed post add: %v\n%s", err, out)
		}
		var n int64
		if err := f.db.queryRow(ctx, `SELECT id FROM posts WHERE text = ?`, p.text).Scan(&n); err != nil {
			t.Fatalf("post %q: %v", p.text, err)
		}
		ids = append(ids, n)
	}
	for _, n := range ids {
		card := w.watch.Wait(t, fmt.Sprintf("card #%d", n), 30*time.Second, func(e *event.Event) bool { return w.isCard(e, n) })
		if _, err := w.alice.Client.SendReaction(ctx, w.room, card.Event.ID, "✅"); err != nil {
			t.Fatal(err)
		}
	}
	f.until(ctx, 30*time.Second, "both posts approved", func() (bool, error) {
		c, err := f.db.count(ctx, `SELECT count(*) FROM occurrences WHERE state = 'approved' AND id IN (?, ?)`, ids[0], ids[1])
		return c == 2, err
	})
	if time.Now().After(killAt) {
		t.Fatalf("the posts were approved %s after the moment set for the kill; the machine is too slow for this test's schedule", time.Since(killAt))
	}
	t.Logf("approved %s before the kill", time.Until(killAt).Round(time.Millisecond))

	// The kill, and a pause typed at once.
	if err := sleepUntil(ctx, killAt); err != nil {
		t.Fatal(err)
	}
	holder, _ := f.heard(ctx, "team", time.Second) // still the same one, heard
	killed, took, answered, typed := f.killHolder(ctx, holder, w, "pause failover drill", "Paused all publishing")
	if !typed.Before(took) {
		t.Errorf("the pause reached the homeserver %s after the kill, once another replica had taken the chat (%s after it): the test did not type it during the takeover",
			typed.Sub(killed), took.Sub(killed))
	}
	t.Logf("trial 1: holder #%d killed; chat taken over %s later, pause answered %s after the kill", f.procs[holder].n, took.Sub(killed).Round(time.Millisecond), answered.Sub(killed).Round(time.Millisecond))
	if took.Sub(killed) > 2*failoverLease {
		t.Errorf("the chat was taken over %s after its holder was killed, more than twice chat_lease (%s)", took.Sub(killed), 2*failoverLease)
	}
	if took.Before(killed.Add(failoverLease / 2)) {
		t.Errorf("the chat was taken over %s after the kill: before the dead holder's lease can have lapsed", took.Sub(killed))
	}
	// Both posts held, nothing sent, each card once, edited to HELD.
	if err := sleepUntil(ctx, dueB.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	for i, n := range ids {
		f.until(ctx, 20*time.Second, fmt.Sprintf("#%d held", n), func() (bool, error) {
			c, err := f.db.count(ctx, `SELECT count(*) FROM occurrences WHERE id = ? AND state = 'held'`, n)
			return c == 1, err
		})
		w.watch.Wait(t, fmt.Sprintf("card #%d edited to HELD", n), 20*time.Second, func(e *event.Event) bool { return w.isEdit(e, n, "HELD") })
		if i == 1 {
			var note string
			if err := f.db.queryRow(ctx, `SELECT note FROM occurrences WHERE id = ?`, n).Scan(&note); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(note, "during a pause") {
				t.Errorf("#%d, due after the takeover, is held for %q, want the pause typed during the takeover", n, note)
			}
		}
	}
	if got := recv.snapshot(); len(got) != 0 {
		t.Errorf("the webhook received %d requests, want none: %+v", len(got), got)
	}
	for _, n := range ids {
		cards := 0
		for _, s := range w.watch.Events() {
			if w.isCard(s.Event, n) {
				cards++
			}
		}
		if cards != 1 {
			t.Errorf("card #%d was posted %d times in the room, want once", n, cards)
		}
	}
	f.start(ctx, holder) // back to three

	// Further trials: kill each holder, type `status`, time the takeover.
	var takeovers, answers []time.Duration
	takeovers, answers = append(takeovers, took.Sub(killed)), append(answers, answered.Sub(killed))
	for trial := 2; trial <= *failoverTrials; trial++ {
		holder, _ = f.heard(ctx, "team", 30*time.Second)
		killed, took, answered, _ = f.killHolder(ctx, holder, w, "status", "paused by")
		takeovers, answers = append(takeovers, took.Sub(killed)), append(answers, answered.Sub(killed))
		t.Logf("trial %d: chat taken over %s after the kill, `status` answered %s after it", trial, took.Sub(killed).Round(time.Millisecond), answered.Sub(killed).Round(time.Millisecond))
		if took.Sub(killed) > 2*failoverLease {
			t.Errorf("trial %d: the chat was taken over %s after its holder was killed, more than twice chat_lease (%s)", trial, took.Sub(killed), 2*failoverLease)
		}
		f.start(ctx, holder)
	}
	t.Logf("%d takeovers with chat_lease %s: lease taken p50 %s max %s; command answered p50 %s max %s",
		len(takeovers), failoverLease, p50(takeovers), slices.Max(takeovers).Round(time.Millisecond), p50(answers), slices.Max(answers).Round(time.Millisecond))
}

// killHolder SIGKILLs the replica in slot, has bob type text in the room
// at once, and returns when the kill was, when another replica took the
// chat (its lease's since), when the bot's answer containing want reached
// the room's watcher, and when the homeserver had taken the text.
func (f *fleet) killHolder(ctx context.Context, slot int, w *matrixWorld, text, want string) (killed, took, answered, typed time.Time) {
	f.t.Helper()
	wait := 30*time.Second + 2*(*failoverLeaseFlag)
	p := f.procs[slot]
	dead := p.cmd.Process.Pid
	killed = time.Now()
	p.cmd.Process.Kill()
	<-p.done
	w.say(f.t, w.bob, text)
	typed = time.Now()
	_, l := f.heard(ctx, "team", wait)
	if l.pid == dead {
		f.t.Fatalf("the killed replica (pid %d) still holds the chat", dead)
	}
	ans := w.watch.Wait(f.t, "the new holder's answer to "+text, wait, func(e *event.Event) bool { return w.reply(e, want, killed) })
	return killed, l.since, ans.At, typed
}

func p50(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Millisecond)
}

// launch writes cfg, migrates the database at url, and starts every
// replica with env (besides the process's own); they are stopped, and
// their logs shown if the test failed, when it ends.
func (f *fleet) launch(t *testing.T, ctx context.Context, url, cfg string, env ...string) {
	t.Helper()
	if err := os.WriteFile(f.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	f.env = append(append(os.Environ(), env...), "HEED_CONFIG=")
	if out, err := f.cli(ctx, "migrate"); err != nil {
		t.Fatalf("heed migrate: %v\n%s", err, out)
	}
	db, err := openDB(url)
	if err != nil {
		t.Fatal(err)
	}
	f.db = db
	t.Cleanup(func() {
		if t.Failed() {
			for n := range f.logs {
				t.Logf("heed run #%d:\n%s", n+1, f.logTail(n+1))
			}
		}
		f.stop()
		f.db.close()
	})
	for i := range f.procs {
		f.start(ctx, i)
	}
}
