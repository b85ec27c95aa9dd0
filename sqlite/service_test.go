package sqlite_test

import (
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/internal/heedtest"
)

// A change to the settings after the service is built reaches every
// aggregate service: they share one core.
func TestSettingsReachEveryService(t *testing.T) { onBoth(t, testSettingsReachEveryService) }

func testSettingsReachEveryService(t *testing.T, db heedtest.Options) {
	s := heedtest.New(t, db)
	t0 := time.Date(2030, 2, 1, 12, 0, 0, 0, time.UTC)
	s.Service.Now = func() time.Time { return t0 }
	s.Service.Window = 48 * time.Hour

	p, err := s.Service.Posts.AddPost(s.Ctx, approvals.NewPost{Text: "later", Targets: []string{"rec"}, Author: "author",
		Schedule: approvals.Schedule{At: t0.Add(10 * 24 * time.Hour), TZ: "UTC"}}, "author", "test")
	if err != nil || !p.Created.Equal(t0) {
		t.Fatalf("posts: created %v, %v", p.Created, err)
	}
	if d, err := s.Service.Reviews.AddSensitiveDate(s.Ctx, "03-01", "a day", "alice", "test"); err != nil || !d.At.Equal(t0) {
		t.Errorf("reviews: added at %v, %v", d.At, err)
	}
	if rc, err := s.Service.Pauses.PauseAll(s.Ctx, "dave", "", "test", "test"); err != nil || !rc.Pause.At.Equal(t0) {
		t.Errorf("pauses: paused at %v, %v", rc.Pause.At, err)
	}
	if next, ok, err := s.Service.Deliveries.NextWake(s.Ctx); err != nil || !ok || !next.Equal(p.Schedule.At.Add(-48*time.Hour)) {
		t.Errorf("deliveries: next wake %v %v, %v; want the post's time less the window", next, ok, err)
	}
	if err := s.Service.Audit.Record(s.Ctx, approvals.AuditEntry{Actor: "test", Action: "test.settings"}); err != nil {
		t.Fatal(err)
	}
	entries, err := s.Service.Audit.Audit(s.Ctx, 0, 0, 0)
	if err != nil || len(entries) == 0 || entries[len(entries)-1].Action != "test.settings" || !entries[len(entries)-1].At.Equal(t0) {
		t.Errorf("audit: %+v, %v", entries, err)
	}
}
