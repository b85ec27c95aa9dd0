package invariants

import (
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/internal/heedtest"
	"github.com/heed-dev/heed/sqlite"
)

// judgeSetup is a daemon whose review room counts erin as an approver only
// because the chat says so (a Matrix power level), and a daily post she
// approved. cli is a second process on the same database file, built as a
// CLI command builds it: the configured policy and nothing the chat said.
func judgeSetup(t *testing.T) (s *heedtest.Stack, p approvals.Post, occ int64, cli *sqlite.Service) {
	t.Helper()
	room := bot.Room{Name: "review", Adapter: "mem", ID: "review", Policy: approvals.Policy{Approvers: []string{"alice"}}}
	s = heedtest.New(t, heedtest.Options{Rooms: []bot.Room{room}})
	s.Chat.SetRoster("review", approvals.Roster{Source: "matrix power levels", Approvers: []string{"erin"}, DefaultWhy: "power level 0, needs 50"})
	start := s.Clock.Now()
	p, err := s.Service.Posts.AddPost(s.Ctx, approvals.NewPost{Key: "daily-tip", Text: "tip of the day", Targets: []string{"rec"}, Author: "author",
		Schedule: approvals.Schedule{Cron: "0 10 * * *", TZ: "UTC", Until: start.Add(10 * 24 * time.Hour)}}, "author", "test")
	if err != nil {
		t.Fatal(err)
	}
	s.Cycle()
	occs, err := s.Service.Reviews.Occurrences(s.Ctx, p.ID, 1)
	if err != nil || len(occs) == 0 {
		t.Fatalf("occurrences: %v %v", occs, err)
	}
	occ = occs[0].ID
	if err := s.Chat.React("erin", occ, "✅"); err != nil {
		t.Fatal(err)
	}
	s.WantState(occ, approvals.StateApproved)

	st, err := sqlite.Open(s.Ctx, s.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cli = sqlite.NewService(st, s.Catalog, func(string) approvals.Policy { return room.Policy })
	cli.Now = s.Clock.Now
	return s, p, occ, cli
}

// judged checks that the occurrence, approved by a roster approver, still
// is after a payload-neutral change from another process, that that
// process wrote no derived state, and that the occurrence goes out.
func judged(t *testing.T, s *heedtest.Stack, occ int64, stateBefore approvals.State) {
	t.Helper()
	var stored approvals.State
	if err := s.Store.DB().QueryRowContext(s.Ctx, `SELECT state FROM occurrences WHERE id = ?`, occ).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != stateBefore {
		t.Errorf("the other process stored state %s (was %s): only the daemon stores what the judge derives", stored, stateBefore)
	}
	s.WantState(occ, approvals.StateApproved)
	s.Clock.Advance(time.Hour)
	s.Cycle()
	s.WantState(occ, approvals.StatePublished)
	if got := s.Rec.Texts(); len(got) != 1 || got[0] != "tip of the day" {
		t.Fatalf("published %q", got)
	}
}

// TestInvariant9_CLIEditKeepsRosterApproval: a `heed post edit` that only
// moves a daily post's end, run as a separate process that knows only the
// configuration, leaves the approval of an approver whom the chat named
// (a Matrix power level) standing, and the occurrence publishes. It once
// made the CLI store in_review, and the daemon then marked the post missed
// while its tally said "1 of 1".
func TestInvariant9_CLIEditKeepsRosterApproval(t *testing.T) {
	s, p, occ, cli := judgeSetup(t)
	until := p.Schedule
	until.Until = until.Until.Add(30 * 24 * time.Hour)
	if _, err := cli.Posts.EditPost(s.Ctx, p.ID, approvals.PostEdit{Schedule: &until}, "alice", "cli"); err != nil {
		t.Fatal(err)
	}
	judged(t, s, occ, approvals.StateApproved)
}

// TestInvariant9_ImportKeepsRosterApproval is the same through `heed
// import`: a calendar whose only change is the post's end.
func TestInvariant9_ImportKeepsRosterApproval(t *testing.T) {
	s, p, occ, cli := judgeSetup(t)
	np := approvals.NewPost{Key: p.Key, Text: p.Text, Targets: p.Targets, Author: p.Author, Schedule: p.Schedule}
	np.Schedule.Until = np.Schedule.Until.Add(30 * 24 * time.Hour)
	res, err := cli.Posts.Import(s.Ctx, []approvals.ImportEntry{{Where: "calendar.yaml:1", Post: np}}, "alice", "import", false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Updated != 1 {
		t.Fatalf("import: %+v, want 1 updated", res)
	}
	judged(t, s, occ, approvals.StateApproved)
}
