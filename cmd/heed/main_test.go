package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/sqlite"
)

// heed runs one CLI command in-process against db and returns its output.
func heed(t *testing.T, db string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	a := &app{dbPath: db, actor: "tester", in: strings.NewReader(""), out: &out, errOut: &out}
	root := newRoot(a)
	root.SetArgs(args)
	err := a.execute(t.Context(), root)
	return out.String(), err
}

// newDB creates a heed database in dir, as `heed migrate` (or a first
// `heed run`) does before any other command may use it.
func newDB(t *testing.T, dir string) string {
	t.Helper()
	db := filepath.Join(dir, "heed.db")
	mustHeed(t, db, "migrate")
	return db
}

func mustHeed(t *testing.T, db string, args ...string) string {
	t.Helper()
	out, err := heed(t, db, args...)
	if err != nil {
		t.Fatalf("heed %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const calendarV1 = `posts:
  - key: weekly-digest
    cron: "0 9 * * MON"
    tz: Europe/Berlin
    to: [log]
    text: Weekly digest
  - key: release
    at: "2099-12-01 09:00"
    tz: Europe/Berlin
    to: [log]
    text: Release day
`

func TestImportIsIdempotentAndVoidsOnlyWhatChanged(t *testing.T) {
	dir := t.TempDir()
	db := newDB(t, dir)
	cal := writeFile(t, dir, "cal.yaml", calendarV1)
	if out := mustHeed(t, db, "import", cal); !strings.Contains(out, "2 added, 0 updated, 0 unchanged") {
		t.Fatalf("first import: %s", out)
	}
	if out := mustHeed(t, db, "import", cal); !strings.Contains(out, "0 added, 0 updated, 2 unchanged") {
		t.Fatalf("second import: %s", out)
	}

	// Approve the next weekly occurrence and the release.
	ctx := t.Context()
	svc := openService(t, db)
	if _, err := svc.Posts.Materialize(ctx); err != nil {
		t.Fatal(err)
	}
	weekly, _ := svc.Posts.GetPostByKey(ctx, "weekly-digest")
	release, _ := svc.Posts.GetPostByKey(ctx, "release")
	occs, _ := svc.Reviews.Occurrences(ctx, weekly.ID, 1)
	if len(occs) != 1 {
		t.Fatalf("weekly occurrences: %d", len(occs))
	}
	svc.Window = 100 * 365 * 24 * time.Hour
	if _, err := svc.Posts.Materialize(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{occs[0].ID, release.ID} {
		if err := svc.Reviews.OpenReview(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Reviews.React(ctx, approvals.ReactionInput{Occurrence: id, User: "alice", Emoji: "✅"}); err != nil {
			t.Fatal(err)
		}
		if v, _ := svc.Reviews.Occurrence(ctx, id); v.State != approvals.StateApproved {
			t.Fatalf("#%d is %s", id, v.State)
		}
	}

	// Change only the release's text.
	writeFile(t, dir, "cal.yaml", strings.Replace(calendarV1, "Release day", "Release day!", 1))
	if out := mustHeed(t, db, "import", cal); !strings.Contains(out, "0 added, 1 updated, 1 unchanged") {
		t.Fatalf("third import: %s", out)
	}
	if v, _ := svc.Reviews.Occurrence(ctx, occs[0].ID); v.State != approvals.StateApproved {
		t.Errorf("unchanged weekly occurrence lost its approval: %s", v.State)
	}
	if v, _ := svc.Reviews.Occurrence(ctx, release.ID); v.State != approvals.StateInReview {
		t.Errorf("changed release kept its approval: %s", v.State)
	}
}

func openService(t *testing.T, db string) *sqlite.Service {
	t.Helper()
	a := &app{dbPath: db}
	svc, _, err := a.service(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Store.Close() })
	return svc
}

func TestImportRejectsABadFileWhole(t *testing.T) {
	dir := t.TempDir()
	db := newDB(t, dir)
	mustHeed(t, db, "import", writeFile(t, dir, "ok.yaml", calendarV1))
	before := mustHeed(t, db, "post", "list", "--json")
	cases := map[string]struct{ src, want string }{
		"duplicate keys": {`posts:
  - key: a
    at: "2099-01-01 10:00"
    to: [log]
    text: one
  - key: a
    at: "2099-01-02 10:00"
    to: [log]
    text: two
`, `bad.yaml:6: key "a" is used twice (first at line 2)`},
		"unknown target and zone": {`posts:
  - key: new-one
    at: "2099-01-01 10:00"
    to: [log]
    text: fine
  - key: b
    at: "2099-01-01 10:00"
    tz: Mars/Olympus
    to: [mastodn]
    text: x
`, `bad.yaml:6`},
		"malformed yaml": {"posts:\n  - key: a\n    text: [unclosed\n", "not a valid calendar"},
		"unknown field":  {"posts:\n  - key: a\n    txt: typo\n", "txt"},
		"past time":      {"posts:\n  - key: c\n    at: \"2001-01-01 10:00\"\n    to: [log]\n    text: late\n", "in the past"},
	}
	for name, c := range cases {
		out, err := heed(t, db, "import", writeFile(t, dir, "bad.yaml", c.src))
		if err == nil {
			t.Errorf("%s: accepted:\n%s", name, out)
			continue
		}
		if !strings.Contains(userMessage(err), c.want) {
			t.Errorf("%s: error does not say %q:\n%s", name, c.want, userMessage(err))
		}
	}
	if after := mustHeed(t, db, "post", "list", "--json"); after != before {
		t.Fatalf("a rejected import changed the posts:\n%s\n%s", before, after)
	}
}

func TestPostAddAndShow(t *testing.T) {
	db := newDB(t, t.TempDir())
	id := strings.TrimSpace(mustHeed(t, db, "post", "add", "--at", "+1h", "--to", "log", "--text", "Hello"))
	if id != "1" {
		t.Fatalf("first post id %q, want 1", id)
	}
	out := mustHeed(t, db, "post", "show", id)
	for _, want := range []string{"post 1 by tester", "> Hello", "targets: log"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	for _, bad := range [][]string{
		{"post", "add", "--at", "+1h", "--to", "nowhere", "--text", "x"},
		{"post", "add", "--at", "yesterday at noon", "--to", "log", "--text", "x"},
		{"post", "add", "--at", "+1h", "--tz", "Nowhere/City", "--to", "log", "--text", "x"},
		{"post", "add", "--cron", "0 0 31 2 *", "--to", "log", "--text", "x"},
		{"post", "add", "--at", "+1h", "--to", "log", "--text", ""},
		{"post", "add", "--to", "log", "--text", "no time"},
	} {
		if out, err := heed(t, db, bad...); err == nil {
			t.Errorf("%v accepted: %s", bad, out)
		}
	}
	if out := mustHeed(t, db, "post", "list", "--json"); strings.Count(out, `"id"`) != 1 {
		t.Fatalf("bad posts were stored:\n%s", out)
	}
}

func TestSecondRunRefuses(t *testing.T) {
	db := filepath.Join(t.TempDir(), "heed.db")
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AcquireLease(t.Context(), leaseName, "other host pid 1", time.Now(), time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	st.Close()
	_, err = heed(t, db, "run")
	if err == nil || !strings.Contains(userMessage(err), "another heed run (other host pid 1)") {
		t.Fatalf("second run: %v", err)
	}
}

func TestNewerDatabaseIsRefused(t *testing.T) {
	db := filepath.Join(t.TempDir(), "heed.db")
	mustHeed(t, db, "migrate")
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (999, 1)`); err != nil {
		t.Fatal(err)
	}
	st.Close()
	_, err = heed(t, db, "status")
	if err == nil || !strings.Contains(userMessage(err), "newer than this heed knows") {
		t.Fatalf("newer schema: %v", err)
	}
}

func TestConfigExpandsEnvAndNamesMissing(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "heed.yaml", `database: `+filepath.Join(dir, "x.db")+`
targets:
  hook:
    kind: log
    file: ${HEED_TEST_LOGFILE}
`)
	t.Setenv("HEED_TEST_LOGFILE", filepath.Join(dir, "published.log"))
	if out := mustHeed(t, "", "--config", cfg, "config", "check"); !strings.Contains(out, "target: hook (log)") {
		t.Fatalf("config check: %s", out)
	}
	os.Unsetenv("HEED_TEST_LOGFILE")
	_, err := heed(t, "", "--config", cfg, "config", "check")
	if err == nil || !strings.Contains(err.Error(), "line 5: ${HEED_TEST_LOGFILE} is not set") {
		t.Fatalf("missing env: %v", err)
	}
	bad := writeFile(t, dir, "bad.yaml", "rooms:\n  - name: r\n    approve_emoji: [✅, thumbs_upp]\n")
	if _, err := heed(t, "", "--config", bad, "config", "check"); err == nil || !strings.Contains(err.Error(), "thumbs_upp") {
		t.Fatalf("unknown emoji in config: %v", err)
	}
}

// daemon is a `heed run` in this process, fed and read through pipes.
type daemon struct {
	t      *testing.T
	db     string
	in     *io.PipeWriter
	lines  chan string
	cancel context.CancelFunc
	done   chan error
	banner string // the line that says heed is running
}

func startDaemon(t *testing.T) *daemon { return startDaemonWith(t, "") }

// startDaemonWith starts a daemon on a new database whose config has
// extra appended.
func startDaemonWith(t *testing.T, extra string) *daemon {
	t.Helper()
	return startDaemonOn(t, newDB(t, t.TempDir()), extra)
}

// startDaemonOn starts `heed run` on the database db, with config added
// to its configuration file.
func startDaemonOn(t *testing.T, db, config string) *daemon {
	t.Helper()
	dir := t.TempDir()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	a := &app{dbPath: db, actor: "newcomer", in: inR, out: outW, errOut: io.Discard}
	root := newRoot(a)
	root.SetArgs([]string{"run", "--config", writeFile(t, dir, "quiet.yaml", "log:\n  level: error\n"+config)})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.execute(ctx, root); outW.Close() }()
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	d := &daemon{t: t, db: db, in: inW, lines: lines, cancel: cancel, done: done}
	d.banner = d.waitFor("is running")
	return d
}

// waitFor returns the first line of output containing sub, failing after 20 s.
func (d *daemon) waitFor(sub string) string {
	d.t.Helper()
	deadline := time.After(20 * time.Second)
	var seen []string
	for {
		select {
		case l, ok := <-d.lines:
			if !ok {
				d.t.Fatalf("output ended before %q", sub)
			}
			if strings.Contains(l, sub) {
				return l
			}
			seen = append(seen, l)
		case <-deadline:
			d.t.Fatalf("no %q within 20 s; the output since the last match:\n%s", sub, strings.Join(seen, "\n"))
		}
	}
}

func (d *daemon) say(s string) {
	d.t.Helper()
	if _, err := io.WriteString(d.in, s+"\n"); err != nil {
		d.t.Fatal(err)
	}
}

// stop ends the daemon and returns the rest of its output.
func (d *daemon) stop() []string {
	d.cancel()
	d.in.Close()
	var rest []string
	for l := range d.lines {
		rest = append(rest, l)
	}
	if err := <-d.done; err != nil {
		d.t.Fatalf("run: %v", err)
	}
	return rest
}

// TestNewcomerScenario is the README's walk-through, in-process: a post due
// in two seconds, approved from the console, published to the log target;
// a second one paused before its time is held. It runs on the real clock
// and waits for lines of output, with a deadline.
func TestNewcomerScenario(t *testing.T) {
	d := startDaemon(t)
	waitFor, say := d.waitFor, d.say
	say(`heed post add --at +2s --to log --text "Hello from heed"`)
	say("/as alice")
	say("+1 ✅")
	waitFor("APPROVED")
	if l := waitFor("[published]"); !strings.Contains(l, `text="Hello from heed"`) || !strings.Contains(l, "key=heed-") {
		t.Fatalf("log target line: %s", l)
	}
	say(`heed post add --at +3s --to log --text "Second post"`) // by alice, who may not approve her own
	say("+2 ✅")
	waitFor("✅ from @alice does not count: the post's author may not approve it")
	say("/as bob")
	say("+2 ✅")
	waitFor("#2 APPROVED")
	say("pause breaking news")
	waitFor("Paused all publishing. By @bob, reason: breaking news")
	waitFor("#2 HELD")
	for _, l := range d.stop() {
		if strings.Contains(l, "[published]") {
			t.Fatalf("published during the pause: %s", l)
		}
	}
}

// TestCLIReachesRunningDaemon runs the CLI as a separate user of the
// database file while heed runs: a post added there gets its card, and a
// pause made there holds what was approved. It logs how long the daemon
// took to notice (the design bound is its 500 ms poll).
func TestCLIReachesRunningDaemon(t *testing.T) { cliReachesRunningDaemon(t, startDaemon(t)) }

func cliReachesRunningDaemon(t *testing.T, d *daemon) {
	start := time.Now()
	id := strings.TrimSpace(mustHeed(t, d.db, "--as", "carol", "post", "add", "--at", "+3s", "--to", "log", "--text", "from the CLI"))
	d.waitFor("card #" + id)
	t.Logf("card for a post added by the CLI appeared after %s", time.Since(start).Round(time.Millisecond))
	d.say("/as dave")
	d.say("+" + id + " ✅")
	d.waitFor("#" + id + " APPROVED")
	start = time.Now()
	if out := mustHeed(t, d.db, "--as", "carol", "pause", "--reason", "from another terminal"); !strings.Contains(out, "The running heed (") {
		t.Errorf("pause does not name the running heed:\n%s", out)
	}
	d.waitFor("all publishing is paused by carol")
	t.Logf("card showed the CLI pause after %s", time.Since(start).Round(time.Millisecond))
	d.waitFor("#" + id + " HELD")
	for _, l := range d.stop() {
		if strings.Contains(l, "[published]") {
			t.Fatalf("published after a CLI pause: %s", l)
		}
	}
}

func TestConfigErrorsNeverShowSecrets(t *testing.T) {
	dir := t.TempDir()
	const secret = "s3cr3t-token-value-xyz"
	t.Setenv("HEED_TEST_SECRET", secret)
	cases := map[string]string{
		"unknown key in a target": "targets:\n  hook:\n    kind: log\n    file: ${HEED_TEST_SECRET}\n    bogus: 1\n",
		"unknown top-level key":   "zone: UTC\nsecrets: ${HEED_TEST_SECRET}\n",
		"wrong type":              "workers: ${HEED_TEST_SECRET}\n",
	}
	for name, src := range cases {
		_, err := heed(t, "", "--config", writeFile(t, dir, "c.yaml", src), "config", "check")
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error shows the secret:\n%v", name, err)
		}
	}
}

func TestExampleConfigIsValid(t *testing.T) {
	t.Setenv("HEED_WEBHOOK_SECRET", "example-secret")
	out := mustHeed(t, filepath.Join(t.TempDir(), "x.db"), "--config", "../../heed.example.yaml", "config", "check")
	for _, want := range []string{"target: log (log)", "target: website (webhook)", "room: social in console"} {
		if !strings.Contains(out, want) {
			t.Errorf("config check of heed.example.yaml lacks %q:\n%s", want, out)
		}
	}
}

func TestTargetRateLimitConfig(t *testing.T) {
	dir := t.TempDir()
	ok := writeFile(t, dir, "ok.yaml", "targets:\n  log:\n    kind: log\n    rate_limit: 0.5\n    burst: 2\n")
	if out := mustHeed(t, filepath.Join(dir, "x.db"), "--config", ok, "config", "check"); !strings.Contains(out, "target: log (log)") {
		t.Fatalf("config check: %s", out)
	}
	for src, want := range map[string]string{
		"targets:\n  log:\n    kind: log\n    rate_limit: fast\n":              "rate_limit fast",
		"targets:\n  log:\n    kind: log\n    burst: 3\n":                      "burst without rate_limit",
		"targets:\n  log:\n    kind: log\n    rate_limit: 1\n    burst: 0.5\n": "burst 0.5",
	} {
		_, err := heed(t, filepath.Join(dir, "x.db"), "--config", writeFile(t, dir, "bad.yaml", src), "config", "check")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", src, err, want)
		}
	}
}

// TestConsoleEOFHoldsPublishing: when the console's standard input ends,
// nobody can type `pause` there any more, so heed says so and publishes
// nothing, while the card says why.
func TestConsoleEOFHoldsPublishing(t *testing.T) {
	d := startDaemon(t)
	d.say("heed post add --at +2s --to log --text \"after the terminal went away\"")
	line := d.waitFor("card #")
	id := strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "┌─ card #")), " updated")
	d.say("/as dave")
	d.say("+" + id + " ✅")
	d.waitFor("#" + id + " APPROVED")
	d.in.Close()
	d.waitFor("standard input ended, so nobody can type `pause` here")
	d.waitFor("#" + id + " HELD")
	for _, l := range d.stop() {
		if strings.Contains(l, "[published]") {
			t.Fatalf("published after standard input ended: %s", l)
		}
	}
}

// TestPauseNeverPausesTheWrongFile: `heed pause` with a path where there is
// no database fails and creates nothing; on a database no running heed
// holds it records the pause but fails loudly, unless --offline.
func TestPauseNeverPausesTheWrongFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "typo.db")
	for _, cmd := range [][]string{{"pause"}, {"resume"}, {"status"}, {"post", "list"}, {"healthcheck"}} {
		_, err := heed(t, missing, cmd...)
		if err == nil || !strings.Contains(userMessage(err), "no heed database at "+missing) {
			t.Errorf("heed %s on a missing database: %v", strings.Join(cmd, " "), err)
		}
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a command created %s: %v", missing, err)
	}

	db := newDB(t, dir)
	out, err := heed(t, db, "pause", "--reason", "nobody home")
	if err == nil || !strings.Contains(userMessage(err), "NO RUNNING HEED HOLDS "+db) {
		t.Fatalf("pause with no running heed: %v\n%s", err, out)
	}
	if !strings.Contains(mustHeed(t, db, "status"), "nobody home") {
		t.Fatalf("the pause was not recorded:\n%s", mustHeed(t, db, "status"))
	}
	if out := mustHeed(t, db, "resume", "--offline"); !strings.Contains(out, "No running heed holds") {
		t.Fatalf("resume --offline:\n%s", out)
	}
}

// TestConfigCheckMatrix: `heed config check` builds a Matrix chat as heed
// run would, without a database or a homeserver, and accepts a room
// version 12 room id (no server part).
func TestConfigCheckMatrix(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HEED_TEST_MATRIX_PASSWORD", "secret")
	cfg := writeFile(t, dir, "heed.yaml", `database: `+filepath.Join(dir, "never-created.db")+`
chats:
  team:
    kind: matrix
    homeserver: https://matrix.example.org
    user_id: "@heed:example.org"
    password: ${HEED_TEST_MATRIX_PASSWORD}
rooms:
  - name: review
    id: "!0gg8eAwBd8yT3dgRuxf9RJcrgqrSS9BsR3Ai-A_zVFc"
    approvers: ["@alice:example.org"]
`)
	out := mustHeed(t, "", "--config", cfg, "config", "check")
	if !strings.Contains(out, "chat: team (matrix)") {
		t.Fatalf("config check:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "never-created.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("config check created the database: %v", err)
	}
}

// TestConfigCheckRefusesAPolicyThatCannotWork: `heed config check` fails on
// a room whose emoji or numbers cannot work, saying what to fix.
func TestConfigCheckRefusesAPolicyThatCannotWork(t *testing.T) {
	dir := t.TempDir()
	for src, want := range map[string]string{
		"rooms:\n  - name: social\n    approvers: [alice]\n    approve_emoji: [✅]\n    reject_emoji: [heavy_check_mark, white_check_mark]\n": "rooms[0] (social) approve_emoji: ✅ is also in reject_emoji",
		"rooms:\n  - name: social\n    approvers: [alice]\n    approve_emoji: [🛑]\n":                                                         "approve_emoji: 🛑 holds one post",
		"rooms:\n  - name: social\n    approvers: [alice, bob]\n    required: 3\n":                                                           "required: 3 approvals needed, but only 2 people may ever approve here (alice, bob)",
	} {
		_, err := heed(t, filepath.Join(dir, "x.db"), "--config", writeFile(t, dir, "bad.yaml", src), "config", "check")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s\nerr = %v\nwant %q", src, err, want)
		}
	}
}

// TestMigrateWarnsOfAnOpenDatabase: heed creates its database for its
// owner only, and says so when the file has been opened to others.
func TestMigrateWarnsOfAnOpenDatabase(t *testing.T) {
	db := newDB(t, t.TempDir())
	if fi, err := os.Stat(db); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new database: %v, %v", fi.Mode(), err)
	}
	if out := mustHeed(t, db, "migrate"); strings.Contains(out, "warning") {
		t.Fatalf("a private database was warned of:\n%s", out)
	}
	if err := os.Chmod(db, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := mustHeed(t, db, "migrate"); !strings.Contains(out, "warning: others than its owner may read or write the database: "+db+" (0644)") ||
		!strings.Contains(out, "run chmod 600 "+db) {
		t.Fatalf("no warning for a database others may read:\n%s", out)
	}
}

// TestFrequentSeriesAreWarnedOfOrRefused: a series that fires more than 24
// times a day is accepted with a warning, and one that fires more than
// 1440 times a day only when asked for; either gets cards for its next
// three times only.
func TestFrequentSeriesAreWarnedOfOrRefused(t *testing.T) {
	dir := t.TempDir()
	db := newDB(t, dir)
	out := mustHeed(t, db, "post", "add", "--cron", "* * * * *", "--tz", "UTC", "--to", "log", "--text", "every minute")
	if !strings.Contains(out, `⚠ post 1: cron spec "* * * * *" fires 1440 times a day (in UTC); each time needs its own approval, and only the next 3 have a card at once`) {
		t.Fatalf("no warning for a post every minute:\n%s", out)
	}
	svc := openService(t, db)
	if _, err := svc.Posts.Materialize(t.Context()); err != nil {
		t.Fatal(err)
	}
	if occs, err := svc.Reviews.Occurrences(t.Context(), 1, 20_000); err != nil || len(occs) != 3 {
		t.Fatalf("a post every minute has %d occurrences in the review window (%v), want 3", len(occs), err)
	}
	if out := mustHeed(t, db, "post", "add", "--cron", "0 * * * *", "--tz", "UTC", "--to", "log", "--text", "hourly"); strings.Contains(out, "⚠") {
		t.Fatalf("a warning for a post every hour:\n%s", out)
	}

	_, err := heed(t, db, "post", "add", "--cron", "@every 30s", "--tz", "UTC", "--to", "log", "--text", "twice a minute")
	if err == nil || !strings.Contains(userMessage(err), `cron spec "@every 30s" fires more than 1440 times a day: so frequent a series is refused unless you give --allow-frequent`) {
		t.Fatalf("a post every 30 s: %v", err)
	}
	out = mustHeed(t, db, "post", "add", "--cron", "@every 30s", "--tz", "UTC", "--to", "log", "--text", "twice a minute", "--allow-frequent")
	if !strings.Contains(out, "fires more than 1440 times a day") {
		t.Fatalf("no warning for an allowed post every 30 s:\n%s", out)
	}
	id := strings.TrimSpace(mustHeed(t, db, "post", "add", "--cron", "0 10 * * *", "--tz", "UTC", "--to", "log", "--text", "daily"))
	if _, err := heed(t, db, "post", "edit", id, "--cron", "@every 1s"); err == nil || !strings.Contains(userMessage(err), "--allow-frequent") {
		t.Fatalf("edited to every second: %v", err)
	}

	cal := "posts:\n  - key: ok\n    cron: \"*/10 * * * *\"\n    tz: UTC\n    to: [log]\n    text: often\n" +
		"  - key: flood\n    cron: \"@every 10s\"\n    tz: UTC\n    to: [log]\n    text: flood\n"
	_, err = heed(t, db, "import", writeFile(t, dir, "cal.yaml", cal))
	if err == nil || !strings.Contains(userMessage(err), `cal.yaml:7: cron spec "@every 10s" fires more than 1440 times a day: so frequent a series is refused unless the entry sets allow_frequent: true`) {
		t.Fatalf("import of a post every 10 s: %v", err)
	}
	out = mustHeed(t, db, "import", "--allow-frequent", filepath.Join(dir, "cal.yaml"))
	if !strings.Contains(out, `⚠ `+filepath.Join(dir, "cal.yaml")+`:2 (ok): cron spec "*/10 * * * *" fires 144 times a day`) || !strings.Contains(out, "2 added") {
		t.Fatalf("import --allow-frequent:\n%s", out)
	}
	cal2 := strings.Replace(cal, "text: flood\n", "text: flood\n    allow_frequent: true\n", 1)
	if out := mustHeed(t, db, "import", "--dry-run", writeFile(t, dir, "cal2.yaml", cal2)); !strings.Contains(out, "0 added, 0 updated, 2 unchanged") {
		t.Fatalf("allow_frequent in the entry:\n%s", out)
	}
}

// TestConsoleEditAsksForAFreshDecision: in the console, as in Slack and
// Matrix, an edit after bob approved tells him so in the card's thread, and
// his one ✅ approves the new text.
func TestConsoleEditAsksForAFreshDecision(t *testing.T) {
	d := startDaemon(t)
	waitFor, say := d.waitFor, d.say
	say(`heed post add --at +1h --to log --text "v1"`)
	say("/as bob")
	say("+1 ✅")
	waitFor("#1 APPROVED")
	say(`heed post edit 1 --text "v2"`)
	if l := waitFor("#1 needs a fresh decision"); !strings.Contains(l, "bob") {
		t.Fatalf("the notice does not address bob: %s", l)
	}
	say("+1 ✅")
	waitFor("#1 APPROVED")
	d.stop()
}
