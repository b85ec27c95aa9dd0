package timing

import (
	"strings"
	"testing"
	"time"
)

// TestSlotsNext: the next slot after a time, in the slots' zone, over a
// weekend and a change of clocks, skipping those not free.
func TestSlotsNext(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSlots([]string{"Mon-Fri 14:00", "Mon-Fri 09:30", "Sun 11:00"})
	if err != nil {
		t.Fatal(err)
	}
	at := func(v string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", v, berlin)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		after, want string
		taken       []string
	}{
		{"2030-01-07 08:00", "2030-01-07 09:30", nil},                                              // Monday morning
		{"2030-01-07 09:30", "2030-01-07 14:00", nil},                                              // strictly after
		{"2030-01-11 15:00", "2030-01-13 11:00", nil},                                              // Friday afternoon: Sunday
		{"2030-01-07 08:00", "2030-01-08 09:30", []string{"2030-01-07 09:30", "2030-01-07 14:00"}}, // taken
		{"2030-03-31 10:00", "2030-03-31 11:00", nil},                                              // the Sunday clocks go forward
	}
	for _, tc := range tests {
		taken := map[time.Time]bool{}
		for _, v := range tc.taken {
			taken[at(v)] = true
		}
		got, ok := s.Next(at(tc.after), berlin, func(t time.Time) bool { return !taken[t] })
		if !ok || !got.Equal(at(tc.want)) {
			t.Errorf("after %s: %s, %v; want %s", tc.after, got.In(berlin), ok, tc.want)
		}
	}
	if every, _ := ParseSlots([]string{"07:00"}); every.Empty() {
		t.Fatal("a time alone is every day")
	}
	if _, ok := (Slots{}).Next(at("2030-01-07 08:00"), berlin, nil); ok {
		t.Fatal("no slots gave a time")
	}
}

func TestParseSlotsErrors(t *testing.T) {
	for spec, want := range map[string]string{
		"Mon-Fri 9.30":    `time "9.30" must be HH:MM`,
		"Mo 09:30":        `unknown day "Mo"`,
		"Mon 09:30 extra": "write days and a time",
		"":                "write days and a time",
		"Mon-Fri 24:00":   "past the end of the day",
	} {
		if _, err := ParseSlots([]string{spec}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", spec, err, want)
		}
	}
}
