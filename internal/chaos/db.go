package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, heed's for PostgreSQL
	_ "modernc.org/sqlite"             // heed's own SQLite driver, pure Go
)

// db reads heed's database, read-only (SQLite's mode=ro, PostgreSQL's
// read-only transactions): the harness never writes it. Every figure the
// report draws from the store comes through here.
type db struct {
	path string
	sql  *sql.DB
	pg   bool // a PostgreSQL URL: placeholders are $1, $2, …
}

func openDB(path string) (*db, error) {
	if strings.HasPrefix(path, "postgres://") {
		s, err := sql.Open("pgx", path+"&default_transaction_read_only=on")
		if err != nil {
			return nil, err
		}
		return &db{path: path, sql: s, pg: true}, nil
	}
	s, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	return &db{path: path, sql: s}, nil
}

func (d *db) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return d.sql.QueryContext(ctx, d.bind(q), args...)
}

func (d *db) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return d.sql.QueryRowContext(ctx, d.bind(q), args...)
}

// bind spells the ? placeholders of q as the database wants them.
func (d *db) bind(q string) string {
	if !d.pg {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (d *db) close() {
	if d != nil && d.sql != nil {
		d.sql.Close()
	}
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// leaseHolder is who holds heed run's dispatcher lease ("" when nobody).
func (d *db) leaseHolder(ctx context.Context) (string, error) {
	var h string
	err := d.queryRow(ctx, `SELECT holder FROM leases WHERE name = 'dispatcher'`).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return h, err
}

// postIDs maps post keys to ids. A one-shot post's occurrence, and so its
// card number, is the post's own id.
func (d *db) postIDs(ctx context.Context, keys []string) (map[string]int64, error) {
	out := map[string]int64{}
	if len(keys) == 0 {
		return out, nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	rows, err := d.query(ctx, `SELECT key, id FROM posts WHERE key IN (?`+strings.Repeat(",?", len(keys)-1)+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var id int64
		if err := rows.Scan(&k, &id); err != nil {
			return nil, err
		}
		out[k] = id
	}
	return out, rows.Err()
}

// approved counts the occurrences among ids with an approval recorded in
// the audit log.
func (d *db) approved(ctx context.Context, ids []int64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	var n int
	err := d.queryRow(ctx, `SELECT count(DISTINCT occurrence_id) FROM audit WHERE action = 'decision.approve' AND occurrence_id IN (?`+
		strings.Repeat(",?", len(ids)-1)+`)`, args...).Scan(&n)
	return n, err
}

// delivery is one occurrence × target.
type delivery struct {
	Occurrence int64
	Target     string
	State      string
	Error      string
	Key        string
}

type dkey struct {
	Occurrence int64
	Target     string
}

// deliveriesIn lists the deliveries in state.
func (d *db) deliveriesIn(ctx context.Context, state string) ([]delivery, error) {
	rows, err := d.query(ctx, `SELECT occurrence_id, target, state, error, idempotency_key FROM deliveries WHERE state = ? ORDER BY occurrence_id, target`, state)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []delivery
	for rows.Next() {
		var x delivery
		if err := rows.Scan(&x.Occurrence, &x.Target, &x.State, &x.Error, &x.Key); err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

func (d *db) delivery(ctx context.Context, occ int64, target string) (delivery, error) {
	x := delivery{Occurrence: occ, Target: target}
	err := d.queryRow(ctx, `SELECT state, error, idempotency_key FROM deliveries WHERE occurrence_id = ? AND target = ?`, occ, target).
		Scan(&x.State, &x.Error, &x.Key)
	if errors.Is(err, sql.ErrNoRows) {
		return x, nil
	}
	return x, err
}

func (d *db) count(ctx context.Context, q string, args ...any) (int, error) {
	var n int
	err := d.queryRow(ctx, q, args...).Scan(&n)
	return n, err
}

// unsettled counts what is still to do at now: occurrences due and not
// yet decided or under way, and deliveries under way or waiting for a
// retry.
func (d *db) unsettled(ctx context.Context, now time.Time) (int, error) {
	occ, err := d.count(ctx, `SELECT count(*) FROM occurrences WHERE state IN ('scheduled','in_review','approved','publishing') AND at <= ?`, ms(now))
	if err != nil {
		return 0, err
	}
	dl, err := d.count(ctx, `SELECT count(*) FROM deliveries WHERE state IN ('publishing','retry')`)
	return occ + dl, err
}

// lastAuditID is the newest audit row with action (0 when none). Audit
// rows are appended inside the write transaction that made them, and
// SQLite runs one write transaction at a time, so their ids are the order
// in which those transactions committed. On PostgreSQL transactions
// overlap, but a pause and a claim do not: the pause takes the pause
// gate's row before it appends its audit row, and a claim reads that row
// FOR SHARE before it appends its own, so one waits for the other's
// commit and a claim's audit id is below a pause's exactly when it
// committed first.
func (d *db) lastAuditID(ctx context.Context, action string) (int64, error) {
	var id sql.NullInt64
	err := d.queryRow(ctx, `SELECT max(id) FROM audit WHERE action = ?`, action).Scan(&id)
	return id.Int64, err
}

// facts is what the final report reads from the store.
type facts struct {
	Occurrences map[int64]occurrence
	Deliveries  map[dkey]delivery
	Audit       []auditRow
}

type occurrence struct {
	ID    int64
	At    time.Time
	State string
	Note  string
}

type auditRow struct {
	ID         int64
	Action     string
	Occurrence int64
	Target     string
	Detail     string
}

// readFacts reads every occurrence, delivery and the audit rows the
// verdict needs.
func (d *db) readFacts(ctx context.Context) (facts, error) {
	f := facts{Occurrences: map[int64]occurrence{}, Deliveries: map[dkey]delivery{}}
	rows, err := d.query(ctx, `SELECT id, at, state, note FROM occurrences`)
	if err != nil {
		return f, err
	}
	for rows.Next() {
		var o occurrence
		var at int64
		if err := rows.Scan(&o.ID, &at, &o.State, &o.Note); err != nil {
			rows.Close()
			return f, err
		}
		o.At = time.UnixMilli(at)
		f.Occurrences[o.ID] = o
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return f, err
	}
	rows, err = d.query(ctx, `SELECT occurrence_id, target, state, error, idempotency_key FROM deliveries`)
	if err != nil {
		return f, err
	}
	for rows.Next() {
		var x delivery
		if err := rows.Scan(&x.Occurrence, &x.Target, &x.State, &x.Error, &x.Key); err != nil {
			rows.Close()
			return f, err
		}
		f.Deliveries[dkey{x.Occurrence, x.Target}] = x
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return f, err
	}
	rows, err = d.query(ctx, `SELECT id, action, coalesce(occurrence_id, 0), target, detail FROM audit
		WHERE action IN ('decision.approve','publish.claim','publish.withheld','state.publishing','state.missed','state.held','pause','resume')
		ORDER BY id`)
	if err != nil {
		return f, err
	}
	defer rows.Close()
	for rows.Next() {
		var a auditRow
		if err := rows.Scan(&a.ID, &a.Action, &a.Occurrence, &a.Target, &a.Detail); err != nil {
			return f, err
		}
		f.Audit = append(f.Audit, a)
	}
	return f, rows.Err()
}

func (d *db) String() string { return fmt.Sprintf("db(%s)", d.path) }
