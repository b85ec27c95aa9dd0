package bot

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/heed-dev/heed/approvals"
)

// An edited message notifies nobody in Slack or Matrix, so a change that
// needs a person is also said in a reply in the card's thread, mentioning
// the people concerned in the chat's own syntax:
//
//   - decisions voided because the post changed (an edit, a delay): the
//     card is superseded by a fresh one, so that a single reaction
//     approves the new version (a reaction already on the old card could
//     not be given again), and the people who had decided and the author
//     are told in the fresh card's thread;
//   - the occurrence turning held, missed or unknown: its approvers are
//     told, once per time it enters that state (CardRef.Notified).
//
// Pauses and resumes made outside the review rooms are announced in every
// review room (Cards.announcePauses).

// Identifier is implemented by adapters that can tell their own user ids
// from other chats' (U0123ABC in Slack, @alice:example.org in Matrix), so
// that a person named in the configuration is mentioned by the identity
// this chat knows.
type Identifier interface {
	Owns(identity string) bool
}

// maxMentioned bounds the approvers a notice names from a chat's roster
// (a Slack user group, a Matrix room's moderators): past it the notice
// addresses the room's approvers without naming each.
const maxMentioned = 10

// needsPeople reports whether an occurrence in state st needs its approvers
// told: it will not go out unless someone acts.
func needsPeople(st approvals.State) bool {
	return st == approvals.StateHeld || st == approvals.StateMissed || st == approvals.StateUnknown
}

// mentions returns how to address each identity in room's chat: a mention
// where the chat has one, else the name. Identities of one person appear
// once.
func (cs *Cards) mentions(room Room, ids []string) []string {
	a := cs.e.adapter(room.Adapter)
	m, _ := a.(Mentioner)
	own, _ := a.(Identifier)
	people := room.Policy.People
	var out, persons []string
	for _, id := range ids {
		if id == "" {
			continue
		}
		person := people.Person(id)
		if slices.Contains(persons, person) {
			continue
		}
		persons = append(persons, person)
		// The chat's own identity of this person, if it has one.
		chatID := ""
		for _, cand := range append([]string{id}, people.Identities(id)...) {
			if own != nil && own.Owns(cand) {
				chatID = cand
				break
			}
		}
		switch {
		case chatID != "" && m != nil:
			out = append(out, m.Mention(chatID))
		case own == nil && m != nil:
			out = append(out, m.Mention(id))
		default:
			out = append(out, person)
		}
	}
	return out
}

// approvers lists who may approve an occurrence of room, as identities:
// the configured approvers, the roster the chat last gave (when it is not
// too long to name), and everyone who has decided on it.
func (cs *Cards) approvers(ctx context.Context, v approvals.View, room Room) []string {
	ids := slices.Clone(room.Policy.Approvers)
	if r, ok, err := cs.e.Reviews.Roster(ctx, room.Name); err == nil && ok && len(r.Approvers) <= maxMentioned {
		ids = append(ids, r.Approvers...)
	}
	for _, r := range v.Verdict.Approvals {
		ids = append(ids, r.User)
	}
	for _, r := range v.Verdict.Rejections {
		ids = append(ids, r.User)
	}
	for _, r := range v.Verdict.Voided() {
		ids = append(ids, r.User)
	}
	people := room.Policy.People
	return slices.DeleteFunc(ids, func(id string) bool { return people.Same(id, v.Post.Author) && !room.Policy.AuthorMayApprove })
}

// address prefixes text with the people it is for, or with "Approvers"
// when it names nobody.
func address(who []string, text string) string {
	if len(who) == 0 {
		return "Approvers: " + text
	}
	return strings.Join(who, " ") + ": " + text
}

// supersede replaces the card of v, whose decisions voided are no longer
// valid, with a fresh card, marks the old one superseded, and tells the
// people who had decided, and the author, in the fresh card's thread. It
// returns the fresh card's ref.
func (cs *Cards) supersede(ctx context.Context, v approvals.View, room Room, old approvals.CardRef, card Card, voided []approvals.Reaction) (approvals.CardRef, error) {
	a := cs.e.adapter(room.Adapter)
	fresh, err := a.PostCard(ctx, room.ID, card)
	if err != nil {
		return old, err
	}
	if string(fresh) != old.Ref { // the console numbers cards by occurrence: there is one
		if err := a.UpdateCard(ctx, room.ID, MessageRef(old.Ref), supersededCard(card, fresh)); err != nil {
			// The fresh card is what counts.
			cs.e.Log.Warn("could not mark a superseded card", "occurrence", v.ID, "err", err)
		}
	}
	if err := cs.e.Reviews.Supersede(ctx, old, string(fresh), voided); err != nil {
		return old, err
	}
	ref := old
	ref.Ref, ref.Notified = string(fresh), ""
	var ids, names []string
	for _, r := range voided {
		ids = append(ids, r.User)
		if !slices.Contains(names, r.UserName) {
			names = append(names, r.UserName)
		}
	}
	ids = append(ids, v.Post.Author)
	text := fmt.Sprintf("✏️ #%d needs a fresh decision: it changed after %s decided, so those decisions no longer count. This is the new card: react %s here to approve this version.",
		v.ID, strings.Join(names, ", "), strings.Join(room.Policy.WithDefaults().ApproveEmoji, " or "))
	cs.tell(ctx, room, fresh, address(cs.mentions(room, ids), text))
	return ref, nil
}

// tell replies in a thread now, or from the outbox (retried) if the chat
// fails.
func (cs *Cards) tell(ctx context.Context, room Room, thread MessageRef, text string) {
	if err := cs.e.adapter(room.Adapter).Reply(ctx, room.ID, thread, text); err != nil {
		cs.announce(room, thread, text)
	}
}

// supersededCard is what the old card shows once a fresh one replaced it.
func supersededCard(c Card, fresh MessageRef) Card {
	c.Approvals, c.Rejections, c.Ignored = nil, nil, nil
	c.Warnings = []string{"Superseded: this post changed after people decided on it."}
	c.Notes, c.Superseded = nil, true
	c.HowTo = fmt.Sprintf("Reactions here no longer count. Decide on the new card of #%d, posted below.", c.Number)
	return c
}

// notifyState tells the approvers in the card's thread when the occurrence
// turned held, missed or unknown, and the author too when it missed, once
// each time; it returns the card as recorded.
func (cs *Cards) notifyState(ctx context.Context, v approvals.View, room Room, ref approvals.CardRef) (approvals.CardRef, error) {
	if ref.Notified == v.State || (!needsPeople(v.State) && ref.Notified == "") {
		return ref, nil
	}
	var st approvals.State
	if needsPeople(v.State) {
		st = v.State
		var text string
		who := cs.approvers(ctx, v, room)
		approve := strings.Join(room.Policy.WithDefaults().ApproveEmoji, " or ")
		switch v.State {
		case approvals.StateHeld:
			text = fmt.Sprintf("⏸ #%d is held: it will not go out unless an approver decides again. React %s on the card (a reaction already there does not count twice: add the other one), `delay %d 1h`, or `cancel %d`.",
				v.ID, approve, v.ID, v.ID)
		case approvals.StateMissed:
			text = fmt.Sprintf("⌛ #%d missed its time (%s) without enough approvals and did not go out. `delay %d 1h` to give it a new time, or `cancel %d`.",
				v.ID, v.At.In(cs.e.Zone).Format("Mon 2 Jan 15:04"), v.ID, v.ID)
			// Its author learns it in the same notice: one per miss.
			who = append(who, v.Post.Author)
		case approvals.StateUnknown:
			text = fmt.Sprintf("❓ #%d: heed cannot tell whether it went out. Check the account, then `resolve %d published` or `resolve %d failed`.", v.ID, v.ID, v.ID)
		}
		// Sent before it is recorded: a crash between the two tells
		// them twice rather than never.
		if err := cs.e.adapter(room.Adapter).Reply(ctx, room.ID, MessageRef(ref.Ref), address(cs.mentions(room, who), text)); err != nil {
			return ref, err
		}
	}
	if err := cs.e.Reviews.SetNotified(ctx, ref, st); err != nil {
		return ref, err
	}
	ref.Notified = st
	return ref, nil
}
