package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/heed-dev/heed/sqlite"
)

// dump reads every row of every table of the database at path.
func dump(t *testing.T, db *sql.DB) map[string][]string {
	t.Helper()
	ctx := context.Background()
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	out := map[string][]string{}
	for _, table := range tables {
		rows, err := db.QueryContext(ctx, `SELECT * FROM "`+table+`"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out[table] = append(out[table], fmt.Sprint(vals...))
		}
		rows.Close()
	}
	return out
}

// TestBackupWhileHeedRuns: heed backup copies every row, including those
// still in the write-ahead log of a heed that has the database open, into
// a file only its owner may read; the copy opens as a heed database, and
// the images come along beside it.
func TestBackupWhileHeedRuns(t *testing.T) {
	dir := t.TempDir()
	db := newDB(t, dir)
	img := filepath.Join(dir, "cat.png")
	if err := os.WriteFile(img, catPNG, 0o644); err != nil {
		t.Fatal(err)
	}
	mustHeed(t, db, "post", "add", "--at", "+1h", "--to", "log", "--text", "cat", "--media", img, "--alt", "a cat")
	mustHeed(t, db, "post", "add", "--at", "+2h", "--to", "log", "--text", "second")
	// A running heed holds the database open and writes to it; what it
	// wrote last is still in its write-ahead log.
	running, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer running.Close()
	if _, err := running.DB().ExecContext(t.Context(), `PRAGMA wal_autocheckpoint = 0`); err != nil {
		t.Fatal(err)
	}
	if err := running.SetKV(t.Context(), "written.by", "the running heed"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(db + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("no write-ahead log to read through: %v", err)
	}

	backup := filepath.Join(dir, "backup.db")
	out := mustHeed(t, db, "backup", backup)
	if !strings.Contains(out, "backed up "+db+" to "+backup+" and 1 images to "+backup+"-media") {
		t.Fatalf("backup said: %s", out)
	}
	fi, err := os.Stat(backup)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("backup mode %04o, want 0600", perm)
	}
	if _, err := os.Stat(filepath.Join(backup+"-media", sha(catPNG))); err != nil {
		t.Errorf("the image was not backed up: %v", err)
	}
	copied, err := sqlite.OpenExisting(t.Context(), backup)
	if err != nil {
		t.Fatalf("the backup does not open as a heed database: %v", err)
	}
	defer copied.Close()
	want, got := dump(t, running.DB()), dump(t, copied.DB())
	if len(want["posts"]) != 2 || len(want["audit"]) == 0 {
		t.Fatalf("the database holds too little to compare: %v", want)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("the backup differs (-database +backup):\n%s", diff)
	}
	if v, _ := copied.GetKV(t.Context(), "written.by"); v != "the running heed" {
		t.Fatalf("the backup misses what was in the write-ahead log: %q", v)
	}
	if out := mustHeed(t, backup, "post", "list"); !strings.Contains(out, "second") {
		t.Fatalf("heed cannot read the backup:\n%s", out)
	}
}

// TestBackupRefusesAnExistingFile: a backup never overwrites a file.
func TestBackupRefusesAnExistingFile(t *testing.T) {
	dir := t.TempDir()
	db := newDB(t, dir)
	existing := writeFile(t, dir, "keep.db", "precious")
	if _, err := heed(t, db, "backup", existing); err == nil || !strings.Contains(userMessage(err), existing+" exists") {
		t.Fatalf("backup over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(existing); string(b) != "precious" {
		t.Fatalf("the existing file was changed: %q", b)
	}
	if err := os.Mkdir(filepath.Join(dir, "b.db-media"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := heed(t, db, "backup", filepath.Join(dir, "b.db")); err == nil || !strings.Contains(userMessage(err), "b.db-media exists") {
		t.Fatalf("backup over an existing media directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "b.db")); err == nil {
		t.Fatal("a backup was written although its media directory exists")
	}
	missing := filepath.Join(dir, "none.db")
	if _, err := heed(t, missing, "backup", filepath.Join(dir, "c.db")); err == nil || !strings.Contains(userMessage(err), "no heed database at "+missing) {
		t.Fatalf("backup of a missing database: %v", err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("backup created the database it was to copy")
	}
}
