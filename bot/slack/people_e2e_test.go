package slack

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/app"
	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/bot/slack/slackfake"
	"github.com/heed-dev/heed/internal/heedtest"
	"github.com/heed-dev/heed/publish"
	_ "github.com/heed-dev/heed/publish/logpub" // the CLI's configuration names a log target
)

// People across the command line and Slack. alice writes posts on the
// command line as "alice" and reacts in Slack as U0ALICE; bob is UBOB.
// Both are the review channel's approvers, named as people in heed's
// configuration; Slack delivers everything to the Events API over HTTP,
// signed, and heed checks every signature.
const aliceSlack = "U0ALICE"

const peopleConfig = `database: %DB%
people:
  alice: [U0ALICE]
  bob: [UBOB]
chats:
  slack:
    kind: slack
rooms:
  - name: review
    chat: slack
    id: CREVIEW
    approvers: [alice, bob]
targets:
  rec:
    kind: log
`

// peopleStack is a whole heed on the fake Slack whose review room's policy
// comes from the configuration above, as `heed run` builds it, and cfg to
// act as the command line does.
func peopleStack(t *testing.T) (*stackEnv, *app.Config) {
	t.Helper()
	return peopleStackWith(t, peopleSetup{mode: ModeEvents})
}

// peopleSetup varies peopleStack: the mode Slack delivers in, and targets
// besides "rec".
type peopleSetup struct {
	mode    string
	targets []publish.Target
}

func peopleStackWith(t *testing.T, o peopleSetup) (*stackEnv, *app.Config) {
	t.Helper()
	dir := t.TempDir()
	db := filepath.Join(dir, "heed.db")
	path := filepath.Join(dir, "heed.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(peopleConfig, "%DB%", db)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := app.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	clock := heedtest.NewClock(time.Now().Truncate(time.Second))
	f := slackfake.New(t, slackfake.Options{Now: clock.Now})
	f.AddUser(slackfake.User{ID: aliceSlack, Name: "alice"})
	f.AddUser(slackfake.User{ID: bob, Name: "bob"})
	f.AddChannel(chReview, "social-review", aliceSlack, bob)
	fo := f.Options()
	e := &env{f: f, rec: newRecorder(), clock: newClock(), logs: &syncBuffer{}}
	a, err := New(Config{Mode: o.mode, BotToken: fo.BotToken, AppToken: fo.AppToken, SigningSecret: fo.SigningSecret,
		APIURL: f.APIURL(), Listen: testListen, Channels: []ChannelConfig{{ID: chReview}}},
		WithClock(clock.Now), WithLogger(slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	e.a = a
	if o.mode == ModeEvents {
		e.srv = httptest.NewServer(a.EventsHandler())
		t.Cleanup(e.srv.Close)
		f.DeliverTo(e.srv.URL)
	}
	s := heedtest.New(t, heedtest.Options{
		Adapters: []bot.Adapter{a},
		Rooms:    []bot.Room{{Name: "review", Adapter: "slack", ID: chReview, Policy: cfg.RoomPolicy(cfg.Rooms[0])}},
		Clock:    clock, DBPath: db, Targets: o.targets,
	})
	e.h = s.Engine
	WithState(s.Store)(a)
	e.start(t)
	return &stackEnv{env: e, s: s}, cfg
}

// addAs adds a post as `heed post add --as who` does: who must be one of
// the people, and the post is stored through the command line's own
// services on the daemon's database.
func (x *stackEnv) addAs(t *testing.T, cfg *app.Config, who, text string, in time.Duration) (slackfake.Message, int64) {
	t.Helper()
	if err := cfg.PersonOf(who); err != nil {
		t.Fatal(err)
	}
	svc, _, err := app.CLIService(t.Context(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Store.Close()
	ctx := approvals.WithActing(t.Context(), approvals.Acting{Name: who, Identity: who, Person: cfg.Person(who)})
	p, err := svc.Posts.AddPost(ctx, approvals.NewPost{Text: text, Targets: []string{"rec"}, Author: who,
		Schedule: approvals.Schedule{At: x.s.Clock.Now().Add(in), TZ: "UTC"}}, who, "cli")
	if err != nil {
		t.Fatal(err)
	}
	x.s.Cycle()
	card := x.f.ExpectMessage(t, chReview, func(m slackfake.Message) bool {
		return m.Metadata != nil && m.Metadata.EventType == "heed_card" && strings.Contains(m.AllText(), text)
	})
	return card, p.ID
}

func auditOf(t *testing.T, s *heedtest.Stack, occ int64, action string) []approvals.AuditEntry {
	t.Helper()
	entries, err := s.Service.Audit.Audit(s.Ctx, 0, occ, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []approvals.AuditEntry
	for _, e := range entries {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// The author's own ✅ never counts, from whichever identity: alice writes
// two posts on the command line and approves both from Slack as U0ALICE.
// Each card says why her ✅ does not count; the first, with no other
// approval, is not published at its time; bob's ✅ approves the second,
// which goes out.
func TestE2EAuthorCannotApproveFromSlack(t *testing.T) {
	x, cfg := peopleStack(t)
	// Slack's signatures hold for 5 minutes of the wall clock, which the
	// clock may not leave: the posts are due in 2 and 4 minutes.
	alone, occAlone := x.addAs(t, cfg, "alice", "Alice's own announcement", 2*time.Minute)
	second, occSecond := x.addAs(t, cfg, "alice", "Alice's second announcement", 4*time.Minute)
	const why = "✅ from @alice does not count: the post's author may not approve it"

	// The first update after her ✅ says what it did.
	decided := func(card slackfake.Message) slackfake.Message {
		t.Helper()
		got := x.f.ExpectUpdate(t, card)
		got.AssertText(t, why, "no approvals yet (0/1)")
		return got
	}
	x.f.React(aliceSlack, chReview, alone.TS, "white_check_mark")
	decided(alone)
	x.s.WantState(occAlone, approvals.StateInReview)

	x.f.React(aliceSlack, chReview, second.TS, "white_check_mark")
	second = decided(second)
	x.s.WantState(occSecond, approvals.StateInReview)
	x.f.React(bob, chReview, second.TS, "white_check_mark")
	second.ExpectUpdateText(t, "APPROVED", "approved by @bob (1/1)", why)
	x.s.WantState(occSecond, approvals.StateApproved)

	x.advance(t, 2*time.Minute)
	x.s.Cycle()
	if got := x.s.Rec.Texts(); len(got) != 0 {
		t.Fatalf("published %q: alice's own ✅ approved her post", got)
	}
	x.s.WantState(occAlone, approvals.StateMissed)
	x.advance(t, 2*time.Minute)
	x.s.Cycle()
	if got := x.s.Rec.Texts(); len(got) != 1 || got[0] != "Alice's second announcement" {
		t.Fatalf("published %q, want the second announcement alone", got)
	}

	// The audit log names the person behind each identity.
	if es := auditOf(t, x.s, 0, "post.add"); len(es) != 2 || es[0].Identity != "alice" || es[0].Person != "alice" || es[0].Place != "cli" {
		t.Errorf("post.add entries: %+v", es)
	}
	es := auditOf(t, x.s, occAlone, "decision.approve")
	if len(es) != 1 || es[0].Identity != aliceSlack || es[0].Person != "alice" || !strings.Contains(es[0].Detail, "not counted: the post's author") {
		t.Errorf("alice's ✅ in the audit log: %+v", es)
	}
}

// A Slack approval is recorded with the identity used (U0ALICE) and its
// person (alice); a withdrawal too.
func TestE2EAuditRecordsPersonAndSlackIdentity(t *testing.T) {
	x, cfg := peopleStack(t)
	card, occ := x.addAs(t, cfg, "bob", "Bob's post", time.Hour)
	x.f.React(aliceSlack, chReview, card.TS, "white_check_mark")
	card = card.ExpectUpdateText(t, "approved by @alice (1/1)")
	x.s.WantState(occ, approvals.StateApproved)
	es := auditOf(t, x.s, occ, "decision.approve")
	if len(es) != 1 || es[0].Actor != "@alice" || es[0].Identity != aliceSlack || es[0].Person != "alice" || es[0].Detail != "✅ counted" {
		t.Fatalf("alice's approval in the audit log: %+v", es)
	}
	x.f.Unreact(aliceSlack, chReview, card.TS, "white_check_mark")
	card.ExpectUpdateText(t, "no approvals yet")
	if es := auditOf(t, x.s, occ, "decision.withdraw"); len(es) != 1 || es[0].Identity != aliceSlack || es[0].Person != "alice" {
		t.Fatalf("alice's withdrawal in the audit log: %+v", es)
	}
	x.f.Say(bob, chReview, "pause checking")
	x.f.ExpectMessage(t, chReview, func(m slackfake.Message) bool { return strings.Contains(m.Text, "reason: checking") })
	if es := auditOf(t, x.s, 0, "pause"); len(es) != 1 || es[0].Identity != bob || es[0].Person != "bob" {
		t.Fatalf("bob's pause in the audit log: %+v", es)
	}
}
