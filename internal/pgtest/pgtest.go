// Package pgtest runs heed's PostgreSQL tests against a real, throwaway
// PostgreSQL cluster that the test binary starts itself.
//
// Wire it into a test binary with
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// (or, when another helper runs the tests, pgtest.MainWith(m,
// matrixtest.Main)). URL(t) then gives a test a fresh, empty database of its own, dropped when
// the test ends, on one cluster shared by the whole binary: started on
// first use, stopped and deleted by Main when the tests are done.
//
// The cluster is made with Debian's PostgreSQL binaries
// (/usr/lib/postgresql/*/bin); when they are missing and the tests run as
// root, pgtest installs the `postgresql` package with apt-get, once, under
// a lock that parallel test binaries share. PostgreSQL refuses to run as
// root: the cluster belongs to the `postgres` user (created as `heed-pg`
// when there is none). It is created with `initdb -A trust` in a
// temporary directory and listens on 127.0.0.1 only, on a free port.
//
// A test binary killed before Main's clean-up (a timeout, a kill) leaves
// its cluster running: each cluster directory holds a lock its test binary
// keeps for its lifetime, and the next Start stops and deletes every
// cluster whose lock is free.
//
// If PostgreSQL cannot be installed or started, the tests that need it
// fail with the reason. They never skip: a PostgreSQL tier that did not
// run must not look like one that passed.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// Superuser is the cluster's superuser role; trust authentication lets
// anyone on 127.0.0.1 connect as it.
const Superuser = "postgres"

// startDeadline bounds how long a cluster may take to accept connections
// (a loaded CI machine runs several test binaries at once).
const startDeadline = 2 * time.Minute

var shared struct {
	once sync.Once
	c    *Cluster
	err  error
}

var mainRan atomic.Bool

// Main runs the tests, then stops and deletes the shared cluster if one
// was started. Call it from TestMain.
func Main(m *testing.M) int { return MainWith(m, (*testing.M).Run) }

// MainWith is Main for a test binary whose tests another helper's main
// runs (run, such as matrixtest.Main).
func MainWith(m *testing.M, run func(*testing.M) int) int {
	mainRan.Store(true)
	code := run(m)
	if shared.c != nil {
		if err := shared.c.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stopping PostgreSQL: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// Shared returns the cluster shared by every test in the binary, starting
// it on first use.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	if !mainRan.Load() {
		t.Fatal("pgtest: this test binary's TestMain must run the tests through pgtest.Main, which stops the cluster when they end")
	}
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute) // a cold apt-get install included
		defer cancel()
		shared.c, shared.err = Start(ctx)
	})
	if shared.err != nil {
		t.Fatalf("pgtest: PostgreSQL could not be installed or started, so this test cannot run: %v", shared.err)
	}
	return shared.c
}

// URL returns the URL of a fresh, empty database on the shared cluster,
// for this test alone. It is dropped when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	c := Shared(t)
	url, name, err := c.CreateDatabase(context.Background())
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := c.DropDatabase(context.Background(), name); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return url
}

// Cluster is a running PostgreSQL cluster this process started.
type Cluster struct {
	Dir  string // holds data/, the socket, the server's log and the lock
	Port int
	bin  string
	cred *syscall.Credential // whom the server runs as; nil when this process is not root
	lock *os.File            // held while the cluster is this process's
	db   *sql.DB             // the superuser on the "postgres" database

	stopOnce sync.Once
	stopErr  error
}

// Start starts a cluster of its own, first stopping the clusters that test
// binaries killed earlier left behind. Stop it when done.
func Start(ctx context.Context) (*Cluster, error) {
	base, err := baseDir()
	if err != nil {
		return nil, err
	}
	return StartIn(ctx, base)
}

// StartIn is Start with the clusters' directory base (which every user
// must be able to enter) instead of the shared one: a test of the
// clean-up works among clusters of its own, never another binary's.
func StartIn(ctx context.Context, base string) (*Cluster, error) {
	bin, err := binaries(ctx)
	if err != nil {
		return nil, err
	}
	cred, err := owner()
	if err != nil {
		return nil, err
	}
	if err := CleanStale(ctx, base); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
	}
	dir, err := os.MkdirTemp(base, "cluster-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, bin: bin, cred: cred}
	if c.lock, err = takeLock(dir); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := c.start(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context) error {
	if c.cred != nil {
		if err := os.Chown(c.Dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return err
		}
	}
	if out, err := c.run(ctx, "initdb", "-D", c.data(), "-A", "trust", "-U", Superuser, "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	// A free port can be taken by someone else before the server binds
	// it: then another is tried.
	var err error
	for range 5 {
		if c.Port, err = freePort(); err != nil {
			return err
		}
		opts := fmt.Sprintf("-k '%s' -h 127.0.0.1 -p %d -c fsync=off -c synchronous_commit=off -c full_page_writes=off "+
			"-c max_connections=300 -c shared_buffers=32MB -c track_commit_timestamp=on", c.Dir, c.Port)
		var out []byte
		out, err = c.run(ctx, "pg_ctl", "start", "-D", c.data(), "-l", c.logPath(), "-w", "-t", strconv.Itoa(int(startDeadline.Seconds())), "-o", opts)
		if err == nil {
			break
		}
		err = fmt.Errorf("pg_ctl start: %v\n%s\nserver log:\n%s", err, out, c.logTail())
		if !strings.Contains(c.logTail(), "could not bind") {
			return err
		}
	}
	if err != nil {
		return err
	}
	c.db, err = sql.Open("pgx", c.url("postgres"))
	if err != nil {
		return err
	}
	return c.waitReady(ctx)
}

// waitReady polls until the server answers a query, within startDeadline.
func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startDeadline)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		var one int
		err := c.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("PostgreSQL on 127.0.0.1:%d did not answer within %s: %v\nserver log:\n%s", c.Port, startDeadline, err, c.logTail())
		case <-tick.C:
		}
	}
}

// Stop stops the cluster and deletes its directory.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		if c.db != nil {
			c.db.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := os.Stat(filepath.Join(c.data(), "postmaster.pid")); err == nil {
			c.stopErr = stopServer(ctx, c.bin, c.data(), c.cred)
		}
		if err := os.RemoveAll(c.Dir); err != nil && c.stopErr == nil {
			c.stopErr = err
		}
		if c.lock != nil {
			c.lock.Close()
		}
	})
	return c.stopErr
}

// CreateDatabase creates an empty database and returns its URL and name.
func (c *Cluster) CreateDatabase(ctx context.Context) (url, name string, err error) {
	b := make([]byte, 8)
	rand.Read(b)
	name = "heed_" + hex.EncodeToString(b)
	if _, err := c.db.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		return "", "", fmt.Errorf("create database %s: %w", name, err)
	}
	return c.url(name), name, nil
}

// DropDatabase drops a database CreateDatabase made, closing the
// connections still open to it.
func (c *Cluster) DropDatabase(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := c.db.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// DB is the superuser's connection to the cluster's "postgres" database.
func (c *Cluster) DB() *sql.DB { return c.db }

func (c *Cluster) url(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", Superuser, c.Port, db)
}

func (c *Cluster) data() string    { return filepath.Join(c.Dir, "data") }
func (c *Cluster) logPath() string { return filepath.Join(c.Dir, "server.log") }

// logTail is the end of the server's log.
func (c *Cluster) logTail() string {
	b, _ := os.ReadFile(c.logPath())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// run runs one of the PostgreSQL binaries as the cluster's owner.
func (c *Cluster) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return runAs(ctx, c.cred, c.Dir, filepath.Join(c.bin, name), args...)
}

func runAs(ctx context.Context, cred *syscall.Credential, dir, path string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + filepath.Dir(path) + ":/usr/bin:/bin", "LC_ALL=C", "LANG=C", "HOME=" + dir}
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	return cmd.CombinedOutput()
}

// stopServer stops the server of a data directory: fast (clients are cut
// off), else immediate.
func stopServer(ctx context.Context, bin, data string, cred *syscall.Credential) error {
	pgctl := filepath.Join(bin, "pg_ctl")
	dir := filepath.Dir(data)
	out, err := runAs(ctx, cred, dir, pgctl, "stop", "-D", data, "-m", "fast", "-w", "-t", "60")
	if err == nil {
		return nil
	}
	if out2, err2 := runAs(ctx, cred, dir, pgctl, "stop", "-D", data, "-m", "immediate", "-w", "-t", "60"); err2 != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s\n%s", err2, out, out2)
	}
	return nil
}

// CleanStale stops and deletes the clusters under base whose test binary
// is gone: their lock is free.
func CleanStale(ctx context.Context, base string) error {
	entries, err := os.ReadDir(base)
	if err != nil {
		return err
	}
	bin, _ := findBinaries()
	var errs []error
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(base, e.Name())
		f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			// Being set up (its lock comes right after the directory), or
			// its setup died first: removed once it is old.
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Hour {
				os.RemoveAll(dir)
			}
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close() // its test binary is running
			continue
		}
		data := filepath.Join(dir, "data")
		if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); err == nil && bin != "" {
			var cred *syscall.Credential
			if fi, err := os.Stat(data); err == nil && os.Geteuid() == 0 {
				if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 {
					cred = &syscall.Credential{Uid: st.Uid, Gid: st.Gid}
				}
			}
			if err := stopServer(ctx, bin, data, cred); err != nil {
				errs = append(errs, fmt.Errorf("stopping the cluster left in %s: %w", dir, err))
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
		}
		f.Close()
	}
	return errors.Join(errs...)
}

// takeLock creates dir/lock already locked: it is locked under another
// name and renamed into place, so that CleanStale never finds it free.
func takeLock(dir string) (*os.File, error) {
	tmp := filepath.Join(dir, "lock.new")
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "lock")); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// baseDir is where clusters live: a directory every user may enter.
func baseDir() (string, error) {
	base := filepath.Join(os.TempDir(), "heed-pgtest")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", err
	}
	return base, os.Chmod(base, 0o755)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// owner is whom the server runs as: the `postgres` user when this process
// is root (a user heed-pg is created if there is none), else nobody else.
func owner() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		if u, err = user.Lookup("heed-pg"); err != nil {
			if u, err = createUser(); err != nil {
				return nil, err
			}
		}
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	if uid == 0 {
		return nil, fmt.Errorf("user %s is root; PostgreSQL needs an unprivileged user", u.Username)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// createUser creates the system user heed-pg, under the install lock.
func createUser() (*user.User, error) {
	unlock, err := installLock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if u, err := user.Lookup("heed-pg"); err == nil {
		return u, nil
	}
	out, err := exec.Command("useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", "heed-pg").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("there is no postgres user, and creating user heed-pg to run PostgreSQL failed: %v\n%s", err, out)
	}
	return user.Lookup("heed-pg")
}

// binaries returns the directory holding initdb and pg_ctl, installing
// Debian's postgresql package when there is none.
func binaries(ctx context.Context) (string, error) {
	if dir, ok := findBinaries(); ok {
		return dir, nil
	}
	if err := install(ctx); err != nil {
		return "", err
	}
	if dir, ok := findBinaries(); ok {
		return dir, nil
	}
	return "", errors.New("the postgresql package is installed, but no initdb and pg_ctl were found under /usr/lib/postgresql/*/bin")
}

// installRoot is where Debian's packages put each PostgreSQL version.
var installRoot = "/usr/lib/postgresql"

// findBinaries looks in /usr/lib/postgresql/<version>/bin, the newest
// version first, then on PATH.
func findBinaries() (string, bool) {
	has := func(dir string) bool {
		for _, name := range []string{"initdb", "pg_ctl"} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode()&0o111 == 0 {
				return false
			}
		}
		return true
	}
	matches, _ := filepath.Glob(filepath.Join(installRoot, "*", "bin"))
	version := func(dir string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		return v
	}
	sort.Slice(matches, func(i, j int) bool { return version(matches[i]) > version(matches[j]) })
	for _, dir := range matches {
		if has(dir) {
			return dir, true
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), true
	}
	return "", false
}

// install installs Debian's postgresql package: apt-get update, then
// apt-get install. Test binaries that need it at the same time wait for
// the first one's install.
func install(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return errors.New("PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin), and installing it needs root: run `apt-get install postgresql`")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return errors.New("PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin), and there is no apt-get to install it with: install PostgreSQL's server binaries")
	}
	unlock, err := installLock()
	if err != nil {
		return err
	}
	defer unlock()
	if _, ok := findBinaries(); ok {
		return nil // another test binary installed it meanwhile
	}
	apt := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			b := out.Bytes()
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			return fmt.Errorf("installing PostgreSQL: apt-get %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		return nil
	}
	fmt.Fprintln(os.Stderr, "pgtest: PostgreSQL is not installed; installing Debian's postgresql package (once)")
	if err := apt("update"); err != nil {
		return err
	}
	return apt("install", "-y", "postgresql")
}

// installLock takes the lock that installs and user creation run under.
func installLock() (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "heed-pgtest-install.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}
