package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/heed-dev/heed/approvals"
)

// The dialects a Store speaks, named as mautrix's dbutil names them.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// IsPostgres reports whether database (the configuration's `database:`)
// names a PostgreSQL database: a postgres:// or postgresql:// URL.
// Anything else is the path of a SQLite file.
func IsPostgres(database string) bool {
	return strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://")
}

// Redact returns database as it may be shown or logged: a PostgreSQL URL
// without its password (in the URL or its parameters). A SQLite path is
// returned as it is.
func Redact(database string) string {
	if !IsPostgres(database) {
		return database
	}
	u, err := url.Parse(database)
	if err != nil {
		return "postgres://(a URL that does not parse)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	for k := range q {
		if strings.EqualFold(k, "password") {
			q.Set(k, "xxxxx")
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// openPostgres opens a PostgreSQL database through pgx. Every query on the
// handle, heed's and those of libraries given it (mautrix's crypto store),
// passes through rebind.
func openPostgres(database string) (*sql.DB, error) {
	return openPostgresWith(database, nil)
}

// openReadOnlyPostgres is OpenReadOnly of a PostgreSQL database: every
// transaction of its connections is read-only (the server refuses
// writes), and a database without heed's schema is refused, not
// migrated.
func openReadOnlyPostgres(ctx context.Context, database string) (*Store, error) {
	db, err := openPostgresWith(database, map[string]string{"default_transaction_read_only": "on"})
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, dialect: DialectPostgres, path: Redact(database), mediaDir: DefaultPostgresMedia}
	var table sql.NullString
	if err := db.QueryRowContext(ctx, `SELECT to_regclass('goose_db_version')::text`).Scan(&table); err != nil {
		db.Close()
		return nil, approvals.Errorf(approvals.EUNAVAILABLE, "cannot reach the PostgreSQL database %s: %v", s.path, err)
	}
	if !table.Valid {
		db.Close()
		return nil, approvals.Errorf(approvals.ENOTFOUND, "no heed database in %s", s.path)
	}
	return s, nil
}

func openPostgresWith(database string, params map[string]string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(database)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, approvals.Errorf(approvals.EINVALID, "database %s is not a PostgreSQL URL heed can use: write it as postgres://user:password@host:5432/dbname", Redact(database))
	}
	for k, v := range params {
		cfg.RuntimeParams[k] = v
	}
	db := sql.OpenDB(rebindConnector{stdlib.GetConnector(*cfg)})
	// Several heed processes share the server's connection limit
	// (max_connections, 100 by default); a process's writes take turns
	// anyway (Store.writeMu), so a few connections serve its reads.
	db.SetMaxOpenConns(pgMaxConns)
	db.SetMaxIdleConns(pgMaxConns)
	return db, nil
}

// pgMaxConns bounds one Store's connections to PostgreSQL.
const pgMaxConns = 16

type rebindConnector struct{ driver.Connector }

func (c rebindConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	pc, ok := conn.(*stdlib.Conn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("pgx returned a %T, not a *stdlib.Conn", conn)
	}
	return rebindConn{pc}, nil
}

// rebindConn is pgx's connection with heed's `?` placeholders rewritten
// for PostgreSQL. Everything else is pgx's.
type rebindConn struct{ *stdlib.Conn }

func (c rebindConn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(context.Background(), rebind(query))
}

func (c rebindConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(query))
}

func (c rebindConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, rebind(query), args)
}

func (c rebindConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, rebind(query), args)
}

// rebind numbers the `?` placeholders of a query as PostgreSQL's $1, $2,
// …, so that heed's statements are written once for both dialects. A `?`
// in a string literal, a quoted identifier, a comment or a dollar-quoted
// body is left alone, and so is a query without one.
func rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(q) {
				if q[j] == c {
					if j+1 < len(q) && q[j+1] == c { // a doubled quote
						j += 2
						continue
					}
					break
				}
				j++
			}
			end := min(j+1, len(q))
			b.WriteString(q[i:end])
			i = end
		case c == '-' && strings.HasPrefix(q[i:], "--"):
			end := len(q)
			if k := strings.IndexByte(q[i:], '\n'); k >= 0 {
				end = i + k
			}
			b.WriteString(q[i:end])
			i = end
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			end := len(q)
			if k := strings.Index(q[i+2:], "*/"); k >= 0 {
				end = i + 2 + k + 2
			}
			b.WriteString(q[i:end])
			i = end
		case c == '$':
			end := i + 1
			if tag, ok := dollarTag(q[i:]); ok {
				end = len(q)
				if k := strings.Index(q[i+len(tag):], tag); k >= 0 {
					end = i + len(tag) + k + len(tag)
				}
			}
			b.WriteString(q[i:end])
			i = end
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// dollarTag returns the tag ($$ or $name$) that opens a dollar-quoted
// string at the start of s; $1 is a parameter, not a tag.
func dollarTag(s string) (string, bool) {
	for j := 1; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '$':
			return s[:j+1], true
		case c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || j > 1 && '0' <= c && c <= '9' || c >= 0x80:
		default:
			return "", false
		}
	}
	return "", false
}

// PostgreSQL's SQLSTATEs heed acts on.
const (
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
	pgUniqueViolation      = "23505"
	pgDiskFull             = "53100"
	pgReadOnly             = "25006"
)

func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// retryable reports whether a PostgreSQL transaction failed only because
// it ran at the same time as another (a serialization failure, a
// deadlock): run again, it sees what the other wrote.
func retryable(err error) bool {
	switch pgCode(err) {
	case pgSerializationFailure, pgDeadlockDetected:
		return true
	}
	return false
}

// maxTxAttempts bounds how often a single statement is run again after a
// deadlock (exec).
const maxTxAttempts = 30

// txRetryFor bounds how long a transaction is run again after conflicts
// with others. Replicas that claim, record and render at once collide on
// the same rows, each time a little differently; a transaction that gave
// up after a few quick tries left a post sent but its outcome unrecorded.
// Within this bound it is tried until it commits, waiting a random while
// that grows with the attempts (from 4 ms up to a second) so that the
// transactions that collided spread out.
const txRetryFor = 2 * time.Minute

// pgTx runs fn in a SERIALIZABLE transaction, again after a serialization
// failure or a deadlock. PostgreSQL then behaves as SQLite's one writer at
// a time does for everything heed decides in a transaction, across
// processes; what must also hold in real time (a pause stops claims from
// its commit on) meets on one row (pauseGate). fn may run more than once:
// it sets, rather than adds to, what it reports.
func (s *Store) pgTx(ctx context.Context, fn func(*sql.Tx) error) error {
	start := time.Now()
	for attempt := 1; ; attempt++ {
		err := s.pgTxOnce(ctx, fn)
		if err == nil || !retryable(err) || time.Since(start) > txRetryFor {
			return err
		}
		ceiling := min(2*time.Millisecond<<min(attempt, 9), time.Second)
		t := time.NewTimer(time.Duration(rand.Int64N(int64(ceiling))) + time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

func (s *Store) pgTxOnce(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable})
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// exec runs one statement on its own; on PostgreSQL, again after it met a
// deadlock (a statement that changes many rows can).
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	for attempt := 1; ; attempt++ {
		res, err := s.db.ExecContext(ctx, query, args...)
		if err == nil || !s.postgres() || !retryable(err) || attempt == maxTxAttempts {
			return res, err
		}
	}
}

// pgUnwritable names PostgreSQL's "cannot write" errors as unwritable
// does SQLite's.
func (s *Store) pgUnwritable(err error) error {
	switch pgCode(err) {
	case pgDiskFull:
		return approvals.Errorf(approvals.EUNAVAILABLE, "the disk of the PostgreSQL server holding %s is full: heed cannot record anything (decisions, pauses, claims) until space is freed; nothing was changed, try again then", s.path)
	case pgReadOnly:
		return approvals.Errorf(approvals.EUNAVAILABLE, "%s cannot be written (%v): heed cannot record anything until it can; nothing was changed", s.path, err)
	}
	return err
}

// writePauseGate, in a transaction that records a pause, takes
// the pause gate's row for itself (PostgreSQL; SQLite runs one write
// transaction at a time). Claims under way finish first; claims that come
// later wait for this transaction, and then see what it wrote.
func (s *Store) writePauseGate(ctx context.Context, tx *sql.Tx) error {
	if !s.postgres() {
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE pause_gate SET changes = changes + 1 WHERE id = 1`)
	return err
}

// claimPauses returns the pauses in force for a claim in tx. On PostgreSQL
// it first reads the pause gate FOR SHARE: claims do not wait for each
// other, but one waits for a pause being written and, once that commits,
// runs again and sees it (a row changed after a SERIALIZABLE transaction
// began cannot be locked by it). So from a pause's commit on, no claim
// succeeds for what it covers.
func (s *Store) claimPauses(ctx context.Context, tx *sql.Tx) ([]approvals.Pause, error) {
	if s.postgres() {
		var changes int64
		if err := tx.QueryRowContext(ctx, `SELECT changes FROM pause_gate WHERE id = 1 FOR SHARE`).Scan(&changes); err != nil {
			return nil, err
		}
	}
	return activePauses(ctx, tx)
}

// lockForClaim locks the row a claim is about (query selects it) for the
// claim's transaction. On PostgreSQL a row another process has locked is
// skipped (FOR UPDATE SKIP LOCKED): mine is false, and that process
// settles it. A row that does not exist is the caller's to report. On
// SQLite the write transaction excludes every other one already.
func (s *Store) lockForClaim(ctx context.Context, tx *sql.Tx, query string, args ...any) (mine bool, err error) {
	if !s.postgres() {
		return true, nil
	}
	rows, err := tx.QueryContext(ctx, query+` FOR UPDATE SKIP LOCKED`, args...)
	if err != nil {
		return false, err
	}
	locked := rows.Next()
	rows.Close()
	if locked || rows.Err() != nil {
		return locked, rows.Err()
	}
	rows, err = tx.QueryContext(ctx, query, args...)
	if err != nil {
		return false, err
	}
	exists := rows.Next()
	rows.Close()
	return !exists, rows.Err()
}

// jsonEach is a table of the elements of a JSON array column, each in
// the column `value`.
func (s *Store) jsonEach(column string) string {
	if s.postgres() {
		return `jsonb_array_elements_text(` + column + `::jsonb) AS je(value)`
	}
	return `json_each(` + column + `)`
}
