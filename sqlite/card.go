package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/heed-dev/heed/approvals"
)

// SetCard records where an occurrence's card was posted.
func (s *Service) SetCard(ctx context.Context, c approvals.CardRef) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO cards (occurrence_id, adapter, room, ref) VALUES (?, ?, ?, ?)
		ON CONFLICT (occurrence_id, adapter, room) DO UPDATE SET ref = excluded.ref`, c.Occurrence, c.Adapter, c.Room, c.Ref)
	return err
}

// Card returns the card of an occurrence in one adapter's room.
func (s *Service) Card(ctx context.Context, occ int64, adapter, room string) (approvals.CardRef, bool, error) {
	c := approvals.CardRef{Occurrence: occ, Adapter: adapter, Room: room}
	err := s.db.QueryRowContext(ctx, `SELECT ref FROM cards WHERE occurrence_id = ? AND adapter = ? AND room = ?`, occ, adapter, room).Scan(&c.Ref)
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	return c, err == nil, err
}

// CardOccurrence finds the occurrence whose card is the given message.
func (s *Service) CardOccurrence(ctx context.Context, adapter, room, ref string) (int64, bool, error) {
	var id int64
	err := s.db.QueryRowContext(ctx, `SELECT occurrence_id FROM cards WHERE adapter = ? AND room = ? AND ref = ?`, adapter, room, ref).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}

// OpenCards lists the cards of occurrences that still wait for a decision,
// for reconciliation on start.
func (s *Service) OpenCards(ctx context.Context) ([]approvals.CardRef, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT c.occurrence_id, c.adapter, c.room, c.ref FROM cards c
		JOIN occurrences o ON o.id = c.occurrence_id
		WHERE o.state IN ('in_review','approved','rejected','held') ORDER BY o.at`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []approvals.CardRef
	for rows.Next() {
		var c approvals.CardRef
		if err := rows.Scan(&c.Occurrence, &c.Adapter, &c.Room, &c.Ref); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Dirty returns occurrences whose card needs rendering, with the change
// count to pass to MarkRendered.
func (s *Service) Dirty(ctx context.Context, limit int) (map[int64]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, dirty FROM occurrences WHERE dirty > 0 ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]int64{}
	for rows.Next() {
		var id, d int64
		if err := rows.Scan(&id, &d); err != nil {
			return nil, err
		}
		out[id] = d
	}
	return out, rows.Err()
}

// MarkRendered clears the change count if nothing changed since it was
// read, and stores the state the rendered view was decided to be in, when
// the occurrence is in review: a fact written by a CLI command (which
// stores no derived state) reaches the cache here.
func (s *Service) MarkRendered(ctx context.Context, v approvals.View, dirty int64) error {
	now := s.now()
	return s.tx(ctx, func(tx *sql.Tx) error {
		var stored approvals.State
		if err := tx.QueryRowContext(ctx, `SELECT state FROM occurrences WHERE id = ? AND dirty = ?`, v.ID, dirty).Scan(&stored); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil // changed meanwhile: rendered again next cycle
			}
			return err
		}
		if !s.Derives || stored == v.State || !inReview(stored) || !inReview(v.State) {
			_, err := tx.ExecContext(ctx, `UPDATE occurrences SET dirty = 0 WHERE id = ?`, v.ID)
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE occurrences SET dirty = 0, state = ?, updated_at = ? WHERE id = ?`, v.State, ms(now), v.ID); err != nil {
			return err
		}
		return appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: "heed", Action: "state." + string(v.State), PostID: v.PostID, Occurrence: v.ID, Detail: v.Verdict.Summary()})
	})
}

func inReview(st approvals.State) bool {
	return st == approvals.StateInReview || st == approvals.StateApproved || st == approvals.StateRejected
}

// SeenEvent records a chat event id and reports whether it was seen before.
func (s *Service) SeenEvent(ctx context.Context, adapter, id string) (bool, error) {
	if id == "" {
		return false, nil
	}
	res, err := s.db.ExecContext(ctx, `INSERT OR IGNORE INTO seen_events (adapter, id, at) VALUES (?, ?, ?)`, adapter, id, ms(s.now()))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 0, nil
}
