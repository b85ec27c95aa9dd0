package approvals

import (
	"strings"
	"time"
)

// Claim is one occurrence × target the dispatcher may now publish. It was
// made in the same transaction that checked the approval, the payload hash
// and every pause.
type Claim struct {
	Occurrence int64
	Target     string
	Payload    Payload
	Key        string // idempotency key
	Attempt    int
}

// SettleOptions are the dispatcher's view of the world at a due time.
type SettleOptions struct {
	Runner string // who claims: the daemon's lease holder
	// Deaf, when not empty, says why the chat cannot be heard right now:
	// nothing is claimed while a pause could not be heard.
	Deaf string
	// LateGrace is how long past its time an occurrence may still go out
	// once the chat is heard again; after that it is held.
	LateGrace time.Duration
}

// Settle outcomes.
const (
	OutcomeClaimed = "claimed"
	OutcomeHeld    = "held"
	OutcomeMissed  = "missed"
	OutcomeNone    = "none" // not due, or no longer in a state that is due
)

// SettleResult is what happened to a due occurrence.
type SettleResult struct {
	Outcome string
	Claims  []Claim
	Note    string
}

// ShortDuration is 30m rather than 30m0s.
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// OrDash is s, or "no reason given" when s is empty.
func OrDash(s string) string {
	if s == "" {
		return "no reason given"
	}
	return s
}

// DeliveryRef names one occurrence × target.
type DeliveryRef struct {
	Occurrence int64
	Target     string
}

// OutcomeKind says how a publish attempt ended. The zero value is no kind:
// it is recorded as ambiguous, since heed never guesses that a post went
// out or did not.
type OutcomeKind string

const (
	OutcomeOK        OutcomeKind = "ok"        // the network took it
	OutcomeRetryable OutcomeKind = "retryable" // the network did not act on it
	OutcomePermanent OutcomeKind = "permanent" // the network refused it
	OutcomeAmbiguous OutcomeKind = "ambiguous" // it may or may not have reached the network
	// OutcomeWithheld: nothing was sent. Checked again just before its
	// request was written, the delivery was paused, no longer approved,
	// or its chat could not be heard; it is held.
	OutcomeWithheld OutcomeKind = "withheld"
)

// Outcome is what a publish attempt gave.
type Outcome struct {
	RemoteID string
	URL      string
	Kind     OutcomeKind
	Err      string
	// NextAttempt is when to retry a retryable failure; zero means retries
	// are exhausted and the delivery fails.
	NextAttempt time.Time
}

// Event is the delivery event the outcome is: a retryable failure without
// a next attempt has exhausted its retries, and a kind that is none of
// the known ones is ambiguous.
func (o Outcome) Event() DeliveryEvent {
	switch o.Kind {
	case OutcomeOK:
		return DvPublished
	case OutcomeRetryable:
		if o.NextAttempt.IsZero() {
			return DvExhausted
		}
		return DvRetryable
	case OutcomePermanent:
		return DvPermanent
	case OutcomeWithheld:
		return DvWithheld
	}
	return DvAmbiguous
}
