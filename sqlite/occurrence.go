package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/heed-dev/heed/approvals"
)

const occColumns = `id, post_id, at, state, hash, note, dirty, updated_at, fresh_after, allow_off_hours`

func scanOcc(r scanner) (approvals.Occurrence, error) {
	var o approvals.Occurrence
	var at, updated int64
	err := r.Scan(&o.ID, &o.PostID, &at, &o.State, &o.Hash, &o.Note, &o.Dirty, &updated, &o.FreshAfter, &o.AllowOffHours)
	o.At, o.Updated = fromMS(at), fromMS(updated)
	return o, err
}

func getOcc(ctx context.Context, q querier, id int64) (approvals.Occurrence, error) {
	o, err := scanOcc(q.QueryRowContext(ctx, `SELECT `+occColumns+` FROM occurrences WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return o, approvals.Errorf(approvals.ENOTFOUND, "no card #%d (type queue to see the open ones)", id)
	}
	return o, err
}

func liveReactions(ctx context.Context, q querier, occ int64) ([]approvals.Reaction, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, "user", user_name, emoji, hashes, at, from_bot, from_self, reaction_id, source
		FROM reactions WHERE occurrence_id = ? AND withdrawn_at IS NULL ORDER BY at, id`, occ)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []approvals.Reaction
	for rows.Next() {
		r := approvals.Reaction{Occurrence: occ}
		var hashes string
		var at int64
		if err := rows.Scan(&r.ID, &r.User, &r.UserName, &r.Emoji, &hashes, &at, &r.FromBot, &r.FromSelf, &r.ReactionID, &r.Source); err != nil {
			return nil, err
		}
		_ = json.Unmarshal([]byte(hashes), &r.Hashes)
		r.At = fromMS(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

func getDeliveries(ctx context.Context, q querier, occ int64) ([]approvals.Delivery, error) {
	rows, err := q.QueryContext(ctx, `SELECT target, state, attempts, coalesce(next_attempt_at, 0), idempotency_key, remote_id, url, error
		FROM deliveries WHERE occurrence_id = ? ORDER BY target`, occ)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []approvals.Delivery
	for rows.Next() {
		var d approvals.Delivery
		var next int64
		if err := rows.Scan(&d.Target, &d.State, &d.Attempts, &next, &d.Key, &d.RemoteID, &d.URL, &d.Error); err != nil {
			return nil, err
		}
		d.NextAttempt = fromMS(next)
		out = append(out, d)
	}
	return out, rows.Err()
}

// view loads an occurrence with its post, payloads and deliveries, and
// asks approvals.Decide for its verdict and state. The state column of an
// occurrence in review is only a cache of that answer: the view never
// trusts it.
func (s *core) view(ctx context.Context, q querier, id int64) (approvals.View, error) {
	v, _, err := s.load(ctx, q, id)
	return v, err
}

// load is view, also returning the state as stored (the cache refresh
// brings up to date).
func (s *core) load(ctx context.Context, q querier, id int64) (approvals.View, approvals.State, error) {
	o, err := getOcc(ctx, q, id)
	if err != nil {
		return approvals.View{}, "", err
	}
	p, err := getPost(ctx, q, o.PostID)
	if err != nil {
		return approvals.View{}, "", err
	}
	v := approvals.View{Occurrence: o, Post: p, Payloads: approvals.Payloads(&p, o.At)}
	v.Hashes = approvals.Hashes(v.Payloads)
	for _, pl := range v.Payloads {
		if probs := s.problems(pl, v.Hashes[pl.Target]); len(probs) > 0 {
			if v.Problems == nil {
				v.Problems = map[string][]string{}
			}
			v.Problems[pl.Target] = probs
		}
	}
	rs, err := liveReactions(ctx, q, id)
	if err != nil {
		return approvals.View{}, "", err
	}
	pol, err := s.policyIn(ctx, q, p.Room)
	if err != nil {
		return approvals.View{}, "", err
	}
	if s.settings.Timing != nil {
		v.Timing = s.settings.Timing(v)
	}
	v.Verdict, v.State = approvals.Decide(approvals.Facts{Occurrence: o, Author: p.Author, Hashes: v.Hashes,
		Problems: v.Problems, Reactions: rs, Timing: v.Timing}, pol)
	if v.Deliveries, err = getDeliveries(ctx, q, id); err != nil {
		return v, o.State, err
	}
	for _, d := range v.Deliveries {
		if d.State == approvals.DeliveryPublished {
			v.Retractions, err = getRetractions(ctx, q, id)
			break
		}
	}
	return v, o.State, err
}

// policy is a review room's configured policy, without its roster.
func (s *core) policy(room string) approvals.Policy {
	if s.settings.Policy == nil {
		return approvals.Policy{}.WithDefaults()
	}
	return s.settings.Policy(room).WithDefaults()
}

// policyIn is a review room's policy with the roster the store holds for
// it.
func (s *core) policyIn(ctx context.Context, q querier, room string) (approvals.Policy, error) {
	p := s.policy(room)
	r, ok, err := getRoster(ctx, q, p.Room)
	if err != nil || !ok {
		return p, err
	}
	p.Roster = &r
	return p, nil
}

// Occurrence returns the view of one occurrence.
func (s *ReviewService) Occurrence(ctx context.Context, id int64) (approvals.View, error) {
	return s.view(ctx, s.store.db, id)
}

// setState applies ev through the state machine and records the change.
func (s *core) setState(ctx context.Context, tx *sql.Tx, o approvals.Occurrence, ev approvals.Event, note string, now time.Time) error {
	to, err := approvals.Transition(o.State, ev)
	if err != nil {
		return approvals.Errorf(approvals.ECONFLICT, "#%d: %v", o.ID, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE occurrences SET state = ?, note = ?, dirty = dirty + 1, updated_at = ? WHERE id = ?`,
		to, note, ms(now), o.ID); err != nil {
		return err
	}
	if to == approvals.StateHeld {
		// Whatever was decided before the hold no longer counts.
		if _, err := tx.ExecContext(ctx, `UPDATE occurrences SET fresh_after = (SELECT coalesce(max(id), 0) FROM reactions WHERE occurrence_id = ?) WHERE id = ?`, o.ID, o.ID); err != nil {
			return err
		}
	}
	if to != o.State {
		return appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: "heed", Action: "state." + string(to), PostID: o.PostID, Occurrence: o.ID, Detail: note})
	}
	return nil
}

// refresh brings an occurrence's cached hash and state up to date with
// what approvals.Decide says now, and marks its card for rendering. A
// process that is not the judge (a CLI command, an import: Derives is
// false) stores only the hash; the daemon brings the state up to date when
// it renders the card (MarkRendered).
func (s *core) refresh(ctx context.Context, tx *sql.Tx, id int64, now time.Time) (approvals.View, error) {
	v, stored, err := s.load(ctx, tx, id)
	if err != nil {
		return v, err
	}
	hash := approvals.CombinedHash(v.Hashes)
	v.Dirty++ // each branch below marks the card for rendering
	if !s.settings.Derives {
		_, err := tx.ExecContext(ctx, `UPDATE occurrences SET hash = ?, dirty = dirty + 1 WHERE id = ?`, hash, id)
		return v, err
	}
	if hash == v.Hash && v.State == stored {
		_, err = tx.ExecContext(ctx, `UPDATE occurrences SET dirty = dirty + 1 WHERE id = ?`, id)
		return v, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE occurrences SET state = ?, hash = ?, dirty = dirty + 1, updated_at = ? WHERE id = ?`,
		v.State, hash, ms(now), id); err != nil {
		return v, err
	}
	if v.State != stored {
		detail := v.Verdict.Summary()
		if hash != v.Hash {
			detail = "content changed; " + detail
		}
		if err := appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: "heed", Action: "state." + string(v.State), PostID: v.PostID, Occurrence: id, Detail: detail}); err != nil {
			return v, err
		}
	}
	v.Hash = hash
	return v, nil
}

// moveOcc gives an occurrence a new time. The time is part of every
// payload, so earlier approvals no longer match and a fresh decision is
// needed.
func (s *core) moveOcc(ctx context.Context, tx *sql.Tx, o approvals.Occurrence, at time.Time, now time.Time, why string) error {
	if !at.After(now) && !at.Equal(now) {
		return approvals.Errorf(approvals.EINVALID, "#%d: new time %s is in the past", o.ID, at.Format(time.RFC3339))
	}
	// Looked for first: on PostgreSQL a statement that fails ends the
	// transaction, and a caller may go on after this conflict.
	var clash int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM occurrences WHERE post_id = ? AND at = ? AND id <> ?`, o.PostID, ms(at), o.ID).Scan(&clash); err != nil {
		return err
	}
	if clash > 0 {
		return approvals.Errorf(approvals.ECONFLICT, "#%d: its post already has an occurrence at %s", o.ID, at.Format(time.RFC3339))
	}
	if _, err := tx.ExecContext(ctx, `UPDATE occurrences SET at = ? WHERE id = ?`, ms(at), o.ID); err != nil {
		if isUniqueViolation(err) {
			return approvals.Errorf(approvals.ECONFLICT, "#%d: its post already has an occurrence at %s", o.ID, at.Format(time.RFC3339))
		}
		return err
	}
	// Deliveries that were held never went out: the machine lets them start
	// again, and they are dropped. It refuses the others: published ones stay
	// published and are never sent twice.
	ds, err := getDeliveries(ctx, tx, o.ID)
	if err != nil {
		return err
	}
	for _, d := range ds {
		to, err := approvals.DeliveryTransition(d.State, approvals.DvReschedule)
		if err != nil {
			continue
		}
		if to != approvals.DeliveryNone {
			if err := updateDelivery(ctx, tx, o.ID, d.Target, d.State, `state = ?, updated_at = ?`, to, ms(now)); err != nil {
				return err
			}
			continue
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM deliveries WHERE occurrence_id = ? AND target = ? AND state = ?`, o.ID, d.Target, d.State)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return approvals.Errorf(approvals.ECONFLICT, "#%d → %s is no longer %s", o.ID, d.Target, d.State)
		}
	}
	if o.State != approvals.StateScheduled {
		if err := s.setState(ctx, tx, o, approvals.EvReschedule, why, now); err != nil {
			return err
		}
	}
	_, err = s.refresh(ctx, tx, o.ID, now)
	return err
}

func isUniqueViolation(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "UNIQUE constraint failed") || pgCode(err) == pgUniqueViolation)
}

// rederive judges every open occurrence of a review room again, after who
// may approve there changed. isDefault says the room is also the one for
// posts that name none. It reports how many changed state.
func (s *ReviewService) rederive(ctx context.Context, tx *sql.Tx, room string, isDefault bool, now time.Time) (int, error) {
	ids, err := queryIDs(ctx, tx, `SELECT o.id FROM occurrences o JOIN posts p ON p.id = o.post_id
		WHERE o.state IN ('in_review','approved','rejected') AND (p.room = ? OR (? AND p.room = ''))`, room, isDefault)
	if err != nil {
		return 0, err
	}
	changed := 0
	for _, id := range ids {
		before, err := getOcc(ctx, tx, id)
		if err != nil {
			return changed, err
		}
		v, err := s.refresh(ctx, tx, id, now)
		if err != nil {
			return changed, err
		}
		if v.State != before.State {
			changed++
		}
	}
	return changed, nil
}

// Delay moves an occurrence later by d (from now, if its time has passed
// while it was held or missed). Its approvals are void: the time is part of
// the payload.
func (s *ReviewService) Delay(ctx context.Context, id int64, d time.Duration, actor, place string) (approvals.View, error) {
	if d <= 0 {
		return approvals.View{}, approvals.Errorf(approvals.EINVALID, "delay must be a positive duration such as 30m or 2h")
	}
	return s.move(ctx, id, actor, place, fmt.Sprintf("delayed by %s by %s; needs a fresh approval", d, actor), func(o approvals.Occurrence, now time.Time) time.Time {
		if o.State == approvals.StateHeld || o.State == approvals.StateMissed {
			return now.Add(d)
		}
		return o.At.Add(d)
	})
}

func (s *ReviewService) move(ctx context.Context, id int64, actor, place, why string, to func(approvals.Occurrence, time.Time) time.Time) (approvals.View, error) {
	now := s.now()
	var v approvals.View
	err := s.store.tx(ctx, func(tx *sql.Tx) error {
		o, err := getOcc(ctx, tx, id)
		if err != nil {
			return err
		}
		if !o.State.Open() && o.State != approvals.StateMissed {
			return approvals.Errorf(approvals.ECONFLICT, "#%d is %s: it can no longer be moved", id, o.State)
		}
		at := to(o, now).UTC().Truncate(time.Second)
		if !at.After(now) {
			return approvals.Errorf(approvals.EINVALID, "#%d would move to %s, which is in the past", id, at.Format(time.RFC3339))
		}
		if err := s.moveOcc(ctx, tx, o, at, now, why); err != nil {
			return err
		}
		if err := appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: actor, Action: "occurrence.move", PostID: o.PostID, Occurrence: id, Place: place, Detail: "to " + at.Format(time.RFC3339)}); err != nil {
			return err
		}
		v, err = s.view(ctx, tx, id)
		return err
	})
	return v, err
}

// CancelOccurrence drops one occurrence.
func (s *ReviewService) CancelOccurrence(ctx context.Context, id int64, actor, place string) error {
	now := s.now()
	return s.store.tx(ctx, func(tx *sql.Tx) error {
		o, err := getOcc(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := s.setState(ctx, tx, o, approvals.EvCancel, "canceled by "+actor, now); err != nil {
			return err
		}
		return appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: actor, Action: "occurrence.cancel", PostID: o.PostID, Occurrence: id, Place: place})
	})
}

// OpenReview marks an occurrence as under review once its card is posted.
func (s *ReviewService) OpenReview(ctx context.Context, id int64) error {
	now := s.now()
	return s.store.tx(ctx, func(tx *sql.Tx) error {
		o, err := getOcc(ctx, tx, id)
		if err != nil || o.State != approvals.StateScheduled {
			return err
		}
		if err := s.setState(ctx, tx, o, approvals.EvOpenReview, "", now); err != nil {
			return err
		}
		_, err = s.refresh(ctx, tx, id, now)
		return err
	})
}

// Queue lists the next open occurrences (and held ones), soonest first.
func (s *ReviewService) Queue(ctx context.Context, limit int) ([]approvals.Summary, error) {
	if limit <= 0 {
		limit = 20
	}
	rows, err := s.store.db.QueryContext(ctx, `SELECT o.id, o.post_id, o.at, o.state, o.note, p.text, p.targets
		FROM occurrences o JOIN posts p ON p.id = o.post_id
		WHERE o.state IN ('scheduled','in_review','approved','rejected','held','publishing','unknown')
		ORDER BY o.at LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []approvals.Summary
	for rows.Next() {
		var sm approvals.Summary
		var at int64
		var targets string
		if err := rows.Scan(&sm.ID, &sm.PostID, &at, &sm.State, &sm.Note, &sm.Text, &targets); err != nil {
			return nil, err
		}
		sm.At = fromMS(at)
		_ = json.Unmarshal([]byte(targets), &sm.Targets)
		out = append(out, sm)
	}
	return out, rows.Err()
}

// Occurrences lists the occurrences of a post.
func (s *ReviewService) Occurrences(ctx context.Context, postID int64, limit int) ([]approvals.Occurrence, error) {
	if limit <= 0 {
		limit = 50
	}
	return queryAll(ctx, s.store.db, scanOcc, `SELECT `+occColumns+` FROM occurrences WHERE post_id = ? ORDER BY at LIMIT ?`, postID, limit)
}

// Counts returns how many occurrences are in each state.
func (s *ReviewService) Counts(ctx context.Context) (map[approvals.State]int, error) {
	rows, err := s.store.db.QueryContext(ctx, `SELECT state, count(*) FROM occurrences GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[approvals.State]int{}
	for rows.Next() {
		var st approvals.State
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] = n
	}
	return out, rows.Err()
}

// ListOccurrences lists the occurrences f picks, soonest first.
func (s *ReviewService) ListOccurrences(ctx context.Context, f approvals.OccurrenceFilter) ([]approvals.Occurrence, error) {
	q, args := `SELECT `+occColumns+` FROM occurrences WHERE 1 = 1`, []any{}
	if !f.From.IsZero() {
		q, args = q+` AND at >= ?`, append(args, ms(f.From))
	}
	if !f.To.IsZero() {
		q, args = q+` AND at < ?`, append(args, ms(f.To))
	}
	if f.State != "" {
		q, args = q+` AND state = ?`, append(args, string(f.State))
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	return queryAll(ctx, s.store.db, scanOcc, q+` ORDER BY at, id LIMIT ?`, append(args, f.Limit)...)
}
