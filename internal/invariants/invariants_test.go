package invariants

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/internal/heedtest"
	"github.com/heed-dev/heed/publish"
)

// approved adds a post due in 10 minutes, posts its card and has alice
// approve it.
func approved(t *testing.T, s *heedtest.Stack, text string) approvals.Post {
	t.Helper()
	p := s.Add(text, 10*time.Minute)
	s.Cycle()
	if err := s.Chat.React("alice", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	s.WantState(p.ID, approvals.StateApproved)
	return p
}

func TestInvariant1_NothingPublishedWithoutApprovalOfExactPayload(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	control := approved(t, s, "control: unchanged")

	edited := approved(t, s, "original text")
	text := "edited text"
	if _, err := s.Service.Posts.EditPost(s.Ctx, edited.ID, approvals.PostEdit{Text: &text}, "author", "test"); err != nil {
		t.Fatal(err)
	}
	s.WantState(edited.ID, approvals.StateInReview)

	delayed := approved(t, s, "delayed")
	if _, err := s.Service.Reviews.Delay(s.Ctx, delayed.ID, time.Minute, "bob", "test"); err != nil {
		t.Fatal(err)
	}
	s.WantState(delayed.ID, approvals.StateInReview)

	relinked := approved(t, s, "relinked")
	link := "https://example.org/other"
	if _, err := s.Service.Posts.EditPost(s.Ctx, relinked.ID, approvals.PostEdit{Link: &link}, "author", "test"); err != nil {
		t.Fatal(err)
	}

	s.Clock.Advance(20 * time.Minute)
	s.Cycle()
	if got := s.Rec.Texts(); len(got) != 1 || got[0] != "control: unchanged" {
		t.Fatalf("published %q; want only the unchanged, approved post", got)
	}
	s.WantState(control.ID, approvals.StatePublished)
	for _, id := range []int64{edited.ID, delayed.ID, relinked.ID} {
		s.WantState(id, approvals.StateMissed)
	}
	for _, id := range []int64{edited.ID, delayed.ID, relinked.ID} {
		if n := s.Chat.RepliesContaining(fmt.Sprintf("#%d needs a fresh decision", id)); n != 1 {
			t.Errorf("#%d: %d notices that the approval no longer counts, want 1; replies:\n%s", id, n, strings.Join(s.Chat.Replies, "\n"))
		}
	}
}

func TestInvariant1_ReapprovalAfterEditPublishesNewText(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	p := approved(t, s, "v1")
	text := "v2"
	if _, err := s.Service.Posts.EditPost(s.Ctx, p.ID, approvals.PostEdit{Text: &text}, "author", "test"); err != nil {
		t.Fatal(err)
	}
	if err := s.Chat.React("bob", p.ID, "👍🏽"); err != nil {
		t.Fatal(err)
	}
	s.WantState(p.ID, approvals.StateApproved)
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	if got := s.Rec.Texts(); len(got) != 1 || got[0] != "v2" {
		t.Fatalf("published %q, want [v2]", got)
	}
}

func TestInvariant2_NothingStartsAfterPause(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	p := approved(t, s, "cheerful beach post")
	if err := s.Chat.Say("dave", "pause breaking news"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.Chat.LastReply(), "Paused all publishing. By @dave") {
		t.Fatalf("no pause receipt: %q", s.Chat.LastReply())
	}
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	if n := len(s.Rec.Requests()); n != 0 {
		t.Fatalf("%d published during a pause", n)
	}
	s.WantState(p.ID, approvals.StateHeld)
	// Resume does not publish held occurrences by surprise.
	if err := s.Chat.Say("alice", "resume"); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(time.Minute)
	s.Cycle()
	if n := len(s.Rec.Requests()); n != 0 {
		t.Fatalf("%d published after resume without a fresh decision", n)
	}
	// A fresh approval publishes it now.
	if err := s.Chat.React("bob", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	s.Cycle()
	if got := s.Rec.Texts(); len(got) != 1 {
		t.Fatalf("after a fresh approval: published %q", got)
	}
}

// TestInvariant2_PauseAndClaimSerialise races a pause against claims of many
// due occurrences. Every claim that succeeded must be older, in the audit
// log's commit order, than the pause.
func TestInvariant2_PauseAndClaimSerialise(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	const n = 60
	var ids []int64
	for i := range n {
		p := s.Add(fmt.Sprintf("post %d", i), time.Minute)
		ids = append(ids, p.ID)
	}
	s.Cycle()
	for _, id := range ids {
		if err := s.Chat.React("alice", id, "✅"); err != nil {
			t.Fatal(err)
		}
	}
	s.Clock.Advance(time.Minute)
	now := s.Clock.Now()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for _, id := range ids {
			if _, err := s.Service.Deliveries.Settle(s.Ctx, id, now, approvals.SettleOptions{Runner: "t"}); err != nil {
				t.Error(err)
			}
		}
	}()
	go func() {
		defer wg.Done()
		if _, err := s.Service.Pauses.PauseAll(s.Ctx, "dave", "", "race", "test"); err != nil {
			t.Error(err)
		}
	}()
	wg.Wait()
	entries, err := s.Service.Audit.Audit(s.Ctx, 0, 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	pauseID := int64(-1)
	claims, holds := 0, 0
	for _, e := range entries {
		switch e.Action {
		case "pause":
			pauseID = e.ID
		case "publish.claim":
			claims++
			if pauseID >= 0 {
				t.Fatalf("claim of #%d (audit %d) after the pause (audit %d)", e.Occurrence, e.ID, pauseID)
			}
		case "state.held":
			holds++
			if pauseID < 0 {
				t.Fatalf("#%d held before any pause", e.Occurrence)
			}
		}
	}
	if claims+holds != n {
		t.Fatalf("claims %d + holds %d != %d", claims, holds, n)
	}
}

func TestInvariant3_AtMostOnceAcrossCrash(t *testing.T) {
	clock := heedtest.NewClock(time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC))
	s := heedtest.New(t, heedtest.Options{Clock: clock})
	p := approved(t, s, "goes out once")
	clock.Advance(10 * time.Minute)
	// The daemon claims and then dies before recording anything.
	res, err := s.Service.Deliveries.Settle(s.Ctx, p.ID, clock.Now(), approvals.SettleOptions{Runner: "first"})
	if err != nil || len(res.Claims) != 1 {
		t.Fatalf("claim: %v %+v", err, res)
	}
	s.WantState(p.ID, approvals.StatePublishing)

	// A new daemon on the same file.
	s2 := heedtest.New(t, heedtest.Options{Clock: clock, DBPath: s.DBPath})
	n, err := s2.Service.Deliveries.RecoverCrashed(s2.Ctx, nil)
	if err != nil || n != 1 {
		t.Fatalf("recover: n=%d err=%v", n, err)
	}
	s2.WantState(p.ID, approvals.StateUnknown)
	for range 3 {
		clock.Advance(time.Hour)
		s2.Cycle()
	}
	if got := len(s2.Rec.Requests()); got != 0 {
		t.Fatalf("an unknown outcome was retried: %d publishes", got)
	}
	if v := s2.View(p.ID); !strings.Contains(v.Note, "resolve") {
		t.Fatalf("note does not tell how to resolve: %q", v.Note)
	}
}

func TestInvariant3_AmbiguousIsNeverRetried_RetryableKeepsKey(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	amb := approved(t, s, "ambiguous")
	s.Rec.FailNext(heedtest.ErrTimeout)
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	s.WantState(amb.ID, approvals.StateUnknown)
	s.Clock.Advance(time.Hour)
	s.Cycle()
	if got := len(s.Rec.Requests()); got != 0 {
		t.Fatalf("ambiguous outcome retried: %d", got)
	}

	var keys []string
	s.Rec.Before = func(r publish.Request) { keys = append(keys, r.IdempotencyKey) }
	retry := approved(t, s, "retryable")
	s.Rec.FailNext(heedtest.ErrRateLimited)
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	s.WantState(retry.ID, approvals.StatePublishing)
	s.Clock.Advance(29 * time.Second) // Retry-After is 30 s
	s.Cycle()
	if len(keys) != 1 {
		t.Fatalf("retried before Retry-After: %d attempts", len(keys))
	}
	s.Clock.Advance(time.Minute)
	s.Cycle()
	s.WantState(retry.ID, approvals.StatePublished)
	if len(keys) != 2 || keys[0] != keys[1] || keys[0] == "" {
		t.Fatalf("idempotency keys across attempts: %q", keys)
	}
}

// TestInvariant3_TwoDispatchersOneFile runs two dispatchers, as two
// processes would, against one database file at once.
func TestInvariant3_TwoDispatchersOneFile(t *testing.T) {
	clock := heedtest.NewClock(time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC))
	a := heedtest.New(t, heedtest.Options{Clock: clock})
	b := heedtest.New(t, heedtest.Options{Clock: clock, DBPath: a.DBPath})
	const n = 40
	for i := range n {
		p := a.Add(fmt.Sprintf("p%d", i), time.Minute)
		a.Cycle()
		if err := a.Chat.React("alice", p.ID, "✅"); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Minute)
	var wg sync.WaitGroup
	for _, s := range []*heedtest.Stack{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Dispatcher.RunOnce(s.Ctx, clock.Now()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	total := len(a.Rec.Requests()) + len(b.Rec.Requests())
	if total != n {
		t.Fatalf("published %d times for %d occurrences", total, n)
	}
}

func TestInvariant4_NoDecisionLostWhileDown(t *testing.T) {
	clock := heedtest.NewClock(time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC))
	s := heedtest.New(t, heedtest.Options{Clock: clock})
	a := s.Add("approved while down", 10*time.Minute)
	w := s.Add("withdrawn while down", 10*time.Minute)
	s.Cycle()
	if err := s.Chat.React("bob", w.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	s.WantState(w.ID, approvals.StateApproved)

	s.Chat.SetDown(true)
	_ = s.Chat.React("alice", a.ID, "✅")
	_ = s.Chat.Unreact("bob", w.ID, "✅")
	_ = s.Chat.React("mallory", a.ID, "✅") // not an approver: stays not counted
	s.WantState(a.ID, approvals.StateInReview)
	s.WantState(w.ID, approvals.StateApproved)
	s.Chat.SetDown(false)

	for range 2 { // reconciling twice must not count anything twice
		if err := s.Engine.Reconcile(s.Ctx, ""); err != nil {
			t.Fatal(err)
		}
	}
	s.WantState(a.ID, approvals.StateApproved)
	s.WantState(w.ID, approvals.StateInReview)
	if v := s.View(a.ID); len(v.Verdict.Approvals) != 1 || len(v.Verdict.Ignored) != 1 {
		t.Fatalf("approvals %d ignored %d, want 1 and 1", len(v.Verdict.Approvals), len(v.Verdict.Ignored))
	}
	clock.Advance(10 * time.Minute)
	s.Cycle()
	if got := s.Rec.Texts(); len(got) != 1 || got[0] != "approved while down" {
		t.Fatalf("published %q", got)
	}
}

func TestInvariant4_ReplayedEventCountsOnce(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{Rooms: nil})
	p := s.Add("replayed", 10*time.Minute)
	s.Cycle()
	if err := s.Chat.React("alice", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	if err := s.Chat.Unreact("alice", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	s.WantState(p.ID, approvals.StateInReview)
	// The chat redelivers the original reaction event (same event id).
	entries, _ := s.Service.Audit.Audit(s.Ctx, 0, p.ID, 0)
	before := len(entries)
	card, _ := s.Chat.Card(p.ID)
	ev := heedtestEvent(card.Ref, "alice", "✅", "ev-replayed")
	if err := s.Chat.Deliver(ev); err != nil {
		t.Fatal(err)
	}
	if err := s.Chat.Deliver(ev); err != nil {
		t.Fatal(err)
	}
	after, _ := s.Service.Audit.Audit(s.Ctx, 0, p.ID, 0)
	if len(after) > before+2 { // one decision, one state change at most
		t.Fatalf("replayed event counted more than once: %d new audit entries", len(after)-before)
	}
}

func TestInvariant5_AuditIsAppendOnlyAndComplete(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	p := approved(t, s, "audited")
	_ = s.Chat.Say("dave", "pause checking")
	_ = s.Chat.Say("alice", "resume")
	entries, err := s.Service.Audit.Audit(s.Ctx, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"post.add": false, "decision.approve": false, "pause": false, "resume": false}
	for _, e := range entries {
		if _, ok := want[e.Action]; ok {
			want[e.Action] = true
			if e.Actor == "" || e.At.IsZero() {
				t.Errorf("%s entry lacks who or when: %+v", e.Action, e)
			}
			if e.Action == "decision.approve" && (e.Actor != "@alice" || e.Occurrence != p.ID || e.Place != "mem:review") {
				t.Errorf("approval entry: %+v", e)
			}
		}
	}
	for a, seen := range want {
		if !seen {
			t.Errorf("no %s entry in the audit log", a)
		}
	}
	db := s.Store.DB()
	for _, q := range []string{`UPDATE audit SET actor = 'mallory'`, `DELETE FROM audit`} {
		if _, err := db.ExecContext(s.Ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want append-only refusal", q, err)
		}
	}
}

func TestInvariant6_ReactionsThatDoNotCount(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	s.Chat.Bots["newsbot"] = true
	p := s.Add("who may approve", 10*time.Minute)
	s.Cycle()
	for _, u := range []string{"heed-bot", "newsbot", "mallory", "author"} {
		if err := s.Chat.React(u, p.ID, "✅"); err != nil {
			t.Fatal(err)
		}
	}
	s.WantState(p.ID, approvals.StateInReview)
	card := s.Chat.CardText(p.ID)
	for _, want := range []string{
		"✅ from @heed-bot does not count: heed's own reaction",
		"✅ from @newsbot does not count: a bot",
		"✅ from @mallory does not count: not an approver",
		"✅ from @author does not count: the post's author may not approve it",
	} {
		if !strings.Contains(card, want) {
			t.Errorf("card does not say %q:\n%s", want, card)
		}
	}
	// A non-approver's reject does not veto either.
	_ = s.Chat.React("mallory", p.ID, "❌")
	_ = s.Chat.React("alice", p.ID, "✅")
	s.WantState(p.ID, approvals.StateApproved)
	// A non-approver cannot resume.
	_ = s.Chat.Say("mallory", "pause")
	_ = s.Chat.Say("mallory", "resume")
	if !strings.Contains(s.Chat.LastReply(), "cannot resume") {
		t.Fatalf("resume by a non-approver: %q", s.Chat.LastReply())
	}
	if ps, _ := s.Service.Pauses.ActivePauses(s.Ctx); len(ps) != 1 {
		t.Fatalf("pauses after refused resume: %d", len(ps))
	}
}

func TestInvariant7_BadInputChangesNothing(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	s.Rec.Limit = 20
	approved(t, s, "already stored")
	before := dump(t, s.Store.DB())
	now := s.Clock.Now()
	good := approvals.NewPost{Text: "fine", Targets: []string{"rec"}, Author: "author", Schedule: approvals.Schedule{At: now.Add(time.Hour), TZ: "UTC"}}
	cases := map[string]func(p *approvals.NewPost){
		"unknown target":  func(p *approvals.NewPost) { p.Targets = []string{"mastodn"} },
		"unknown zone":    func(p *approvals.NewPost) { p.Schedule.TZ = "Europe/Berln" },
		"past time":       func(p *approvals.NewPost) { p.Schedule.At = now.Add(-time.Minute) },
		"empty text":      func(p *approvals.NewPost) { p.Text = "  \n" },
		"never fires":     func(p *approvals.NewPost) { p.Schedule = approvals.Schedule{Cron: "0 9 30 2 *", TZ: "UTC"} },
		"bad cron":        func(p *approvals.NewPost) { p.Schedule = approvals.Schedule{Cron: "every day", TZ: "UTC"} },
		"over the limit":  func(p *approvals.NewPost) { p.Text = strings.Repeat("x", 21) },
		"no target":       func(p *approvals.NewPost) { p.Targets = nil },
		"bad link":        func(p *approvals.NewPost) { p.Link = "javascript:alert(1)" },
		"stray variant":   func(p *approvals.NewPost) { p.Variants = map[string]string{"other": "x"} },
		"no author":       func(p *approvals.NewPost) { p.Author = "" },
		"time and a cron": func(p *approvals.NewPost) { p.Schedule.Cron = "0 9 * * *" },
	}
	for name, mutate := range cases {
		p := good
		mutate(&p)
		_, err := s.Service.Posts.AddPost(s.Ctx, p, "author", "test")
		if approvals.ErrorCode(err) != approvals.EINVALID {
			t.Errorf("%s: err = %v, want a clear invalid-input error", name, err)
			continue
		}
		if msg := approvals.ErrorMessage(err); len(msg) < 15 {
			t.Errorf("%s: message too terse to act on: %q", name, msg)
		}
	}
	if _, err := approvals.NormalizeEmojiList([]string{"✅", "thumbs_upp"}); err == nil {
		t.Error("unknown emoji in a policy accepted")
	}
	if after := dump(t, s.Store.DB()); after != before {
		t.Fatalf("bad input changed the store:\nbefore %s\nafter  %s", before, after)
	}
	// The control: the good post is accepted.
	if _, err := s.Service.Posts.AddPost(s.Ctx, good, "author", "test"); err != nil {
		t.Fatalf("good post refused: %v", err)
	}
}

// dump summarises every table's rows, to show a store did not change.
func dump(t *testing.T, db *sql.DB) string {
	t.Helper()
	var b strings.Builder
	for _, table := range []string{"posts", "occurrences", "reactions", "deliveries", "pauses", "audit", "seq"} {
		rows, err := db.QueryContext(context.Background(), "SELECT * FROM "+table+" ORDER BY 1")
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s%v;", table, vals)
		}
		rows.Close()
	}
	return b.String()
}

// TestInvariant6_PolicyChangeWeighsReactionsAgain: who may approve can
// change at the chat's end (Matrix power levels, Slack user groups). A
// reaction that did not count starts counting once its author is promoted,
// and stops again on demotion, without anyone reacting anew.
func TestInvariant6_PolicyChangeWeighsReactionsAgain(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{Rooms: []bot.Room{{Name: "review", Adapter: "mem", ID: "review",
		Policy: approvals.Policy{Approvers: []string{"alice"}}}}})
	demoted := approvals.Roster{Source: "power levels", DefaultWhy: "power level 0, needs 50"}
	promoted := approvals.Roster{Source: "power levels", Approvers: []string{"erin"}, DefaultWhy: "power level 0, needs 50"}
	s.Chat.SetRoster("review", demoted)
	p := s.Add("promotion", 10*time.Minute)
	s.Cycle()
	if err := s.Chat.React("erin", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	s.WantState(p.ID, approvals.StateInReview)
	if !strings.Contains(s.Chat.CardText(p.ID), "✅ from @erin does not count: not an approver (power level 0, needs 50)") {
		t.Fatalf("card:\n%s", s.Chat.CardText(p.ID))
	}
	policyChanged := func(id string) {
		t.Helper()
		if err := s.Chat.Deliver(bot.Event{ID: id, Kind: bot.PolicyChanged, Adapter: "mem", Room: "review", At: s.Clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	s.Chat.SetRoster("review", promoted)
	policyChanged("pl-1")
	s.WantState(p.ID, approvals.StateApproved)
	s.Chat.SetRoster("review", demoted)
	policyChanged("pl-2")
	s.WantState(p.ID, approvals.StateInReview)
}

// TestInvariant2_PauseMidCycleStopsTheRest: a pause typed while the
// dispatcher is publishing one of several due occurrences stops the others
// of the same cycle. A claim is made just before its send, never a batch
// ahead of it.
func TestInvariant2_PauseMidCycleStopsTheRest(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	s.Dispatcher.Workers = 1
	for i := range 5 {
		approved(t, s, fmt.Sprintf("due together %d", i))
	}
	var once sync.Once
	s.Rec.Before = func(publish.Request) {
		once.Do(func() {
			if _, err := s.Service.Pauses.PauseAll(s.Ctx, "dave", "", "breaking news", "test"); err != nil {
				t.Error(err)
			}
		})
	}
	s.Clock.Advance(10 * time.Minute)
	st := s.Cycle()
	if got := len(s.Rec.Requests()); got != 1 || st.Held != 4 {
		t.Fatalf("published %d, held %d; want the one under way to finish and the other 4 held", got, st.Held)
	}
}
