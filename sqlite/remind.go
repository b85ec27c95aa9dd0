package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/heed-dev/heed/approvals"
)

// RemindersDue lists the occurrences in review whose time is ahead and
// within horizon from now, with the last reminder slot each had for that
// time (-1 for none). It only reads.
func (s *ReviewService) RemindersDue(ctx context.Context, now time.Time, horizon time.Duration) ([]approvals.ReminderDue, error) {
	return queryAll(ctx, s.store.db, func(r scanner) (d approvals.ReminderDue, err error) {
		var at int64
		err = r.Scan(&d.Occurrence, &at, &d.Room, &d.LastSlot)
		d.At = fromMS(at)
		return d, err
	}, `SELECT o.id, o.at, p.room,
		COALESCE((SELECT MAX(r.slot) FROM reminders r WHERE r.occurrence_id = o.id AND r.at = o.at), -1)
		FROM occurrences o JOIN posts p ON p.id = o.post_id
		WHERE o.state = 'in_review' AND o.at > ? AND o.at <= ?
		ORDER BY o.at LIMIT 500`, ms(now), ms(now.Add(horizon)))
}

// ClaimReminder records that reminder r is being sent, with its audit
// line, in one transaction. It reports false when that reminder was
// claimed already, so that each goes out at most once, across restarts and
// processes.
func (s *ReviewService) ClaimReminder(ctx context.Context, r approvals.Reminder) (bool, error) {
	claimed := false
	now := s.now()
	err := s.store.tx(ctx, func(tx *sql.Tx) error {
		claimed = false // the transaction may run again (PostgreSQL)
		res, err := tx.ExecContext(ctx, `INSERT INTO reminders (occurrence_id, at, slot, sent_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			r.Occurrence, ms(r.At), r.Slot, ms(now))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		claimed = true
		return appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: "heed", Action: "reminder", PostID: r.PostID,
			Occurrence: r.Occurrence, Place: r.Place, Detail: r.Detail})
	})
	return claimed, err
}

// ReleaseReminder undoes the claim of a reminder that could not be sent,
// so that the next cycle tries again, and audits why.
func (s *ReviewService) ReleaseReminder(ctx context.Context, r approvals.Reminder, why string) error {
	now := s.now()
	return s.store.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM reminders WHERE occurrence_id = ? AND at = ? AND slot = ?`, r.Occurrence, ms(r.At), r.Slot); err != nil {
			return err
		}
		return appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: "heed", Action: "reminder.unsent", PostID: r.PostID,
			Occurrence: r.Occurrence, Place: r.Place, Detail: fmt.Sprintf("reminder %d not sent: %s", r.Slot+1, approvals.Clip(why, 300))})
	})
}
