package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/heed-dev/heed/approvals"
)

// React records a reaction on an occurrence's card and derives the state
// again. Reactions with emoji heed does not know are not stored.
func (s *ReviewService) React(ctx context.Context, in approvals.ReactionInput) (approvals.ReactResult, error) {
	now := s.now()
	if in.At.IsZero() {
		in.At = now
	}
	emoji, known := approvals.NormalizeEmoji(in.Emoji)
	in.Emoji = emoji
	var res approvals.ReactResult
	err := s.store.tx(ctx, func(tx *sql.Tx) error {
		res = approvals.ReactResult{}
		if in.EventID != "" {
			r, err := tx.ExecContext(ctx, `INSERT INTO seen_events (adapter, id, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, in.EventAdapter, in.EventID, ms(now))
			if err != nil {
				return err
			}
			if n, _ := r.RowsAffected(); n == 0 {
				res.Duplicate = true
				return nil
			}
		}
		if in.PresenceRoom != "" && in.User != "" && !in.FromBot && !in.FromSelf {
			if err := seenInRoom(ctx, tx, in.PresenceRoom, in.User, in.At, now); err != nil {
				return err
			}
		}
		if !known {
			res = approvals.ReactResult{Kind: approvals.KindOther, Reason: "not an emoji heed knows"}
			return nil
		}
		var err error
		res, err = s.react(ctx, tx, in, now)
		return err
	})
	return res, err
}

func (s *ReviewService) react(ctx context.Context, tx *sql.Tx, in approvals.ReactionInput, now time.Time) (approvals.ReactResult, error) {
	o, err := getOcc(ctx, tx, in.Occurrence)
	if err != nil {
		return approvals.ReactResult{}, err
	}
	p, err := getPost(ctx, tx, o.PostID)
	if err != nil {
		return approvals.ReactResult{}, err
	}
	pol, err := s.policyIn(ctx, tx, p.Room)
	if err != nil {
		return approvals.ReactResult{}, err
	}
	res := approvals.ReactResult{Kind: pol.KindOf(in.Emoji)}
	if dup, err := s.hasLiveReaction(ctx, tx, in); err != nil || dup {
		v, verr := s.view(ctx, tx, o.ID)
		res.View = v
		return res, errors.Join(err, verr)
	}
	if o.State == approvals.StateHeld && res.Kind == approvals.KindApprove {
		// A fresh approval of a held occurrence whose time has passed means
		// "publish it now": it moves to now, and the approval binds to that
		// new payload. One held before its time (🛑) keeps its time.
		if _, why := approvals.Countable(pol, p.Author, in); why == "" {
			paused, err := activePauses(ctx, tx)
			if err != nil {
				return res, err
			}
			if len(paused) > 0 {
				return res, approvals.Errorf(approvals.ECONFLICT, "#%d stays held: heed is paused. resume first, then approve #%d again to publish it now", o.ID, o.ID)
			}
			if o.At.After(now) {
				err = s.setState(ctx, tx, o, approvals.EvReschedule, "approved again by "+in.DisplayName()+" after a hold: it keeps its time", now)
			} else {
				err = s.moveOcc(ctx, tx, o, now, now, "approved again by "+in.DisplayName()+" after a hold: publishing now")
			}
			if err != nil {
				return res, err
			}
			if o, err = getOcc(ctx, tx, o.ID); err != nil {
				return res, err
			}
		}
	}
	hashes := approvals.Hashes(approvals.Payloads(&p, o.At))
	hj, _ := json.Marshal(hashes)
	if _, err := tx.ExecContext(ctx, `INSERT INTO reactions (occurrence_id, "user", user_name, emoji, hashes, at, from_bot, from_self, reaction_id, source)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, o.ID, in.User, in.DisplayName(), in.Emoji, string(hj), ms(in.At), in.FromBot, in.FromSelf, in.ReactionID, in.Source); err != nil {
		return res, err
	}
	before := o.State
	if in.Emoji == approvals.StopEmoji && res.Kind == approvals.KindOther && !in.FromBot && !in.FromSelf {
		switch o.State {
		case approvals.StateScheduled, approvals.StateInReview, approvals.StateApproved, approvals.StateRejected:
			// Anyone in the review room may hold one occurrence with 🛑.
			note := fmt.Sprintf("held: 🛑 by %s. It needs a fresh decision: approve again (it keeps its time if that is still ahead), `delay %d 1h`, or `cancel %d`",
				in.DisplayName(), o.ID, o.ID)
			if err := s.setState(ctx, tx, o, approvals.EvHold, note, now); err != nil {
				return res, err
			}
			if err := appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: in.DisplayName(), Identity: in.User, Person: pol.People.Of(in.User), Action: "occurrence.hold", PostID: o.PostID, Occurrence: o.ID, Place: in.Source, Detail: "🛑 on the card"}); err != nil {
				return res, err
			}
			res.Held = true
		}
	}
	v, err := s.refresh(ctx, tx, o.ID, now)
	if err != nil {
		return res, err
	}
	res.View, res.Changed = v, v.State != before
	res.Counted, res.Reason = approvals.CountedIn(v.Verdict, in)
	if res.Kind == approvals.KindOther && res.Reason != "" {
		// A look-alike of an approve or reject emoji, from an approver.
		if err := appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: in.DisplayName(), Identity: in.User, Person: pol.People.Of(in.User), Action: "decision.unrecognised", PostID: o.PostID, Occurrence: o.ID, Place: in.Source, Detail: res.Reason}); err != nil {
			return res, err
		}
	}
	if res.Kind != approvals.KindOther {
		detail := in.Emoji + " counted"
		if !res.Counted {
			detail = in.Emoji + " not counted: " + res.Reason
		}
		if !o.State.Open() {
			detail = in.Emoji + " on a " + string(o.State) + " occurrence: no effect"
		}
		if err := appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: in.DisplayName(), Identity: in.User, Person: pol.People.Of(in.User), Action: "decision." + string(res.Kind), PostID: o.PostID, Occurrence: o.ID, Place: in.Source, Detail: detail}); err != nil {
			return res, err
		}
	}
	return res, nil
}

func (s *ReviewService) hasLiveReaction(ctx context.Context, tx *sql.Tx, in approvals.ReactionInput) (bool, error) {
	var id int64
	var rid string
	err := tx.QueryRowContext(ctx, `SELECT id, reaction_id FROM reactions WHERE occurrence_id = ? AND "user" = ? AND emoji = ? AND withdrawn_at IS NULL`,
		in.Occurrence, in.User, in.Emoji).Scan(&id, &rid)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if rid == "" && in.ReactionID != "" {
		_, err = tx.ExecContext(ctx, `UPDATE reactions SET reaction_id = ? WHERE id = ?`, in.ReactionID, id)
	}
	return true, err
}

// Unreact withdraws a reaction and derives the state again. A reaction that
// is not known (never seen, or already withdrawn) changes nothing.
func (s *ReviewService) Unreact(ctx context.Context, in approvals.UnreactionInput) (approvals.ReactResult, error) {
	now := s.now()
	var res approvals.ReactResult
	err := s.store.tx(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = s.unreact(ctx, tx, in, now)
		return err
	})
	return res, err
}

func (s *ReviewService) unreact(ctx context.Context, tx *sql.Tx, in approvals.UnreactionInput, now time.Time) (approvals.ReactResult, error) {
	var id, occ int64
	var user, name, emoji string
	var err error
	if in.ReactionID != "" {
		err = tx.QueryRowContext(ctx, `SELECT id, occurrence_id, "user", user_name, emoji FROM reactions WHERE reaction_id = ? AND withdrawn_at IS NULL`, in.ReactionID).Scan(&id, &occ, &user, &name, &emoji)
	} else {
		e, ok := approvals.NormalizeEmoji(in.Emoji)
		if !ok {
			return approvals.ReactResult{Kind: approvals.KindOther}, nil
		}
		err = tx.QueryRowContext(ctx, `SELECT id, occurrence_id, "user", user_name, emoji FROM reactions WHERE occurrence_id = ? AND "user" = ? AND emoji = ? AND withdrawn_at IS NULL`,
			in.Occurrence, in.User, e).Scan(&id, &occ, &user, &name, &emoji)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return approvals.ReactResult{Kind: approvals.KindOther}, nil
	}
	if err != nil {
		return approvals.ReactResult{}, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE reactions SET withdrawn_at = ? WHERE id = ?`, ms(now), id); err != nil {
		return approvals.ReactResult{}, err
	}
	o, err := getOcc(ctx, tx, occ)
	if err != nil {
		return approvals.ReactResult{}, err
	}
	p, err := getPost(ctx, tx, o.PostID)
	if err != nil {
		return approvals.ReactResult{}, err
	}
	v, err := s.refresh(ctx, tx, occ, now)
	if err != nil {
		return approvals.ReactResult{}, err
	}
	pol := s.policy(p.Room)
	res := approvals.ReactResult{View: v, Kind: pol.KindOf(emoji), Changed: v.State != o.State}
	if res.Kind != approvals.KindOther {
		if err := appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: name, Identity: user, Person: pol.People.Of(user), Action: "decision.withdraw", PostID: o.PostID, Occurrence: occ, Place: in.Source, Detail: emoji + " taken back"}); err != nil {
			return res, err
		}
	}
	return res, nil
}

// Reconcile makes the stored live reactions of an occurrence equal to the
// reactions the chat shows now (read back after heed was down): missing
// ones are added, vanished ones withdrawn, existing ones left alone, so
// each counts exactly once.
func (s *ReviewService) Reconcile(ctx context.Context, occ int64, current []approvals.ReactionInput) (added, withdrawn int, err error) {
	now := s.now()
	err = s.store.tx(ctx, func(tx *sql.Tx) error {
		added, withdrawn = 0, 0
		live, err := liveReactions(ctx, tx, occ)
		if err != nil {
			return err
		}
		type key struct{ user, emoji string }
		want := map[key]approvals.ReactionInput{}
		for _, in := range current {
			e, ok := approvals.NormalizeEmoji(in.Emoji)
			if !ok {
				continue
			}
			in.Emoji, in.Occurrence = e, occ
			want[key{in.User, e}] = in
		}
		have := map[key]bool{}
		for _, r := range live {
			k := key{r.User, r.Emoji}
			have[k] = true
			if _, ok := want[k]; !ok {
				if _, err := s.unreact(ctx, tx, approvals.UnreactionInput{Occurrence: occ, User: r.User, Emoji: r.Emoji, Source: "reconcile"}, now); err != nil {
					return err
				}
				withdrawn++
			}
		}
		for k, in := range want {
			if have[k] {
				continue
			}
			if in.At.IsZero() {
				in.At = now
			}
			if _, err := s.react(ctx, tx, in, now); err != nil {
				if approvals.ErrorCode(err) == approvals.ECONFLICT {
					continue // e.g. an approval of a held card while paused: the card says so
				}
				return err
			}
			added++
		}
		return nil
	})
	return added, withdrawn, err
}
