package sqlite_test

import (
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/internal/heedtest"
)

// TestSeriesShowsOnlyItsNextCards: a post every minute with no end gets
// cards for its next three times, not for every minute of the review
// window; another follows as each passes, and after a long stop only its
// last three times become missed occurrences. One-shot posts are as
// before.
func TestSeriesShowsOnlyItsNextCards(t *testing.T) { onBoth(t, testSeriesShowsOnlyItsNextCards) }

func testSeriesShowsOnlyItsNextCards(t *testing.T, db heedtest.Options) {
	s := heedtest.New(t, db)
	add := func(text string, sch approvals.Schedule) approvals.Post {
		t.Helper()
		p, err := s.Service.Posts.AddPost(s.Ctx, approvals.NewPost{Text: text, Targets: []string{"rec"}, Author: "author", Schedule: sch}, "author", "test")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	occs := func(p approvals.Post) []approvals.Occurrence {
		t.Helper()
		o, err := s.Service.Reviews.Occurrences(s.Ctx, p.ID, 20_000)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	every := add("every minute", approvals.Schedule{Cron: "* * * * *", TZ: "UTC"})
	daily := add("daily", approvals.Schedule{Cron: "0 10 * * *", TZ: "UTC"})
	oneShots := []approvals.Post{s.Add("in a day", 24*time.Hour), s.Add("in six days", 6*24*time.Hour)}
	s.Cycle()
	if n := len(occs(every)); n != 3 {
		t.Fatalf("a post every minute has %d occurrences in the review window, want 3", n)
	}
	if n := len(occs(daily)); n != 3 {
		t.Fatalf("a daily post has %d occurrences in the review window, want 3", n)
	}
	for _, p := range oneShots {
		if n := len(occs(p)); n != 1 {
			t.Fatalf("one-shot post %d has %d occurrences", p.ID, n)
		}
	}
	if got := s.Chat.Calls().Posts; got != 3+3+2 {
		t.Fatalf("%d cards posted, want 8", got)
	}

	s.Clock.Advance(time.Minute)
	s.Cycle()
	o := occs(every)
	if len(o) != 4 || o[0].State != approvals.StateMissed {
		t.Fatalf("after the first time passed: %d occurrences, first %s; want 4, the first missed", len(o), o[0].State)
	}
	for _, x := range o[1:] {
		if !x.At.After(s.Clock.Now()) || !x.State.Open() {
			t.Fatalf("#%d at %s is %s", x.ID, x.At, x.State)
		}
	}

	s.Clock.Advance(48 * time.Hour) // heed was stopped
	s.Cycle()
	o = occs(every)
	if len(o) != 4+3+3 {
		t.Fatalf("after a stop of two days: %d occurrences, want 10 (4 before, the last 3 missed, the next 3)", len(o))
	}
	upcoming := 0
	for _, x := range o {
		if x.At.After(s.Clock.Now()) {
			upcoming++
		}
	}
	if upcoming != 3 {
		t.Fatalf("%d upcoming occurrences after the stop, want 3", upcoming)
	}

	s.Service.SeriesCards = 5
	s.Cycle()
	if n := len(occs(every)); n != 12 {
		t.Fatalf("series_cards 5: %d occurrences, want 12 (two more upcoming)", n)
	}
}

// TestManyFullSeriesEndMaterialize: with series_cards 1, each of 600 series
// gets one occurrence, and series that have their cards already are not
// read again batch after batch, however many there are.
func TestManyFullSeriesEndMaterialize(t *testing.T) { onBoth(t, testManyFullSeriesEndMaterialize) }

func testManyFullSeriesEndMaterialize(t *testing.T, db heedtest.Options) {
	s := heedtest.New(t, db)
	s.Service.SeriesCards = 1
	until := s.Clock.Now().Add(10 * time.Minute)
	for range 600 {
		if _, err := s.Service.Posts.AddPost(s.Ctx, approvals.NewPost{Text: "tick", Targets: []string{"rec"}, Author: "author",
			Schedule: approvals.Schedule{Cron: "* * * * *", TZ: "UTC", Until: until}}, "author", "test"); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Service.Posts.Materialize(s.Ctx); err != nil || n != 600 {
		t.Fatalf("first pass made %d, %v; want 600", n, err)
	}
	if n, err := s.Service.Posts.Materialize(s.Ctx); err != nil || n != 0 {
		t.Fatalf("second pass made %d, %v; want 0", n, err)
	}
}

// TestSeriesCardSaysItIsASeries: each card of a recurring post sums up the
// series: how it repeats, its next time, and that only the next few times
// have cards.
func TestSeriesCardSaysItIsASeries(t *testing.T) { onBoth(t, testSeriesCardSaysItIsASeries) }

func testSeriesCardSaysItIsASeries(t *testing.T, db heedtest.Options) {
	s := heedtest.New(t, db)
	p, err := s.Service.Posts.AddPost(s.Ctx, approvals.NewPost{Text: "standup", Targets: []string{"rec"}, Author: "author",
		Schedule: approvals.Schedule{Cron: "0 10 * * *", TZ: "UTC"}}, "author", "test")
	if err != nil {
		t.Fatal(err)
	}
	s.Cycle()
	occ, err := s.Service.Reviews.Occurrences(s.Ctx, p.ID, 10)
	if err != nil || len(occ) == 0 {
		t.Fatalf("occurrences: %v %v", occ, err)
	}
	text := s.Chat.CardText(occ[0].ID)
	next := occ[0].At.Add(24 * time.Hour).Format("Mon 2 Jan 15:04")
	for _, want := range []string{"part of a series (`0 10 * * *`, UTC)", "next after this: " + next, "Cards show its next 3 times"} {
		if !strings.Contains(text, want) {
			t.Fatalf("card lacks %q:\n%s", want, text)
		}
	}
	one := s.Add("once", time.Hour)
	s.Cycle()
	if c := s.Chat.CardText(one.ID); c == "" || strings.Contains(c, "series") {
		t.Fatalf("a one-shot card speaks of a series:\n%s", s.Chat.CardText(one.ID))
	}
}
