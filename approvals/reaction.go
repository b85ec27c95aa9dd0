package approvals

import (
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
	// EventAdapter and EventID, when set, name the chat event the
	// reaction came in: it is recorded as seen in the reaction's own
	// transaction, and a second delivery of it changes nothing.
	EventAdapter, EventID string
	// PresenceRoom, when set, is the review room the reaction shows its
	// author was in (for the on-duty check), recorded in the same
	// transaction.
	PresenceRoom string
}

// ReactResult says what a reaction did.
type ReactResult struct {
	View    View
	Kind    Kind
	Counted bool   // it counts as a decision
	Reason  string // why it does not count, if it does not
	Changed bool   // the occurrence's state changed
	Held    bool   // a 🛑 held the occurrence
	// Duplicate: the chat delivered this event before; nothing changed.
	Duplicate bool
}

// StopEmoji on an open card, from anyone in the review room, holds that one
// occurrence.
const StopEmoji = "🛑"

// DisplayName is how a card names the reacting person.
func (in ReactionInput) DisplayName() string {
	if in.UserName != "" {
		return in.UserName
	}
	return in.User
}

// countable reports whether a reaction by this person could count at all,
// before looking at payload hashes.
func Countable(p Policy, author string, in ReactionInput) (bool, string) {
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

// CountedIn reports whether the verdict counted the reaction, and why not.
func CountedIn(v Verdict, in ReactionInput) (bool, string) {
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
