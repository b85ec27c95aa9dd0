package sqlite_test

import (
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/internal/heedtest"
)

// TestWebSessions: a session is found by its hash until it is deleted,
// and creating one drops those that have expired.
func TestWebSessions(t *testing.T) { onBoth(t, testWebSessions) }

func testWebSessions(t *testing.T, db heedtest.Options) {
	s := heedtest.New(t, db)
	now := s.Clock.Now()
	if err := s.Store.CreateSession(s.Ctx, "h-old", "dave", now.Add(-13*time.Hour), now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Store.CreateSession(s.Ctx, "h-alice", "alice", now, now.Add(12*time.Hour)); err != nil {
		t.Fatal(err)
	}
	person, exp, ok, err := s.Store.Session(s.Ctx, "h-alice")
	if err != nil || !ok || person != "alice" || !exp.Equal(now.Add(12*time.Hour)) {
		t.Fatalf("session: %q %s %v %v", person, exp, ok, err)
	}
	if _, _, ok, err := s.Store.Session(s.Ctx, "h-old"); err != nil || ok {
		t.Fatalf("an expired session is kept after a new one was made (%v)", err)
	}
	if err := s.Store.DeleteSession(s.Ctx, "h-alice"); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := s.Store.Session(s.Ctx, "h-alice"); err != nil || ok {
		t.Fatalf("a deleted session is found (%v)", err)
	}
}

// TestOccurrencesBetween: the occurrences in [from, to), soonest first,
// with their posts' text and targets, in one query.
func TestOccurrencesBetween(t *testing.T) { onBoth(t, testOccurrencesBetween) }

func testOccurrencesBetween(t *testing.T, db heedtest.Options) {
	s := heedtest.New(t, db)
	a := s.Add("first", time.Hour)
	b := s.Add("second", 2*time.Hour)
	s.Add("third", 3*time.Hour)
	s.Cycle()
	now := s.Clock.Now()
	got, err := s.Store.OccurrencesBetween(s.Ctx, now.Add(time.Hour), now.Add(3*time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != a.ID || got[1].ID != b.ID || got[0].Text != "first" || len(got[1].Targets) != 1 || got[1].Targets[0] != "rec" {
		t.Fatalf("occurrences between: %+v", got)
	}
	if got[0].State != approvals.StateInReview || !got[0].At.Equal(now.Add(time.Hour)) {
		t.Fatalf("first: %+v", got[0])
	}
}
