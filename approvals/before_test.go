package approvals

import (
	"strings"
	"testing"
	"time"
)

func TestParseBefore(t *testing.T) {
	now := time.Date(2026, 11, 30, 15, 4, 5, 0, time.UTC) // a Monday
	for _, c := range []struct {
		in, tz string
		want   time.Time
	}{
		{"2026-12-01", "UTC", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
		{"2026-12-01", "Europe/Berlin", time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC)}, // the start of that day in Berlin
		{" 2026-12-01 09:00 ", "Europe/Berlin", time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)},
		{"2026-12-01T09:00:00+01:00", "UTC", time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)},
		{"tomorrow 9:00", "UTC", time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)},
		{"+2h", "UTC", time.Date(2026, 11, 30, 17, 4, 5, 0, time.UTC)},
	} {
		got, err := ParseBefore(c.in, c.tz, now)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("ParseBefore(%q, %s) = %v, %v; want %v", c.in, c.tz, got, err, c.want)
		}
	}
	for _, c := range []struct{ in, tz, want string }{
		{"", "UTC", "no time given: use a date"},
		{"someday", "UTC", `"someday" is not a time: use a date (2026-12-01, meaning the start of that day)`},
		{"2026-13-01", "UTC", "is not a time"},
		{"2026-12-01", "Mars/Olympus", "unknown time zone"},
	} {
		_, err := ParseBefore(c.in, c.tz, now)
		if ErrorCode(err) != EINVALID || !strings.Contains(ErrorMessage(err), c.want) {
			t.Errorf("ParseBefore(%q, %s) error = %v, want %q", c.in, c.tz, err, c.want)
		}
	}
}
