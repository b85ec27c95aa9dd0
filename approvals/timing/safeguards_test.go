package timing

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
)

func zoneNames(zs []*time.Location) []string {
	out := make([]string, len(zs))
	for i, z := range zs {
		out[i] = z.String()
	}
	return out
}

func TestAudienceDefaults(t *testing.T) {
	g := &Safeguards{Zone: mustZone(t, "Europe/Berlin"), Audiences: map[string]Audience{
		"us":  {Zones: []*time.Location{mustZone(t, "America/New_York")}},
		"fr":  {Countries: []string{"FR"}},
		"all": {Zones: []*time.Location{mustZone(t, "Europe/Paris"), mustZone(t, "Europe/Vienna")}},
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
	for zone, want := range map[string]string{
		"Europe/Berlin": "DE", "America/New_York": "US", "Europe/Paris": "FR", "Australia/Sydney": "AU", "Pacific/Auckland": "NZ",
		// Links since 1970 keep their own country.
		"Europe/Amsterdam": "NL", "Europe/Stockholm": "SE", "Europe/Oslo": "NO", "Asia/Kuala_Lumpur": "MY",
	} {
		if got := zoneCountry[zone]; got != want {
			t.Errorf("%s: %q, want %q", zone, got, want)
		}
	}
	if n := len(zoneCountry); n < 400 {
		t.Errorf("zone.tab gave only %d zones", n)
	}
	for zone, c := range zoneCountry {
		if len(c) != 2 || strings.ToUpper(c) != c {
			t.Errorf("zone %s: country %q", zone, c)
		}
		if _, err := time.LoadLocation(zone); err != nil {
			t.Errorf("zone.tab zone %s does not load: %v", zone, err)
		}
	}
	if _, ok := zoneCountry["UTC"]; ok {
		t.Error("UTC maps to a country")
	}
}

func TestParseZoneTab(t *testing.T) {
	tab := "# comment\nDE\t+5230+01322\tEurope/Berlin\tmost of Germany\nCH,DE,LI\t+4723+00832\tEurope/Zurich\tBüsingen\n\n"
	got := parseZoneTab(tab)
	if len(got) != 2 || got["Europe/Berlin"] != "DE" || got["Europe/Zurich"] != "CH" {
		t.Fatalf("parsed %v", got)
	}
}

func TestRoomFallsBackToDefault(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	g := &Safeguards{Rooms: map[string]RoomSafeguards{"a": {LastCall: time.Minute}, "b": {Zone: berlin}}, DefaultRoom: "a"}
	if r := g.Room("nope"); r.LastCall != time.Minute {
		t.Errorf("unknown room: %+v", r)
	}
	if z := g.RoomZone(g.Room("b")); z != berlin {
		t.Errorf("room zone: %v", z)
	}
	if z := g.RoomZone(g.Room("a")); z != time.UTC {
		t.Errorf("no zone: %v", z)
	}
	var none *Safeguards
	if r := none.Room("a"); !reflect.DeepEqual(r, RoomSafeguards{}) || none.RoomZone(r) != time.UTC {
		t.Errorf("nil safeguards: %+v", r)
	}
}

func TestCheckNilAndSensitive(t *testing.T) {
	var g *Safeguards
	v := approvals.View{Occurrence: approvals.Occurrence{At: time.Date(2027, 11, 9, 9, 0, 0, 0, time.UTC)}}
	if tc := g.Check(v); tc.OffHours != "" || len(tc.Warnings) != 0 || tc.Required != 0 || tc.OnDuty != 0 {
		t.Fatalf("nil safeguards: %+v", tc)
	}
	days, err := NewSensitive()
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

func TestAddAdHoc(t *testing.T) {
	var none *Safeguards
	if err := none.AddAdHoc([]approvals.SensitiveDate{{Date: "bad"}}); err != nil {
		t.Fatalf("nil safeguards: %v", err)
	}
	g := &Safeguards{Sensitive: builtin(t)}
	n := len(g.Sensitive.Entries())
	if err := g.AddAdHoc([]approvals.SensitiveDate{{ID: 1, Date: "2027-12-01", Name: "product recall", AddedBy: "@bob"}}); err != nil {
		t.Fatal(err)
	}
	if got := len(g.Sensitive.Entries()); got != n+1 {
		t.Fatalf("entries: %d, want %d", got, n+1)
	}
	if err := g.AddAdHoc([]approvals.SensitiveDate{{ID: 2, Date: "2027-13-01", Name: "oops"}}); err == nil || !strings.Contains(err.Error(), "sensitive date 2 (2027-13-01)") {
		t.Fatalf("bad date: %v", err)
	}
}
