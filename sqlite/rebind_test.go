package sqlite

import (
	"strings"
	"testing"
)

// TestRebind: heed's `?` placeholders become PostgreSQL's $1, $2, …; a `?`
// inside a string, a quoted name, a comment or a dollar-quoted body stays,
// and so do $n placeholders (mautrix's statements) and dollar-quoted
// bodies.
func TestRebind(t *testing.T) {
	for q, want := range map[string]string{
		`SELECT 1`: `SELECT 1`,
		`SELECT id FROM t WHERE a = ? AND b IN (?, ?) LIMIT ?`:   `SELECT id FROM t WHERE a = $1 AND b IN ($2, $3) LIMIT $4`,
		`SELECT '?', 'it''s ?', "we?ird" FROM t WHERE a = ?`:     `SELECT '?', 'it''s ?', "we?ird" FROM t WHERE a = $1`,
		"SELECT a -- why?\nFROM t WHERE b = ? /* or? */ AND c=?": "SELECT a -- why?\nFROM t WHERE b = $1 /* or? */ AND c=$2",
		`SELECT $1, $2`: `SELECT $1, $2`,
		`DO $$ BEGIN RAISE EXCEPTION 'why?'; END $$; SELECT ?`:      `DO $$ BEGIN RAISE EXCEPTION 'why?'; END $$; SELECT $1`,
		`CREATE FUNCTION f() AS $body$ SELECT '?' $body$; SELECT ?`: `CREATE FUNCTION f() AS $body$ SELECT '?' $body$; SELECT $1`,
		`SELECT 'unterminated ?`:                                    `SELECT 'unterminated ?`,
	} {
		if got := rebind(q); got != want {
			t.Errorf("rebind(%q)\n = %q\nwant %q", q, got, want)
		}
	}
}

// TestRedact: a PostgreSQL URL is shown without its password, wherever it
// is; a SQLite path as it is.
func TestRedact(t *testing.T) {
	for _, db := range []string{
		"postgres://heed:s3cret@db.example:5432/heed?sslmode=require",
		"postgresql://heed:s3cret@db.example/heed",
		"postgres://db.example/heed?user=heed&password=s3cret",
		"postgres://heed:s3cret@db.example/heed?password=s3cret",
	} {
		got := Redact(db)
		if strings.Contains(got, "s3cret") || !strings.Contains(got, "db.example") {
			t.Errorf("Redact(%q) = %q", db, got)
		}
	}
	if got := Redact("postgres://%zz:s3cret@db"); strings.Contains(got, "s3cret") {
		t.Errorf("a URL that does not parse: %q", got)
	}
	for _, path := range []string{"heed.db", "/var/lib/heed/heed.db"} {
		if got := Redact(path); got != path {
			t.Errorf("Redact(%q) = %q", path, got)
		}
	}
}
