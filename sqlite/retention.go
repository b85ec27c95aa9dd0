package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/heed-dev/heed/approvals"
)

// Retention is how long trimmed tables keep their rows; 0 keeps them all.
type Retention struct {
	SeenEvents time.Duration // chats' event ids kept to drop redelivered events
	Presence   time.Duration // when each person was last seen in a review room
	Audit      time.Duration // the audit log
	// IdempotencyKeys: the HTTP API's Idempotency-Keys with the post each
	// made; a retry after this long makes a new post.
	IdempotencyKeys time.Duration
	// Batch bounds the rows deleted from each table in one pass (default
	// 1000), so that a pass never holds the write lock for long.
	Batch int
}

// Trimmed counts the rows one pass deleted.
type Trimmed struct {
	SeenEvents, Presence, Audit, IdempotencyKeys int
}

// Full says whether a table gave a whole batch: more may be left to trim.
func (t Trimmed) Full(batch int) bool {
	return t.SeenEvents >= batch || t.Presence >= batch || t.Audit >= batch || t.IdempotencyKeys >= batch
}

// auditNoDelete is the trigger that keeps the audit log append-only; a
// trim of the audit log drops it and makes it again in its transaction.
const auditNoDelete = `CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`

// Trim deletes, in one pass, up to r.Batch rows of each table older than
// its retention at now. A trim of the audit log is itself recorded in it.
func (s *Store) Trim(ctx context.Context, now time.Time, r Retention) (Trimmed, error) {
	if r.Batch <= 0 {
		r.Batch = 1000
	}
	var out Trimmed
	del := func(n *int, query string, keep time.Duration) error {
		if keep <= 0 {
			return nil
		}
		return s.tx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, query, ms(now.Add(-keep)), r.Batch)
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			*n = int(k)
			return err
		})
	}
	if err := del(&out.SeenEvents, `DELETE FROM seen_events WHERE (adapter, id) IN (SELECT adapter, id FROM seen_events WHERE at < ? LIMIT ?)`, r.SeenEvents); err != nil {
		return out, fmt.Errorf("trim seen events: %w", err)
	}
	if err := del(&out.Presence, `DELETE FROM room_presence WHERE (room, "user") IN (SELECT room, "user" FROM room_presence WHERE at < ? LIMIT ?)`, r.Presence); err != nil {
		return out, fmt.Errorf("trim presence: %w", err)
	}
	if err := del(&out.IdempotencyKeys, `DELETE FROM api_idempotency WHERE (person, key) IN (SELECT person, key FROM api_idempotency WHERE created_at < ? LIMIT ?)`, r.IdempotencyKeys); err != nil {
		return out, fmt.Errorf("trim idempotency keys: %w", err)
	}
	if r.Audit > 0 {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			// The log is append-only by a trigger; trimming lifts it for
			// this transaction alone.
			lift, restore := `DROP TRIGGER audit_no_delete`, auditNoDelete
			if s.postgres() {
				lift, restore = `ALTER TABLE audit DISABLE TRIGGER audit_no_delete`, `ALTER TABLE audit ENABLE TRIGGER audit_no_delete`
			}
			if _, err := tx.ExecContext(ctx, lift); err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < ? ORDER BY id LIMIT ?)`, ms(now.Add(-r.Audit)), r.Batch)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, restore); err != nil {
				return err
			}
			k, err := res.RowsAffected()
			if err != nil || k == 0 {
				return err
			}
			out.Audit = int(k)
			return appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: "heed", Action: "audit.trim",
				Detail: fmt.Sprintf("deleted %d entries older than %s (retention.audit %s)", k, now.Add(-r.Audit).UTC().Format(time.RFC3339), r.Audit)})
		})
		if err != nil {
			return out, fmt.Errorf("trim the audit log: %w", err)
		}
	}
	return out, nil
}
