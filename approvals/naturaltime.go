package approvals

import (
	"strconv"
	"strings"
	"time"
)

// parseNatural reads the few English forms people type for a time:
//
//	in 90 minutes · in 2 hours · in 3 days · in 1 week
//	today 17:00 · tomorrow 9:00 · tomorrow at 9am · monday 14:30 · next fri 8:15 pm
//
// A weekday means its next occurrence whose time is still ahead (today's,
// if the time has not passed). It is a small grammar of heed's own: the
// general-purpose parsers either read common cases wrongly or cost every
// command tens of megabytes and most of a second at start-up.
func parseNatural(s string, loc *time.Location, now time.Time) (time.Time, bool) {
	words := strings.Fields(strings.ToLower(strings.TrimSpace(s)))
	if len(words) == 0 {
		return time.Time{}, false
	}
	if words[0] == "in" {
		return relative(words[1:], now)
	}
	now = now.In(loc)
	day := -1 // days from today; -1: a weekday decides
	weekday := time.Weekday(-1)
	switch words[0] {
	case "today":
		day = 0
	case "tomorrow":
		day = 1
	case "next":
		words = words[1:]
		if len(words) == 0 {
			return time.Time{}, false
		}
		fallthrough
	default:
		wd, ok := weekdays[words[0]]
		if !ok {
			return time.Time{}, false
		}
		weekday = wd
	}
	words = words[1:]
	if len(words) > 0 && words[0] == "at" {
		words = words[1:]
	}
	h, m, ok := clock(strings.Join(words, ""))
	if !ok {
		return time.Time{}, false
	}
	at := func(days int) time.Time {
		y, mo, d := now.Date()
		return time.Date(y, mo, d+days, h, m, 0, 0, loc)
	}
	if day >= 0 {
		return at(day).UTC(), true
	}
	for days := 0; days <= 7; days++ {
		if t := at(days); t.Weekday() == weekday && t.After(now) {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

var weekdays = map[string]time.Weekday{
	"sunday": time.Sunday, "sun": time.Sunday, "monday": time.Monday, "mon": time.Monday,
	"tuesday": time.Tuesday, "tue": time.Tuesday, "tues": time.Tuesday, "wednesday": time.Wednesday, "wed": time.Wednesday,
	"thursday": time.Thursday, "thu": time.Thursday, "thur": time.Thursday, "thurs": time.Thursday,
	"friday": time.Friday, "fri": time.Friday, "saturday": time.Saturday, "sat": time.Saturday,
}

var units = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	"w": 7 * 24 * time.Hour, "week": 7 * 24 * time.Hour, "weeks": 7 * 24 * time.Hour,
}

// relative reads "90 minutes", "2 hours 30 minutes", "an hour".
func relative(words []string, now time.Time) (time.Time, bool) {
	var total time.Duration
	for len(words) >= 2 {
		n, err := strconv.Atoi(words[0])
		if words[0] == "a" || words[0] == "an" {
			n, err = 1, nil
		}
		u, ok := units[strings.TrimSuffix(words[1], ",")]
		if err != nil || n <= 0 || !ok {
			return time.Time{}, false
		}
		total += time.Duration(n) * u
		words = words[2:]
		if len(words) > 0 && words[0] == "and" {
			words = words[1:]
		}
	}
	if len(words) != 0 || total <= 0 {
		return time.Time{}, false
	}
	return now.Add(total).Truncate(time.Second).UTC(), true
}

// clock reads "9", "9:30", "14:30", "9am", "9:30pm" (spaces already removed).
func clock(s string) (h, m int, ok bool) {
	pm, am := strings.HasSuffix(s, "pm"), strings.HasSuffix(s, "am")
	if pm || am {
		s = s[:len(s)-2]
	}
	hs, ms, hasMin := strings.Cut(s, ":")
	h, err := strconv.Atoi(hs)
	if err != nil || len(hs) > 2 {
		return 0, 0, false
	}
	if hasMin {
		if m, err = strconv.Atoi(ms); err != nil || len(ms) != 2 || m > 59 {
			return 0, 0, false
		}
	} else if !pm && !am {
		return 0, 0, false // a bare "9" is too easy to misread: say 9:00 or 9am
	}
	switch {
	case pm || am:
		if h < 1 || h > 12 {
			return 0, 0, false
		}
		h %= 12
		if pm {
			h += 12
		}
	case h > 23:
		return 0, 0, false
	}
	return h, m, true
}
