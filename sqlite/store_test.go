package sqlite_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

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
