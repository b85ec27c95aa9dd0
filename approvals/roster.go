package approvals

import (
	"maps"
	"slices"
	"time"
)

// Roster is what a chat says about who may approve in a review room,
// beyond the approvers named in heed's configuration: the members of a
// channel's Slack user groups, or the users whose Matrix power level is
// high enough. A chat adapter reads it; the store keeps it as a fact with
// the time it was read, so that every process (the daemon, a CLI command,
// an import) judges reactions with the same roster.
type Roster struct {
	// Source says where it was read ("matrix power levels").
	Source string `json:"source"`
	// ReadAt is when the chat said so.
	ReadAt time.Time `json:"read_at"`
	// Approvers may approve.
	Approvers []string `json:"approvers,omitempty"`
	// Refused maps users the chat names who may not approve to why
	// ("power level 10, needs 50").
	Refused map[string]string `json:"refused,omitempty"`
	// Default is true when everyone else may approve too (a Matrix
	// room whose users_default reaches the level).
	Default bool `json:"default,omitempty"`
	// DefaultWhy says why anyone else may not ("power level 0, needs 50").
	DefaultWhy string `json:"default_why,omitempty"`
}

// Allows reports whether the roster lets user approve, and if not, why.
func (r Roster) Allows(user string) (bool, string) {
	if slices.Contains(r.Approvers, user) {
		return true, ""
	}
	if why, ok := r.Refused[user]; ok {
		return false, why
	}
	if r.Default {
		return true, ""
	}
	return false, r.DefaultWhy
}

// Normalized returns the roster with its approvers sorted and without
// duplicates, and empty collections as nil, so that equal rosters compare
// equal.
func (r Roster) Normalized() Roster {
	r.Approvers = slices.Compact(slices.Sorted(slices.Values(r.Approvers)))
	if len(r.Approvers) == 0 {
		r.Approvers = nil
	}
	if len(r.Refused) == 0 {
		r.Refused = nil
	} else {
		r.Refused = maps.Clone(r.Refused)
	}
	r.ReadAt = r.ReadAt.UTC()
	return r
}

// SameAs reports whether two rosters say the same about everyone,
// whenever they were read.
func (r Roster) SameAs(o Roster) bool {
	a, b := r.Normalized(), o.Normalized()
	return a.Source == b.Source && slices.Equal(a.Approvers, b.Approvers) && maps.Equal(a.Refused, b.Refused) &&
		a.Default == b.Default && a.DefaultWhy == b.DefaultWhy
}
