package approvals

import "fmt"

// State is where an occurrence stands. See docs/DESIGN.md for the diagram.
type State string

const (
	StateScheduled  State = "scheduled"  // known, not yet in the review window
	StateInReview   State = "in_review"  // card posted, waiting for decisions
	StateApproved   State = "approved"   // enough valid approvals for its payload
	StatePublishing State = "publishing" // claimed by the dispatcher
	StatePublished  State = "published"  // every target answered with success
	StateRejected   State = "rejected"   // vetoed by an approver
	StateMissed     State = "missed"     // its time came without approval
	StateHeld       State = "held"       // its time came during a pause or while the chat was deaf
	StateCanceled   State = "canceled"   // dropped by a person
	StateFailed     State = "failed"     // a target refused or retries ran out
	StateUnknown    State = "unknown"    // a publish may or may not have happened; a person resolves it
)

// States lists every state, in the order of the happy path first.
var States = []State{
	StateScheduled, StateInReview, StateApproved, StatePublishing, StatePublished,
	StateRejected, StateMissed, StateHeld, StateCanceled, StateFailed, StateUnknown,
}

// Terminal reports whether no transition leaves s.
func (s State) Terminal() bool {
	switch s {
	case StatePublished, StateCanceled, StateFailed:
		return true
	}
	return false
}

// Open reports whether an occurrence in s still waits for a decision or its
// time: its card is live and reactions on it matter.
func (s State) Open() bool {
	switch s {
	case StateScheduled, StateInReview, StateApproved, StateRejected, StateHeld:
		return true
	}
	return false
}

// Event is something that happens to an occurrence.
type Event string

const (
	EvOpenReview  Event = "open_review"  // the occurrence entered the review window
	EvApproved    Event = "approved"     // the valid decisions now approve it
	EvRejected    Event = "rejected"     // a valid reject decision is present
	EvUndecided   Event = "undecided"    // decisions withdrawn or voided by an edit
	EvClaim       Event = "claim"        // the dispatcher claimed it at its time
	EvPublished   Event = "published"    // every target succeeded
	EvFailed      Event = "failed"       // a target failed permanently
	EvCrash       Event = "crash"        // a claim was found left over after a crash
	EvAmbiguous   Event = "ambiguous"    // a target's outcome is unknown
	EvMiss        Event = "miss"         // its time came without approval
	EvHold        Event = "hold"         // its time came during a pause
	EvCancel      Event = "cancel"       // a person dropped it
	EvReschedule  Event = "reschedule"   // a person moved it (delay, edit, or a fresh decision after a hold)
	EvResolved    Event = "resolved"     // a person confirmed an unknown outcome as published
	EvResolveFail Event = "resolve_fail" // a person confirmed an unknown outcome as not published
)

// Transition is the occurrence state machine: the one place that says which
// events are legal in which state. It is pure; callers persist the result.
func Transition(from State, ev Event) (State, error) {
	switch ev {
	case EvOpenReview:
		if from == StateScheduled {
			return StateInReview, nil
		}
	case EvApproved:
		switch from {
		case StateInReview, StateRejected, StateApproved:
			return StateApproved, nil
		}
	case EvRejected:
		switch from {
		case StateInReview, StateApproved, StateRejected:
			return StateRejected, nil
		}
	case EvUndecided:
		switch from {
		case StateInReview, StateApproved, StateRejected:
			return StateInReview, nil
		}
	case EvClaim:
		if from == StateApproved {
			return StatePublishing, nil
		}
	case EvPublished:
		if from == StatePublishing {
			return StatePublished, nil
		}
	case EvFailed:
		if from == StatePublishing {
			return StateFailed, nil
		}
	case EvCrash, EvAmbiguous:
		if from == StatePublishing {
			return StateUnknown, nil
		}
	case EvMiss:
		switch from {
		case StateScheduled, StateInReview, StateRejected:
			return StateMissed, nil
		}
	case EvHold:
		// From publishing: a pause on one target held it while others went out.
		switch from {
		case StateScheduled, StateInReview, StateApproved, StateRejected, StatePublishing:
			return StateHeld, nil
		}
	case EvCancel:
		switch from {
		case StateScheduled, StateInReview, StateApproved, StateRejected, StateHeld, StateMissed:
			return StateCanceled, nil
		}
	case EvReschedule:
		switch from {
		case StateScheduled, StateInReview, StateApproved, StateRejected, StateHeld, StateMissed:
			return StateInReview, nil
		}
	case EvResolved:
		if from == StateUnknown {
			return StatePublished, nil
		}
	case EvResolveFail:
		if from == StateUnknown {
			return StateFailed, nil
		}
	}
	return from, fmt.Errorf("occurrence is %s: cannot %s", from, ev)
}
