package safeguards

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/approvals/timing"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/internal/heedtest"
	"github.com/heed-dev/heed/publish"
)

func sensitive(t *testing.T, required int) *timing.Safeguards {
	t.Helper()
	days, err := timing.NewSensitive()
	if err != nil {
		t.Fatal(err)
	}
	g := room(timing.RoomSafeguards{SensitiveRequired: required})
	g.Sensitive = days
	return g
}

var nov8 = time.Date(2027, 11, 8, 9, 0, 0, 0, time.UTC)

func TestNinthOfNovemberInBerlinNeedsTheExtraApproval(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{Start: nov8, Safeguards: sensitive(t, 2)})
	p := addAt(t, s, "Treat yourself today!", "2027-11-09 10:00", "Europe/Berlin")
	control := addAt(t, s, "Treat yourself tomorrow!", "2027-11-10 10:00", "Europe/Berlin")
	s.Cycle()
	wantContains(t, "card", s.Chat.CardText(p.ID),
		"⚠ falls on a sensitive day: Kristallnacht (Reichspogromnacht), 1938 (2027-11-09, DE, AT; in Europe/Berlin for rec)",
		"it needs 2 approvals", "no approvals yet (0/2)")
	wantNotContains(t, "control card", s.Chat.CardText(control.ID), "sensitive day")

	react(t, s, "alice", p.ID, "✅")
	react(t, s, "alice", control.ID, "✅")
	s.WantState(p.ID, approvals.StateInReview)
	s.WantState(control.ID, approvals.StateApproved)
	wantContains(t, "card", s.Chat.CardText(p.ID), "approved by @alice (1/2)")

	// At its time with one approval, it is not published.
	s.Clock.Set(time.Date(2027, 11, 9, 9, 0, 0, 0, time.UTC))
	s.Cycle()
	s.WantState(p.ID, approvals.StateMissed)
	if len(s.Rec.Texts()) != 0 {
		t.Fatal("published with one approval on a sensitive day")
	}
}

func TestSensitiveDaySecondApprovalPublishes(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{Start: nov8, Safeguards: sensitive(t, 2)})
	p := addAt(t, s, "Treat yourself today!", "2027-11-09 10:00", "Europe/Berlin")
	s.Cycle()
	react(t, s, "alice", p.ID, "✅")
	react(t, s, "bob", p.ID, "👍")
	s.WantState(p.ID, approvals.StateApproved)
	s.Clock.Set(time.Date(2027, 11, 9, 9, 0, 0, 0, time.UTC))
	s.Cycle()
	s.WantState(p.ID, approvals.StatePublished)
}

func TestSensitiveDayWarnsWithoutThePolicy(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{Start: nov8, Safeguards: sensitive(t, 0)})
	p := addAt(t, s, "Treat yourself today!", "2027-11-09 10:00", "Europe/Berlin")
	s.Cycle()
	wantContains(t, "card", s.Chat.CardText(p.ID), "Kristallnacht", "(0/1)")
	wantNotContains(t, "card", s.Chat.CardText(p.ID), "needs 2 approvals")
	react(t, s, "alice", p.ID, "✅")
	s.WantState(p.ID, approvals.StateApproved)
}

func TestSensitiveDayFollowsEachTargetsAudience(t *testing.T) {
	g := sensitive(t, 2)
	g.Audiences = map[string]timing.Audience{"us": {Zones: []*time.Location{zone(t, "America/New_York")}}}
	s := heedtest.New(t, heedtest.Options{Start: nov8, Safeguards: g,
		Targets: []publish.Target{{Name: "us", Kind: "recorder", Publisher: heedtest.NewRecorder()}}})
	// 9 November in the US is no day of remembrance there.
	us := addAt(t, s, "Treat yourself today!", "2027-11-09 10:00", "Europe/Berlin", "us")
	both := addAt(t, s, "Treat yourself today, everyone!", "2027-11-09 10:00", "Europe/Berlin", "us", "rec")
	// A team in UTC posting in UTC reaches no country by default: only
	// days for everyone count.
	utc := addAt(t, s, "Treat yourself today!", "2027-11-09 10:00", "UTC")
	s.Cycle()
	wantNotContains(t, "us card", s.Chat.CardText(us.ID), "sensitive day")
	wantContains(t, "both card", s.Chat.CardText(both.ID), "in Europe/Berlin for rec)")
	wantNotContains(t, "both card", s.Chat.CardText(both.ID), "for us")
	wantNotContains(t, "utc card", s.Chat.CardText(utc.ID), "sensitive day")
	react(t, s, "alice", us.ID, "✅")
	s.WantState(us.ID, approvals.StateApproved)
}

func TestSensitiveDateAddedFromChat(t *testing.T) {
	db := filepath.Join(t.TempDir(), "heed.db")
	clock := heedtest.NewClock(nov8)
	s := heedtest.New(t, heedtest.Options{DBPath: db, Clock: clock, Safeguards: sensitive(t, 2)})
	p := addAt(t, s, "Big sale!", "2027-11-10 10:00", "Europe/Berlin")
	s.Cycle()
	react(t, s, "alice", p.ID, "✅")
	s.WantState(p.ID, approvals.StateApproved)

	wantContains(t, "eve's attempt", say(t, s, "eve", `sensitive 2027-11-10 "product recall"`), "@eve cannot add a sensitive day: not an approver")
	wantContains(t, "bad date", say(t, s, "bob", `sensitive 2027-13-10 "oops"`), "not a calendar date")
	wantContains(t, "reply", say(t, s, "bob", `sensitive 2027-11-10 "product recall"`),
		"2027-11-10 (product recall) is now a sensitive day, added by @bob", "need 2 approvals")
	s.Cycle()
	// The approved occurrence now needs a second approval, and says why.
	s.WantState(p.ID, approvals.StateInReview)
	wantContains(t, "card", s.Chat.CardText(p.ID), "falls on a sensitive day: product recall", "(1/2)")
	if a := audits(t, s, 0, "sensitive.add"); len(a) != 1 || a[0].Actor != "@bob" {
		t.Fatalf("audit: %+v", a)
	}
	wantContains(t, "list", say(t, s, "eve", "sensitive"), "2027-11-10 product recall (by @bob)")

	// A restarted heed knows the day from its database.
	g2 := sensitive(t, 2)
	s2 := heedtest.New(t, heedtest.Options{DBPath: db, Clock: clock, Safeguards: g2})
	if err := bot.LoadAdHoc(s2.Ctx, g2, s2.Service.Reviews); err != nil {
		t.Fatal(err)
	}
	if tc := s2.View(p.ID).Timing; len(tc.SensitiveDays) != 1 || tc.SensitiveDays[0] != "product recall" || tc.Required != 2 {
		t.Fatalf("after a restart: %+v", tc)
	}
}
