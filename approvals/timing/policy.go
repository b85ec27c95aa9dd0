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

// ReminderSlot says which reminder of an occurrence at `at` is the one of
// now, for a room whose occurrences should be approved approveBy before
// their time, reminded every `every` (0: once). Slot 0 is due approveBy
// before the time, slot k every×k after it; the reminder of now is the
// latest slot due at or before now, so slots that passed unsent (heed was
// down, the room was unstaffed) fold into one. last is set for the last
// slot due before the time. ok is false before the first slot, from the
// time on, and when approveBy is 0.
func ReminderSlot(at, now time.Time, approveBy, every time.Duration) (slot int, last, ok bool) {
	start := at.Add(-approveBy)
	if approveBy <= 0 || now.Before(start) || !now.Before(at) {
		return 0, false, false
	}
	if every <= 0 {
		return 0, true, true
	}
	slot = int(now.Sub(start) / every)
	lastSlot := int((approveBy - 1) / every)
	return slot, slot >= lastSlot, true
}
