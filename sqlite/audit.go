package sqlite

import (
	"context"
	"database/sql"

	"github.com/heed-dev/heed/approvals"
)

// appendAudit appends e; an entry written for whom ctx acts (see
// approvals.Acting) gets their identity and person.
func appendAudit(ctx context.Context, tx querier, e approvals.AuditEntry) error {
	e.Attribute(ctx)
	_, err := tx.ExecContext(ctx, `INSERT INTO audit (at, actor, identity, person, action, post_id, occurrence_id, target, place, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ms(e.At), e.Actor, e.Identity, e.Person, e.Action, nullID(e.PostID), nullID(e.Occurrence), e.Target, e.Place, e.Detail)
	return err
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// Audit returns audit entries after id `after`, oldest first. An occurrence
// filter of 0 means all.
func (s *AuditService) Audit(ctx context.Context, after int64, occurrence int64, limit int) ([]approvals.AuditEntry, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := s.store.db.QueryContext(ctx, `SELECT id, at, actor, identity, person, action, coalesce(post_id, 0), coalesce(occurrence_id, 0), target, place, detail
		FROM audit WHERE id > ? AND (? = 0 OR occurrence_id = ?) ORDER BY id LIMIT ?`, after, occurrence, occurrence, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []approvals.AuditEntry
	for rows.Next() {
		var e approvals.AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Identity, &e.Person, &e.Action, &e.PostID, &e.Occurrence, &e.Target, &e.Place, &e.Detail); err != nil {
			return nil, err
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Record appends an audit entry on its own, for actions outside the domain
// calls (a refused command, a config change at start).
func (s *AuditService) Record(ctx context.Context, e approvals.AuditEntry) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	return s.store.tx(ctx, func(tx *sql.Tx) error { return appendAudit(ctx, tx, e) })
}
