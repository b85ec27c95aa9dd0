package approvals

import "testing"

// TestRetractTransitionTable lists every legal retraction transition; every
// other (state, event) pair must be refused and leave the state as it was.
func TestRetractTransitionTable(t *testing.T) {
	legal := map[RetractState]map[RetractEvent]RetractState{
		RetractNone:        {RtBegin: RetractPending, RtUnsupported: RetractUnsupported},
		RetractPending:     {RtBegin: RetractPending, RtUnsupported: RetractUnsupported, RtDeleted: RetractDone, RtFailed: RetractFailed},
		RetractFailed:      {RtBegin: RetractPending, RtUnsupported: RetractUnsupported},
		RetractDone:        {},
		RetractUnsupported: {},
	}
	events := []RetractEvent{RtBegin, RtUnsupported, RtDeleted, RtFailed}
	if len(legal) != len(RetractStates) {
		t.Fatalf("table covers %d states, there are %d", len(legal), len(RetractStates))
	}
	nLegal, nIllegal := 0, 0
	for _, from := range RetractStates {
		for _, ev := range events {
			got, err := RetractTransition(from, ev)
			want, ok := legal[from][ev]
			switch {
			case ok && (err != nil || got != want):
				t.Errorf("%q --%s--> got %q, %v; want %q", from, ev, got, err, want)
			case !ok && err == nil:
				t.Errorf("%q --%s--> %q is legal, but the table says it must be refused", from, ev, got)
			case !ok && got != from:
				t.Errorf("refused %q --%s--> changed the state to %q", from, ev, got)
			}
			if ok {
				nLegal++
			} else {
				nIllegal++
			}
		}
	}
	for _, s := range RetractStates {
		if s.Terminal() != (len(legal[s]) == 0) {
			t.Errorf("%q: Terminal() is %v, but it has %d legal moves", s, s.Terminal(), len(legal[s]))
		}
	}
	t.Logf("%d legal and %d illegal retraction transitions checked", nLegal, nIllegal)
}

// TestOfferTransitionTable lists every legal retract offer transition;
// every other (state, event) pair must be refused and leave the state as it
// was.
func TestOfferTransitionTable(t *testing.T) {
	legal := map[OfferState]map[OfferEvent]OfferState{
		OfferNone:      {OfMake: OfferOpen},
		OfferOpen:      {OfAnnounce: OfferOpen, OfConfirm: OfferConfirmed, OfCancel: OfferCanceled},
		OfferConfirmed: {},
		OfferCanceled:  {},
	}
	events := []OfferEvent{OfMake, OfAnnounce, OfConfirm, OfCancel}
	if len(legal) != len(OfferStates) {
		t.Fatalf("table covers %d states, there are %d", len(legal), len(OfferStates))
	}
	nLegal, nIllegal := 0, 0
	for _, from := range OfferStates {
		for _, ev := range events {
			got, err := OfferTransition(from, ev)
			want, ok := legal[from][ev]
			switch {
			case ok && (err != nil || got != want):
				t.Errorf("%q --%s--> got %q, %v; want %q", from, ev, got, err, want)
			case !ok && err == nil:
				t.Errorf("%q --%s--> %q is legal, but the table says it must be refused", from, ev, got)
			case !ok && got != from:
				t.Errorf("refused %q --%s--> changed the state to %q", from, ev, got)
			}
			if ok {
				nLegal++
			} else {
				nIllegal++
			}
		}
	}
	t.Logf("%d legal and %d illegal offer transitions checked", nLegal, nIllegal)
}
