package timing

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Slots are posting times in a week, such as "Mon-Fri 09:30": a post from
// a feed is scheduled at the next one that is free.
type Slots struct {
	slots []slot
}

type slot struct {
	days  [7]bool // indexed by time.Weekday
	clock int     // seconds after midnight
}

// ParseSlots reads slots written as optional days and a time of day:
// "Mon-Fri 09:30", "Sat,Sun 11:00", "14:00" (every day).
func ParseSlots(specs []string) (Slots, error) {
	var s Slots
	for _, spec := range specs {
		fields := strings.Fields(spec)
		var sl slot
		switch len(fields) {
		case 1:
			for d := range sl.days {
				sl.days[d] = true
			}
		case 2:
			if err := parseDays(fields[0], &sl.days); err != nil {
				return Slots{}, fmt.Errorf("slot %q: %v", spec, err)
			}
		default:
			return Slots{}, fmt.Errorf("slot %q: write days and a time, e.g. Mon-Fri 09:30", spec)
		}
		c, err := parseClock(fields[len(fields)-1], false)
		if err != nil {
			return Slots{}, fmt.Errorf("slot %q: %v", spec, err)
		}
		sl.clock = c
		s.slots = append(s.slots, sl)
	}
	return s, nil
}

// Empty reports whether there are no slots.
func (s Slots) Empty() bool { return len(s.slots) == 0 }

// Next returns the first slot time strictly after `after`, read in loc,
// for which free says yes; false when none is free within a year.
func (s Slots) Next(after time.Time, loc *time.Location, free func(time.Time) bool) (time.Time, bool) {
	if len(s.slots) == 0 {
		return time.Time{}, false
	}
	local := after.In(loc)
	day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	for i := 0; i <= 366; i++ {
		d := day.AddDate(0, 0, i)
		var times []time.Time
		for _, sl := range s.slots {
			if !sl.days[d.Weekday()] {
				continue
			}
			t := time.Date(d.Year(), d.Month(), d.Day(), sl.clock/3600, sl.clock%3600/60, 0, 0, loc)
			if t.After(after) {
				times = append(times, t)
			}
		}
		slices.SortFunc(times, time.Time.Compare)
		for _, t := range times {
			if free == nil || free(t) {
				return t, true
			}
		}
	}
	return time.Time{}, false
}
