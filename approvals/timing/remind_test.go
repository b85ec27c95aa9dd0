package timing

import (
	"testing"
	"time"
)

func TestReminderSlot(t *testing.T) {
	at := time.Date(2030, 1, 7, 12, 0, 0, 0, time.UTC)
	type want struct {
		slot     int
		last, ok bool
	}
	cases := []struct {
		now       time.Duration // before at
		by, every time.Duration
		want      want
	}{
		{2*time.Hour + time.Second, 2 * time.Hour, 30 * time.Minute, want{}},
		{2 * time.Hour, 2 * time.Hour, 30 * time.Minute, want{0, false, true}},
		{91 * time.Minute, 2 * time.Hour, 30 * time.Minute, want{0, false, true}},
		{90 * time.Minute, 2 * time.Hour, 30 * time.Minute, want{1, false, true}},
		{30 * time.Minute, 2 * time.Hour, 30 * time.Minute, want{3, true, true}},
		{time.Second, 2 * time.Hour, 30 * time.Minute, want{3, true, true}},
		{0, 2 * time.Hour, 30 * time.Minute, want{}},
		{-time.Minute, 2 * time.Hour, 30 * time.Minute, want{}},
		{45 * time.Minute, 2 * time.Hour, 45 * time.Minute, want{1, false, true}}, // 10:00, 10:45, 11:30
		{30 * time.Minute, 2 * time.Hour, 45 * time.Minute, want{2, true, true}},
		{time.Hour, 2 * time.Hour, 0, want{0, true, true}},
		{time.Hour, 0, 30 * time.Minute, want{}},
		{time.Minute, 2 * time.Hour, 3 * time.Hour, want{0, true, true}},
	}
	for _, c := range cases {
		slot, last, ok := ReminderSlot(at, at.Add(-c.now), c.by, c.every)
		if got := (want{slot, last, ok}); got != c.want {
			t.Errorf("%s before, approve_by %s, every %s: %+v, want %+v", c.now, c.by, c.every, got, c.want)
		}
	}
}
