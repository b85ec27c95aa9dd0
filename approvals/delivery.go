package approvals

import "fmt"

// DeliveryState is where one occurrence × target stands on its way out. The
// values are the ones stored in the deliveries table.
type DeliveryState string

const (
	DeliveryNone       DeliveryState = ""           // no delivery yet; never stored
	DeliveryPublishing DeliveryState = "publishing" // claimed: a publish is under way
	DeliveryRetry      DeliveryState = "retry"      // the network did not act; tried again at its next attempt
	DeliveryPublished  DeliveryState = "published"  // the network took it; never sent again
	DeliveryFailed     DeliveryState = "failed"     // refused, or retries ran out
	DeliveryUnknown    DeliveryState = "unknown"    // may or may not have gone out; a person resolves it
	DeliveryHeld       DeliveryState = "held"       // its target was paused, or its approval gone; it never went out
)

// DeliveryStates lists every delivery state, none first.
var DeliveryStates = []DeliveryState{
	DeliveryNone, DeliveryPublishing, DeliveryRetry, DeliveryPublished,
	DeliveryFailed, DeliveryUnknown, DeliveryHeld,
}

// DeliveryEvent is something that happens to a delivery.
type DeliveryEvent string

const (
	DvClaim            DeliveryEvent = "claim"             // the dispatcher claimed it at its occurrence's time
	DvRetryClaim       DeliveryEvent = "retry_claim"       // the dispatcher claimed it again at its next attempt
	DvPublished        DeliveryEvent = "published"         // the network took it
	DvRetryable        DeliveryEvent = "retryable"         // the network did not act; a next attempt is set
	DvExhausted        DeliveryEvent = "exhausted"         // the network did not act, and no attempt is left
	DvPermanent        DeliveryEvent = "permanent"         // the network refused it
	DvAmbiguous        DeliveryEvent = "ambiguous"         // the publish may or may not have reached the network
	DvCrash            DeliveryEvent = "crash"             // a claim was found left over after a crash
	DvHold             DeliveryEvent = "hold"              // its target is paused, or its approval is gone
	DvResolvePublished DeliveryEvent = "resolve_published" // a person confirmed it went out
	DvResolveFailed    DeliveryEvent = "resolve_failed"    // a person confirmed it did not go out
	DvReschedule       DeliveryEvent = "reschedule"        // its occurrence moved: a held delivery starts again
	DvWithheld         DeliveryEvent = "withheld"          // checked just before its request was written: paused, unapproved or deaf, so nothing was sent
)

// DeliveryTransition is the delivery state machine. It is pure; callers
// persist the result, and DeliveryNone as a result means the delivery is
// dropped. Nothing leads from published back to publishing, and nothing
// from unknown: a delivery is never sent twice nor retried blindly.
func DeliveryTransition(from DeliveryState, ev DeliveryEvent) (DeliveryState, error) {
	switch ev {
	case DvClaim:
		// A held delivery never went out: it may be claimed again.
		switch from {
		case DeliveryNone, DeliveryHeld:
			return DeliveryPublishing, nil
		}
	case DvRetryClaim:
		if from == DeliveryRetry {
			return DeliveryPublishing, nil
		}
	case DvPublished:
		if from == DeliveryPublishing {
			return DeliveryPublished, nil
		}
	case DvRetryable:
		if from == DeliveryPublishing {
			return DeliveryRetry, nil
		}
	case DvExhausted, DvPermanent:
		if from == DeliveryPublishing {
			return DeliveryFailed, nil
		}
	case DvAmbiguous, DvCrash:
		if from == DeliveryPublishing {
			return DeliveryUnknown, nil
		}
	case DvHold:
		switch from {
		case DeliveryNone, DeliveryRetry, DeliveryHeld:
			return DeliveryHeld, nil
		}
	case DvWithheld:
		if from == DeliveryPublishing {
			return DeliveryHeld, nil
		}
	case DvResolvePublished:
		if from == DeliveryUnknown {
			return DeliveryPublished, nil
		}
	case DvResolveFailed:
		if from == DeliveryUnknown {
			return DeliveryFailed, nil
		}
	case DvReschedule:
		if from == DeliveryHeld {
			return DeliveryNone, nil
		}
	}
	if from == DeliveryNone {
		return from, fmt.Errorf("there is no delivery: cannot %s", ev)
	}
	return from, fmt.Errorf("delivery is %s: cannot %s", from, ev)
}
