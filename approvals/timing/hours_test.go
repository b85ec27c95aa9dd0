package timing

import (
	"slices"
	"strings"
	"testing"
	"time"

	// Tests must not depend on the machine's zoneinfo; the binary embeds it too.
	_ "time/tzdata"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestStaffed(t *testing.T) {
	type check struct {
		at      string // RFC 3339 instant
		staffed bool
		reason  string // substring of the reason
	}
	tests := []struct {
		name     string
		zone     string
		windows  []string
		holidays []string
		checks   []check
	}{
		{
			name:    "weekdays and Saturday in Berlin",
			zone:    "Europe/Berlin",
			windows: []string{"Mon-Fri 09:00-18:00", "Sat 10:00-14:00"},
			checks: []check{
				{"2027-03-26T08:30:00Z", true, "within staffed hours Mon-Fri 09:00-18:00"}, // Fri 09:30 CET
				{"2027-03-26T07:59:59Z", false, "Fri 2027-03-26 08:59 CET"},
				{"2027-03-26T16:59:59Z", true, ""},  // 17:59:59 CET
				{"2027-03-26T17:00:00Z", false, ""}, // 18:00 CET: the end is exclusive
				{"2027-03-27T09:00:00Z", true, "Sat 10:00-14:00"},
				{"2027-03-27T13:00:00Z", false, "outside staffed hours (Mon-Fri 09:00-18:00; Sat 10:00-14:00, Europe/Berlin)"},
				{"2027-03-28T10:00:00Z", false, "Sun"},
			},
		},
		{
			// Berlin moves to CEST on Sunday 2027-03-28; windows stay on the wall clock.
			name:    "Berlin after spring forward",
			zone:    "Europe/Berlin",
			windows: []string{"Mon-Fri 09:00-18:00"},
			checks: []check{
				{"2027-03-29T07:15:00Z", true, ""},               // 09:15 CEST (08:15 if the offset were stale)
				{"2027-03-29T06:45:00Z", false, "08:45 CEST"},    // 08:45 CEST
				{"2027-03-29T15:59:00Z", true, ""},               // 17:59 CEST
				{"2027-03-29T16:30:00Z", false, "18:30 CEST"},    // 18:30 CEST (17:30 if stale)
				{"2027-10-29T07:30:00Z", true, ""},               // Fri 09:30 CEST
				{"2027-11-02T07:30:00Z", false, "08:30 CET"},     // Tue after fall back: 08:30 CET
				{"2027-11-02T08:30:00Z", true, "within staffed"}, // 09:30 CET
			},
		},
		{
			name:    "the switch night itself",
			zone:    "Europe/Berlin",
			windows: []string{"Sun 02:00-02:45", "Sun 01:00-01:30"},
			checks: []check{
				// 2027-03-28: 02:00 CET jumps to 03:00 CEST; 02:xx never happens.
				{"2027-03-28T00:15:00Z", true, "Sun 01:00-01:30"}, // 01:15 CET
				{"2027-03-28T00:59:59Z", false, ""},               // 01:59:59 CET
				{"2027-03-28T01:00:00Z", false, "03:00 CEST"},     // 03:00 CEST
				// 2027-10-31: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
				{"2027-10-31T00:30:00Z", true, "Sun 02:00-02:45"}, // 02:30 CEST
				{"2027-10-31T01:30:00Z", true, "Sun 02:00-02:45"}, // 02:30 CET
				{"2027-10-31T01:50:00Z", false, "02:50 CET"},
			},
		},
		{
			// New York moves to EDT on Sunday 2027-03-14.
			name:    "New York across DST",
			zone:    "America/New_York",
			windows: []string{"Mon-Fri 09:00-17:00"},
			checks: []check{
				{"2027-03-12T14:30:00Z", true, ""},            // Fri 09:30 EST
				{"2027-03-15T13:30:00Z", true, ""},            // Mon 09:30 EDT (08:30 if stale)
				{"2027-03-15T21:30:00Z", false, "17:30 EDT"},  // Mon 17:30 EDT (16:30 if stale)
				{"2027-11-08T14:30:00Z", true, ""},            // Mon 09:30 EST
				{"2027-11-08T13:30:00Z", false, "08:30 EST"},  // Mon 08:30 EST
				{"2027-11-05T20:59:00Z", true, "within"},      // Fri 16:59 EDT
				{"2027-11-05T21:00:00Z", false, "17:00 EDT"},  // Fri 17:00 EDT
				{"2027-03-13T15:00:00Z", false, "Sat"},        // weekend
				{"2027-03-12T04:30:00Z", false, "23:30 EST"},  // Thursday night
				{"2027-03-12T13:59:59Z", false, "08:59 EST"},  // just before
				{"2027-03-12T14:00:00Z", true, "Mon-Fri 09"},  // 09:00 sharp
				{"2027-03-12T22:00:00Z", false, "17:00 EST"},  // 17:00 sharp
				{"2027-03-16T12:59:59Z", false, "08:59 EDT"},  // Tue just before
				{"2027-03-16T13:00:00Z", true, "America/New"}, // Tue 09:00 EDT
			},
		},
		{
			name:    "overnight and wrapping day ranges",
			zone:    "Europe/Berlin",
			windows: []string{"Mon-Fri 22:00-06:00", "Fri-Mon 10:00-12:00"},
			checks: []check{
				{"2027-06-04T21:00:00Z", true, "22:00-06:00"},  // Fri 23:00 CEST
				{"2027-06-05T03:00:00Z", true, "22:00-06:00"},  // Sat 05:00, from Friday night
				{"2027-06-05T04:00:00Z", false, ""},            // Sat 06:00
				{"2027-06-07T03:00:00Z", false, ""},            // Mon 05:00: Sunday night is not listed
				{"2027-06-06T09:00:00Z", true, "Fri-Mon"},      // Sun 11:00
				{"2027-06-08T09:00:00Z", false, "Tue"},         // Tue 11:00
				{"2027-06-07T20:00:00Z", true, "22:00-06:00"},  // Mon 22:00 sharp
				{"2027-06-07T19:59:59Z", false, "21:59 CEST"},  // Mon 21:59:59
				{"2027-06-08T03:59:59Z", true, "Mon-Fri 22:0"}, // Tue 05:59:59
			},
		},
		{
			name:    "several ranges, day lists, full days",
			zone:    "UTC",
			windows: []string{"mon,WED 09:00-12:00 13:00-17:00", "Sun 00:00-24:00", "Sat 00:00-00:00"},
			checks: []check{
				{"2027-06-07T11:59:00Z", true, ""},  // Mon
				{"2027-06-07T12:30:00Z", false, ""}, // lunch
				{"2027-06-09T13:00:00Z", true, ""},  // Wed
				{"2027-06-09T17:00:00Z", false, ""}, // end exclusive
				{"2027-06-08T10:00:00Z", false, ""}, // Tue
				{"2027-06-06T00:00:00Z", true, ""},  // Sun midnight
				{"2027-06-06T23:59:59Z", true, ""},  // Sun last second
				{"2027-06-05T03:00:00Z", true, ""},  // Sat, 00:00-00:00 is the whole day
				{"2027-06-10T10:00:00Z", false, ""}, // Thu
				{"2027-06-07T08:59:59Z", false, ""}, // Mon early
				{"2027-06-07T09:00:00Z", true, ""},  // Mon 09:00
				{"2027-06-11T00:00:00Z", false, ""}, // Fri midnight
				{"2027-06-09T16:59:59Z", true, ""},  // Wed
				{"2027-06-12T12:00:00Z", true, "Sat"},
			},
		},
		{
			name:     "Bavarian holiday, in the zone's calendar",
			zone:     "Europe/Berlin",
			windows:  []string{"Mon-Fri 09:00-18:00"},
			holidays: []string{"de-by"},
			checks: []check{
				{"2027-11-01T09:00:00Z", false, "holiday in DE-BY: Allerheiligen (Mon 2027-11-01)"},
				{"2027-11-02T09:00:00Z", true, ""},
				{"2027-01-06T09:00:00Z", false, "Heilige Drei Könige"},
				{"2027-03-26T09:00:00Z", false, "Karfreitag"}, // Good Friday 2027
				// 23:30 UTC on 24 Dec is already the 25th in Berlin.
				{"2027-12-24T23:30:00Z", false, "Weihnachtstag"},
				{"2027-12-24T22:30:00Z", false, "outside staffed hours"}, // 23:30 on the 24th: no holiday, but late
			},
		},
		{
			name:     "Berlin (the state) has no Allerheiligen",
			zone:     "Europe/Berlin",
			windows:  []string{"Mon-Fri 09:00-18:00"},
			holidays: []string{"DE-BE"},
			checks: []check{
				{"2027-11-01T09:00:00Z", true, ""},
				{"2027-03-08T09:00:00Z", false, "Frauentag"},
			},
		},
		{
			name:     "holidays only, observed day",
			zone:     "America/New_York",
			holidays: []string{"US", "US"},
			checks: []check{
				// 4 July 2027 is a Sunday; the holiday is observed on Monday the 5th.
				{"2027-07-05T15:00:00Z", false, "holiday (observed) in US: Independence Day"},
				{"2027-07-04T15:00:00Z", false, "holiday in US: Independence Day"},
				{"2027-07-06T03:00:00Z", false, "Independence Day"}, // 23:00 EDT, still the 5th
				{"2027-07-06T05:00:00Z", true, "no weekly windows"}, // 01:00 EDT on the 6th
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseHours(tc.zone, tc.windows, tc.holidays)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.checks {
				got, reason := h.Staffed(utc(c.at))
				if got != c.staffed || !strings.Contains(reason, c.reason) {
					t.Errorf("Staffed(%s = %s) = %v, %q; want %v with %q", c.at,
						utc(c.at).In(h.Location()).Format("Mon 15:04:05 MST"), got, reason, c.staffed, c.reason)
				}
			}
		})
	}
}

func TestStaffedNilHours(t *testing.T) {
	var h *Hours
	if ok, reason := h.Staffed(utc("2027-01-01T03:00:00Z")); !ok || reason == "" {
		t.Fatalf("nil Hours: %v %q, want staffed with a reason", ok, reason)
	}
	if h.Location() != time.UTC {
		t.Fatal("nil Hours should report UTC")
	}
}

func TestParseHoursErrors(t *testing.T) {
	tests := []struct {
		zone     string
		windows  []string
		holidays []string
		want     string
	}{
		{"Europe/Berlin", []string{"Mon-Fry 09:00"}, nil, `staffed hours "Mon-Fry 09:00": unknown day "Fry"; use Mon..Sun`},
		{"Europe/Berlin", []string{"Mon-Fri 09:00-18:00", "Sa 10:00-14:00"}, nil, `staffed hours "Sa 10:00-14:00": unknown day "Sa"; use Mon..Sun`},
		{"Europe/Berlin", []string{"Mon- 09:00-18:00"}, nil, `unknown day ""; use Mon..Sun`},
		{"Europe/Berlin", []string{"Mon-Fri"}, nil, `staffed hours "Mon-Fri": no time range after "Mon-Fri"; add one, e.g. Mon-Fri 09:00-18:00`},
		{"Europe/Berlin", []string{"   "}, nil, `staffed hours "   ": empty; write days and times, e.g. Mon-Fri 09:00-18:00`},
		{"Europe/Berlin", []string{"Mon-Fri 09:00"}, nil, `time range "09:00" needs a start and an end, e.g. 09:00-18:00`},
		{"Europe/Berlin", []string{"Mon-Fri 9-18"}, nil, `time "9" must be HH:MM, e.g. 09:00`},
		{"Europe/Berlin", []string{"Mon-Fri 09:00-+6:00"}, nil, `time "+6:00" must be HH:MM`},
		{"Europe/Berlin", []string{"Mon-Fri 09:60-10:00"}, nil, `time "09:60": minutes must be 00..59`},
		{"Europe/Berlin", []string{"Mon-Fri 25:00-26:00"}, nil, `time "25:00" is past the end of the day; use 00:00..23:59 (or 24:00 as an end)`},
		{"Europe/Berlin", []string{"Mon-Fri 24:00-10:00"}, nil, `time "24:00" is past the end of the day`},
		{"Europe/Berlin", []string{"Mon-Fri 09:00-09:00"}, nil, `time range "09:00-09:00" is empty; for a full day write 00:00-24:00`},
		{"Europe/Berln", []string{"Mon-Fri 09:00-18:00"}, nil, `staffed hours: unknown time zone "Europe/Berln"; use an IANA zone such as Europe/Berlin or America/New_York`},
		{"", nil, nil, `staffed hours: no time zone; set an IANA zone such as Europe/Berlin`},
		{"UTC", nil, []string{"XX"}, `staffed hours: holidays "XX": not in the holiday library (github.com/rickar/cal/v2); use an ISO country code such as DE, FR, US, or a region such as DE-BY`},
		{"UTC", nil, []string{"AU"}, `holidays "AU": the holiday library has AU only per region; use one of AU-ACT, AU-NSW, AU-NT, AU-QLD, AU-SA, AU-TAS, AU-VIC, AU-WA`},
		{"UTC", nil, []string{"DE-XX"}, `holidays "DE-XX": unknown region of DE; use DE or one of DE-BB, DE-BE, DE-BW, DE-BY,`},
		{"UTC", nil, []string{"FR-75"}, `holidays "FR-75": the holiday library has no regions for FR; use FR`},
	}
	for _, tc := range tests {
		_, err := ParseHours(tc.zone, tc.windows, tc.holidays)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseHours(%q, %q, %q) error = %v\nwant it to contain %s", tc.zone, tc.windows, tc.holidays, err, tc.want)
		}
	}
}

func TestHolidayRegions(t *testing.T) {
	regions := HolidayRegions()
	for _, want := range []string{"DE", "DE-BY", "FR", "US", "GB", "AT", "CH-ZH", "AU-NSW"} {
		if !slices.Contains(regions, want) {
			t.Errorf("HolidayRegions() lacks %s", want)
		}
	}
	if !slices.IsSorted(regions) {
		t.Error("HolidayRegions() is not sorted")
	}
	// Every listed region parses and has at least one holiday in 2027.
	for _, code := range regions {
		h, err := ParseHours("UTC", nil, []string{code})
		if err != nil {
			t.Errorf("%s: %v", code, err)
			continue
		}
		found := false
		for d := utc("2027-01-01T12:00:00Z"); d.Year() == 2027 && !found; d = d.AddDate(0, 0, 1) {
			ok, _ := h.Staffed(d)
			found = !ok
		}
		if !found {
			t.Errorf("%s: no holiday in 2027", code)
		}
	}
}
