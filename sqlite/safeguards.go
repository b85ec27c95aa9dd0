package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/heed-dev/heed/approvals"
)

func (s *ReviewService) timing(v approvals.View) approvals.TimingCheck {
	if s.settings.Timing == nil {
		return approvals.TimingCheck{}
	}
	return s.settings.Timing(v)
}

// TimingFor checks a post's time before it has an occurrence (heed post
// show of a post beyond the review window).
func (s *ReviewService) TimingFor(p approvals.Post, at time.Time) approvals.TimingCheck {
	v := approvals.View{Occurrence: approvals.Occurrence{PostID: p.ID, At: at}, Post: p, Payloads: approvals.Payloads(&p, at)}
	v.Hashes = approvals.Hashes(v.Payloads)
	return s.timing(v)
}

// AllowOffHours records that an approver lets an occurrence go out outside
// staffed hours.
func (s *ReviewService) AllowOffHours(ctx context.Context, id int64, actor, place string) (approvals.View, error) {
	now := s.now()
	var v approvals.View
	err := s.store.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if v, err = s.view(ctx, tx, id); err != nil {
			return err
		}
		if !v.State.Open() {
			return approvals.Errorf(approvals.ECONFLICT, "#%d is %s: there is nothing to allow", id, v.State)
		}
		if v.Timing.OffHours == "" {
			return approvals.Errorf(approvals.ECONFLICT, "#%d is within staffed hours: it needs no allowance", id)
		}
		if v.AllowOffHours != "" {
			return approvals.Errorf(approvals.ECONFLICT, "#%d is allowed off hours already, by %s", id, v.AllowOffHours)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE occurrences SET allow_off_hours = ?, dirty = dirty + 1 WHERE id = ?`, actor, id); err != nil {
			return err
		}
		v.AllowOffHours = actor
		return appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: actor, Action: "allow.off_hours", PostID: v.PostID, Occurrence: id, Place: place, Detail: v.Timing.OffHours})
	})
	return v, err
}

func seenInRoom(ctx context.Context, q querier, room, user string, at, now time.Time) error {
	if at.IsZero() || at.After(now) {
		at = now
	}
	_, err := q.ExecContext(ctx, `INSERT INTO room_presence (room, "user", at) VALUES (?, ?, ?)
		ON CONFLICT (room, "user") DO UPDATE SET at = CASE WHEN excluded.at > room_presence.at THEN excluded.at ELSE room_presence.at END`, room, user, ms(at))
	return err
}

// approverSeen reports whether an approver of the occurrence's room was
// seen within the on-duty window before its time, and if not, when the last
// one was.
func (s *DeliveryService) approverSeen(ctx context.Context, q querier, v approvals.View) (bool, string, error) {
	pol, err := s.policyIn(ctx, q, v.Post.Room)
	if err != nil {
		return false, "", err
	}
	rows, err := q.QueryContext(ctx, `SELECT "user", at FROM room_presence WHERE room = ? ORDER BY at DESC`, v.Timing.DutyRoom)
	if err != nil {
		return false, "", err
	}
	defer rows.Close()
	from := v.At.Add(-v.Timing.OnDuty)
	for rows.Next() {
		var user string
		var at int64
		if err := rows.Scan(&user, &at); err != nil {
			return false, "", err
		}
		if ok, _ := pol.IsApprover(user); !ok {
			continue
		}
		if fromMS(at).Before(from) {
			return false, fmt.Sprintf("the last was %s at %s", user, fromMS(at).Format("2006-01-02 15:04 UTC")), rows.Err()
		}
		return true, "", rows.Err()
	}
	return false, "none was ever seen there", rows.Err()
}

// LastCallsDue lists approved occurrences whose time is within lead from
// now and still ahead, and that have had no last call for that time.
func (s *ReviewService) LastCallsDue(ctx context.Context, now time.Time, lead time.Duration) ([]int64, error) {
	return queryIDs(ctx, s.store.db, `SELECT o.id FROM occurrences o
		WHERE o.state = 'approved' AND o.at > ? AND o.at <= ?
		AND NOT EXISTS (SELECT 1 FROM last_calls l WHERE l.occurrence_id = o.id AND l.at = o.at)
		ORDER BY o.at LIMIT 200`, ms(now), ms(now.Add(lead)))
}

// ClaimLastCall records that the last call for an occurrence at time `at`
// is being sent. It reports false when it was sent already, so that it goes
// out at most once, across restarts and processes.
func (s *ReviewService) ClaimLastCall(ctx context.Context, occ int64, at time.Time) (bool, error) {
	res, err := s.store.db.ExecContext(ctx, `INSERT INTO last_calls (occurrence_id, at, sent_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, occ, ms(at), ms(s.now()))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ReleaseLastCall undoes a claim whose message could not be sent, so the
// next cycle tries again.
func (s *ReviewService) ReleaseLastCall(ctx context.Context, occ int64, at time.Time) error {
	_, err := s.store.db.ExecContext(ctx, `DELETE FROM last_calls WHERE occurrence_id = ? AND at = ?`, occ, ms(at))
	return err
}

// AddSensitiveDate stores a sensitive day added from chat. The caller has
// validated the date.
func (s *ReviewService) AddSensitiveDate(ctx context.Context, date, name, actor, place string) (approvals.SensitiveDate, error) {
	now := s.now()
	d := approvals.SensitiveDate{Date: date, Name: name, AddedBy: actor, At: now}
	err := s.store.tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO sensitive_dates (date, name, added_by, at) VALUES (?, ?, ?, ?) RETURNING id`, date, name, actor, ms(now)).Scan(&d.ID); err != nil {
			return err
		}
		return appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: actor, Action: "sensitive.add", Place: place, Detail: date + ": " + name})
	})
	return d, err
}

// SensitiveDates lists the days added from chat, oldest first.
func (s *ReviewService) SensitiveDates(ctx context.Context) ([]approvals.SensitiveDate, error) {
	rows, err := s.store.db.QueryContext(ctx, `SELECT id, date, name, added_by, at FROM sensitive_dates ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []approvals.SensitiveDate
	for rows.Next() {
		var d approvals.SensitiveDate
		var at int64
		if err := rows.Scan(&d.ID, &d.Date, &d.Name, &d.AddedBy, &at); err != nil {
			return nil, err
		}
		d.At = fromMS(at)
		out = append(out, d)
	}
	return out, rows.Err()
}

// RefreshOpen derives the state of every open occurrence in the review
// window again and marks its card for rendering: after a change to what the
// timing safeguards say (a sensitive day added from chat).
func (s *ReviewService) RefreshOpen(ctx context.Context) error {
	now := s.now()
	return s.store.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM occurrences WHERE state IN ('scheduled','in_review','approved','rejected','held') AND at <= ?`, ms(now.Add(s.settings.Window)))
		if err != nil {
			return err
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		for _, id := range ids {
			if _, err := s.refresh(ctx, tx, id, now); err != nil {
				return err
			}
		}
		return nil
	})
}

func getRetractions(ctx context.Context, q querier, occ int64) ([]approvals.Retraction, error) {
	rows, err := q.QueryContext(ctx, `SELECT target, state, error, by, at FROM retractions WHERE occurrence_id = ? ORDER BY target`, occ)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []approvals.Retraction
	for rows.Next() {
		var r approvals.Retraction
		var at int64
		if err := rows.Scan(&r.Target, &r.State, &r.Error, &r.By, &at); err != nil {
			return nil, err
		}
		r.At = fromMS(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// BeginRetract claims the published deliveries of an occurrence that were
// not taken back yet. Targets whose network cannot delete are recorded as
// unsupported. A second retract of the same post is refused with a message
// saying what happened the first time; failed ones are tried again.
func (s *PauseService) BeginRetract(ctx context.Context, id int64, canRetract func(target string) bool, actor, place string) ([]approvals.RetractItem, error) {
	now := s.now()
	var items []approvals.RetractItem
	err := s.store.tx(ctx, func(tx *sql.Tx) error {
		items = nil
		o, err := getOcc(ctx, tx, id)
		if err != nil {
			return err
		}
		ds, err := getDeliveries(ctx, tx, id)
		if err != nil {
			return err
		}
		prev, err := getRetractions(ctx, tx, id)
		if err != nil {
			return err
		}
		done := map[string]approvals.Retraction{}
		for _, r := range prev {
			done[r.Target] = r
		}
		published, unsupported := 0, 0
		for _, d := range ds {
			if d.State != approvals.DeliveryPublished {
				continue
			}
			published++
			from := done[d.Target].State // RetractNone when nobody asked yet
			if from.Terminal() {
				continue
			}
			ev := approvals.RtBegin
			if !canRetract(d.Target) {
				ev = approvals.RtUnsupported
				unsupported++
			}
			state, err := moveRetraction(id, d.Target, from, ev)
			if err != nil {
				return err
			}
			if from == approvals.RetractNone {
				_, err = tx.ExecContext(ctx, `INSERT INTO retractions (occurrence_id, target, state, error, by, at) VALUES (?, ?, ?, '', ?, ?)`,
					id, d.Target, state, actor, ms(now))
			} else {
				err = updateRetraction(ctx, tx, id, d.Target, from, `state = ?, error = '', by = ?, at = ?`, state, actor, ms(now))
			}
			if err != nil {
				return err
			}
			if state == approvals.RetractUnsupported {
				if err := appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: actor, Action: "retract.unsupported", PostID: o.PostID, Occurrence: id, Target: d.Target, Place: place, Detail: "the network cannot delete through heed"}); err != nil {
					return err
				}
				continue
			}
			items = append(items, approvals.RetractItem{Occurrence: id, Target: d.Target, RemoteID: d.RemoteID, URL: d.URL})
		}
		if published == 0 {
			return approvals.Errorf(approvals.ECONFLICT, "#%d has not been published (it is %s): there is nothing to retract", id, o.State)
		}
		if len(items) == 0 && unsupported == 0 {
			var parts []string
			for _, r := range prev {
				parts = append(parts, fmt.Sprintf("%s %s by %s", r.Target, r.State, r.By))
			}
			return approvals.Errorf(approvals.ECONFLICT, "#%d was retracted already (%s): nothing more to do", id, strings.Join(parts, "; "))
		}
		if _, err := tx.ExecContext(ctx, `UPDATE occurrences SET dirty = dirty + 1 WHERE id = ?`, id); err != nil {
			return err
		}
		targets := make([]string, len(items))
		for i, it := range items {
			targets[i] = it.Target
		}
		return appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: actor, Action: "retract.request", PostID: o.PostID, Occurrence: id, Place: place, Detail: strings.Join(targets, ", ")})
	})
	return items, err
}

// moveRetraction applies ev to a retraction in state from through the
// retraction state machine. An illegal move is a conflict.
func moveRetraction(occ int64, target string, from approvals.RetractState, ev approvals.RetractEvent) (approvals.RetractState, error) {
	to, err := approvals.RetractTransition(from, ev)
	if err != nil {
		return from, approvals.Errorf(approvals.ECONFLICT, "#%d → %s: %v", occ, target, err)
	}
	return to, nil
}

// updateRetraction runs `UPDATE retractions SET <set>` on one retraction,
// only while it is still in state from.
func updateRetraction(ctx context.Context, tx *sql.Tx, occ int64, target string, from approvals.RetractState, set string, args ...any) error {
	res, err := tx.ExecContext(ctx, `UPDATE retractions SET `+set+` WHERE occurrence_id = ? AND target = ? AND state = ?`,
		append(args, occ, target, from)...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return approvals.Errorf(approvals.ECONFLICT, "#%d → %s: the retraction is no longer %s", occ, target, from)
	}
	return nil
}

// RecordRetract stores a network's answer to a retraction under way.
func (s *PauseService) RecordRetract(ctx context.Context, it approvals.RetractItem, retractErr error, actor, place string) error {
	now := s.now()
	ev, action, msg := approvals.RtDeleted, "retract.ok", ""
	if retractErr != nil {
		ev, action, msg = approvals.RtFailed, "retract.failed", retractErr.Error()
	}
	return s.store.tx(ctx, func(tx *sql.Tx) error {
		o, err := getOcc(ctx, tx, it.Occurrence)
		if err != nil {
			return err
		}
		var from approvals.RetractState
		err = tx.QueryRowContext(ctx, `SELECT state FROM retractions WHERE occurrence_id = ? AND target = ?`, it.Occurrence, it.Target).Scan(&from)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		state, err := moveRetraction(it.Occurrence, it.Target, from, ev)
		if err != nil {
			return err
		}
		if err := updateRetraction(ctx, tx, it.Occurrence, it.Target, from, `state = ?, error = ?, at = ?`, state, msg, ms(now)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE occurrences SET dirty = dirty + 1 WHERE id = ?`, it.Occurrence); err != nil {
			return err
		}
		detail := strings.TrimSpace(it.URL + " " + it.RemoteID)
		if msg != "" {
			detail += ": " + msg
		}
		return appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: actor, Action: action, PostID: o.PostID, Occurrence: it.Occurrence, Target: it.Target, Place: place, Detail: detail})
	})
}

// OfferRetract lists what was published within `window` before now and
// not taken back, and records the offer to retract it. With nothing to
// offer, nothing is recorded and the offer has no id.
func (s *PauseService) OfferRetract(ctx context.Context, window time.Duration, actor, reason, place string) (approvals.RetractOffer, error) {
	if window <= 0 {
		return approvals.RetractOffer{}, approvals.Errorf(approvals.EINVALID, "retract window must be a positive duration such as 2h")
	}
	now := s.now()
	state, err := approvals.OfferTransition(approvals.OfferNone, approvals.OfMake)
	if err != nil {
		return approvals.RetractOffer{}, err
	}
	o := approvals.RetractOffer{By: actor, Reason: reason, Since: now.Add(-window), At: now, Place: place, State: state}
	err = s.store.tx(ctx, func(tx *sql.Tx) error {
		o.ID, o.Items = 0, nil
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT d.occurrence_id FROM deliveries d
			WHERE d.state = ? AND d.updated_at >= ?
			AND NOT EXISTS (SELECT 1 FROM retractions r WHERE r.occurrence_id = d.occurrence_id AND r.target = d.target AND r.state IN (?, ?))
			ORDER BY d.occurrence_id`, approvals.DeliveryPublished, ms(o.Since), approvals.RetractDone, approvals.RetractUnsupported)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			o.Items = append(o.Items, id)
		}
		rows.Close()
		if len(o.Items) == 0 {
			return nil
		}
		items, _ := json.Marshal(o.Items)
		if err := tx.QueryRowContext(ctx, `INSERT INTO retract_offers (by, reason, since, at, items, place, state) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			actor, reason, ms(o.Since), ms(now), string(items), place, o.State).Scan(&o.ID); err != nil {
			return err
		}
		return appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: actor, Action: "retract.offer", Place: place,
			Detail: fmt.Sprintf("offer %d: %s published since %s", o.ID, idList(o.Items), o.Since.Format(time.RFC3339))})
	})
	return o, err
}

func idList(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = "#" + strconv.FormatInt(id, 10)
	}
	return strings.Join(parts, ", ")
}

const offerColumns = `id, by, reason, since, at, items, place, posted, state, decided_by`

func scanOffer(r scanner) (approvals.RetractOffer, error) {
	var o approvals.RetractOffer
	var since, at int64
	var items string
	err := r.Scan(&o.ID, &o.By, &o.Reason, &since, &at, &items, &o.Place, &o.Posted, &o.State, &o.DecidedBy)
	o.Since, o.At = fromMS(since), fromMS(at)
	_ = json.Unmarshal([]byte(items), &o.Items)
	return o, err
}

// UnpostedOffers lists open offers not yet announced in the review rooms
// (made with the CLI while the daemon runs).
func (s *PauseService) UnpostedOffers(ctx context.Context) ([]approvals.RetractOffer, error) {
	return queryAll(ctx, s.store.db, scanOffer, `SELECT `+offerColumns+` FROM retract_offers WHERE state = ? AND NOT posted ORDER BY id`, approvals.OfferOpen)
}

// MarkOfferPosted records that an offer is being announced in the review
// rooms. It reports false when another cycle did so already, or when the
// offer was decided meanwhile and there is nothing to announce.
func (s *PauseService) MarkOfferPosted(ctx context.Context, id int64) (bool, error) {
	var mine bool
	err := s.store.tx(ctx, func(tx *sql.Tx) error {
		mine = false
		var from approvals.OfferState // OfferNone when there is no such offer
		var posted bool
		err := tx.QueryRowContext(ctx, `SELECT state, posted FROM retract_offers WHERE id = ?`, id).Scan(&from, &posted)
		switch {
		case errors.Is(err, sql.ErrNoRows): // stays OfferNone
		case err != nil:
			return err
		case posted:
			return nil // another cycle announces it
		}
		to, err := approvals.OfferTransition(from, approvals.OfAnnounce)
		if err != nil {
			return nil // decided, or gone: nothing to announce
		}
		res, err := tx.ExecContext(ctx, `UPDATE retract_offers SET posted = TRUE, state = ? WHERE id = ? AND NOT posted AND state = ?`, to, id, from)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		mine = n == 1
		return nil
	})
	return mine, err
}

// DecideOffer confirms or cancels an open retract offer: the one with id,
// or the newest open one when id is 0. Only one person can decide it.
func (s *PauseService) DecideOffer(ctx context.Context, id int64, confirm bool, actor, place string) (approvals.RetractOffer, error) {
	now := s.now()
	var o approvals.RetractOffer
	err := s.store.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if id == 0 {
			o, err = scanOffer(tx.QueryRowContext(ctx, `SELECT `+offerColumns+` FROM retract_offers WHERE state = ? ORDER BY id DESC LIMIT 1`, approvals.OfferOpen))
		} else {
			o, err = scanOffer(tx.QueryRowContext(ctx, `SELECT `+offerColumns+` FROM retract_offers WHERE id = ?`, id))
		}
		if errors.Is(err, sql.ErrNoRows) {
			if id == 0 {
				return approvals.Errorf(approvals.ENOTFOUND, "no retract offer is waiting; `pause retract 2h` makes one, `retract N` takes back one post")
			}
			return approvals.Errorf(approvals.ENOTFOUND, "no retract offer %d", id)
		}
		if err != nil {
			return err
		}
		ev, action := approvals.OfCancel, "retract.offer_cancel"
		if confirm {
			ev, action = approvals.OfConfirm, "retract.offer_confirm"
		}
		from := o.State
		to, err := approvals.OfferTransition(from, ev)
		if err != nil {
			return approvals.Errorf(approvals.ECONFLICT, "retract offer %d was %s by %s already", o.ID, o.State, o.DecidedBy)
		}
		res, err := tx.ExecContext(ctx, `UPDATE retract_offers SET state = ?, decided_by = ?, decided_at = ? WHERE id = ? AND state = ?`,
			to, actor, ms(now), o.ID, from)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return approvals.Errorf(approvals.ECONFLICT, "retract offer %d is no longer %s", o.ID, from)
		}
		o.State, o.DecidedBy = to, actor
		return appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: actor, Action: action, Place: place, Detail: fmt.Sprintf("offer %d: %s", o.ID, idList(o.Items))})
	})
	return o, err
}
