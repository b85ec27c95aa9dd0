package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/heed-dev/heed/approvals"
)

var dueStates = "'scheduled','in_review','approved'"

// Due returns occurrences whose time has come and that still wait, soonest
// first.
func (s *DeliveryService) Due(ctx context.Context, now time.Time, limit int) ([]int64, error) {
	return queryIDs(ctx, s.store.db, `SELECT id FROM occurrences WHERE state IN (`+dueStates+`) AND at <= ? ORDER BY at LIMIT ?`, ms(now), limit)
}

// NextWake is the earliest time the dispatcher has work: an occurrence due,
// a retry due, or a post's next time entering the review window. Each part
// is one indexed lookup.
func (s *DeliveryService) NextWake(ctx context.Context) (time.Time, bool, error) {
	var best int64
	consider := func(q string, args ...any) error {
		var v sql.NullInt64
		if err := s.store.db.QueryRowContext(ctx, q, args...).Scan(&v); err != nil {
			return err
		}
		if v.Valid && (best == 0 || v.Int64 < best) {
			best = v.Int64
		}
		return nil
	}
	for _, st := range []approvals.State{approvals.StateScheduled, approvals.StateInReview, approvals.StateApproved} {
		if err := consider(`SELECT min(at) FROM occurrences WHERE state = ?`, st); err != nil {
			return time.Time{}, false, err
		}
	}
	if err := consider(`SELECT min(next_attempt_at) FROM deliveries WHERE state = ?`, approvals.DeliveryRetry); err != nil {
		return time.Time{}, false, err
	}
	var nextPost sql.NullInt64
	if err := s.store.db.QueryRowContext(ctx, `SELECT min(next_at) FROM posts WHERE next_at IS NOT NULL`).Scan(&nextPost); err != nil {
		return time.Time{}, false, err
	}
	if nextPost.Valid {
		if v := nextPost.Int64 - s.settings.Window.Milliseconds(); best == 0 || v < best {
			best = v
		}
	}
	return fromMS(best), best != 0, nil
}

// Settle decides a due occurrence in one transaction: held if paused,
// missed if not approved, waiting if the chat is deaf, otherwise each
// target is claimed, with the approval, payload hash and pauses checked in
// that same transaction.
func (s *DeliveryService) Settle(ctx context.Context, id int64, now time.Time, opt approvals.SettleOptions) (approvals.SettleResult, error) {
	var res approvals.SettleResult
	err := s.store.tx(ctx, func(tx *sql.Tx) error {
		res = approvals.SettleResult{Outcome: approvals.OutcomeNone}
		if mine, err := s.store.lockForClaim(ctx, tx, `SELECT id FROM occurrences WHERE id = ?`, id); err != nil || !mine {
			return err // !mine: another process is settling it
		}
		v, err := s.view(ctx, tx, id)
		if err != nil {
			return err
		}
		res, err = s.settle(ctx, tx, v, now, opt)
		return err
	})
	return res, err
}

func (s *DeliveryService) settle(ctx context.Context, tx *sql.Tx, v approvals.View, now time.Time, opt approvals.SettleOptions) (approvals.SettleResult, error) {
	switch v.State {
	case approvals.StateScheduled, approvals.StateInReview, approvals.StateApproved:
	default:
		return approvals.SettleResult{Outcome: approvals.OutcomeNone}, nil
	}
	if v.At.After(now) {
		return approvals.SettleResult{Outcome: approvals.OutcomeNone}, nil
	}
	pauses, err := s.store.claimPauses(ctx, tx)
	if err != nil {
		return approvals.SettleResult{}, err
	}
	if p, ok := approvals.PausedFor(pauses, ""); ok && p.Target == "" {
		note := fmt.Sprintf("held: its time came during a pause by %s (%s). After resume, approve again to publish now, delay it, or cancel it", p.By, approvals.OrDash(p.Reason))
		return approvals.SettleResult{Outcome: approvals.OutcomeHeld, Note: note}, s.setState(ctx, tx, v.Occurrence, approvals.EvHold, note, now)
	}
	// v.State is what approvals.Decide says from the facts read in this
	// transaction, never the state column (a cache another process may
	// have written).
	approved := v.State == approvals.StateApproved && v.Verdict.Approved() && len(v.Problems) == 0
	if !approved {
		note := fmt.Sprintf("missed: its time came without approval (%d of %d)", len(v.Verdict.Approvals), v.Verdict.Required)
		if v.State == approvals.StateScheduled {
			note = "missed: its time came before its card could be posted"
		}
		return approvals.SettleResult{Outcome: approvals.OutcomeMissed, Note: note}, s.setState(ctx, tx, v.Occurrence, approvals.EvMiss, note, now)
	}
	if off := v.Timing.OffHours; off != "" && v.AllowOffHours == "" {
		note := fmt.Sprintf("held: %s, and nobody allowed it. An approver can type `allow %d off-hours`, then approve again to publish now; or `delay %d 2h`, or `cancel %d`",
			off, v.ID, v.ID, v.ID)
		return approvals.SettleResult{Outcome: approvals.OutcomeHeld, Note: note}, s.setState(ctx, tx, v.Occurrence, approvals.EvHold, note, now)
	}
	if v.Timing.OnDuty > 0 {
		seen, last, err := s.approverSeen(ctx, tx, v)
		if err != nil {
			return approvals.SettleResult{}, err
		}
		if !seen {
			note := fmt.Sprintf("held: no approver was seen in the room in the %s before its time (on-duty check: %s), so nobody would be there to answer. Approve again to publish now, `delay %d 1h`, or `cancel %d`",
				approvals.ShortDuration(v.Timing.OnDuty), last, v.ID, v.ID)
			return approvals.SettleResult{Outcome: approvals.OutcomeHeld, Note: note}, s.setState(ctx, tx, v.Occurrence, approvals.EvHold, note, now)
		}
	}
	if opt.Deaf != "" {
		// Nobody could have typed pause and been heard: it needs a fresh
		// decision once the chat is back.
		note := "held: " + opt.Deaf + " at its time, so a pause could not have been heard. Approve again to publish now, delay it, or cancel it"
		return approvals.SettleResult{Outcome: approvals.OutcomeHeld, Note: note}, s.setState(ctx, tx, v.Occurrence, approvals.EvHold, note, now)
	}
	if late := now.Sub(v.At); opt.LateGrace > 0 && late > opt.LateGrace {
		// Late is late: after heed was stopped, or could not write its
		// store, a post is not sent long after its moment.
		note := fmt.Sprintf("held: its time passed %s ago while heed could not publish, more than late_grace (%s). Approve again to publish now, delay it, or cancel it",
			approvals.ShortDuration(late), approvals.ShortDuration(opt.LateGrace))
		return approvals.SettleResult{Outcome: approvals.OutcomeHeld, Note: note}, s.setState(ctx, tx, v.Occurrence, approvals.EvHold, note, now)
	}
	if err := s.setState(ctx, tx, v.Occurrence, approvals.EvClaim, "", now); err != nil {
		return approvals.SettleResult{}, err
	}
	res := approvals.SettleResult{Outcome: approvals.OutcomeClaimed}
	was := map[string]approvals.DeliveryState{} // a target without a delivery is DeliveryNone
	for _, d := range v.Deliveries {
		was[d.Target] = d.State
	}
	for _, pl := range v.Payloads {
		if was[pl.Target] == approvals.DeliveryPublished {
			continue // published before a hold: never again
		}
		if p, ok := approvals.PausedFor(pauses, pl.Target); ok {
			if err := putDelivery(ctx, tx, v.ID, pl.Target, was[pl.Target], approvals.DvHold, "", fmt.Sprintf("paused by %s (%s)", p.By, approvals.OrDash(p.Reason)), "", now); err != nil {
				return res, err
			}
			continue
		}
		if !v.Verdict.ApprovedFor(pl.Target) {
			return res, fmt.Errorf("#%d: approval for %s vanished inside the claim", v.ID, pl.Target) // cannot happen: Approved() covers every target
		}
		key := approvals.IdempotencyKey(s.store.installID, v.ID, pl.Target, v.Hashes[pl.Target])
		if err := putDelivery(ctx, tx, v.ID, pl.Target, was[pl.Target], approvals.DvClaim, opt.Runner, "", key, now); err != nil {
			return res, err
		}
		res.Claims = append(res.Claims, approvals.Claim{Occurrence: v.ID, Target: pl.Target, Payload: pl, Key: key, Attempt: 1})
		if err := appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: "heed", Action: "publish.claim", PostID: v.PostID, Occurrence: v.ID, Target: pl.Target, Detail: "key " + key}); err != nil {
			return res, err
		}
	}
	if len(res.Claims) == 0 {
		return res, s.aggregate(ctx, tx, v.ID, now)
	}
	return res, nil
}

// moveDelivery applies ev to a delivery in state from through the delivery
// state machine. An illegal move is a conflict.
func moveDelivery(occ int64, target string, from approvals.DeliveryState, ev approvals.DeliveryEvent) (approvals.DeliveryState, error) {
	to, err := approvals.DeliveryTransition(from, ev)
	if err != nil {
		return from, approvals.Errorf(approvals.ECONFLICT, "#%d → %s: %v", occ, target, err)
	}
	return to, nil
}

// updateDelivery runs `UPDATE deliveries SET <set>` on one delivery, only
// while it is still in state from.
func updateDelivery(ctx context.Context, tx *sql.Tx, occ int64, target string, from approvals.DeliveryState, set string, args ...any) error {
	res, err := tx.ExecContext(ctx, `UPDATE deliveries SET `+set+` WHERE occurrence_id = ? AND target = ? AND state = ?`,
		append(args, occ, target, from)...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return approvals.Errorf(approvals.ECONFLICT, "#%d → %s is no longer %s", occ, target, from)
	}
	return nil
}

// deliveryState is the state of one delivery, DeliveryNone when there is
// none.
func deliveryState(ctx context.Context, q querier, occ int64, target string) (approvals.DeliveryState, error) {
	var st approvals.DeliveryState
	err := q.QueryRowContext(ctx, `SELECT state FROM deliveries WHERE occurrence_id = ? AND target = ?`, occ, target).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return approvals.DeliveryNone, nil
	}
	return st, err
}

// putDelivery claims or holds a delivery in state from (ev is DvClaim,
// DvRetryClaim or DvHold) and writes it, inserting it when there was none.
// A claim counts an attempt; an empty key keeps the stored one.
func putDelivery(ctx context.Context, tx *sql.Tx, occ int64, target string, from approvals.DeliveryState, ev approvals.DeliveryEvent, runner, errMsg, key string, now time.Time) error {
	to, err := moveDelivery(occ, target, from, ev)
	if err != nil {
		return err
	}
	attempt := 0
	if to == approvals.DeliveryPublishing {
		attempt = 1
	}
	if from == approvals.DeliveryNone {
		_, err := tx.ExecContext(ctx, `INSERT INTO deliveries (occurrence_id, target, state, attempts, idempotency_key, claimed_by, error, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, occ, target, to, attempt, key, runner, errMsg, ms(now))
		return err
	}
	return updateDelivery(ctx, tx, occ, target, from, `state = ?, attempts = attempts + ?,
		idempotency_key = CASE WHEN ? <> '' THEN ? ELSE idempotency_key END, claimed_by = ?, error = ?, updated_at = ?`,
		to, attempt, key, key, runner, errMsg, ms(now))
}

// RetriesDue lists deliveries whose retry time has come.
func (s *DeliveryService) RetriesDue(ctx context.Context, now time.Time, limit int) ([]approvals.DeliveryRef, error) {
	rows, err := s.store.db.QueryContext(ctx, `SELECT occurrence_id, target FROM deliveries WHERE state = ? AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?`,
		approvals.DeliveryRetry, ms(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []approvals.DeliveryRef
	for rows.Next() {
		var d approvals.DeliveryRef
		if err := rows.Scan(&d.Occurrence, &d.Target); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ClaimRetry claims a delivery waiting for a retry, checking pauses and the
// approval again in the same transaction.
func (s *DeliveryService) ClaimRetry(ctx context.Context, ref approvals.DeliveryRef, now time.Time, opt approvals.SettleOptions) (approvals.Claim, bool, error) {
	var c approvals.Claim
	var ok bool
	err := s.store.tx(ctx, func(tx *sql.Tx) error {
		c, ok = approvals.Claim{}, false
		if mine, err := s.store.lockForClaim(ctx, tx, `SELECT occurrence_id FROM deliveries WHERE occurrence_id = ? AND target = ?`, ref.Occurrence, ref.Target); err != nil || !mine {
			return err // !mine: another process is claiming it
		}
		v, err := s.view(ctx, tx, ref.Occurrence)
		if err != nil {
			return err
		}
		var d *approvals.Delivery
		for i := range v.Deliveries {
			if v.Deliveries[i].Target == ref.Target {
				d = &v.Deliveries[i]
			}
		}
		if d == nil || d.State != approvals.DeliveryRetry || d.NextAttempt.After(now) || opt.Deaf != "" {
			return nil
		}
		pauses, err := s.store.claimPauses(ctx, tx)
		if err != nil {
			return err
		}
		if p, paused := approvals.PausedFor(pauses, ref.Target); paused {
			if err := putDelivery(ctx, tx, v.ID, ref.Target, d.State, approvals.DvHold, "", fmt.Sprintf("paused by %s (%s) before a retry", p.By, approvals.OrDash(p.Reason)), "", now); err != nil {
				return err
			}
			return s.aggregate(ctx, tx, v.ID, now)
		}
		if !v.Verdict.ApprovedFor(ref.Target) {
			if err := putDelivery(ctx, tx, v.ID, ref.Target, d.State, approvals.DvHold, "", "approval withdrawn before a retry", "", now); err != nil {
				return err
			}
			return s.aggregate(ctx, tx, v.ID, now)
		}
		var pl approvals.Payload
		for _, p := range v.Payloads {
			if p.Target == ref.Target {
				pl = p
			}
		}
		if err := putDelivery(ctx, tx, v.ID, ref.Target, d.State, approvals.DvRetryClaim, opt.Runner, d.Error, "", now); err != nil {
			return err
		}
		c, ok = approvals.Claim{Occurrence: v.ID, Target: ref.Target, Payload: pl, Key: d.Key, Attempt: d.Attempts + 1}, true
		return nil
	})
	return c, ok, err
}

// RecordPublish stores the outcome of a claimed delivery and settles the
// occurrence's state once no target is under way.
func (s *DeliveryService) RecordPublish(ctx context.Context, c approvals.Claim, out approvals.Outcome, now time.Time) error {
	return s.store.tx(ctx, func(tx *sql.Tx) error {
		ev := out.Event()
		var action, detail string
		var next any
		switch ev {
		case approvals.DvPublished:
			action, detail = "publish.ok", strings.TrimSpace(out.URL+" "+out.RemoteID)
		case approvals.DvExhausted:
			action, detail = "publish.failed", "retries exhausted: "+out.Err
		case approvals.DvRetryable:
			action, detail = "publish.retry", out.Err+"; next attempt "+out.NextAttempt.Format(time.RFC3339)
			next = ms(out.NextAttempt)
		case approvals.DvPermanent:
			action, detail = "publish.failed", out.Err
		case approvals.DvWithheld:
			action, detail = "publish.withheld", "not sent: "+out.Err
		default:
			action, detail = "publish.unknown", out.Err+"; check the account and resolve it"
		}
		from, err := deliveryState(ctx, tx, c.Occurrence, c.Target)
		if err != nil {
			return err
		}
		to, err := approvals.DeliveryTransition(from, ev)
		if err != nil {
			return approvals.Errorf(approvals.ECONFLICT, "#%d → %s is no longer being published (was it marked unknown after a restart?)", c.Occurrence, c.Target)
		}
		if err := updateDelivery(ctx, tx, c.Occurrence, c.Target, from, `state = ?, next_attempt_at = ?, remote_id = ?, url = ?, error = ?, updated_at = ?`,
			to, next, out.RemoteID, out.URL, out.Err, ms(now)); err != nil {
			return err
		}
		o, err := getOcc(ctx, tx, c.Occurrence)
		if err != nil {
			return err
		}
		if err := appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: "heed", Action: action, PostID: o.PostID, Occurrence: c.Occurrence, Target: c.Target, Detail: detail}); err != nil {
			return err
		}
		return s.aggregate(ctx, tx, c.Occurrence, now)
	})
}

// Recheck is the check made just before a claimed delivery's request is
// written, after any wait for the target's rate limit: it says why the
// request must not go out now (a pause on the target, an approval no
// longer valid for this exact payload), or "" when it may. It only reads.
func (s *DeliveryService) Recheck(ctx context.Context, c approvals.Claim) (string, error) {
	pauses, err := activePauses(ctx, s.store.db)
	if err != nil {
		return "", err
	}
	if p, ok := approvals.PausedFor(pauses, c.Target); ok {
		return fmt.Sprintf("paused by %s (%s) just before sending", p.By, approvals.OrDash(p.Reason)), nil
	}
	v, err := s.view(ctx, s.store.db, c.Occurrence)
	if err != nil {
		return "", err
	}
	if h := approvals.Hashes([]approvals.Payload{c.Payload})[c.Target]; h != v.Hashes[c.Target] || !v.Verdict.ApprovedFor(c.Target) {
		return "its approval no longer holds for this content, found just before sending", nil
	}
	return "", nil
}

// aggregate settles an occurrence in publishing once none of its targets is
// under way: published if all went out, else unknown, failed or held.
func (s *DeliveryService) aggregate(ctx context.Context, tx *sql.Tx, id int64, now time.Time) error {
	o, err := getOcc(ctx, tx, id)
	if err != nil {
		return err
	}
	if o.State != approvals.StatePublishing {
		_, err := tx.ExecContext(ctx, `UPDATE occurrences SET dirty = dirty + 1 WHERE id = ?`, id)
		return err
	}
	ds, err := getDeliveries(ctx, tx, id)
	if err != nil {
		return err
	}
	n := map[approvals.DeliveryState]int{}
	var notes []string
	for _, d := range ds {
		n[d.State]++
		switch d.State {
		case approvals.DeliveryUnknown:
			notes = append(notes, d.Target+": outcome unknown ("+d.Error+"); check the account, then `resolve "+strconv.FormatInt(id, 10)+" published` or `resolve "+strconv.FormatInt(id, 10)+" failed`")
		case approvals.DeliveryFailed:
			notes = append(notes, d.Target+": failed: "+d.Error)
		case approvals.DeliveryHeld:
			notes = append(notes, d.Target+": held: "+d.Error)
		}
	}
	note := strings.Join(notes, "\n")
	switch {
	case n[approvals.DeliveryPublishing]+n[approvals.DeliveryRetry] > 0:
		_, err := tx.ExecContext(ctx, `UPDATE occurrences SET dirty = dirty + 1 WHERE id = ?`, id)
		return err
	case n[approvals.DeliveryUnknown] > 0:
		return s.setState(ctx, tx, o, approvals.EvAmbiguous, note, now)
	case n[approvals.DeliveryFailed] > 0:
		return s.setState(ctx, tx, o, approvals.EvFailed, note, now)
	case n[approvals.DeliveryHeld] > 0:
		return s.setState(ctx, tx, o, approvals.EvHold, note, now)
	default:
		return s.setState(ctx, tx, o, approvals.EvPublished, "", now)
	}
}

// RecoverCrashed marks every delivery left under way by a stopped daemon as
// unknown: it may or may not have reached the network, and is never retried
// blindly. Call it once the dispatcher lease is held.
//
// honoursKey, when set, names the targets whose remote end never posts
// twice for one idempotency key: their deliveries are retried with the
// same key at once instead.
func (s *DeliveryService) RecoverCrashed(ctx context.Context, honoursKey func(target string) bool) (int, error) {
	return s.recover(ctx, honoursKey, ``)
}

// RecoverStopped is RecoverCrashed for replicas sharing a database: it
// recovers only the deliveries claimed by a runner that is no registered
// replica seen since `since`, those a stopped replica left under way.
func (s *DeliveryService) RecoverStopped(ctx context.Context, honoursKey func(target string) bool, since time.Time) (int, error) {
	return s.recover(ctx, honoursKey, ` AND claimed_by NOT IN (SELECT id FROM replicas WHERE seen_at >= ?)`, ms(since))
}

func (s *DeliveryService) recover(ctx context.Context, honoursKey func(target string) bool, where string, args ...any) (int, error) {
	now := s.now()
	var n int
	err := s.store.tx(ctx, func(tx *sql.Tx) error {
		n = 0
		rows, err := tx.QueryContext(ctx, `SELECT occurrence_id, target FROM deliveries WHERE state = ?`+where,
			append([]any{approvals.DeliveryPublishing}, args...)...)
		if err != nil {
			return err
		}
		var refs []approvals.DeliveryRef
		for rows.Next() {
			var r approvals.DeliveryRef
			if err := rows.Scan(&r.Occurrence, &r.Target); err != nil {
				rows.Close()
				return err
			}
			refs = append(refs, r)
		}
		rows.Close()
		for _, r := range refs {
			msg := "heed stopped while publishing"
			if honoursKey != nil && honoursKey(r.Target) {
				to, err := moveDelivery(r.Occurrence, r.Target, approvals.DeliveryPublishing, approvals.DvRetryable)
				if err != nil {
					return err
				}
				if err := updateDelivery(ctx, tx, r.Occurrence, r.Target, approvals.DeliveryPublishing, `state = ?, next_attempt_at = ?, error = ?, updated_at = ?`,
					to, ms(now), msg, ms(now)); err != nil {
					return err
				}
				if err := appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: "heed", Action: "publish.retry", Occurrence: r.Occurrence, Target: r.Target,
					Detail: msg + "; the target honours the idempotency key, so it is sent again with the same key"}); err != nil {
					return err
				}
				n++
				continue
			}
			to, err := moveDelivery(r.Occurrence, r.Target, approvals.DeliveryPublishing, approvals.DvCrash)
			if err != nil {
				return err
			}
			if err := updateDelivery(ctx, tx, r.Occurrence, r.Target, approvals.DeliveryPublishing, `state = ?, error = ?, updated_at = ?`, to, msg, ms(now)); err != nil {
				return err
			}
			if err := appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: "heed", Action: "publish.unknown", Occurrence: r.Occurrence, Target: r.Target, Detail: msg + "; never retried automatically"}); err != nil {
				return err
			}
			if err := s.aggregate(ctx, tx, r.Occurrence, now); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// Resolve records a person's answer for an occurrence whose outcome is
// unknown: it did go out (published) or it did not (failed). Only unknown
// deliveries change; target "" resolves all of them.
func (s *DeliveryService) Resolve(ctx context.Context, id int64, target string, published bool, url, actor, place string) error {
	now := s.now()
	return s.store.tx(ctx, func(tx *sql.Tx) error {
		o, err := getOcc(ctx, tx, id)
		if err != nil {
			return err
		}
		if o.State != approvals.StateUnknown {
			return approvals.Errorf(approvals.ECONFLICT, "#%d is %s, not unknown: nothing to resolve", id, o.State)
		}
		dev := approvals.DvResolveFailed
		if published {
			dev = approvals.DvResolvePublished
		}
		ds, err := getDeliveries(ctx, tx, id)
		if err != nil {
			return err
		}
		// The machine says which deliveries a person can resolve: the
		// unknown ones.
		var resolved approvals.DeliveryState
		n := 0
		for _, d := range ds {
			if target != "" && d.Target != target {
				continue
			}
			to, err := approvals.DeliveryTransition(d.State, dev)
			if err != nil {
				continue
			}
			if err := updateDelivery(ctx, tx, id, d.Target, d.State, `state = ?, url = CASE WHEN ? <> '' THEN ? ELSE url END, updated_at = ?`,
				to, url, url, ms(now)); err != nil {
				return err
			}
			resolved, n = to, n+1
		}
		if n == 0 {
			return approvals.Errorf(approvals.ENOTFOUND, "#%d has no unknown delivery to %s", id, target)
		}
		if err := appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: actor, Action: "publish.resolve", PostID: o.PostID, Occurrence: id, Target: target, Place: place, Detail: string(resolved)}); err != nil {
			return err
		}
		if ds, err = getDeliveries(ctx, tx, id); err != nil {
			return err
		}
		ev := approvals.EvResolved
		for _, d := range ds {
			switch d.State {
			case approvals.DeliveryUnknown:
				_, err := tx.ExecContext(ctx, `UPDATE occurrences SET dirty = dirty + 1 WHERE id = ?`, id)
				return err
			case approvals.DeliveryFailed, approvals.DeliveryHeld:
				ev = approvals.EvResolveFail
			}
		}
		return s.setState(ctx, tx, o, ev, "resolved by "+actor, now)
	})
}
