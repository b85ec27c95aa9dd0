package approvals

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ReactionInput is a reaction as a chat adapter saw it.
type ReactionInput struct {
	Occurrence int64
	User       string
	UserName   string
	Emoji      string // as the chat sent it; normalized here
	FromBot    bool
	FromSelf   bool
	ReactionID string
	Source     string // "adapter:room"
	At         time.Time
}

// ReactResult says what a reaction did.
type ReactResult struct {
	View    View
	Kind    Kind
	Counted bool   // it counts as a decision
	Reason  string // why it does not count, if it does not
	Changed bool   // the occurrence's state changed
	Held    bool   // a 🛑 held the occurrence
}

// StopEmoji on an open card, from anyone in the review room, holds that one
// occurrence.
const StopEmoji = "🛑"

// React records a reaction on an occurrence's card and derives the state
// again. Reactions with emoji heed does not know are not stored.
func (s *Service) React(ctx context.Context, in ReactionInput) (ReactResult, error) {
	now := s.now()
	if in.At.IsZero() {
		in.At = now
	}
	emoji, ok := NormalizeEmoji(in.Emoji)
	if !ok {
		return ReactResult{Kind: KindOther, Reason: "not an emoji heed knows"}, nil
	}
	in.Emoji = emoji
	var res ReactResult
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = s.react(ctx, tx, in, now)
		return err
	})
	return res, err
}

func (s *Service) react(ctx context.Context, tx *sql.Tx, in ReactionInput, now time.Time) (ReactResult, error) {
	o, err := getOcc(ctx, tx, in.Occurrence)
	if err != nil {
		return ReactResult{}, err
	}
	p, err := getPost(ctx, tx, o.PostID)
	if err != nil {
		return ReactResult{}, err
	}
	pol := s.policy(p.Room)
	res := ReactResult{Kind: pol.KindOf(in.Emoji)}
	if dup, err := s.hasLiveReaction(ctx, tx, in); err != nil || dup {
		v, verr := s.view(ctx, tx, o.ID)
		res.View = v
		return res, errors.Join(err, verr)
	}
	if o.State == StateHeld && res.Kind == KindApprove {
		// A fresh approval of a held occurrence whose time has passed means
		// "publish it now": it moves to now, and the approval binds to that
		// new payload. One held before its time (🛑) keeps its time.
		if _, why := countable(pol, p.Author, in); why == "" {
			paused, err := activePauses(ctx, tx)
			if err != nil {
				return res, err
			}
			if len(paused) > 0 {
				return res, Errorf(ECONFLICT, "#%d stays held: heed is paused. resume first, then approve #%d again to publish it now", o.ID, o.ID)
			}
			if o.At.After(now) {
				err = s.setState(ctx, tx, o, EvReschedule, "approved again by "+in.displayName()+" after a hold: it keeps its time", now)
			} else {
				err = s.moveOcc(ctx, tx, o, now, now, "approved again by "+in.displayName()+" after a hold: publishing now")
			}
			if err != nil {
				return res, err
			}
			if o, err = getOcc(ctx, tx, o.ID); err != nil {
				return res, err
			}
		}
	}
	hashes := Hashes(Payloads(&p, o.At))
	hj, _ := json.Marshal(hashes)
	if _, err := tx.ExecContext(ctx, `INSERT INTO reactions (occurrence_id, user, user_name, emoji, hashes, at, from_bot, from_self, reaction_id, source)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, o.ID, in.User, in.displayName(), in.Emoji, string(hj), ms(in.At), in.FromBot, in.FromSelf, in.ReactionID, in.Source); err != nil {
		return res, err
	}
	before := o.State
	if in.Emoji == StopEmoji && res.Kind == KindOther && !in.FromBot && !in.FromSelf {
		switch o.State {
		case StateScheduled, StateInReview, StateApproved, StateRejected:
			// Anyone in the review room may hold one occurrence with 🛑.
			note := fmt.Sprintf("held: 🛑 by %s. It needs a fresh decision: approve again (it keeps its time if that is still ahead), `delay %d 1h`, or `cancel %d`",
				in.displayName(), o.ID, o.ID)
			if err := s.setState(ctx, tx, o, EvHold, note, now); err != nil {
				return res, err
			}
			if err := appendAudit(ctx, tx, AuditEntry{At: now, Actor: in.displayName(), Action: "occurrence.hold", PostID: o.PostID, Occurrence: o.ID, Place: in.Source, Detail: "🛑 on the card"}); err != nil {
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
	res.Counted, res.Reason = countedIn(v.Verdict, in)
	if res.Kind != KindOther {
		detail := in.Emoji + " counted"
		if !res.Counted {
			detail = in.Emoji + " not counted: " + res.Reason
		}
		if !o.State.Open() {
			detail = in.Emoji + " on a " + string(o.State) + " occurrence: no effect"
		}
		if err := appendAudit(ctx, tx, AuditEntry{At: now, Actor: in.displayName(), Action: "decision." + string(res.Kind), PostID: o.PostID, Occurrence: o.ID, Place: in.Source, Detail: detail}); err != nil {
			return res, err
		}
	}
	return res, nil
}

func (in ReactionInput) displayName() string {
	if in.UserName != "" {
		return in.UserName
	}
	return in.User
}

// countable reports whether a reaction by this person could count at all,
// before looking at payload hashes.
func countable(p Policy, author string, in ReactionInput) (bool, string) {
	v := Tally(p, author, map[string]string{"": "x"}, []Reaction{{User: in.User, Emoji: firstOr(p.ApproveEmoji), FromBot: in.FromBot, FromSelf: in.FromSelf, Hashes: map[string]string{"": "x"}}})
	if len(v.Ignored) > 0 {
		return false, v.Ignored[0].Reason
	}
	return true, ""
}

func firstOr(list []string) string {
	if len(list) == 0 {
		return DefaultApproveEmoji[0]
	}
	return list[0]
}

func countedIn(v Verdict, in ReactionInput) (bool, string) {
	for _, r := range append(append([]Reaction{}, v.Approvals...), v.Rejections...) {
		if r.User == in.User {
			return true, ""
		}
	}
	for _, ig := range v.Ignored {
		if ig.Reaction.User == in.User && ig.Reaction.Emoji == in.Emoji {
			return false, ig.Reason
		}
	}
	return false, ""
}

func (s *Service) hasLiveReaction(ctx context.Context, tx *sql.Tx, in ReactionInput) (bool, error) {
	var id int64
	var rid string
	err := tx.QueryRowContext(ctx, `SELECT id, reaction_id FROM reactions WHERE occurrence_id = ? AND user = ? AND emoji = ? AND withdrawn_at IS NULL`,
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

// UnreactionInput is a reaction taken back. Either ReactionID, or
// Occurrence + User + Emoji identify it.
type UnreactionInput struct {
	Occurrence int64
	User       string
	UserName   string
	Emoji      string
	ReactionID string
	Source     string
	At         time.Time
}

// Unreact withdraws a reaction and derives the state again. A reaction that
// is not known (never seen, or already withdrawn) changes nothing.
func (s *Service) Unreact(ctx context.Context, in UnreactionInput) (ReactResult, error) {
	now := s.now()
	var res ReactResult
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = s.unreact(ctx, tx, in, now)
		return err
	})
	return res, err
}

func (s *Service) unreact(ctx context.Context, tx *sql.Tx, in UnreactionInput, now time.Time) (ReactResult, error) {
	var id, occ int64
	var user, name, emoji string
	var err error
	if in.ReactionID != "" {
		err = tx.QueryRowContext(ctx, `SELECT id, occurrence_id, user, user_name, emoji FROM reactions WHERE reaction_id = ? AND withdrawn_at IS NULL`, in.ReactionID).Scan(&id, &occ, &user, &name, &emoji)
	} else {
		e, ok := NormalizeEmoji(in.Emoji)
		if !ok {
			return ReactResult{Kind: KindOther}, nil
		}
		err = tx.QueryRowContext(ctx, `SELECT id, occurrence_id, user, user_name, emoji FROM reactions WHERE occurrence_id = ? AND user = ? AND emoji = ? AND withdrawn_at IS NULL`,
			in.Occurrence, in.User, e).Scan(&id, &occ, &user, &name, &emoji)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ReactResult{Kind: KindOther}, nil
	}
	if err != nil {
		return ReactResult{}, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE reactions SET withdrawn_at = ? WHERE id = ?`, ms(now), id); err != nil {
		return ReactResult{}, err
	}
	o, err := getOcc(ctx, tx, occ)
	if err != nil {
		return ReactResult{}, err
	}
	p, err := getPost(ctx, tx, o.PostID)
	if err != nil {
		return ReactResult{}, err
	}
	v, err := s.refresh(ctx, tx, occ, now)
	if err != nil {
		return ReactResult{}, err
	}
	res := ReactResult{View: v, Kind: s.policy(p.Room).KindOf(emoji), Changed: v.State != o.State}
	if res.Kind != KindOther {
		if err := appendAudit(ctx, tx, AuditEntry{At: now, Actor: name, Action: "decision.withdraw", PostID: o.PostID, Occurrence: occ, Place: in.Source, Detail: emoji + " taken back"}); err != nil {
			return res, err
		}
	}
	return res, nil
}

// Reconcile makes the stored live reactions of an occurrence equal to the
// reactions the chat shows now (read back after heed was down): missing
// ones are added, vanished ones withdrawn, existing ones left alone, so
// each counts exactly once.
func (s *Service) Reconcile(ctx context.Context, occ int64, current []ReactionInput) (added, withdrawn int, err error) {
	now := s.now()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		live, err := liveReactions(ctx, tx, occ)
		if err != nil {
			return err
		}
		type key struct{ user, emoji string }
		want := map[key]ReactionInput{}
		for _, in := range current {
			e, ok := NormalizeEmoji(in.Emoji)
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
				if _, err := s.unreact(ctx, tx, UnreactionInput{Occurrence: occ, User: r.User, Emoji: r.Emoji, Source: "reconcile"}, now); err != nil {
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
				if ErrorCode(err) == ECONFLICT {
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
