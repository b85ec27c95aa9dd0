package sqlite_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/sqlite"
)

// TestSQLiteNewDatabaseIsPrivate: a database heed creates, and the -wal and -shm
// files SQLite makes beside it, are readable and writable by their owner
// only; LoosePermissions names a file that is not.
func TestSQLiteNewDatabaseIsPrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes")
	}
	path := filepath.Join(t.TempDir(), "heed.db")
	st, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.SetKV(t.Context(), "k", "v"); err != nil { // a write: the WAL holds it
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", filepath.Base(p), mode)
		}
	}
	if loose := sqlite.LoosePermissions(path); len(loose) != 0 {
		t.Errorf("loose permissions of a new database: %v", loose)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if loose := sqlite.LoosePermissions(path); len(loose) != 1 || !strings.HasSuffix(loose[0], "heed.db (0644)") {
		t.Errorf("loose permissions after chmod 644: %v", loose)
	}
}

// TestSetKVQueuesWithWrites: SetKV waits in Go for the process's other
// writes (its transactions, and Exclusive, through which the Matrix crypto
// store writes) instead of meeting them in SQLite's busy handler, which
// sleeps a millisecond and more before it tries again.
func TestSetKVQueuesWithWrites(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "heed.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	held, release, exclusive := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() { exclusive <- st.Exclusive(func() error { close(held); <-release; return nil }) }()
	<-held
	done := make(chan error, 1)
	go func() { done <- st.SetKV(t.Context(), "k", "v") }()
	// Whether SetKV waits can only be seen as it not finishing: a while
	// that a write which does not wait takes many times over.
	select {
	case err := <-done:
		t.Fatalf("SetKV wrote (err %v) while another write held the queue", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if err := <-exclusive; err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v, err := st.GetKV(t.Context(), "k"); err != nil || v != "v" {
		t.Fatalf("after the queue moved on: %q, %v", v, err)
	}
}
