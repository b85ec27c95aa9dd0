package approvals

import (
	"testing"
	"time"
)

var deliveryEvents = []DeliveryEvent{DvClaim, DvRetryClaim, DvPublished, DvRetryable, DvExhausted, DvPermanent,
	DvAmbiguous, DvCrash, DvHold, DvResolvePublished, DvResolveFailed, DvReschedule, DvWithheld}

// TestDeliveryTransitionTable lists every legal delivery transition; every
// other (state, event) pair must be refused and leave the state as it was.
func TestDeliveryTransitionTable(t *testing.T) {
	legal := map[DeliveryState]map[DeliveryEvent]DeliveryState{
		DeliveryNone: {DvClaim: DeliveryPublishing, DvHold: DeliveryHeld},
		DeliveryPublishing: {DvPublished: DeliveryPublished, DvRetryable: DeliveryRetry, DvExhausted: DeliveryFailed,
			DvPermanent: DeliveryFailed, DvAmbiguous: DeliveryUnknown, DvCrash: DeliveryUnknown, DvWithheld: DeliveryHeld},
		DeliveryRetry:     {DvRetryClaim: DeliveryPublishing, DvHold: DeliveryHeld},
		DeliveryHeld:      {DvClaim: DeliveryPublishing, DvHold: DeliveryHeld, DvReschedule: DeliveryNone},
		DeliveryUnknown:   {DvResolvePublished: DeliveryPublished, DvResolveFailed: DeliveryFailed},
		DeliveryPublished: {},
		DeliveryFailed:    {},
	}
	if len(legal) != len(DeliveryStates) {
		t.Fatalf("table covers %d states, there are %d", len(legal), len(DeliveryStates))
	}
	nLegal, nIllegal := 0, 0
	for _, from := range DeliveryStates {
		for _, ev := range deliveryEvents {
			got, err := DeliveryTransition(from, ev)
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
	t.Logf("%d legal and %d illegal delivery transitions checked", nLegal, nIllegal)
}

// TestDeliveryNeverSentTwice follows every sequence of events: once a
// delivery is published or unknown, it never reaches publishing again.
func TestDeliveryNeverSentTwice(t *testing.T) {
	for _, start := range []DeliveryState{DeliveryPublished, DeliveryUnknown} {
		seen := map[DeliveryState]bool{start: true}
		todo := []DeliveryState{start}
		for len(todo) > 0 {
			from := todo[0]
			todo = todo[1:]
			for _, ev := range deliveryEvents {
				to, err := DeliveryTransition(from, ev)
				if err != nil || seen[to] {
					continue
				}
				if to == DeliveryPublishing || to == DeliveryRetry {
					t.Errorf("%s reaches %s (last step %s --%s-->)", start, to, from, ev)
				}
				seen[to] = true
				todo = append(todo, to)
			}
		}
	}
}

func TestOutcomeEvent(t *testing.T) {
	next := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		out  Outcome
		want DeliveryEvent
	}{
		{Outcome{Kind: OutcomeOK, URL: "https://example.org/1"}, DvPublished},
		{Outcome{Kind: OutcomeRetryable, NextAttempt: next}, DvRetryable},
		{Outcome{Kind: OutcomeRetryable}, DvExhausted},
		{Outcome{Kind: OutcomePermanent}, DvPermanent},
		{Outcome{Kind: OutcomeAmbiguous}, DvAmbiguous},
		{Outcome{URL: "https://example.org/1"}, DvAmbiguous}, // no kind: heed does not guess it went out
		{Outcome{Kind: "later"}, DvAmbiguous},
	} {
		if got := tc.out.Event(); got != tc.want {
			t.Errorf("%+v: event %s, want %s", tc.out, got, tc.want)
		}
	}
}
