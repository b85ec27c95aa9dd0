package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/app"
	"github.com/heed-dev/heed/internal/heedtest"
	"github.com/heed-dev/heed/sqlite"
)

// seed writes n seen events and n presence rows at t.
func seed(t *testing.T, s *heedtest.Stack, tag string, n int, at time.Time) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := s.Store.DB().ExecContext(s.Ctx, `INSERT INTO seen_events (adapter, id, at) VALUES ('mem', ?, ?)`, fmt.Sprintf("%s-%d", tag, i), at.UnixMilli()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Store.DB().ExecContext(s.Ctx, `INSERT INTO room_presence (room, "user", at) VALUES ('review', ?, ?)`, fmt.Sprintf("%s-%d", tag, i), at.UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
}

func count(t *testing.T, s *heedtest.Stack, query string) int {
	t.Helper()
	var n int
	if err := s.Store.DB().QueryRowContext(s.Ctx, query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRetentionTrimsWhatIsOld: with the default settings a pass deletes
// seen events older than 30 days and presence older than 90, no more than
// a batch per table, and keeps the audit log whole; on the injected clock.
func TestRetentionTrimsWhatIsOld(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	keep, every := defaultConfig(t).RetentionSettings()
	if keep.SeenEvents != 30*24*time.Hour || keep.Presence != 90*24*time.Hour || keep.Audit != 0 || keep.IdempotencyKeys != 7*24*time.Hour || every != time.Hour || keep.Batch != 1000 {
		t.Fatalf("defaults: %+v every %s", keep, every)
	}
	keep.Batch = 10
	start := s.Clock.Now()
	s.Add("an audited post", time.Hour)
	audit := count(t, s, `SELECT count(*) FROM audit`)
	seed(t, s, "old", 25, start)
	s.Clock.Advance(60 * 24 * time.Hour)
	seed(t, s, "new", 5, s.Clock.Now())
	s.Clock.Advance(24 * time.Hour)

	n, err := s.Store.Trim(s.Ctx, s.Clock.Now(), keep)
	if err != nil {
		t.Fatal(err)
	}
	if n != (sqlite.Trimmed{SeenEvents: 10}) || !n.Full(keep.Batch) {
		t.Fatalf("first pass: %+v", n)
	}
	for n.Full(keep.Batch) {
		if n, err = s.Store.Trim(s.Ctx, s.Clock.Now(), keep); err != nil {
			t.Fatal(err)
		}
	}
	if got := count(t, s, `SELECT count(*) FROM seen_events WHERE id LIKE 'old-%'`); got != 0 {
		t.Errorf("%d old seen events left", got)
	}
	if got := count(t, s, `SELECT count(*) FROM seen_events WHERE id LIKE 'new-%'`); got != 5 {
		t.Errorf("%d of 5 recent seen events left", got)
	}
	if got := count(t, s, `SELECT count(*) FROM room_presence`); got != 30 {
		t.Errorf("presence younger than 90 days was trimmed: %d rows of 30", got)
	}
	if got := count(t, s, `SELECT count(*) FROM audit`); got != audit {
		t.Errorf("the audit log lost entries by default: %d of %d", got, audit)
	}
	s.Clock.Advance(30 * 24 * time.Hour) // the old presence is 91 days old now
	if n, err = s.Store.Trim(s.Ctx, s.Clock.Now(), keep); err != nil || n.Presence != 10 {
		t.Fatalf("presence pass: %+v %v", n, err)
	}
}

// TestRetentionTrimsIdempotencyKeys: an Idempotency-Key older than
// retention.idempotency_keys goes, its post stays, and a younger one is
// kept.
func TestRetentionTrimsIdempotencyKeys(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	keep, _ := defaultConfig(t).RetentionSettings()
	p := s.Add("made through the API", 30*24*time.Hour)
	put := func(key string) {
		if _, err := s.Store.DB().ExecContext(s.Ctx, `INSERT INTO api_idempotency (person, key, request_hash, post_id, created_at) VALUES ('alice', ?, 'h', ?, ?)`,
			key, p.ID, s.Clock.Now().UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	put("old")
	s.Clock.Advance(6 * 24 * time.Hour)
	put("new")
	s.Clock.Advance(2 * 24 * time.Hour) // old: 8 days, new: 2 days
	n, err := s.Store.Trim(s.Ctx, s.Clock.Now(), keep)
	if err != nil || n.IdempotencyKeys != 1 {
		t.Fatalf("pass: %+v %v, want 1 idempotency key trimmed", n, err)
	}
	if got := count(t, s, `SELECT count(*) FROM api_idempotency WHERE key = 'new'`); got != 1 {
		t.Errorf("the 2-day-old key was trimmed")
	}
	if got := count(t, s, `SELECT count(*) FROM posts`); got != 1 {
		t.Errorf("trimming a key deleted its post: %d posts", got)
	}
}

// TestRetentionTrimsTheAuditLogWhenAsked: with retention.audit set, old
// entries go, the trim is itself audited, and the log stays append-only.
func TestRetentionTrimsTheAuditLogWhenAsked(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	s.Add("old news", time.Hour)
	old := count(t, s, `SELECT count(*) FROM audit`)
	s.Clock.Advance(400 * 24 * time.Hour)
	s.Add("fresh", time.Hour)
	total := count(t, s, `SELECT count(*) FROM audit`)
	n, err := s.Store.Trim(s.Ctx, s.Clock.Now(), sqlite.Retention{Audit: 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if n.Audit != old || old == 0 {
		t.Fatalf("trimmed %d audit entries, want the %d old ones", n.Audit, old)
	}
	if got := count(t, s, `SELECT count(*) FROM audit`); got != total-old+1 {
		t.Errorf("%d audit entries left, want %d and the trim's own", got, total-old)
	}
	if got := count(t, s, `SELECT count(*) FROM audit WHERE action = 'audit.trim' AND detail LIKE 'deleted `+fmt.Sprint(old)+` entries older than %'`); got != 1 {
		t.Error("the trim was not recorded in the audit log")
	}
	if _, err := s.Store.DB().ExecContext(s.Ctx, `DELETE FROM audit`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("the audit log takes deletes after a trim: %v", err)
	}
}

// TestRetentionRunsInTheDaemon: the daemon's loop trims at start and
// works off a backlog a batch per pass, on the system's clock.
func TestRetentionRunsInTheDaemon(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	seed(t, s, "old", 15, s.Clock.Now())
	s.Clock.Advance(31 * 24 * time.Hour)
	passes := make(chan sqlite.Trimmed, 10)
	ctx, cancel := context.WithCancel(s.Ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.System.RunRetention(ctx, sqlite.Retention{SeenEvents: 30 * 24 * time.Hour, Batch: 10}, time.Hour, func(n sqlite.Trimmed, err error) {
			if err != nil {
				t.Error(err)
			}
			passes <- n
		})
	}()
	defer func() { cancel(); <-done }()
	var got []int
	for len(got) < 2 {
		select {
		case n := <-passes:
			got = append(got, n.SeenEvents)
		case <-time.After(20 * time.Second):
			t.Fatalf("passes so far: %v", got)
		}
	}
	if got[0] != 10 || got[1] != 5 {
		t.Fatalf("passes trimmed %v, want [10 5]", got)
	}
	if left := count(t, s, `SELECT count(*) FROM seen_events`); left != 0 {
		t.Fatalf("%d seen events left", left)
	}
}

// TestRetentionConfig: settings that would lose what heed still needs are
// refused.
func TestRetentionConfig(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"retention:\n  seen_events: 2h\n", "retention.seen_events 2h0m0s: keep event ids at least 24h"},
		{"retention:\n  presence: 1h\nrooms:\n  - name: console\n    everyone: true\n    on_duty: 2h\n", "retention.presence 1h0m0s is shorter than rooms[0] (console) on_duty 2h0m0s"},
		{"retention:\n  audit: -1h\n", "retention.audit: give a duration"},
		{"retention:\n  idempotency_keys: 1h\n", "retention.idempotency_keys 1h0m0s: keep them at least 24h"},
	} {
		if _, err := app.LoadConfig(writeConfig(t, tc.src)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %s", tc.src, err, tc.want)
		}
	}
	c, err := app.LoadConfig(writeConfig(t, "retention:\n  seen_events: 0\n  audit: 8760h\n  batch: 50\n  interval: 10m\n"))
	if err != nil {
		t.Fatal(err)
	}
	keep, every := c.RetentionSettings()
	if keep.SeenEvents != 0 || keep.Presence != 90*24*time.Hour || keep.Audit != 8760*time.Hour || keep.Batch != 50 || every != 10*time.Minute {
		t.Fatalf("%+v every %s", keep, every)
	}
}
