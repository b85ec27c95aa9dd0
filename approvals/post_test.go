package approvals

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	now := time.Date(2026, 11, 20, 15, 0, 0, 0, berlin) // a Friday
	cases := []struct {
		in   string
		tz   string
		want time.Time
	}{
		{"2026-12-01T09:00:00+01:00", "", time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)},
		{"2026-12-01 09:00", "Europe/Berlin", time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)},
		{"2027-11-09T10:00", "Europe/Berlin", time.Date(2027, 11, 9, 9, 0, 0, 0, time.UTC)},
		{"+5m", "UTC", now.Add(5 * time.Minute).UTC()},
		{"in 2h", "UTC", now.Add(2 * time.Hour).UTC()},
		{"tomorrow 9:00", "Europe/Berlin", time.Date(2026, 11, 21, 9, 0, 0, 0, berlin).UTC()},
		{"monday 14:30", "Europe/Berlin", time.Date(2026, 11, 23, 14, 30, 0, 0, berlin).UTC()},
		{"in 90 minutes", "Europe/Berlin", now.Add(90 * time.Minute).UTC()},
		{"in an hour and 30 minutes", "UTC", now.Add(90 * time.Minute).UTC()},
		{"in 2 days", "UTC", now.Add(48 * time.Hour).UTC()},
		{"today 17:00", "Europe/Berlin", time.Date(2026, 11, 20, 17, 0, 0, 0, berlin).UTC()},
		{"Tomorrow at 9am", "Europe/Berlin", time.Date(2026, 11, 21, 9, 0, 0, 0, berlin).UTC()},
		{"tomorrow 9:30 pm", "Europe/Berlin", time.Date(2026, 11, 21, 21, 30, 0, 0, berlin).UTC()},
		{"tomorrow 12am", "Europe/Berlin", time.Date(2026, 11, 21, 0, 0, 0, 0, berlin).UTC()},
		{"fri 16:00", "Europe/Berlin", time.Date(2026, 11, 20, 16, 0, 0, 0, berlin).UTC()},    // today, still ahead
		{"friday 14:00", "Europe/Berlin", time.Date(2026, 11, 27, 14, 0, 0, 0, berlin).UTC()}, // today's has passed
		{"next wed 08:15", "Europe/Berlin", time.Date(2026, 11, 25, 8, 15, 0, 0, berlin).UTC()},
	}
	for _, c := range cases {
		got, err := ParseTime(c.in, c.tz, now)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("ParseTime(%q, %q) = %v, %v; want %v", c.in, c.tz, got, err, c.want)
		}
	}
	for _, bad := range []string{"whenever", "+-5m", "+0s", "2026-13-45 25:00", "tomorrow", "tomorrow 9", "tomorrow 25:00",
		"monday 13pm", "in 5 fortnights", "in -3 minutes", "someday 10:00", "next", "in"} {
		if _, err := ParseTime(bad, "UTC", now); ErrorCode(err) != EINVALID {
			t.Errorf("ParseTime(%q): err = %v, want invalid", bad, err)
		}
	}
	if _, err := ParseTime("+5m", "Mars/Olympus", now); ErrorCode(err) != EINVALID {
		t.Errorf("unknown zone accepted: %v", err)
	}
}

func TestScheduleNextAndNeverFires(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	s := Schedule{Cron: "0 9 * * MON", TZ: "Europe/Berlin"}
	next, ok := s.Next(now)
	if !ok || !next.Equal(time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)) {
		t.Fatalf("next = %v, %v", next, ok)
	}
	if err := ValidateSchedule(Schedule{Cron: "0 9 30 2 *", TZ: "UTC"}, now); err == nil {
		t.Fatal("a cron on 30 February was accepted")
	}
	if err := ValidateSchedule(Schedule{Cron: "0 9 * * MON", TZ: "UTC", Until: now.Add(24 * time.Hour)}, now); err == nil {
		t.Fatal("a cron whose end comes before its first time was accepted")
	}
}

func TestFiringsPerDay(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC) // a Friday
	cases := []struct {
		cron, tz string
		want     int
	}{
		{"0 10 * * *", "Europe/Berlin", 1},
		{"0 9 * * MON", "Europe/Berlin", 1},
		{"0 * * * *", "UTC", 24},
		{"*/30 * * * *", "UTC", 48},
		{"* * * * *", "Europe/Berlin", 1440},
		{"* * * * 1-5", "UTC", 1440},              // today is Friday; the weekend does not hide it
		{"* * 25 12 *", "America/New_York", 1440}, // one day a year
		{"@every 1s", "UTC", MaxPerDay + 1},       // counting stops above the limit
		{"@hourly", "UTC", 24},
	}
	for _, c := range cases {
		s := Schedule{Cron: c.cron, TZ: c.tz}
		if got := s.FiringsPerDay(now, MaxPerDay); got != c.want {
			t.Errorf("%q in %s fires %d times a day, want %d", c.cron, c.tz, got, c.want)
		}
	}
	// A daylight saving change in the zone: 24 hours from midnight still
	// hold 1,440 minutes.
	fall := Schedule{Cron: "* * * * *", TZ: "Europe/Berlin"}
	if got := fall.FiringsPerDay(time.Date(2026, 10, 24, 12, 0, 0, 0, time.UTC), MaxPerDay); got != 1440 {
		t.Errorf("every minute over the end of summer time: %d a day, want 1440", got)
	}
	if got := (Schedule{At: now.Add(time.Hour)}).FiringsPerDay(now, MaxPerDay); got != 1 {
		t.Errorf("a one-shot post fires %d times", got)
	}
}
