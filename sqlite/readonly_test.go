package sqlite_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/internal/pgtest"
	"github.com/heed-dev/heed/sqlite"
)

// TestOpenReadOnlyChangesNothing: a database opened read-only is read, and
// neither it nor anything beside it is written or made: no database where
// there is none, no -wal or -shm beside a closed one; a write is refused.
// While heed holds the database, what it wrote is read.
func TestOpenReadOnlyChangesNothing(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	path := filepath.Join(dir, "heed.db")
	if _, err := sqlite.OpenReadOnly(ctx, path); approvals.ErrorCode(err) != approvals.ENOTFOUND {
		t.Fatalf("read-only open of no database: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a read-only open made %s: %v", path, err)
	}

	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetKV(ctx, "k", "v1"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	files := func() []string {
		m, _ := filepath.Glob(path + "*")
		return m
	}
	if f := files(); len(f) != 1 {
		t.Fatalf("a closed database left %v", f)
	}

	ro, err := sqlite.OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := ro.GetKV(ctx, "k"); err != nil || v != "v1" {
		t.Errorf("read-only GetKV = %q, %v", v, err)
	}
	if err := ro.SetKV(ctx, "k", "v2"); err == nil {
		t.Errorf("a read-only database took a write")
	}
	if f := files(); len(f) != 1 {
		t.Errorf("reading a closed database made %v", f)
	}
	ro.Close()
	if f := files(); len(f) != 1 {
		t.Errorf("reading a closed database left %v", f)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Errorf("reading the database changed it")
	}

	// heed holds it, with what it wrote last in its log.
	st, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.SetKV(ctx, "k", "v3"); err != nil {
		t.Fatal(err)
	}
	ro, err = sqlite.OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if v, err := ro.GetKV(ctx, "k"); err != nil || v != "v3" {
		t.Errorf("read-only GetKV while heed holds the database = %q, %v; want v3", v, err)
	}
	if err := ro.SetKV(ctx, "k", "v4"); err == nil {
		t.Errorf("a read-only database took a write while heed holds it")
	}
	if v, err := st.GetKV(ctx, "k"); err != nil || v != "v3" {
		t.Errorf("GetKV after a refused write = %q, %v; want v3", v, err)
	}
}

// TestPostgresOpenReadOnlyChangesNothing: a PostgreSQL database opened
// read-only is read; a write is refused by the server; an empty database
// is refused (ENOTFOUND), not migrated.
func TestPostgresOpenReadOnlyChangesNothing(t *testing.T) {
	ctx := t.Context()
	url := pgtest.URL(t)
	if _, err := sqlite.OpenReadOnly(ctx, url); approvals.ErrorCode(err) != approvals.ENOTFOUND {
		t.Fatalf("read-only open of an empty PostgreSQL database: %v", err)
	}
	st, err := sqlite.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.SetKV(ctx, "k", "v1"); err != nil {
		t.Fatal(err)
	}
	ro, err := sqlite.OpenReadOnly(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if v, err := ro.GetKV(ctx, "k"); err != nil || v != "v1" {
		t.Fatalf("read-only read: %q, %v", v, err)
	}
	if err := ro.SetKV(ctx, "k", "v2"); err == nil {
		t.Fatal("a read-only PostgreSQL store took a write")
	}
	if v, _ := st.GetKV(ctx, "k"); v != "v1" {
		t.Fatalf("the value became %q", v)
	}
}
