package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/heed-dev/heed/approvals"
)

// SetCard records where an occurrence's card was posted.
func (s *ReviewService) SetCard(ctx context.Context, c approvals.CardRef) error {
	_, err := s.store.db.ExecContext(ctx, `INSERT INTO cards (occurrence_id, adapter, room, ref) VALUES (?, ?, ?, ?)
		ON CONFLICT (occurrence_id, adapter, room) DO UPDATE SET ref = excluded.ref`, c.Occurrence, c.Adapter, c.Room, c.Ref)
	return err
}

// Card returns the card of an occurrence in one adapter's room.
func (s *ReviewService) Card(ctx context.Context, occ int64, adapter, room string) (approvals.CardRef, bool, error) {
	c := approvals.CardRef{Occurrence: occ, Adapter: adapter, Room: room}
	err := s.store.db.QueryRowContext(ctx, `SELECT ref, notified FROM cards WHERE occurrence_id = ? AND adapter = ? AND room = ?`, occ, adapter, room).Scan(&c.Ref, &c.Notified)
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	return c, err == nil, err
}

// SetNotified records the state whose people were told in the card's
// thread.
func (s *ReviewService) SetNotified(ctx context.Context, c approvals.CardRef, st approvals.State) error {
	_, err := s.store.db.ExecContext(ctx, `UPDATE cards SET notified = ? WHERE occurrence_id = ? AND adapter = ? AND room = ?`, st, c.Occurrence, c.Adapter, c.Room)
	return err
}

// Supersede moves an occurrence's card to a fresh message and withdraws
// the decisions the change voided, in one transaction, with an audit line.
// Decisions given on the fresh card count as any other.
func (s *ReviewService) Supersede(ctx context.Context, old approvals.CardRef, newRef string, voided []approvals.Reaction) error {
	now := s.now()
	return s.store.tx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE cards SET ref = ?, notified = '' WHERE occurrence_id = ? AND adapter = ? AND room = ? AND ref = ?`,
			newRef, old.Occurrence, old.Adapter, old.Room, old.Ref)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return approvals.Errorf(approvals.ECONFLICT, "the card of #%d moved meanwhile", old.Occurrence)
		}
		var names []string
		for _, v := range voided {
			if _, err := tx.ExecContext(ctx, `UPDATE reactions SET withdrawn_at = ? WHERE id = ? AND occurrence_id = ? AND withdrawn_at IS NULL`,
				ms(now), v.ID, old.Occurrence); err != nil {
				return err
			}
			if !slices.Contains(names, v.UserName) {
				names = append(names, v.UserName)
			}
		}
		o, err := getOcc(ctx, tx, old.Occurrence)
		if err != nil {
			return err
		}
		if _, err := s.refresh(ctx, tx, o.ID, now); err != nil {
			return err
		}
		detail := "fresh card " + newRef + " replaces " + old.Ref
		if len(names) > 0 {
			detail += "; void: " + strings.Join(names, ", ")
		}
		return appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: "heed", Action: "card.superseded", PostID: o.PostID, Occurrence: o.ID,
			Place: old.Adapter + ":" + old.Room, Detail: detail})
	})
}

// CardOccurrence finds the occurrence whose card is the given message.
func (s *ReviewService) CardOccurrence(ctx context.Context, adapter, room, ref string) (int64, bool, error) {
	var id int64
	err := s.store.db.QueryRowContext(ctx, `SELECT occurrence_id FROM cards WHERE adapter = ? AND room = ? AND ref = ?`, adapter, room, ref).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}

// OpenCards lists the cards of occurrences that still wait for a decision,
// for reconciliation on start.
func (s *ReviewService) OpenCards(ctx context.Context) ([]approvals.CardRef, error) {
	rows, err := s.store.db.QueryContext(ctx, `SELECT c.occurrence_id, c.adapter, c.room, c.ref FROM cards c
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

// Dirty lists, by id after after, up to limit occurrences whose card
// changed since it was last rendered.
func (s *ReviewService) Dirty(ctx context.Context, after int64, limit int) ([]approvals.DirtyRef, error) {
	rows, err := s.store.db.QueryContext(ctx, `SELECT id, dirty FROM occurrences WHERE dirty > 0 AND id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []approvals.DirtyRef
	for rows.Next() {
		var d approvals.DirtyRef
		if err := rows.Scan(&d.ID, &d.Dirty); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// MarkRendered records that the cards of views were rendered, in one
// transaction: each occurrence's change count is cleared if nothing
// changed since its view was read (View.Dirty), and the state the view was
// decided to be in is stored when the occurrence is in review, so that a
// fact written by a CLI command (which stores no derived state) reaches
// the cache.
func (s *ReviewService) MarkRendered(ctx context.Context, views ...approvals.View) error {
	if len(views) == 0 {
		return nil
	}
	now := s.now()
	return s.store.tx(ctx, func(tx *sql.Tx) error {
		for _, v := range views {
			var stored approvals.State
			err := tx.QueryRowContext(ctx, `SELECT state FROM occurrences WHERE id = ? AND dirty = ?`, v.ID, v.Dirty).Scan(&stored)
			if errors.Is(err, sql.ErrNoRows) {
				continue // changed meanwhile: rendered again
			}
			if err != nil {
				return err
			}
			if !s.settings.Derives || stored == v.State || !inReview(stored) || !inReview(v.State) {
				if _, err := tx.ExecContext(ctx, `UPDATE occurrences SET dirty = 0 WHERE id = ?`, v.ID); err != nil {
					return err
				}
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE occurrences SET dirty = 0, state = ?, updated_at = ? WHERE id = ?`, v.State, ms(now), v.ID); err != nil {
				return err
			}
			if err := appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: "heed", Action: "state." + string(v.State), PostID: v.PostID, Occurrence: v.ID, Detail: v.Verdict.Summary()}); err != nil {
				return err
			}
		}
		return nil
	})
}

// TouchOpen marks for rendering the open cards whose time is within the
// review window either side of now, after the pauses in force changed:
// they show them. Older cards of held or rejected occurrences stay as they
// are, so this costs the same however long the history. A pause or resume
// does not do it in its own transaction, whose cost (and the receipt's
// wait) must not grow with the number of open cards; the daemon's render
// pass does, once it sees the pauses changed.
func (s *ReviewService) TouchOpen(ctx context.Context) error {
	now := s.now()
	_, err := s.store.exec(ctx, `UPDATE occurrences SET dirty = dirty + 1
		WHERE state IN ('scheduled','in_review','approved','rejected','held') AND at > ? AND at <= ?`,
		ms(now.Add(-s.settings.Window)), ms(now.Add(s.settings.Window)))
	return err
}

func inReview(st approvals.State) bool {
	return st == approvals.StateInReview || st == approvals.StateApproved || st == approvals.StateRejected
}

// Seen records, in one transaction, a chat event's id (reporting whether
// it was seen before) and, when room and user are set, that the user was
// in the review room at that time (for the on-duty check).
func (s *ReviewService) Seen(ctx context.Context, adapter, id, room, user string, at time.Time) (dup bool, err error) {
	now := s.now()
	err = s.store.tx(ctx, func(tx *sql.Tx) error {
		dup = false
		if id != "" {
			res, err := tx.ExecContext(ctx, `INSERT INTO seen_events (adapter, id, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, adapter, id, ms(now))
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				dup = true
				return nil
			}
		}
		if room != "" && user != "" {
			return seenInRoom(ctx, tx, room, user, at, now)
		}
		return nil
	})
	return dup, err
}
