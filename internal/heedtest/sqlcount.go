package heedtest

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CountingDriver is the name of a database/sql driver that is SQLite
// (the "sqlite" driver heed uses) with every statement and transaction
// counted in SQLCount. Open a store on it with
//
//	sqlite.OpenDriver(ctx, heedtest.CountingDriver, path)
//
// or set Options.CountSQL.
const CountingDriver = "sqlite-counting"

// SQLCounts are counts of the work a store did.
type SQLCounts struct {
	Statements int64 // statements executed or queried, in or out of a transaction
	Writes     int64 // INSERT, UPDATE, DELETE and REPLACE statements
	Tx         int64 // transactions begun explicitly
	WriteTx    int64 // transactions that wrote: explicit ones, and each write statement outside one (SQLite runs it as a transaction of its own)
}

// Sub returns c minus o.
func (c SQLCounts) Sub(o SQLCounts) SQLCounts {
	return SQLCounts{c.Statements - o.Statements, c.Writes - o.Writes, c.Tx - o.Tx, c.WriteTx - o.WriteTx}
}

type sqlCounter struct{ statements, writes, tx, writeTx atomic.Int64 }

// SQLCount counts what every store opened on CountingDriver did, in this
// process. Take a snapshot before and after an operation and Sub them.
var SQLCount sqlCounter

// Now returns the counts so far.
func (c *sqlCounter) Now() SQLCounts {
	return SQLCounts{c.statements.Load(), c.writes.Load(), c.tx.Load(), c.writeTx.Load()}
}

// sqlObservers are the functions ObserveSQL registered, by database path.
var sqlObservers sync.Map // string → func(string, time.Duration)

// ObserveSQL has f told of every statement that a store opened on
// CountingDriver at path runs (and of each BEGIN, COMMIT and ROLLBACK),
// with how long the driver took to run it (for a query, until its first
// row can be read), until stop is called. f may be called from several
// goroutines at once.
func ObserveSQL(path string, f func(query string, took time.Duration)) (stop func()) {
	sqlObservers.Store(path, f)
	return func() { sqlObservers.Delete(path) }
}

// dsnPath is the database path in a DSN made by sqlite.DSN.
func dsnPath(dsn string) string {
	p, _, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
	return p
}

var registerCounting sync.Once

// RegisterCountingDriver registers CountingDriver once.
func RegisterCountingDriver() {
	registerCounting.Do(func() {
		db, err := sql.Open("sqlite", "")
		if err != nil {
			panic(err)
		}
		sql.Register(CountingDriver, countingDriver{db.Driver()})
		db.Close()
	})
}

type countingDriver struct{ d driver.Driver }

func (d countingDriver) Open(dsn string) (driver.Conn, error) {
	c, err := d.d.Open(dsn)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, path: dsnPath(dsn)}, nil
}

// countingConn passes everything to the SQLite connection and counts it.
type countingConn struct {
	driver.Conn
	path        string
	inTx, wrote bool
}

// observe tells the path's observer, if any, that query took since start.
func (c *countingConn) observe(query string, start time.Time) {
	if f, ok := sqlObservers.Load(c.path); ok {
		f.(func(string, time.Duration))(query, time.Since(start))
	}
}

func isWrite(query string) bool {
	q := strings.ToUpper(strings.TrimSpace(query))
	for _, w := range []string{"INSERT", "UPDATE", "DELETE", "REPLACE"} {
		if strings.HasPrefix(q, w) {
			return true
		}
	}
	return false
}

func (c *countingConn) count(query string) {
	SQLCount.statements.Add(1)
	if isWrite(query) {
		SQLCount.writes.Add(1)
		switch {
		case !c.inTx:
			SQLCount.writeTx.Add(1)
		case !c.wrote:
			c.wrote = true
			SQLCount.writeTx.Add(1)
		}
	}
}

func (c *countingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	c.count(query)
	defer c.observe(query, time.Now())
	return e.ExecContext(ctx, query, args)
}

func (c *countingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	c.count(query)
	defer c.observe(query, time.Now())
	return q.QueryContext(ctx, query, args)
}

func (c *countingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	var st driver.Stmt
	var err error
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		st, err = p.PrepareContext(ctx, query)
	} else {
		st, err = c.Conn.Prepare(query)
	}
	if err != nil {
		return nil, err
	}
	return &countingStmt{Stmt: st, c: c, query: query}, nil
}

func (c *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	b, ok := c.Conn.(driver.ConnBeginTx)
	if !ok {
		return nil, errors.New("heedtest: the SQLite driver does not begin transactions with a context")
	}
	start := time.Now()
	tx, err := b.BeginTx(ctx, opts)
	c.observe("BEGIN", start)
	if err != nil {
		return nil, err
	}
	SQLCount.tx.Add(1)
	c.inTx, c.wrote = true, false
	return &countingTx{Tx: tx, c: c}, nil
}

func (c *countingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *countingConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *countingConn) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := c.Conn.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

type countingTx struct {
	driver.Tx
	c *countingConn
}

func (t *countingTx) Commit() error {
	t.c.inTx = false
	defer t.c.observe("COMMIT", time.Now())
	return t.Tx.Commit()
}

func (t *countingTx) Rollback() error {
	t.c.inTx = false
	defer t.c.observe("ROLLBACK", time.Now())
	return t.Tx.Rollback()
}

type countingStmt struct {
	driver.Stmt
	c     *countingConn
	query string
}

func (s *countingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.c.count(s.query)
	defer s.c.observe(s.query, time.Now())
	if e, ok := s.Stmt.(driver.StmtExecContext); ok {
		return e.ExecContext(ctx, args)
	}
	return nil, errNoContext
}

// errNoContext: both of heed's drivers (modernc's SQLite, pgx) take a
// context on every statement; one that does not is not counted.
var errNoContext = errors.New("heedtest: the driver's statement does not take a context")

func (s *countingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.c.count(s.query)
	defer s.c.observe(s.query, time.Now())
	if q, ok := s.Stmt.(driver.StmtQueryContext); ok {
		return q.QueryContext(ctx, args)
	}
	return nil, errNoContext
}
