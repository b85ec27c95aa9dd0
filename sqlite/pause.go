package sqlite

import (
	"context"
	"database/sql"

	"github.com/heed-dev/heed/approvals"
)

func activePauses(ctx context.Context, q querier) ([]approvals.Pause, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, target, by, reason, at FROM pauses WHERE resumed_at IS NULL ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []approvals.Pause
	for rows.Next() {
		var p approvals.Pause
		var at int64
		if err := rows.Scan(&p.ID, &p.Target, &p.By, &p.Reason, &at); err != nil {
			return nil, err
		}
		p.At = fromMS(at)
		out = append(out, p)
	}
	return out, rows.Err()
}

// ActivePauses lists the pauses in force.
func (s *PauseService) ActivePauses(ctx context.Context) ([]approvals.Pause, error) {
	return activePauses(ctx, s.store.db)
}

// PauseAll records a pause. From the moment it commits, no claim can
// succeed for what it covers: every claim checks the pauses in the same
// transaction.
func (s *PauseService) PauseAll(ctx context.Context, by, target, reason, place string) (approvals.PauseReceipt, error) {
	now := s.now()
	if target != "" && !s.settings.Targets.Known(target) {
		return approvals.PauseReceipt{}, approvals.Errorf(approvals.EINVALID, "unknown target %q: pause with no target stops everything; known targets are %v", target, s.settings.Targets.Names())
	}
	var rc approvals.PauseReceipt
	err := s.store.tx(ctx, func(tx *sql.Tx) error {
		rc = approvals.PauseReceipt{}
		if err := s.store.writePauseGate(ctx, tx); err != nil {
			return err
		}
		var err error
		if rc.Already, err = activePauses(ctx, tx); err != nil {
			return err
		}
		var id int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO pauses (target, by, reason, at) VALUES (?, ?, ?, ?) RETURNING id`, target, by, reason, ms(now)).Scan(&id); err != nil {
			return err
		}
		rc.Pause = approvals.Pause{ID: id, Target: target, By: by, Reason: reason, At: now}
		// What the pause holds back: every open occurrence in the review
		// window, or, for a pause of one target, those that go to it.
		waiting := `SELECT count(*) FROM occurrences WHERE state IN ('scheduled','in_review','approved') AND at <= ?`
		publishing := `SELECT count(*) FROM deliveries WHERE state = ?`
		args, pargs := []any{ms(now.Add(s.settings.Window))}, []any{approvals.DeliveryPublishing}
		if target != "" {
			waiting = `SELECT count(*) FROM occurrences o JOIN posts p ON p.id = o.post_id
				WHERE o.state IN ('scheduled','in_review','approved') AND o.at <= ? AND EXISTS (SELECT 1 FROM ` + s.store.jsonEach("p.targets") + ` WHERE value = ?)`
			publishing += ` AND target = ?`
			args, pargs = append(args, target), append(pargs, target)
		}
		if err := tx.QueryRowContext(ctx, waiting, args...).Scan(&rc.Waiting); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, publishing, pargs...).Scan(&rc.Publishing); err != nil {
			return err
		}
		scope := "everything"
		if target != "" {
			scope = target
		}
		return appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: by, Action: "pause", Target: target, Place: place, Detail: scope + ": " + reason})
	})
	return rc, err
}

// Resume lifts the pauses on target, or every pause when target is "".
// Held occurrences stay held: none is published by surprise.
func (s *PauseService) Resume(ctx context.Context, by, target, place string) (approvals.ResumeReceipt, error) {
	now := s.now()
	var rc approvals.ResumeReceipt
	err := s.store.tx(ctx, func(tx *sql.Tx) error {
		rc = approvals.ResumeReceipt{}
		all, err := activePauses(ctx, tx)
		if err != nil {
			return err
		}
		for _, p := range all {
			if target == "" || p.Target == target {
				rc.Resumed = append(rc.Resumed, p)
			}
		}
		if len(rc.Resumed) == 0 {
			if target != "" {
				return approvals.Errorf(approvals.ECONFLICT, "%s is not paused", target)
			}
			return approvals.Errorf(approvals.ECONFLICT, "nothing is paused")
		}
		for _, p := range rc.Resumed {
			if _, err := tx.ExecContext(ctx, `UPDATE pauses SET resumed_by = ?, resumed_at = ? WHERE id = ?`, by, ms(now), p.ID); err != nil {
				return err
			}
		}
		since := rc.Resumed[0].At
		for _, p := range rc.Resumed {
			if p.At.Before(since) {
				since = p.At
			}
		}
		// Held during the pauses lifted now: their time came after the
		// earliest of them. Older holds are not this resume's business.
		if rc.Held, err = queryIDs(ctx, tx, `SELECT id FROM occurrences WHERE state = 'held' AND at >= ? ORDER BY at`, ms(since)); err != nil {
			return err
		}
		return appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: by, Action: "resume", Target: target, Place: place})
	})
	return rc, err
}
