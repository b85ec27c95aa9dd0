package approvals

import "testing"

// TestTransitionTable lists every legal transition; every other (state,
// event) pair must be refused and leave the state as it was.
func TestTransitionTable(t *testing.T) {
	legal := map[State]map[Event]State{
		StateScheduled: {EvOpenReview: StateInReview, EvMiss: StateMissed, EvHold: StateHeld, EvCancel: StateCanceled, EvReschedule: StateInReview},
		StateInReview: {EvApproved: StateApproved, EvRejected: StateRejected, EvUndecided: StateInReview,
			EvMiss: StateMissed, EvHold: StateHeld, EvCancel: StateCanceled, EvReschedule: StateInReview},
		StateApproved: {EvApproved: StateApproved, EvRejected: StateRejected, EvUndecided: StateInReview,
			EvClaim: StatePublishing, EvHold: StateHeld, EvCancel: StateCanceled, EvReschedule: StateInReview},
		StateRejected: {EvApproved: StateApproved, EvRejected: StateRejected, EvUndecided: StateInReview,
			EvMiss: StateMissed, EvHold: StateHeld, EvCancel: StateCanceled, EvReschedule: StateInReview},
		StatePublishing: {EvPublished: StatePublished, EvFailed: StateFailed, EvCrash: StateUnknown, EvAmbiguous: StateUnknown, EvHold: StateHeld},
		StateHeld:       {EvCancel: StateCanceled, EvReschedule: StateInReview},
		StateMissed:     {EvCancel: StateCanceled, EvReschedule: StateInReview},
		StateUnknown:    {EvResolved: StatePublished, EvResolveFail: StateFailed},
		StatePublished:  {},
		StateCanceled:   {},
		StateFailed:     {},
	}
	events := []Event{EvOpenReview, EvApproved, EvRejected, EvUndecided, EvClaim, EvPublished, EvFailed, EvCrash,
		EvAmbiguous, EvMiss, EvHold, EvCancel, EvReschedule, EvResolved, EvResolveFail}
	if len(legal) != len(States) {
		t.Fatalf("table covers %d states, there are %d", len(legal), len(States))
	}
	nLegal, nIllegal := 0, 0
	for _, from := range States {
		for _, ev := range events {
			got, err := Transition(from, ev)
			want, ok := legal[from][ev]
			switch {
			case ok && (err != nil || got != want):
				t.Errorf("%s --%s--> got %s, %v; want %s", from, ev, got, err, want)
			case !ok && err == nil:
				t.Errorf("%s --%s--> %s is legal, but the table says it must be refused", from, ev, got)
			case !ok && got != from:
				t.Errorf("refused %s --%s--> changed the state to %s", from, ev, got)
			}
			if ok {
				nLegal++
			} else {
				nIllegal++
			}
		}
	}
	t.Logf("%d legal and %d illegal transitions checked", nLegal, nIllegal)
}

func TestTerminalStatesHaveNoWayOut(t *testing.T) {
	for _, s := range States {
		if !s.Terminal() {
			continue
		}
		for _, ev := range []Event{EvOpenReview, EvApproved, EvClaim, EvPublished, EvHold, EvReschedule, EvResolved} {
			if _, err := Transition(s, ev); err == nil {
				t.Errorf("terminal %s accepts %s", s, ev)
			}
		}
	}
}
