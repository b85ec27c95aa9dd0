package safeguards

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/approvals/timing"
	"github.com/heed-dev/heed/internal/heedtest"
)

// room gives the default heedtest room "review" these safeguards.
func room(rs timing.RoomSafeguards) *timing.Safeguards {
	return &timing.Safeguards{Rooms: map[string]timing.RoomSafeguards{"review": rs}, DefaultRoom: "review", Zone: time.UTC}
}

func react(t *testing.T, s *heedtest.Stack, user string, id int64, emoji string) {
	t.Helper()
	if err := s.Chat.React(user, id, emoji); err != nil {
		t.Fatal(err)
	}
}

func say(t *testing.T, s *heedtest.Stack, user, text string) string {
	t.Helper()
	before := len(s.Chat.Replies)
	if err := s.Chat.Say(user, text); err != nil {
		t.Fatal(err)
	}
	return strings.Join(s.Chat.Replies[before:], "\n")
}

// approved adds a post due `in` from now, posts its card, and has alice
// approve it.
func approved(t *testing.T, s *heedtest.Stack, text string, in time.Duration, targets ...string) approvals.Post {
	t.Helper()
	p := s.Add(text, in, targets...)
	s.Cycle()
	react(t, s, "alice", p.ID, "✅")
	s.WantState(p.ID, approvals.StateApproved)
	return p
}

// addAt adds a post at a wall-clock time in zone tz.
func addAt(t *testing.T, s *heedtest.Stack, text, at, tz string, targets ...string) approvals.Post {
	t.Helper()
	if len(targets) == 0 {
		targets = []string{"rec"}
	}
	when, err := approvals.ParseTime(at, tz, s.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Service.Posts.AddPost(s.Ctx, approvals.NewPost{Text: text, Targets: targets, Author: "author",
		Schedule: approvals.Schedule{At: when, TZ: tz}}, "author", "test")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func wantContains(t *testing.T, what, got string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(got, sub) {
			t.Fatalf("%s does not contain %q:\n%s", what, sub, got)
		}
	}
}

func wantNotContains(t *testing.T, what, got string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if strings.Contains(got, sub) {
			t.Fatalf("%s contains %q:\n%s", what, sub, got)
		}
	}
}

// audits counts audit entries of an occurrence (0: all) with action.
func audits(t *testing.T, s *heedtest.Stack, occ int64, action string) []approvals.AuditEntry {
	t.Helper()
	all, err := s.Service.Audit.Audit(s.Ctx, 0, occ, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []approvals.AuditEntry
	for _, e := range all {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
