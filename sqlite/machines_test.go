package sqlite_test

import (
	"errors"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/internal/heedtest"
)

// claimed adds a post to "rec", has alice approve it, and settles it at its
// time without publishing: it returns the claim.
func claimed(t *testing.T, s *heedtest.Stack, text string) approvals.Claim {
	t.Helper()
	p := s.Add(text, 10*time.Minute)
	s.Cycle()
	if err := s.Chat.React("alice", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	s.WantState(p.ID, approvals.StateApproved)
	res, err := s.Service.Deliveries.Settle(s.Ctx, p.ID, s.Clock.Now().Add(10*time.Minute), approvals.SettleOptions{Runner: "test"})
	if err != nil || len(res.Claims) != 1 {
		t.Fatalf("settle #%d: %+v, %v", p.ID, res, err)
	}
	return res.Claims[0]
}

func wantConflict(t *testing.T, what string, err error) {
	t.Helper()
	if approvals.ErrorCode(err) != approvals.ECONFLICT {
		t.Fatalf("%s: got %v, want a conflict", what, err)
	}
}

// rawState reads a state column as stored.
func rawState(t *testing.T, s *heedtest.Stack, q string, args ...any) string {
	t.Helper()
	var st string
	if err := s.Store.DB().QueryRowContext(s.Ctx, q, args...).Scan(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func wantDelivery(t *testing.T, s *heedtest.Stack, c approvals.Claim, want approvals.DeliveryState, attempts int) {
	t.Helper()
	for _, d := range s.View(c.Occurrence).Deliveries {
		if d.Target == c.Target {
			if d.State != want || d.Attempts != attempts {
				t.Fatalf("#%d → %s is %s after %d attempt(s), want %s after %d", c.Occurrence, c.Target, d.State, d.Attempts, want, attempts)
			}
			return
		}
	}
	t.Fatalf("#%d has no delivery to %s", c.Occurrence, c.Target)
}

// TestStoreDeliveryMovesGoThroughTheMachine: a published delivery takes no
// second outcome and is never claimed again; an outcome without a kind is
// recorded as unknown, and an unknown one takes only a person's answer.
func TestStoreDeliveryMovesGoThroughTheMachine(t *testing.T) {
	onBoth(t, testStoreDeliveryMovesGoThroughTheMachine)
}

func testStoreDeliveryMovesGoThroughTheMachine(t *testing.T, db heedtest.Options) {
	s := heedtest.New(t, db)
	c := claimed(t, s, "first")
	wantDelivery(t, s, c, approvals.DeliveryPublishing, 1)
	now := s.Clock.Now().Add(10 * time.Minute)
	if err := s.Service.Deliveries.RecordPublish(s.Ctx, c, approvals.Outcome{Kind: approvals.OutcomeOK, URL: "https://example.org/1"}, now); err != nil {
		t.Fatal(err)
	}
	s.WantState(c.Occurrence, approvals.StatePublished)
	retry := approvals.Outcome{Kind: approvals.OutcomeRetryable, Err: "503", NextAttempt: now.Add(time.Minute)}
	wantConflict(t, "a second outcome for a published delivery", s.Service.Deliveries.RecordPublish(s.Ctx, c, retry, now))
	wantDelivery(t, s, c, approvals.DeliveryPublished, 1)
	if got := rawState(t, s, `SELECT state FROM deliveries WHERE occurrence_id = ?`, c.Occurrence); got != "published" {
		t.Fatalf("stored delivery state %q, want published", got)
	}
	if _, ok, err := s.Service.Deliveries.ClaimRetry(s.Ctx, approvals.DeliveryRef{Occurrence: c.Occurrence, Target: c.Target}, now.Add(time.Hour), approvals.SettleOptions{Runner: "test"}); ok || err != nil {
		t.Fatalf("a published delivery was claimed for a retry: %v, %v", ok, err)
	}
	if n, err := s.Service.Deliveries.RecoverCrashed(s.Ctx, nil); n != 0 || err != nil {
		t.Fatalf("recover after a publish: %d, %v", n, err)
	}

	u := claimed(t, s, "second")
	if err := s.Service.Deliveries.RecordPublish(s.Ctx, u, approvals.Outcome{URL: "https://example.org/2"}, now); err != nil {
		t.Fatal(err)
	}
	wantDelivery(t, s, u, approvals.DeliveryUnknown, 1)
	s.WantState(u.Occurrence, approvals.StateUnknown)
	wantConflict(t, "an outcome for an unknown delivery", s.Service.Deliveries.RecordPublish(s.Ctx, u, approvals.Outcome{Kind: approvals.OutcomeOK}, now))
	if err := s.Service.Deliveries.Resolve(s.Ctx, u.Occurrence, "", true, "", "alice", "test"); err != nil {
		t.Fatal(err)
	}
	wantDelivery(t, s, u, approvals.DeliveryPublished, 1)
	s.WantState(u.Occurrence, approvals.StatePublished)

	r := claimed(t, s, "third")
	if err := s.Service.Deliveries.RecordPublish(s.Ctx, r, retry, now); err != nil {
		t.Fatal(err)
	}
	wantDelivery(t, s, r, approvals.DeliveryRetry, 1)
	wantConflict(t, "a second outcome for a delivery waiting for a retry", s.Service.Deliveries.RecordPublish(s.Ctx, r, approvals.Outcome{Kind: approvals.OutcomeOK}, now))
	c2, ok, err := s.Service.Deliveries.ClaimRetry(s.Ctx, approvals.DeliveryRef{Occurrence: r.Occurrence, Target: r.Target}, retry.NextAttempt, approvals.SettleOptions{Runner: "test"})
	if err != nil || !ok || c2.Attempt != 2 || c2.Key != r.Key {
		t.Fatalf("retry claim: %+v, %v, %v", c2, ok, err)
	}
	wantDelivery(t, s, r, approvals.DeliveryPublishing, 2)
	if n, err := s.Service.Deliveries.RecoverCrashed(s.Ctx, nil); n != 1 || err != nil {
		t.Fatalf("recover: %d, %v", n, err)
	}
	wantDelivery(t, s, r, approvals.DeliveryUnknown, 2)
	if err := s.Service.Deliveries.Resolve(s.Ctx, r.Occurrence, "", false, "", "alice", "test"); err != nil {
		t.Fatal(err)
	}
	wantDelivery(t, s, r, approvals.DeliveryFailed, 2)
	s.WantState(r.Occurrence, approvals.StateFailed)
}

// TestStoreRetractionMovesGoThroughTheMachine: an answer comes only for a
// retraction under way, and a retracted delivery stays retracted.
func TestStoreRetractionMovesGoThroughTheMachine(t *testing.T) {
	onBoth(t, testStoreRetractionMovesGoThroughTheMachine)
}

func testStoreRetractionMovesGoThroughTheMachine(t *testing.T, db heedtest.Options) {
	s := heedtest.New(t, db)
	c := claimed(t, s, "oops")
	now := s.Clock.Now().Add(10 * time.Minute)
	if err := s.Service.Deliveries.RecordPublish(s.Ctx, c, approvals.Outcome{Kind: approvals.OutcomeOK, RemoteID: "r1"}, now); err != nil {
		t.Fatal(err)
	}
	it := approvals.RetractItem{Occurrence: c.Occurrence, Target: c.Target, RemoteID: "r1"}
	wantConflict(t, "an answer nobody asked for", s.Service.Pauses.RecordRetract(s.Ctx, it, nil, "alice", "test"))

	can := func(string) bool { return true }
	items, err := s.Service.Pauses.BeginRetract(s.Ctx, c.Occurrence, can, "alice", "test")
	if err != nil || len(items) != 1 {
		t.Fatalf("begin retract: %+v, %v", items, err)
	}
	if err := s.Service.Pauses.RecordRetract(s.Ctx, items[0], errors.New("503"), "alice", "test"); err != nil {
		t.Fatal(err)
	}
	if items, err = s.Service.Pauses.BeginRetract(s.Ctx, c.Occurrence, can, "bob", "test"); err != nil || len(items) != 1 {
		t.Fatalf("retract again after a failure: %+v, %v", items, err)
	}
	if err := s.Service.Pauses.RecordRetract(s.Ctx, items[0], nil, "bob", "test"); err != nil {
		t.Fatal(err)
	}
	wantConflict(t, "a late failure after the delete", s.Service.Pauses.RecordRetract(s.Ctx, items[0], errors.New("404"), "alice", "test"))
	if rt := s.View(c.Occurrence).Retractions; len(rt) != 1 || rt[0].State != approvals.RetractDone || rt[0].By != "bob" {
		t.Fatalf("retractions %+v", rt)
	}
	if got := rawState(t, s, `SELECT state FROM retractions WHERE occurrence_id = ?`, c.Occurrence); got != "retracted" {
		t.Fatalf("stored retraction state %q, want retracted", got)
	}
	_, err = s.Service.Pauses.BeginRetract(s.Ctx, c.Occurrence, can, "carol", "test")
	wantConflict(t, "a third retract", err)
}

// TestStoreOfferMovesGoThroughTheMachine: an offer is stored open, is
// announced only while open, and is decided once.
func TestStoreOfferMovesGoThroughTheMachine(t *testing.T) {
	onBoth(t, testStoreOfferMovesGoThroughTheMachine)
}

func testStoreOfferMovesGoThroughTheMachine(t *testing.T, db heedtest.Options) {
	s := heedtest.New(t, db)
	c := claimed(t, s, "out")
	s.Clock.Advance(10 * time.Minute)
	if err := s.Service.Deliveries.RecordPublish(s.Ctx, c, approvals.Outcome{Kind: approvals.OutcomeOK}, s.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	offer := func() approvals.RetractOffer {
		t.Helper()
		o, err := s.Service.Pauses.OfferRetract(s.Ctx, time.Hour, "eve", "test", "test")
		if err != nil || o.ID == 0 || o.State != approvals.OfferOpen {
			t.Fatalf("offer: %+v, %v", o, err)
		}
		if got := rawState(t, s, `SELECT state FROM retract_offers WHERE id = ?`, o.ID); got != "open" {
			t.Fatalf("stored offer state %q, want open", got)
		}
		return o
	}

	a := offer()
	if mine, err := s.Service.Pauses.MarkOfferPosted(s.Ctx, a.ID); !mine || err != nil {
		t.Fatalf("first announce: %v, %v", mine, err)
	}
	if mine, err := s.Service.Pauses.MarkOfferPosted(s.Ctx, a.ID); mine || err != nil {
		t.Fatalf("second announce: %v, %v", mine, err)
	}

	b := offer()
	o, err := s.Service.Pauses.DecideOffer(s.Ctx, b.ID, false, "alice", "test")
	if err != nil || o.State != approvals.OfferCanceled {
		t.Fatalf("cancel: %+v, %v", o, err)
	}
	if mine, err := s.Service.Pauses.MarkOfferPosted(s.Ctx, b.ID); mine || err != nil {
		t.Fatalf("announce of a canceled offer: %v, %v", mine, err)
	}
	if mine, err := s.Service.Pauses.MarkOfferPosted(s.Ctx, 999); mine || err != nil {
		t.Fatalf("announce of no offer: %v, %v", mine, err)
	}
	_, err = s.Service.Pauses.DecideOffer(s.Ctx, b.ID, true, "bob", "test")
	wantConflict(t, "confirm after cancel", err)
	if got := rawState(t, s, `SELECT state FROM retract_offers WHERE id = ?`, b.ID); got != "canceled" {
		t.Fatalf("stored offer state %q, want canceled", got)
	}
	if offers, err := s.Service.Pauses.UnpostedOffers(s.Ctx); err != nil || len(offers) != 0 {
		t.Fatalf("unposted offers %+v, %v", offers, err)
	}
}
