package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/heed-dev/heed/approvals"
)

func getRoster(ctx context.Context, q querier, room string) (approvals.Roster, bool, error) {
	var raw string
	err := q.QueryRowContext(ctx, `SELECT roster FROM rosters WHERE room = ?`, room).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return approvals.Roster{}, false, nil
	}
	if err != nil {
		return approvals.Roster{}, false, err
	}
	var r approvals.Roster
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return approvals.Roster{}, false, err
	}
	return r, true, nil
}

// Roster returns the roster recorded for a review room, and false when
// none is.
func (s *ReviewService) Roster(ctx context.Context, room string) (approvals.Roster, bool, error) {
	return getRoster(ctx, s.store.db, room)
}

// SetRoster records what a review room's chat says about who may approve,
// and when it was read. When that differs from the roster recorded
// before, every open occurrence of the room is judged again in the same
// transaction; isDefault says the room also holds the posts that name
// none. It reports how many occurrences changed state.
func (s *ReviewService) SetRoster(ctx context.Context, room string, isDefault bool, r approvals.Roster) (int, error) {
	r = r.Normalized()
	raw, err := json.Marshal(r)
	if err != nil {
		return 0, err
	}
	now := s.now()
	changed := 0
	err = s.store.tx(ctx, func(tx *sql.Tx) error {
		changed = 0
		old, ok, err := getRoster(ctx, tx, room)
		if err != nil {
			return err
		}
		if ok && old.SameAs(r) {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO rosters (room, roster, read_at) VALUES (?, ?, ?)
			ON CONFLICT (room) DO UPDATE SET roster = excluded.roster, read_at = excluded.read_at`, room, string(raw), ms(r.ReadAt)); err != nil {
			return err
		}
		changed, err = s.rederive(ctx, tx, room, isDefault, now)
		return err
	})
	return changed, err
}
