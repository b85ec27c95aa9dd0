package timing

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Hours is a review room's staffed hours: weekly windows of wall-clock time
// in one zone, minus the public holidays of the configured regions.
// It is immutable after ParseHours and safe for concurrent use.
type Hours struct {
	loc      *time.Location
	windows  []window
	specs    []string
	holidays []holidayRegion
}

// window is one parsed spec such as "Mon-Fri 09:00-12:00 13:00-18:00".
type window struct {
	days   [7]bool // indexed by time.Weekday
	ranges []clockRange
}

// clockRange is a span of wall-clock seconds since midnight. When end <= start
// the range runs overnight: from start on a listed day to end the next day.
type clockRange struct {
	start, end int
}

func (r clockRange) overnight() bool { return r.end <= r.start }

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "sunday": time.Sunday,
	"mon": time.Monday, "monday": time.Monday,
	"tue": time.Tuesday, "tuesday": time.Tuesday,
	"wed": time.Wednesday, "wednesday": time.Wednesday,
	"thu": time.Thursday, "thursday": time.Thursday,
	"fri": time.Friday, "friday": time.Friday,
	"sat": time.Saturday, "saturday": time.Saturday,
}

// ParseHours builds staffed hours in the IANA zone from weekly windows and
// holiday regions.
//
// A window is days followed by one or more time ranges: "Mon-Fri 09:00-18:00",
// "Sat 10:00-14:00", "Mon,Wed,Fri 09:00-12:00 13:00-17:00". Day ranges may
// wrap ("Fri-Mon"). A range whose end is not after its start runs overnight
// ("Mon-Fri 22:00-06:00" covers Tuesday 05:00); "24:00" is the end of the day.
// Times are wall-clock times in zone, so a 09:00 start stays 09:00 across
// daylight-saving changes.
//
// With no windows every hour counts as staffed except holidays. Holiday regions
// are ISO codes of countries or subdivisions known to rickar/cal ("DE",
// "DE-BY", "US"); see HolidayRegions. Every day in the library's list for a
// region counts, including observed substitutes and customary days off such
// as Sweden's Midsummer Eve.
func ParseHours(zone string, windows []string, holidays []string) (*Hours, error) {
	if strings.TrimSpace(zone) == "" {
		return nil, fmt.Errorf("staffed hours: no time zone; set an IANA zone such as Europe/Berlin")
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("staffed hours: unknown time zone %q; use an IANA zone such as Europe/Berlin or America/New_York", zone)
	}
	h := &Hours{loc: loc}
	for _, spec := range windows {
		w, err := parseWindow(spec)
		if err != nil {
			return nil, fmt.Errorf("staffed hours %q: %w", spec, err)
		}
		h.windows = append(h.windows, w)
		h.specs = append(h.specs, strings.Join(strings.Fields(spec), " "))
	}
	seen := map[string]bool{}
	for _, code := range holidays {
		r, err := parseHolidayRegion(code)
		if err != nil {
			return nil, fmt.Errorf("staffed hours: %w", err)
		}
		if !seen[r.code] {
			seen[r.code] = true
			h.holidays = append(h.holidays, r)
		}
	}
	return h, nil
}

func parseWindow(spec string) (window, error) {
	fields := strings.Fields(spec)
	if len(fields) == 0 {
		return window{}, fmt.Errorf("empty; write days and times, e.g. Mon-Fri 09:00-18:00")
	}
	var w window
	if err := parseDays(fields[0], &w.days); err != nil {
		return window{}, err
	}
	if len(fields) == 1 {
		return window{}, fmt.Errorf("no time range after %q; add one, e.g. %s 09:00-18:00", fields[0], fields[0])
	}
	for _, f := range fields[1:] {
		r, err := parseRange(f)
		if err != nil {
			return window{}, err
		}
		w.ranges = append(w.ranges, r)
	}
	return w, nil
}

func parseDays(s string, days *[7]bool) error {
	for part := range strings.SplitSeq(s, ",") {
		from, to, isRange := strings.Cut(part, "-")
		first, err := parseDay(from)
		if err != nil {
			return err
		}
		last := first
		if isRange {
			if last, err = parseDay(to); err != nil {
				return err
			}
		}
		for d := first; ; d = (d + 1) % 7 {
			days[d] = true
			if d == last {
				break
			}
		}
	}
	return nil
}

func parseDay(s string) (time.Weekday, error) {
	d, ok := dayNames[strings.ToLower(s)]
	if !ok {
		return 0, fmt.Errorf("unknown day %q; use Mon..Sun", s)
	}
	return d, nil
}

func parseRange(s string) (clockRange, error) {
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return clockRange{}, fmt.Errorf("time range %q needs a start and an end, e.g. 09:00-18:00", s)
	}
	start, err := parseClock(from, false)
	if err != nil {
		return clockRange{}, err
	}
	end, err := parseClock(to, true)
	if err != nil {
		return clockRange{}, err
	}
	if start == end && start != 0 {
		return clockRange{}, fmt.Errorf("time range %q is empty; for a full day write 00:00-24:00", s)
	}
	if start == 0 && (end == 0 || end == 24*3600) {
		end = 24 * 3600
	}
	return clockRange{start: start, end: end}, nil
}

// parseClock reads H:MM or HH:MM; "24:00" is allowed as an end only.
func parseClock(s string, isEnd bool) (int, error) {
	hh, mm, ok := strings.Cut(s, ":")
	if !ok || !digits(hh, 1, 2) || !digits(mm, 2, 2) {
		return 0, fmt.Errorf("time %q must be HH:MM, e.g. 09:00", s)
	}
	h, _ := strconv.Atoi(hh)
	m, _ := strconv.Atoi(mm)
	if m > 59 {
		return 0, fmt.Errorf("time %q: minutes must be 00..59", s)
	}
	if h == 24 && m == 0 && isEnd {
		return 24 * 3600, nil
	}
	if h > 23 {
		return 0, fmt.Errorf("time %q is past the end of the day; use 00:00..23:59 (or 24:00 as an end)", s)
	}
	return h*3600 + m*60, nil
}

func digits(s string, minLen, maxLen int) bool {
	if len(s) < minLen || len(s) > maxLen {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Location is the zone the windows are read in.
func (h *Hours) Location() *time.Location {
	if h == nil {
		return time.UTC
	}
	return h.loc
}

// Staffed reports whether the instant t falls in staffed hours, with a reason
// fit for a card ("holiday in DE-BY: Allerheiligen (Mon 2027-11-01)").
// A holiday in any configured region counts as unstaffed all day
// (the calendar date in the Hours' zone). Nil Hours are always staffed.
func (h *Hours) Staffed(t time.Time) (bool, string) {
	if h == nil {
		return true, "no staffed hours configured"
	}
	local := t.In(h.loc)
	when := local.Format("Mon 2006-01-02 15:04 MST")
	for _, r := range h.holidays {
		if name, observedOnly, ok := r.on(local); ok {
			kind := "holiday"
			if observedOnly {
				kind = "holiday (observed)"
			}
			return false, fmt.Sprintf("%s in %s: %s (%s)", kind, r.code, name, local.Format("Mon 2006-01-02"))
		}
	}
	if len(h.windows) == 0 {
		return true, fmt.Sprintf("no weekly windows configured (%s)", h.loc)
	}
	sec := local.Hour()*3600 + local.Minute()*60 + local.Second()
	today := local.Weekday()
	yesterday := (today + 6) % 7
	for i, w := range h.windows {
		for _, r := range w.ranges {
			in := false
			if r.overnight() {
				in = (w.days[today] && sec >= r.start) || (w.days[yesterday] && sec < r.end)
			} else {
				in = w.days[today] && sec >= r.start && sec < r.end
			}
			if in {
				return true, fmt.Sprintf("within staffed hours %s (%s)", h.specs[i], h.loc)
			}
		}
	}
	return false, fmt.Sprintf("outside staffed hours (%s, %s): %s", strings.Join(h.specs, "; "), h.loc, when)
}
