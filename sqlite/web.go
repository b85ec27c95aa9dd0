package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/heed-dev/heed/approvals"
)

// What the web view reads and keeps: its sign-in sessions, a calendar's
// range of occurrences in one query, and the audit log with filters.

// CreateSession stores a sign-in session under the hash of its secret,
// and drops the sessions that have expired by created.
func (s *Store) CreateSession(ctx context.Context, idHash, person string, created, expires time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE expires_at <= ?`, ms(created)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO web_sessions (id_hash, person, created_at, expires_at) VALUES (?, ?, ?, ?)`,
			idHash, person, ms(created), ms(expires))
		return err
	})
}

// Session returns the person and expiry of the session whose secret
// hashes to idHash; ok is false when there is none.
func (s *Store) Session(ctx context.Context, idHash string) (person string, expires time.Time, ok bool, err error) {
	var exp int64
	err = s.db.QueryRowContext(ctx, `SELECT person, expires_at FROM web_sessions WHERE id_hash = ?`, idHash).Scan(&person, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, err
	}
	return person, fromMS(exp), true, nil
}

// DeleteSession ends a session (signing out).
func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE id_hash = ?`, idHash)
		return err
	})
}

// OccurrencesBetween lists the occurrences whose time is in [from, to),
// whatever their state, soonest first, at most limit: one query for a
// whole calendar page.
func (s *Store) OccurrencesBetween(ctx context.Context, from, to time.Time, limit int) ([]approvals.Summary, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT o.id, o.post_id, o.at, o.state, o.note, p.text, p.targets
		FROM occurrences o JOIN posts p ON p.id = o.post_id
		WHERE o.at >= ? AND o.at < ? ORDER BY o.at, o.id LIMIT ?`, ms(from), ms(to), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []approvals.Summary
	// Most posts share a few lists of targets: each is decoded once.
	decoded := map[string][]string{}
	var targets sql.RawBytes
	for rows.Next() {
		var sm approvals.Summary
		var at int64
		if err := rows.Scan(&sm.ID, &sm.PostID, &at, &sm.State, &sm.Note, &sm.Text, &targets); err != nil {
			return nil, err
		}
		sm.At = fromMS(at)
		ts, ok := decoded[string(targets)]
		if !ok {
			_ = json.Unmarshal(targets, &ts)
			decoded[string(targets)] = ts
		}
		sm.Targets = ts
		out = append(out, sm)
	}
	return out, rows.Err()
}

// SearchAudit returns the audit entries q picks, newest first.
func (s *Store) SearchAudit(ctx context.Context, q approvals.AuditQuery) ([]approvals.AuditEntry, error) {
	if q.Limit <= 0 {
		q.Limit = 500
	}
	var where []string
	var args []any
	if p := strings.TrimSpace(q.Person); p != "" {
		where = append(where, `(person = ? OR actor = ? OR identity = ?)`)
		args = append(args, p, p, p)
	}
	if k := strings.TrimSpace(q.Kind); k != "" {
		where = append(where, `(action = ? OR action LIKE ?)`)
		args = append(args, k, k+".%")
	}
	if !q.From.IsZero() {
		where = append(where, `at >= ?`)
		args = append(args, ms(q.From))
	}
	if !q.To.IsZero() {
		where = append(where, `at < ?`)
		args = append(args, ms(q.To))
	}
	query := `SELECT id, at, actor, identity, person, action, coalesce(post_id, 0), coalesce(occurrence_id, 0), target, place, detail FROM audit`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, q.Limit)
	return queryAll(ctx, s.db, func(r scanner) (approvals.AuditEntry, error) {
		var e approvals.AuditEntry
		var at int64
		err := r.Scan(&e.ID, &at, &e.Actor, &e.Identity, &e.Person, &e.Action, &e.PostID, &e.Occurrence, &e.Target, &e.Place, &e.Detail)
		e.At = fromMS(at)
		return e, err
	}, query, args...)
}
