package pgtest_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/heed-dev/heed/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func open(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestEachTestGetsAFreshDatabase: two URLs name two empty databases on one
// cluster, which listens on 127.0.0.1 only and runs as a user other than
// root; a database is dropped when its test ends.
func TestEachTestGetsAFreshDatabase(t *testing.T) {
	var first string
	t.Run("first", func(t *testing.T) {
		a, b := pgtest.URL(t), pgtest.URL(t)
		if a == b {
			t.Fatalf("two tests share database %s", a)
		}
		if !strings.HasPrefix(a, "postgres://") || !strings.Contains(a, "@127.0.0.1:") {
			t.Fatalf("URL %s is not a PostgreSQL URL on 127.0.0.1", a)
		}
		db := open(t, a)
		if _, err := db.Exec(`CREATE TABLE mine (x int)`); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := open(t, b).QueryRow(`SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("a fresh database has %d tables (%v)", n, err)
		}
		var listen, dir string
		if err := db.QueryRow(`SELECT current_setting('listen_addresses'), current_setting('data_directory'), current_database()`).Scan(&listen, &dir, &first); err != nil {
			t.Fatal(err)
		}
		if listen != "127.0.0.1" {
			t.Errorf("the cluster listens on %q, want 127.0.0.1 only", listen)
		}
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); os.Geteuid() == 0 && st.Uid == 0 {
			t.Errorf("the cluster's data directory %s belongs to root", dir)
		}
	})
	var n int
	if err := pgtest.Shared(t).DB().QueryRow(`SELECT count(*) FROM pg_database WHERE datname = $1`, first).Scan(&n); err != nil || n != 0 {
		t.Fatalf("database %s outlived its test (%d, %v)", first, n, err)
	}
}

// TestStaleClusterIsStopped: a cluster whose test binary died (its lock
// released without a stop) is stopped and deleted by the next start's
// clean-up; a cluster whose binary lives is left alone.
func TestStaleClusterIsStopped(t *testing.T) {
	ctx := context.Background()
	// Clusters of this test's own, in a directory of its own: a clean-up
	// that went wrong (a mutation of it, say) must not stop the clusters
	// of other test binaries running meanwhile.
	base, err := os.MkdirTemp("", "heed-pgtest-clean-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	live, err := pgtest.StartIn(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Stop() })
	dead, err := pgtest.StartIn(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dead.Stop() })
	pid := postmaster(t, dead.Dir)
	dead.Forget() // as if its test binary had been killed

	if err := pgtest.CleanStale(ctx, filepath.Dir(dead.Dir)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead.Dir); !os.IsNotExist(err) {
		t.Fatalf("the stale cluster's directory %s is still there (%v)", dead.Dir, err)
	}
	if running(pid) {
		t.Fatalf("the stale cluster's server (pid %d) still runs", pid)
	}
	var one int
	if err := live.DB().QueryRow(`SELECT 1`).Scan(&one); err != nil {
		t.Fatalf("the live cluster was touched by the clean-up: %v", err)
	}
	if _, err := os.Stat(live.Dir); err != nil {
		t.Fatalf("the live cluster's directory: %v", err)
	}
}

// running reports whether pid is a live process (not a zombie nobody
// reaped yet).
func running(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// postmaster reads the server's pid from its data directory.
func postmaster(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}
