package timing

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func names(days []Day) []string {
	var out []string
	for _, d := range days {
		out = append(out, d.Name)
	}
	return out
}

func builtin(t *testing.T) *Sensitive {
	t.Helper()
	s, err := NewSensitive()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBuiltinDatesAreComplete(t *testing.T) {
	entries := builtin(t).Entries()
	if len(entries) < 14 {
		t.Fatalf("%d built-in entries, want at least 14", len(entries))
	}
	for _, e := range entries {
		if e.Name == "" || e.Source == "" || len(e.Countries) == 0 || !strings.HasPrefix(e.Origin, BuiltinDatesFile+":") {
			t.Errorf("incomplete entry %+v", e)
		}
	}
}

func TestOn(t *testing.T) {
	s := builtin(t)
	berlin := mustZone(t, "Europe/Berlin")
	paris := mustZone(t, "Europe/Paris")
	newYork := mustZone(t, "America/New_York")
	auckland := mustZone(t, "Pacific/Auckland")
	tests := []struct {
		name      string
		at        time.Time
		zones     []*time.Location
		countries []string
		want      []string
		wantDate  string // Date of the first day, when set
	}{
		{"9 November in Berlin", time.Date(2027, 11, 9, 10, 0, 0, 0, berlin), []*time.Location{berlin}, []string{"DE"},
			[]string{"Kristallnacht (Reichspogromnacht), 1938"}, "2027-11-09"},
		{"already the 9th in Berlin", utc("2027-11-08T23:30:00Z"), []*time.Location{berlin}, []string{"DE"},
			[]string{"Kristallnacht (Reichspogromnacht), 1938"}, "2027-11-09"},
		{"still the 8th in UTC", utc("2027-11-08T23:30:00Z"), []*time.Location{time.UTC}, []string{"DE"}, nil, ""},
		{"any audience zone counts", utc("2027-11-08T23:30:00Z"), []*time.Location{newYork, berlin}, []string{"DE"},
			[]string{"Kristallnacht (Reichspogromnacht), 1938"}, "2027-11-09"},
		{"no zones: t's own location", time.Date(2027, 11, 9, 1, 0, 0, 0, berlin), nil, []string{"AT"},
			[]string{"Kristallnacht (Reichspogromnacht), 1938"}, "2027-11-09"},
		{"Bavarian audience", time.Date(2027, 11, 9, 10, 0, 0, 0, berlin), []*time.Location{berlin}, []string{"de-by"},
			[]string{"Kristallnacht (Reichspogromnacht), 1938"}, ""},
		{"not for a US audience", time.Date(2027, 11, 9, 10, 0, 0, 0, berlin), []*time.Location{berlin}, []string{"US"}, nil, ""},
		{"no countries: only worldwide days", time.Date(2027, 11, 9, 10, 0, 0, 0, berlin), []*time.Location{berlin}, nil, nil, ""},
		{"Holocaust Remembrance Day is worldwide", time.Date(2027, 1, 27, 10, 0, 0, 0, newYork), []*time.Location{newYork}, nil,
			[]string{"International Holocaust Remembrance Day"}, "2027-01-27"},
		{"14 July names both", time.Date(2027, 7, 14, 9, 0, 0, 0, paris), []*time.Location{paris}, []string{"FR"},
			[]string{"Fête nationale (Bastille Day) and anniversary of the 2016 Nice truck attack"}, ""},
		{"13 November in France", time.Date(2026, 11, 13, 20, 0, 0, 0, paris), []*time.Location{paris}, []string{"FR"},
			[]string{"Anniversary of the November 2015 Paris attacks"}, ""},
		{"11 March for Spain", time.Date(2027, 3, 11, 9, 0, 0, 0, time.UTC), nil, []string{"ES"},
			[]string{"Anniversary of the 2004 Madrid train bombings", "European Day of Remembrance of Victims of Terrorism"}, ""},
		{"11 March for an EU member", time.Date(2027, 3, 11, 9, 0, 0, 0, time.UTC), nil, []string{"DE"},
			[]string{"European Day of Remembrance of Victims of Terrorism"}, ""},
		{"11 March not for Norway", time.Date(2027, 3, 11, 9, 0, 0, 0, time.UTC), nil, []string{"NO"}, nil, ""},
		{"22 July in Norway", time.Date(2027, 7, 22, 9, 0, 0, 0, time.UTC), nil, []string{"NO"},
			[]string{"Anniversary of the 2011 Norway attacks (Oslo and Utøya)"}, ""},
		{"11 September in the US", time.Date(2027, 9, 11, 9, 0, 0, 0, newYork), nil, []string{"US"},
			[]string{"Anniversary of the September 11 attacks (Patriot Day)"}, ""},
		{"22 March in Belgium", time.Date(2027, 3, 22, 9, 0, 0, 0, time.UTC), nil, []string{"BE"},
			[]string{"Anniversary of the 2016 Brussels bombings"}, ""},
		{"19 December in Germany", time.Date(2027, 12, 19, 9, 0, 0, 0, berlin), nil, []string{"DE"},
			[]string{"Anniversary of the Berlin Breitscheidplatz attack (2016)"}, ""},
		{"15 March in New Zealand's zone", utc("2027-03-14T12:00:00Z"), []*time.Location{auckland}, []string{"NZ"},
			[]string{"Anniversary of the Christchurch mosque shootings (2019)"}, "2027-03-15"},
		// Volkstrauertag is the Sunday between 13 and 19 November.
		{"Volkstrauertag 2025", time.Date(2025, 11, 16, 11, 0, 0, 0, berlin), nil, []string{"DE"},
			[]string{"Volkstrauertag (national day of mourning)"}, ""},
		{"Volkstrauertag 2027", time.Date(2027, 11, 14, 11, 0, 0, 0, berlin), nil, []string{"DE"},
			[]string{"Volkstrauertag (national day of mourning)"}, ""},
		{"not the Saturday before", time.Date(2027, 11, 13, 11, 0, 0, 0, berlin), nil, []string{"DE"}, nil, ""},
		{"Volkstrauertag when the 13th is a Sunday", time.Date(2022, 11, 13, 11, 0, 0, 0, berlin), nil, []string{"DE"},
			[]string{"Volkstrauertag (national day of mourning)"}, ""},
		{"an ordinary day", time.Date(2027, 6, 2, 11, 0, 0, 0, berlin), []*time.Location{berlin, newYork}, []string{"DE", "US", "FR"}, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := s.On(tc.at, tc.zones, tc.countries)
			if diff := cmp.Diff(tc.want, names(got)); diff != "" {
				t.Fatalf("On names (-want +got):\n%s", diff)
			}
			if tc.wantDate != "" && got[0].Date != tc.wantDate {
				t.Errorf("Date = %s, want %s", got[0].Date, tc.wantDate)
			}
			for _, d := range got {
				if d.Source == "" || d.Origin == "" {
					t.Errorf("%q lacks source or origin", d.Name)
				}
			}
		})
	}
}

func TestOnReportsMatchingZones(t *testing.T) {
	s := builtin(t)
	berlin := mustZone(t, "Europe/Berlin")
	vienna := mustZone(t, "Europe/Vienna")
	newYork := mustZone(t, "America/New_York")
	got := s.On(utc("2027-11-08T23:30:00Z"), []*time.Location{newYork, berlin, vienna}, []string{"DE", "AT"})
	want := []Day{{
		Date:      "2027-11-09",
		Name:      "Kristallnacht (Reichspogromnacht), 1938",
		Source:    "Wikipedia: Kristallnacht; Bundeszentrale für politische Bildung: Novemberpogrome 1938",
		Countries: []string{"DE", "AT"},
		Zones:     []string{"Europe/Berlin", "Europe/Vienna"},
	}}
	if diff := cmp.Diff(want, got, cmpIgnoreOrigin); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

var cmpIgnoreOrigin = cmp.Transformer("noOrigin", func(d Day) Day { d.Origin = ""; return d })

func TestAddFile(t *testing.T) {
	s := builtin(t)
	before := len(s.Entries())
	team := `# our own days
days:
  - date: 02-29
    countries: [DE]
    name: Leap day test
    source: team policy
  - date: 2026-12-01
    countries: ["*"]
    name: Product recall anniversary
    source: internal memo 2025-12
  # Kristallnacht again: only adds Switzerland.
  - date: "11-09"
    countries: [ch]
    name: kristallnacht (reichspogromnacht), 1938
    source: team
`
	if err := s.AddFile("team-dates.yaml", []byte(team)); err != nil {
		t.Fatal(err)
	}
	if got := len(s.Entries()); got != before+2 {
		t.Fatalf("%d entries after merge, want %d", got, before+2)
	}
	zurich := mustZone(t, "Europe/Zurich")
	if got := names(s.On(time.Date(2027, 11, 9, 9, 0, 0, 0, zurich), nil, []string{"CH"})); len(got) != 1 {
		t.Errorf("Swiss audience on 9 Nov: %q, want Kristallnacht", got)
	}
	if got := s.On(time.Date(2028, 2, 29, 9, 0, 0, 0, time.UTC), nil, []string{"DE"}); len(got) != 1 || got[0].Origin != "team-dates.yaml:3" {
		t.Errorf("leap day 2028: %+v", got)
	}
	if got := s.On(time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC), nil, []string{"DE"}); len(got) != 0 {
		t.Errorf("1 March 2027 is not 29 February: %+v", got)
	}
	if got := names(s.On(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), nil, nil)); len(got) != 1 {
		t.Errorf("2026-12-01: %q", got)
	}
	if got := s.On(time.Date(2027, 12, 1, 9, 0, 0, 0, time.UTC), nil, nil); len(got) != 0 {
		t.Errorf("a YYYY-MM-DD entry matched another year: %+v", got)
	}
}

func TestAddFileErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []string
	}{
		{"unknown field", "days:\n  - date: \"11-09\"\n    countries: [DE]\n    nam: x\n",
			[]string{`team.yaml:4:5: unknown field "nam"`}},
		{"unknown top-level key", "dayz: []\n", []string{`team.yaml:1:1: unknown field "dayz"`}},
		{"not a mapping", "- date: 11-09\n", []string{`team.yaml:1:1: sequence was used where mapping is expected`}},
		{"syntax", "days:\n  - date: \"11-09\n", []string{`team.yaml:2:11: could not find end character of double-quoted text`}},
		{"no such day", "days:\n  - countries: [DE]\n    name: x\n    source: y\n    date: 13-45\n",
			[]string{`team.yaml:5: date "13-45" is not a calendar date; use MM-DD, e.g. 11-09`}},
		{"octal-looking date stays as written", "days:\n  - date: 0101\n    countries: [DE]\n    name: x\n    source: y\n",
			[]string{`team.yaml:2: date "0101": use MM-DD (every year) or YYYY-MM-DD (that day only)`}},
		{"no 30 February", "days:\n  - date: 2027-02-30\n    countries: [DE]\n    name: x\n    source: y\n",
			[]string{`team.yaml:2: date "2027-02-30" is not a calendar date; use YYYY-MM-DD, e.g. 2026-12-01`}},
		{"missing date", "days:\n  - countries: [DE]\n    name: x\n    source: y\n",
			[]string{`team.yaml:2: date is missing`}},
		{"missing source", "days:\n  - date: \"11-09\"\n    countries: [DE]\n    name: Something\n",
			[]string{`team.yaml:2: "Something" has no source; name where the day is documented`}},
		{"missing name", "days:\n  - date: \"11-09\"\n    countries: [DE]\n    name: \"  \"\n    source: y\n",
			[]string{`team.yaml:4: name is missing`}},
		{"bad country", "days:\n  - date: \"11-09\"\n    name: x\n    source: y\n    countries: [Germany]\n",
			[]string{`team.yaml:5: country "Germany": use an ISO 3166 code (DE), a region (DE-BY), EU, or "*"`}},
		{"no countries", "days:\n  - date: \"11-09\"\n    name: x\n    source: y\n",
			[]string{`team.yaml:2: "x" has no countries`}},
		{"weekday on a fixed date", "days:\n  - date: 2027-11-13\n    weekday: Sun\n    countries: [DE]\n    name: x\n    source: y\n",
			[]string{`team.yaml:3: weekday "Sun" needs a yearly date (MM-DD), not "2027-11-13"`}},
		{"bad weekday", "days:\n  - date: \"11-13\"\n    weekday: Sonntag\n    countries: [DE]\n    name: x\n    source: y\n",
			[]string{`team.yaml:3: weekday: unknown day "Sonntag"; use Mon..Sun`}},
		{"wrong type", "days:\n  - date: [1]\n    countries: [DE]\n    name: x\n    source: y\n",
			[]string{`team.yaml:2:11:`}},
		{"every problem at once", "days:\n  - date: 13-01\n    countries: [DE]\n    name: a\n    source: y\n  - date: \"11-09\"\n    countries: [DE]\n    name: ok\n    source: y\n  - date: \"11-10\"\n    countries: [DEU]\n    name: c\n    source: y\n",
			[]string{`team.yaml:2: date "13-01"`, `team.yaml:11: country "DEU"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := builtin(t)
			before := s.Entries()
			err := s.AddFile("team.yaml", []byte(tc.file))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nwant it to contain %q", err, w)
				}
			}
			if diff := cmp.Diff(before, s.Entries()); diff != "" {
				t.Errorf("a failed file changed the list (-before +after):\n%s", diff)
			}
		})
	}
}

func TestEmptyFile(t *testing.T) {
	s := builtin(t)
	before := len(s.Entries())
	for _, f := range []string{"", "# nothing yet\n", "days: []\n", "days:\n"} {
		if err := s.AddFile("team.yaml", []byte(f)); err != nil {
			t.Errorf("%q: %v", f, err)
		}
	}
	if len(s.Entries()) != before {
		t.Error("an empty file added entries")
	}
}

func TestAdHoc(t *testing.T) {
	s := builtin(t)
	e, err := AdHoc("2026-12-01", "product recall", "@alice:example.org")
	if err != nil {
		t.Fatal(err)
	}
	want := Entry{Date: "2026-12-01", Countries: []string{"*"}, Name: "product recall", Source: "added in chat by @alice:example.org", Origin: "chat"}
	if diff := cmp.Diff(want, e); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if err := s.Add(e); err != nil {
		t.Fatal(err)
	}
	tokyo := mustZone(t, "Asia/Tokyo")
	// 20:00 UTC on 30 November is already 1 December in Tokyo.
	got := s.On(utc("2026-11-30T20:00:00Z"), []*time.Location{time.UTC, tokyo}, []string{"DE"})
	if len(got) != 1 || got[0].Name != "product recall" || got[0].Zones[0] != "Asia/Tokyo" || got[0].Source != want.Source {
		t.Fatalf("On = %+v", got)
	}
	if got := s.On(utc("2027-12-01T12:00:00Z"), nil, nil); len(got) != 0 {
		t.Fatalf("a dated ad-hoc day matched the next year: %+v", got)
	}
	yearly, err := AdHoc("06-01", "founder's memorial", "")
	if err != nil || yearly.Source != "added in chat" {
		t.Fatalf("yearly ad-hoc: %+v %v", yearly, err)
	}

	for _, bad := range []struct{ date, name, want string }{
		{"2026-13-01", "x", `date "2026-13-01" is not a calendar date`},
		{"tomorrow", "x", `date "tomorrow": use MM-DD (every year) or YYYY-MM-DD (that day only)`},
		{"", "x", "date is missing"},
		{"2026-12-01", " ", "name is missing"},
	} {
		if _, err := AdHoc(bad.date, bad.name, "@bob"); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("AdHoc(%q, %q) error = %v, want %q", bad.date, bad.name, err, bad.want)
		}
	}
	if err := s.Add(Entry{Date: "12-01", Name: "x"}); err == nil {
		t.Error("Add accepted an entry without countries")
	}
}

// The engine adds dates from chat while cards are being rendered.
func TestConcurrentAddAndOn(t *testing.T) {
	s := builtin(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			e, err := AdHoc(fmt.Sprintf("2026-12-%02d", i+1), fmt.Sprintf("day %d", i), "")
			if err == nil {
				err = s.Add(e)
			}
			if err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			s.On(utc("2026-12-01T12:00:00Z"), nil, []string{"DE"})
			s.Entries()
		}()
	}
	wg.Wait()
	if got := len(s.On(utc("2026-12-03T12:00:00Z"), nil, nil)); got != 1 {
		t.Fatalf("%d days on 2026-12-03, want 1", got)
	}
}

func TestRegionMatch(t *testing.T) {
	tests := []struct {
		region, audience string
		want             bool
	}{
		{"DE", "DE", true},
		{"DE", "DE-BY", true}, // a national day concerns every state
		{"DE-BY", "DE", true}, // a nationwide post reaches Bavaria too
		{"DE-BY", "DE-BY", true},
		{"DE-BY", "DE-BE", false},
		{"DE", "AT", false},
		{"EU", "FR", true},
		{"EU", "DE-BY", true},
		{"EU", "NO", false},
		{"EU", "GB", false},
		{"US", "US-NY", true},
	}
	for _, tc := range tests {
		if got := regionMatch(tc.region, tc.audience); got != tc.want {
			t.Errorf("regionMatch(%s, %s) = %v, want %v", tc.region, tc.audience, got, tc.want)
		}
	}
}
