package approvals

import (
	"slices"
	"strings"
	"time"
)

// Policy says who may approve in a review room, how many must, and with
// which emoji.
type Policy struct {
	Approvers        []string // explicit user ids
	Everyone         bool     // every person in the room may approve (the console default)
	Required         int      // distinct approvers needed, at least 1
	AuthorMayApprove bool
	ApproveEmoji     []string // normalized (see NormalizeEmoji)
	RejectEmoji      []string
	// Room names the review room the policy belongs to; the store keeps
	// the room's Roster under this name.
	Room string
	// Roster is who the chat says may approve beyond Approvers (Slack
	// user groups, Matrix power levels), as the store last recorded it.
	// Nil when the chat has said nothing.
	Roster *Roster
	// People joins each person's identities across chats and the command
	// line: Approvers may name people, and the author is a person.
	People People
}

// DefaultApproveEmoji and DefaultRejectEmoji are used when a room sets none.
var (
	DefaultApproveEmoji = []string{"✅", "👍"}
	DefaultRejectEmoji  = []string{"❌", "👎"}
)

// WithDefaults fills unset fields.
func (p Policy) WithDefaults() Policy {
	if p.Required < 1 {
		p.Required = 1
	}
	if len(p.ApproveEmoji) == 0 {
		p.ApproveEmoji = DefaultApproveEmoji
	}
	if len(p.RejectEmoji) == 0 {
		p.RejectEmoji = DefaultRejectEmoji
	}
	return p
}

// IsApprover reports whether user may approve, and if not, why.
func (p Policy) IsApprover(user string) (bool, string) {
	if p.Everyone || slices.Contains(p.Approvers, user) || slices.Contains(p.Approvers, p.People.Person(user)) {
		return true, ""
	}
	if p.Roster != nil {
		ok, why := p.Roster.Allows(user)
		if ok {
			return true, ""
		}
		if why != "" {
			return false, "not an approver (" + why + ")"
		}
	}
	return false, "not an approver"
}

// Kind of a reaction under a policy.
type Kind string

const (
	KindApprove Kind = "approve"
	KindReject  Kind = "reject"
	KindOther   Kind = "other"
)

// nearApprove and nearReject are emoji people use to mean yes or no that
// are not, by default, approve or reject emoji (normalized forms).
var (
	nearApprove = []string{"✔", "☑", "✓", "👌", "🆗", "💯", "🟢"}
	nearReject  = []string{"✖", "❎", "✗", "🚫", "⛔", "🔴"}
)

// nearMiss says what to react with instead when emoji looks like an
// approve or reject emoji but is neither under p, or "".
func (p Policy) nearMiss(emoji string) string {
	switch {
	case slices.Contains(nearApprove, emoji):
		return "not an approve emoji here: react " + strings.Join(p.ApproveEmoji, " or ")
	case slices.Contains(nearReject, emoji):
		return "not a reject emoji here: react " + strings.Join(p.RejectEmoji, " or ")
	}
	return ""
}

// KindOf classifies a normalized emoji.
func (p Policy) KindOf(emoji string) Kind {
	switch {
	case slices.Contains(p.ApproveEmoji, emoji):
		return KindApprove
	case slices.Contains(p.RejectEmoji, emoji):
		return KindReject
	}
	return KindOther
}

// Reaction is one reaction on a card, stored whether it counts or not.
type Reaction struct {
	ID         int64             `json:"id"`
	Occurrence int64             `json:"occurrence"`
	User       string            `json:"user"`
	UserName   string            `json:"user_name"`
	Emoji      string            `json:"emoji"`  // normalized
	Hashes     map[string]string `json:"hashes"` // target -> payload hash it was given against
	At         time.Time         `json:"at"`
	FromBot    bool              `json:"from_bot,omitempty"`
	FromSelf   bool              `json:"from_self,omitempty"`
	ReactionID string            `json:"reaction_id,omitempty"`
	Source     string            `json:"source"` // adapter/room
}

// Ignored is a reaction that does not count, and why.
type Ignored struct {
	Reaction Reaction
	Reason   string
	// Stale is set for a decision by someone who may decide that no
	// longer counts because the post changed since (an edit, a delay):
	// they must decide again, on a fresh card.
	Stale bool
}

// Verdict is what the current reactions decide for one occurrence.
type Verdict struct {
	Required   int
	Approvals  []Reaction     // one per counted approver, oldest first
	Rejections []Reaction     // one per counted rejecting approver
	Ignored    []Ignored      // approve/reject emoji that do not count
	PerTarget  map[string]int // counted approvals valid for each target's current payload
}

// Approved reports whether every target has enough valid approvals and
// nobody rejected.
func (v Verdict) Approved() bool {
	if len(v.Rejections) > 0 || len(v.PerTarget) == 0 {
		return false
	}
	for _, n := range v.PerTarget {
		if n < v.Required {
			return false
		}
	}
	return true
}

// ApprovedFor reports whether target has enough valid approvals and nobody
// rejected.
func (v Verdict) ApprovedFor(target string) bool {
	return len(v.Rejections) == 0 && v.PerTarget[target] >= v.Required
}

// Voided returns the decisions that no longer count because the post
// changed since they were given (Ignored.Stale), oldest first.
func (v Verdict) Voided() []Reaction {
	var out []Reaction
	for _, ig := range v.Ignored {
		if ig.Stale {
			out = append(out, ig.Reaction)
		}
	}
	return out
}

// Event returns the state-machine event the verdict amounts to.
func (v Verdict) Event() Event {
	switch {
	case len(v.Rejections) > 0:
		return EvRejected
	case v.Approved():
		return EvApproved
	}
	return EvUndecided
}

// Tally derives the decision from the current set of reactions. It is pure:
// the same reactions, payload and policy always give the same verdict, so a
// withdrawn reaction, an edit or a replayed event cannot leave it wrong.
// current maps each target to its current payload hash; reactions must
// not include withdrawn ones.
func Tally(p Policy, author string, current map[string]string, reactions []Reaction) Verdict {
	p = p.WithDefaults()
	v := Verdict{Required: p.Required, PerTarget: make(map[string]int, len(current))}
	for t := range current {
		v.PerTarget[t] = 0
	}
	counted := map[Kind]map[string]bool{KindApprove: {}, KindReject: {}}
	var near []Ignored // look-alike emoji from approvers
	for _, r := range reactions {
		kind := p.KindOf(r.Emoji)
		if kind == KindOther {
			// An approver who meant to decide with a look-alike is told;
			// any other emoji stays silent.
			if why := p.nearMiss(r.Emoji); why != "" && !r.FromBot && !r.FromSelf {
				if ok, _ := p.IsApprover(r.User); ok {
					near = append(near, Ignored{Reaction: r, Reason: why})
				}
			}
			continue
		}
		reason := ""
		switch {
		case r.FromSelf:
			reason = "heed's own reaction"
		case r.FromBot:
			reason = "a bot"
		case p.People.Same(r.User, author) && !p.AuthorMayApprove:
			reason = "the post's author may not approve it"
		}
		if reason == "" {
			if ok, why := p.IsApprover(r.User); !ok {
				reason = why
			}
		}
		valid := false
		for t, h := range current {
			if r.Hashes[t] == h {
				valid = true
			}
		}
		stale := false
		if reason == "" && !valid {
			reason, stale = "given for an earlier version of this post", true
		}
		if reason != "" {
			v.Ignored = append(v.Ignored, Ignored{Reaction: r, Reason: reason, Stale: stale})
			continue
		}
		who := p.People.Person(r.User)
		if counted[kind][who] {
			continue // one person counts once, whichever approve emoji or identity they used
		}
		counted[kind][who] = true
		if kind == KindReject {
			v.Rejections = append(v.Rejections, r)
			continue
		}
		v.Approvals = append(v.Approvals, r)
		for t, h := range current {
			if r.Hashes[t] == h {
				v.PerTarget[t]++
			}
		}
	}
	for _, ig := range near {
		// Only for who has not decided otherwise.
		if who := p.People.Person(ig.Reaction.User); !counted[KindApprove][who] && !counted[KindReject][who] {
			v.Ignored = append(v.Ignored, ig)
		}
	}
	return v
}
