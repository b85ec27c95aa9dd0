package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/pressly/goose/v3"
	sqlite3 "modernc.org/sqlite" // registers the "sqlite" driver, pure Go
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is heed's SQLite database. The daemon and the CLI open the same file
// from separate processes; every write runs in a BEGIN IMMEDIATE transaction
// so that checks and changes are never interleaved.
type Store struct {
	db        *sql.DB
	path      string
	installID string
	// writeMu queues this process's write transactions in Go. SQLite
	// admits one writer at a time anyway; without the queue, writers that
	// lose the race back off in SQLite's busy handler (sleeps of up to
	// tens of milliseconds), which a pause waiting behind claims would pay.
	// Writers in other processes (the CLI) still meet the busy timeout.
	writeMu sync.Mutex
}

// Open opens (creating if needed) and migrates the database at path. It
// refuses a database whose schema is newer than this binary knows.
func Open(ctx context.Context, path string) (*Store, error) {
	return OpenDriver(ctx, "sqlite", path)
}

// OpenDriver is Open through the database/sql driver registered as
// driverName, which must speak SQLite (tests wrap the driver to count
// statements).
func OpenDriver(ctx context.Context, driverName, path string) (*Store, error) {
	if err := createPrivate(path); err != nil {
		return nil, err
	}
	db, err := sql.Open(driverName, DSN(path))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.loadInstallID(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// createPrivate creates the database file, if there is none, readable and
// writable by its owner only. SQLite gives the -wal and -shm files it makes
// beside it the database file's mode.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return f.Close()
}

// LoosePermissions lists the database's files (the file, its -wal and
// -shm) that users other than their owner may read or write, with their
// modes: "heed.db (0644)".
func LoosePermissions(path string) []string {
	var out []string
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o077 != 0 {
			out = append(out, fmt.Sprintf("%s (%04o)", p, fi.Mode().Perm()))
		}
	}
	return out
}

// OpenExisting opens the heed database at path for a command that must not
// create or change one (everything but `heed run` and `heed migrate`): it
// refuses a path with no database, and one whose schema is older or newer
// than this binary's, naming what to do. A mistyped --db or a command run
// from the wrong directory so never pauses a new, empty file.
func OpenExisting(ctx context.Context, path string) (*Store, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, approvals.Errorf(approvals.ENOTFOUND, "no heed database at %s: give the one `heed run` uses (--db, or database: in --config), or create it with `heed migrate`; nothing was created", path)
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", path, err)
	case fi.IsDir():
		return nil, approvals.Errorf(approvals.EINVALID, "%s is a directory, not a heed database", path)
	}
	db, err := sql.Open("sqlite", DSN(path)+"&mode=rw")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	current, known, err := s.SchemaVersions(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("read schema version of %s: %w (is it a heed database?)", path, err)
	}
	if current != known {
		db.Close()
		if current > known {
			return nil, approvals.Errorf(approvals.ECONFLICT, "database %s has schema version %d, newer than this heed knows (%d): upgrade heed; nothing was changed", path, current, known)
		}
		return nil, approvals.Errorf(approvals.ECONFLICT, "database %s has schema version %d and this heed needs %d: run `heed migrate` (or start `heed run`) first; nothing was changed", path, current, known)
	}
	if err := s.loadInstallID(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// DB exposes the handle for benchmarks and tests in other packages.
func (s *Store) DB() *sql.DB { return s.db }

// Path is the database file.
func (s *Store) Path() string { return s.path }

// InstallID identifies this database; idempotency keys include it.
func (s *Store) InstallID() string { return s.installID }

func (s *Store) provider() (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectSQLite3, s.db, sub)
}

// SchemaVersions reports the database's schema version and the newest this
// binary knows.
func (s *Store) SchemaVersions(ctx context.Context) (current, known int64, err error) {
	p, err := s.provider()
	if err != nil {
		return 0, 0, err
	}
	return p.GetVersions(ctx)
}

func (s *Store) migrate(ctx context.Context) error {
	p, err := s.provider()
	if err != nil {
		return err
	}
	current, known, err := p.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("read schema version of %s: %w (is it a heed database?)", s.path, err)
	}
	if current > known {
		return approvals.Errorf(approvals.ECONFLICT, "database %s has schema version %d, newer than this heed knows (%d): upgrade heed, or use a backup made by this version; nothing was changed",
			s.path, current, known)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate %s: %w", s.path, err)
	}
	return nil
}

func (s *Store) loadInstallID(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'install_id'`).Scan(&s.installID)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		s.installID = hex.EncodeToString(b)
		_, err = tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('install_id', ?)`, s.installID)
		return err
	})
}

// tx runs fn in one write transaction (BEGIN IMMEDIATE through the DSN).
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.unwritable(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return s.unwritable(err)
	}
	return s.unwritable(tx.Commit())
}

// SQLite's result codes for a database that cannot be written: full,
// failing I/O, read-only.
const (
	sqliteFull     = 13
	sqliteIOErr    = 10
	sqliteReadOnly = 8
)

// unwritable turns SQLite's "cannot write" errors into one a person can
// act on (EUNAVAILABLE), naming the file; other errors pass unchanged.
func (s *Store) unwritable(err error) error {
	var e *sqlite3.Error
	if err == nil || !errors.As(err, &e) {
		return err
	}
	switch e.Code() & 0xff {
	case sqliteFull:
		return approvals.Errorf(approvals.EUNAVAILABLE, "the disk holding %s is full: heed cannot record anything (decisions, pauses, claims) until space is freed; nothing was changed, try again then", s.path)
	case sqliteIOErr, sqliteReadOnly:
		return approvals.Errorf(approvals.EUNAVAILABLE, "%s cannot be written (%v): heed cannot record anything until it can; nothing was changed", s.path, err)
	}
	return err
}

// KV is adapters' persistent state (sync tokens, device ids).
func (s *Store) GetKV(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM kv WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// SetKV stores an adapter's state value. It queues with the other
// writes of this process (writeMu).
func (s *Store) SetKV(ctx context.Context, key, value string) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	_, err := s.db.ExecContext(ctx, `INSERT INTO kv (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}

// Exclusive runs f while no other write of this process runs. It is for
// code that writes through DB() (the Matrix crypto store), so that its
// writes queue in Go with heed's own rather than meet them in SQLite's
// busy handler, which sleeps a millisecond and more. f must be short and
// make no network request, since every writer of this process waits for
// it, and must not call the store's own write methods.
func (s *Store) Exclusive(f func() error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return f()
}

// AcquireLease takes or renews the named lease for holder until now+ttl. It
// fails with ECONFLICT while another holder's lease is live.
//
// dead, when set, is asked about a holder whose lease has not expired: when
// it reports the holder gone (a crashed heed on this host), the lease is
// taken at once rather than after its expiry.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration, dead func(holder string) bool) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var cur string
		var exp int64
		err := tx.QueryRowContext(ctx, `SELECT holder, expires_at FROM leases WHERE name = ?`, name).Scan(&cur, &exp)
		if err == nil && cur != holder && exp > ms(now) && (dead == nil || !dead(cur)) {
			return approvals.Errorf(approvals.ECONFLICT, "another heed run (%s) is using %s; stop it first, or wait %s if it crashed",
				cur, s.path, time.Until(fromMS(exp)).Round(time.Second))
		}
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at`,
			name, holder, ms(now.Add(ttl)))
		return err
	})
}

// Lease returns the named lease's holder and expiry ("" when none).
func (s *Store) Lease(ctx context.Context, name string) (string, time.Time, error) {
	var holder string
	var exp int64
	err := s.db.QueryRowContext(ctx, `SELECT holder, expires_at FROM leases WHERE name = ?`, name).Scan(&holder, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, nil
	}
	return holder, fromMS(exp), err
}

// ReleaseLease gives the lease up if holder has it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder)
	return err
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func nullMS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// queryAll runs a query and scans every row with scan.
func queryAll[T any](ctx context.Context, q querier, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// queryIDs runs a query whose rows are single ids.
func queryIDs(ctx context.Context, q querier, query string, args ...any) ([]int64, error) {
	return queryAll(ctx, q, func(r scanner) (id int64, err error) { return id, r.Scan(&id) }, query, args...)
}

// DSN returns the data source name for path. The pragmas are in the DSN so
// that every pooled connection gets them, not only the first.
func DSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}
