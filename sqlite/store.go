// Package sqlite is heed's store: its database, on SQLite (a file, the
// default) or on PostgreSQL (a postgres:// URL). One set of statements
// serves both; the differences are in Store (opening, migrations,
// transactions) and in postgres.go.
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
	"github.com/heed-dev/heed/media"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	sqlite3 "modernc.org/sqlite" // registers the "sqlite" driver, pure Go
)

//go:embed migrations/*.sql migrations/postgres/*.sql
var migrations embed.FS

// Store is heed's database. The daemon and the CLI open the same database
// from separate processes. On SQLite every write runs in a BEGIN IMMEDIATE
// transaction, so that checks and changes are never interleaved; on
// PostgreSQL in a SERIALIZABLE one, run again when it collided with
// another (pgTx).
type Store struct {
	db        *sql.DB
	dialect   string
	path      string // the file, or the PostgreSQL URL without its password
	mediaDir  string
	installID string
	// writeMu queues this process's write transactions in Go. SQLite
	// admits one writer at a time anyway; without the queue, writers that
	// lose the race back off in SQLite's busy handler (sleeps of up to
	// tens of milliseconds), which a pause waiting behind claims would pay.
	// Writers in other processes (the CLI) still meet the busy timeout.
	writeMu sync.Mutex
}

// Open opens (creating if needed) and migrates the database: a PostgreSQL
// URL (IsPostgres), or else the path of a SQLite file. It refuses a
// database whose schema is newer than this binary knows.
func Open(ctx context.Context, database string) (*Store, error) {
	if IsPostgres(database) {
		db, err := openPostgres(database)
		if err != nil {
			return nil, err
		}
		return open(ctx, &Store{db: db, dialect: DialectPostgres, path: Redact(database), mediaDir: DefaultPostgresMedia})
	}
	return OpenDriver(ctx, "sqlite", database)
}

// DefaultPostgresMedia is the media store of a PostgreSQL database unless
// SetMediaDir names another: heed-media in the working directory.
const DefaultPostgresMedia = "heed-media"

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
	return open(ctx, &Store{db: db, dialect: DialectSQLite, path: path, mediaDir: media.DirFor(path)})
}

// open migrates the store's database and reads its install id.
func open(ctx context.Context, s *Store) (*Store, error) {
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	if err := s.loadInstallID(ctx); err != nil {
		s.db.Close()
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

// OpenExisting opens the heed database for a command that must not create
// or change one (everything but `heed run` and `heed migrate`): it refuses
// a path with no database, a PostgreSQL database without heed's schema,
// and one whose schema is older or newer than this binary's, naming what
// to do. A mistyped --db or a command run from the wrong directory so
// never pauses a new, empty file.
func OpenExisting(ctx context.Context, database string) (*Store, error) {
	if IsPostgres(database) {
		return openExistingPostgres(ctx, database)
	}
	path := database
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
	return openExisting(ctx, &Store{db: db, dialect: DialectSQLite, path: path, mediaDir: media.DirFor(path)})
}

func openExistingPostgres(ctx context.Context, database string) (*Store, error) {
	db, err := openPostgres(database)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, dialect: DialectPostgres, path: Redact(database), mediaDir: DefaultPostgresMedia}
	// goose would create its version table in an empty database: look first.
	var table sql.NullString
	if err := db.QueryRowContext(ctx, `SELECT to_regclass('goose_db_version')::text`).Scan(&table); err != nil {
		db.Close()
		return nil, approvals.Errorf(approvals.EUNAVAILABLE, "cannot reach the PostgreSQL database %s: %v", s.path, err)
	}
	if !table.Valid {
		db.Close()
		return nil, approvals.Errorf(approvals.ENOTFOUND, "the PostgreSQL database %s holds no heed database: give the one `heed run` uses (--db, database: in --config, or HEED_DATABASE_URL), or create it with `heed migrate`; nothing was created", s.path)
	}
	return openExisting(ctx, s)
}

// openExisting checks the schema version of a store opened by
// OpenExisting and reads its install id.
func openExisting(ctx context.Context, s *Store) (*Store, error) {
	db, path := s.db, s.path
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

// OpenReadOnly opens the heed database at path for reading alone, for a
// check that must change nothing (`heed config check`): SQLite opens the
// file read-only and refuses every write, no schema is created or
// migrated, and a path with no database is refused (ENOTFOUND) rather
// than created. heed run may hold the database meanwhile.
func OpenReadOnly(ctx context.Context, path string) (*Store, error) {
	if IsPostgres(path) {
		return openReadOnlyPostgres(ctx, path)
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, approvals.Errorf(approvals.ENOTFOUND, "no heed database at %s", path)
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", path, err)
	case fi.IsDir():
		return nil, approvals.Errorf(approvals.EINVALID, "%s is a directory, not a heed database", path)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "query_only(1)")
	q.Set("mode", "ro")
	if _, err := os.Stat(path + "-wal"); errors.Is(err, fs.ErrNotExist) {
		// No heed has the database open, and none left a log: the file
		// alone is the database. Read as immutable, a read-only
		// connection would make the -wal and -shm files beside it, and
		// could not remove them.
		q.Set("immutable", "1")
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &Store{db: db, dialect: DialectSQLite, path: path, mediaDir: media.DirFor(path)}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// DB exposes the handle for benchmarks and tests in other packages, and
// for mautrix's crypto store, which keeps its tables in heed's database.
func (s *Store) DB() *sql.DB { return s.db }

// Dialect is the database's kind: DialectSQLite or DialectPostgres.
func (s *Store) Dialect() string { return s.dialect }

func (s *Store) postgres() bool { return s.dialect == DialectPostgres }

// Path is the database file, or the PostgreSQL URL without its password.
func (s *Store) Path() string { return s.path }

// InstallID identifies this database; idempotency keys include it.
func (s *Store) InstallID() string { return s.installID }

func (s *Store) provider() (*goose.Provider, error) {
	if s.postgres() {
		sub, err := fs.Sub(migrations, "migrations/postgres")
		if err != nil {
			return nil, err
		}
		// Replicas starting at once take turns to migrate.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		return goose.NewProvider(goose.DialectPostgres, s.db, sub, goose.WithSessionLocker(locker))
	}
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

// tx runs fn in one write transaction: BEGIN IMMEDIATE (through the DSN)
// on SQLite, SERIALIZABLE on PostgreSQL, where fn may run again (pgTx).
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.postgres() {
		return s.pgUnwritable(s.pgTx(ctx, fn))
	}
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
