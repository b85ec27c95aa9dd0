package approvals

import "fmt"

// RetractState is where taking one published delivery back stands. The
// values are the ones stored in the retractions table.
type RetractState string

const (
	RetractNone        RetractState = ""            // nobody asked; never stored
	RetractPending     RetractState = "retracting"  // asked; the network has not answered yet
	RetractDone        RetractState = "retracted"   // the network deleted it
	RetractFailed      RetractState = "failed"      // the network did not delete it; it may be asked again
	RetractUnsupported RetractState = "unsupported" // the network cannot delete through heed
)

// RetractStates lists every retraction state, none first.
var RetractStates = []RetractState{RetractNone, RetractPending, RetractDone, RetractFailed, RetractUnsupported}

// Terminal reports whether no transition leaves s: the delivery is gone,
// or can only be deleted by hand.
func (s RetractState) Terminal() bool {
	return s == RetractDone || s == RetractUnsupported
}

// RetractEvent is something that happens to a retraction.
type RetractEvent string

const (
	RtBegin       RetractEvent = "begin"       // a person asked, and the network can delete
	RtUnsupported RetractEvent = "unsupported" // a person asked, and the network cannot delete
	RtDeleted     RetractEvent = "deleted"     // the network deleted it
	RtFailed      RetractEvent = "failed"      // the network did not delete it
)

// RetractTransition is the retraction state machine. It is pure; callers
// persist the result. A retraction under way or failed may be asked again;
// one done or unsupported is final.
func RetractTransition(from RetractState, ev RetractEvent) (RetractState, error) {
	switch ev {
	case RtBegin:
		switch from {
		case RetractNone, RetractPending, RetractFailed:
			return RetractPending, nil
		}
	case RtUnsupported:
		switch from {
		case RetractNone, RetractPending, RetractFailed:
			return RetractUnsupported, nil
		}
	case RtDeleted:
		if from == RetractPending {
			return RetractDone, nil
		}
	case RtFailed:
		if from == RetractPending {
			return RetractFailed, nil
		}
	}
	if from == RetractNone {
		return from, fmt.Errorf("no retraction was asked: cannot %s", ev)
	}
	return from, fmt.Errorf("retraction is %s: cannot %s", from, ev)
}

// OfferState is where a retract offer stands. The values are the ones
// stored in the retract_offers table.
type OfferState string

const (
	OfferNone      OfferState = ""          // not made; never stored
	OfferOpen      OfferState = "open"      // waiting for an approver
	OfferConfirmed OfferState = "confirmed" // an approver confirmed it: its posts are retracted
	OfferCanceled  OfferState = "canceled"  // an approver canceled it: nothing is deleted
)

// OfferStates lists every offer state, none first.
var OfferStates = []OfferState{OfferNone, OfferOpen, OfferConfirmed, OfferCanceled}

// OfferEvent is something that happens to a retract offer.
type OfferEvent string

const (
	OfMake     OfferEvent = "make"     // `pause retract 2h` found posts to offer
	OfAnnounce OfferEvent = "announce" // it is being posted in the review rooms
	OfConfirm  OfferEvent = "confirm"  // an approver confirmed it
	OfCancel   OfferEvent = "cancel"   // an approver canceled it
)

// OfferTransition is the retract offer state machine. It is pure; callers
// persist the result. Only an open offer is announced or decided, and only
// once.
func OfferTransition(from OfferState, ev OfferEvent) (OfferState, error) {
	switch ev {
	case OfMake:
		if from == OfferNone {
			return OfferOpen, nil
		}
	case OfAnnounce:
		if from == OfferOpen {
			return OfferOpen, nil
		}
	case OfConfirm:
		if from == OfferOpen {
			return OfferConfirmed, nil
		}
	case OfCancel:
		if from == OfferOpen {
			return OfferCanceled, nil
		}
	}
	if from == OfferNone {
		return from, fmt.Errorf("there is no offer: cannot %s", ev)
	}
	return from, fmt.Errorf("offer is %s: cannot %s", from, ev)
}
