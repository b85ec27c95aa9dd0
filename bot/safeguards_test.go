package bot

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/approvals/timing"
)

func loc(t *testing.T, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func zoneNames(zs []*time.Location) []string {
	out := make([]string, len(zs))
	for i, z := range zs {
		out[i] = z.String()
	}
	return out
}

func TestAudienceDefaults(t *testing.T) {
	g := &Safeguards{Zone: loc(t, "Europe/Berlin"), Audiences: map[string]Audience{
		"us":  {Zones: []*time.Location{loc(t, "America/New_York")}},
		"fr":  {Countries: []string{"FR"}},
		"all": {Zones: []*time.Location{loc(t, "Europe/Paris"), loc(t, "Europe/Vienna")}},
	}}
	cases := []struct {
		target, tz string
		zones      []string
		countries  []string
	}{
		{"log", "Europe/Berlin", []string{"Europe/Berlin"}, []string{"DE"}},
		{"log", "Europe/Vienna", []string{"Europe/Berlin", "Europe/Vienna"}, []string{"DE", "AT"}},
		{"log", "UTC", []string{"Europe/Berlin", "UTC"}, []string{"DE"}},
		{"us", "Europe/Berlin", []string{"America/New_York"}, []string{"US"}},
		{"fr", "UTC", []string{"Europe/Berlin", "UTC"}, []string{"FR"}},
		{"all", "Asia/Tokyo", []string{"Europe/Paris", "Europe/Vienna"}, []string{"FR", "AT"}},
	}
	for _, c := range cases {
		a := g.AudienceOf(c.target, c.tz)
		if got := zoneNames(a.Zones); !slices.Equal(got, c.zones) || !slices.Equal(a.Countries, c.countries) {
			t.Errorf("%s in %s: zones %v countries %v; want %v %v", c.target, c.tz, got, a.Countries, c.zones, c.countries)
		}
	}
	// The team's countries override the derived ones, not a target's own.
	g.Countries = []string{"CH"}
	if a := g.AudienceOf("log", "Europe/Berlin"); !slices.Equal(a.Countries, []string{"CH"}) {
		t.Errorf("team countries: %v", a.Countries)
	}
	if a := g.AudienceOf("fr", "Europe/Berlin"); !slices.Equal(a.Countries, []string{"FR"}) {
		t.Errorf("target countries: %v", a.Countries)
	}
}

func TestZoneCountryTable(t *testing.T) {
	for zone, want := range map[string]string{"Europe/Berlin": "DE", "America/New_York": "US", "Europe/Paris": "FR", "Australia/Sydney": "AU", "Pacific/Auckland": "NZ"} {
		if got := zoneCountry[zone]; got != want {
			t.Errorf("%s: %q, want %q", zone, got, want)
		}
	}
	for zone := range zoneCountry {
		if _, err := time.LoadLocation(zone); err != nil {
			t.Errorf("zone.tab zone %s does not load: %v", zone, err)
		}
	}
	if _, ok := zoneCountry["UTC"]; ok {
		t.Error("UTC maps to a country")
	}
}

func TestCheckNilAndSensitive(t *testing.T) {
	var g *Safeguards
	v := approvals.View{Occurrence: approvals.Occurrence{At: time.Date(2027, 11, 9, 9, 0, 0, 0, time.UTC)}}
	if tc := g.Check(v); tc.OffHours != "" || len(tc.Warnings) != 0 || tc.Required != 0 || tc.OnDuty != 0 {
		t.Fatalf("nil safeguards: %+v", tc)
	}
	days, err := timing.NewSensitive()
	if err != nil {
		t.Fatal(err)
	}
	g = &Safeguards{Rooms: map[string]RoomSafeguards{"r": {SensitiveRequired: 3}}, DefaultRoom: "r", Zone: time.UTC, Sensitive: days}
	p := approvals.Post{Targets: []string{"a", "b"}, Schedule: approvals.Schedule{TZ: "Europe/Vienna"}}
	v = approvals.View{Occurrence: v.Occurrence, Post: p, Payloads: approvals.Payloads(&p, v.At)}
	tc := g.Check(v)
	if tc.Required != 3 || len(tc.Warnings) != 1 || !strings.Contains(tc.Warnings[0], "in Europe/Vienna for a, b). ") {
		t.Fatalf("check: %+v", tc)
	}
}

type slackStyle struct{}

func (slackStyle) Mention(user string) string { return "<@" + user + ">" }

func TestLastCallMentionsApproversInTheChatsSyntax(t *testing.T) {
	now := time.Date(2030, 1, 7, 9, 45, 0, 0, time.UTC)
	v := approvals.View{Occurrence: approvals.Occurrence{ID: 3, At: now.Add(15 * time.Minute)},
		Post: approvals.Post{Targets: []string{"mastodon", "bluesky"}}}
	v.Verdict.Approvals = []approvals.Reaction{{User: "U0ALICE01", UserName: "@alice"}, {User: "U0BOB0002", UserName: "@bob"}}
	if got := LastCallText(v, now, time.UTC, nil); !strings.HasPrefix(got, "@alice @bob: ⏰ #3: going out at 10:00 (in 15 min) to mastodon, bluesky.") {
		t.Fatalf("without a mentioner: %q", got)
	}
	if got := LastCallText(v, now, time.UTC, slackStyle{}); !strings.HasPrefix(got, "<@U0ALICE01> <@U0BOB0002>: ⏰ #3") {
		t.Fatalf("with Slack mentions: %q", got)
	}
}
