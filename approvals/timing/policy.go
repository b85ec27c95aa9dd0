package timing

import "time"

// DefaultLastCallLead is how long before an approved occurrence the last call
// goes out when the team has not configured a lead time.
const DefaultLastCallLead = 15 * time.Minute

// LastCallAt is when the last call for an occurrence at occurrenceAt should be
// sent: lead before it, or now if that moment has already passed (a post
// scheduled closer than the lead time gets its last call at once). A negative
// lead counts as zero.
func LastCallAt(occurrenceAt time.Time, lead time.Duration, now time.Time) time.Time {
	at := occurrenceAt.Add(-max(lead, 0))
	if at.Before(now) {
		return now
	}
	return at
}

// RequiredApprovals is how many approvals an occurrence needs: base normally,
// and at least sensitiveRequired when it falls on a sensitive day. The policy
// only ever raises the bar, so a sensitiveRequired below base changes nothing.
func RequiredApprovals(base int, onSensitive bool, sensitiveRequired int) int {
	if onSensitive && sensitiveRequired > base {
		return sensitiveRequired
	}
	return base
}
