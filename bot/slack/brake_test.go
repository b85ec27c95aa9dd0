package slack

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/bot/slack/slackfake"
)

// The brake: from the moment a person types pause, nothing more goes out.
// These tests run the whole heed against the fake and measure from the
// moment the message is typed.

// pauseTakesEffect is how soon a typed pause must be in the store.
const pauseTakesEffect = time.Second

// says matches a message whose text contains want.
func says(want string) func(slackfake.Message) bool {
	return func(m slackfake.Message) bool { return strings.Contains(m.Text, want) }
}

// wantPaused fails unless n pauses are in force in the store.
func (x *stackEnv) wantPaused(t *testing.T, n int) {
	t.Helper()
	ps, err := x.s.Service.Pauses.ActivePauses(x.s.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != n {
		t.Fatalf("%d pauses in force, want %d: %+v", len(ps), n, ps)
	}
}

// typePause has user type text and waits for the receipt that reads want;
// it fails unless the receipt, and so the pause in the store, came within
// pauseTakesEffect.
func (x *stackEnv) typePause(t *testing.T, user, text, want string) slackfake.Message {
	t.Helper()
	start := time.Now()
	x.f.Say(user, chReview, text)
	m := x.f.ExpectMessage(t, chReview, says(want))
	took := time.Since(start)
	if took > pauseTakesEffect {
		t.Fatalf("the pause took effect %v after it was typed, want within %v", took, pauseTakesEffect)
	}
	t.Logf("%q: receipt %v after it was typed", text, took)
	return m
}

// eventually waits until cond holds, checking every millisecond, and
// fails the test after d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("waited %v for %s", d, what)
		}
	}
}

// A card edit waits out a 429 with Retry-After: 30; a pause typed
// meanwhile takes effect at once, and its receipt (chat.postMessage) does
// not wait behind chat.update's limit.
func TestE2EPauseWhileAnEditWaitsOutRetryAfter(t *testing.T) {
	x := newStack(t, stackSetup{})
	card, _ := x.post(t, "Edited slowly", time.Hour)
	x.f.RateLimitMethod("chat.update", 1, 30)
	x.f.React(alice, chReview, card.TS, "white_check_mark")
	x.f.WaitCall(t, "chat.update", func(c slackfake.Call) bool { return c.Status == http.StatusTooManyRequests })

	x.typePause(t, bob, "pause breaking news", "Paused all publishing. By @bob, reason: breaking news")
	x.wantPaused(t, 1)
	if got, _ := x.f.Message(chReview, card.TS); got.Edits != 0 {
		t.Fatalf("the card was edited during its Retry-After: %d edits", got.Edits)
	}
}

// With 150 ms between heed and Slack, 400 reactions from people whose
// names are not known yet keep the event queue busy for a minute; a pause
// typed after them takes effect ahead of them.
func TestE2EPauseAheadOfQueuedReactions(t *testing.T) {
	x := newStack(t, stackSetup{fakeOpts: slackfake.Options{Latency: 150 * time.Millisecond, NoEcho: true}})
	card, _ := x.post(t, "Popular", time.Hour)
	x.f.Say(bob, chReview, "status")
	x.f.ExpectMessage(t, chReview, says("Not paused"))
	const fans = 400
	for i := range fans {
		x.f.AddUser(slackfake.User{ID: fmt.Sprintf("UFAN%04d", i), Name: fmt.Sprintf("fan%d", i)})
	}
	for i := range fans {
		x.f.React(fmt.Sprintf("UFAN%04d", i), chReview, card.TS, "white_check_mark")
	}

	x.typePause(t, bob, "pause", "Paused all publishing. By @bob")
	x.wantPaused(t, 1)
	if queued := len(x.a.queue); queued < fans/2 {
		t.Fatalf("only %d reactions were still queued: the test did not put the pause behind a backlog", queued)
	}
}

// users.info fails for the author of a pause: the pause takes effect all
// the same, and the receipt names them by id.
func TestE2EPauseWhenTheAuthorCannotBeLookedUp(t *testing.T) {
	x := newStack(t, stackSetup{})
	x.f.AddUser(slackfake.User{ID: "UDAVE", Name: "dave"})
	x.f.FailNext("users.info", "internal_error")
	x.typePause(t, "UDAVE", "pause something is off", "Paused all publishing. By UDAVE (name not found), reason: something is off")
	x.wantPaused(t, 1)
	if n := len(x.f.Calls("users.info")); n != 1 {
		t.Fatalf("users.info asked %d times for a pause, want once", n)
	}
}

// users.info is rate limited (429, Retry-After: 30) when someone heed has
// not looked up yet types pause: the pause does not wait that out; it
// takes effect at once, and the receipt names them by id.
func TestE2EPauseWhileUsersInfoIsRateLimited(t *testing.T) {
	x := newStack(t, stackSetup{})
	x.f.AddUser(slackfake.User{ID: "UDAVE", Name: "dave"})
	x.f.RateLimitMethod("users.info", 1, 30)
	x.typePause(t, "UDAVE", "pause now", "Paused all publishing. By UDAVE (name not found), reason: now")
	x.wantPaused(t, 1)
}

// A pause typed while heed is stopped, which Slack gave up delivering, is
// in force on start before anything publishes: an approved post that came
// due meanwhile is held. A pause typed in a card's thread is read back
// too, after the one typed before it.
func TestE2EPauseTypedWhileStoppedHoldsOnStart(t *testing.T) {
	x := newStack(t, stackSetup{})
	card, occ := x.post(t, "Due while heed is down", 10*time.Minute)
	x.f.React(alice, chReview, card.TS, "white_check_mark")
	card.ExpectUpdateText(t, "approved by @alice")
	x.f.Say(bob, chReview, "status") // the channel is read past the card
	x.f.ExpectMessage(t, chReview, says("Not paused"))

	x.stop()
	x.stop = nil
	x.f.WaitDisconnected(t)
	x.f.SaySilently(bob, chReview, "", "pause breaking news")
	x.f.SaySilently(carol, chReview, card.TS, "*pause* in the thread too")
	x.s.Clock.Advance(10 * time.Minute)

	y := newStack(t, stackSetup{dbPath: x.s.DBPath, clock: x.s.Clock, fake: x.f})
	y.s.Cycle()
	if got := y.s.Rec.Texts(); len(got) != 0 {
		t.Fatalf("published on start despite the pause typed while heed was stopped: %q", got)
	}
	top := y.f.ExpectMessage(t, chReview, says("Paused all publishing. By @bob, reason: breaking news"))
	thread := y.f.ExpectReply(t, chReview, card.TS, "Paused all publishing. By @carol, reason: in the thread too")
	if !(top.TS < thread.TS) {
		t.Fatalf("the pauses were handled out of order: %s, then %s", top.TS, thread.TS)
	}
	y.wantPaused(t, 2)
	y.f.Sync(t)
	y.s.Cycle()
	if got := y.s.Rec.Texts(); len(got) != 0 {
		t.Fatalf("published during the pause: %q", got)
	}
	y.s.WantState(occ, approvals.StateHeld)

	// Started again, heed reads nothing twice.
	y.stop()
	y.stop = nil
	y.f.WaitDisconnected(t)
	z := newStack(t, stackSetup{dbPath: x.s.DBPath, clock: x.s.Clock, fake: x.f})
	z.f.Say(bob, chReview, "status")
	z.f.ExpectMessage(t, chReview, says("paused by @bob"))
	z.wantPaused(t, 2)
}

// Bold, italic and code marks around pause, and a reply in a card's
// thread, all pause.
func TestE2EPauseFormatting(t *testing.T) {
	x := newStack(t, stackSetup{})
	card, _ := x.post(t, "Formatted", time.Hour)
	for _, c := range []struct{ text, reason string }{
		{"*pause* one", "one"},
		{"`pause` two", "two"},
		{"_pause_ three", "three"},
		{"*pause four*", "four"},
		{"<@" + x.f.Options().BotUserID + "> **PAUSE** five", "five"},
	} {
		x.typePause(t, bob, c.text, "Paused all publishing. By @bob, reason: "+c.reason+".")
	}
	x.f.SayInThread(bob, chReview, card.TS, "pause")
	x.f.ExpectReply(t, chReview, card.TS, "Paused all publishing. By @bob, reason: none given")
	x.wantPaused(t, 6)
}

// A dropped socket makes the chat deaf at once. A pause typed while it is
// down, and given up on by Slack, is read back once a new socket says
// hello; the chat counts as heard only after that.
func TestE2EDroppedSocketIsDeafThenReadsBack(t *testing.T) {
	x := newStack(t, stackSetup{})
	card, occ := x.post(t, "Due while the socket is down", 5*time.Minute)
	x.f.React(alice, chReview, card.TS, "white_check_mark")
	card.ExpectUpdateText(t, "approved by @alice")

	x.f.RefuseSockets(true)
	x.f.Drop(t)
	eventually(t, 10*time.Second, "the adapter to say it is deaf", func() bool { return x.a.Deaf() != "" })
	if why := x.s.Engine.Deaf(x.s.Clock.Now()); !strings.Contains(why, "slack chat has not been heard from since its connection dropped") {
		t.Fatalf("Deaf right after the drop = %q", why)
	}
	x.f.SaySilently(bob, chReview, "", "pause while you were away")
	x.s.Clock.Advance(5 * time.Minute)
	x.s.Cycle()
	x.s.WantState(occ, approvals.StateHeld) // its time came while deaf

	x.f.RefuseSockets(false)
	x.f.WaitConnections(t, 2)
	x.f.Sync(t)
	x.f.ExpectMessage(t, chReview, says("Paused all publishing. By @bob, reason: while you were away"))
	if why := x.a.Deaf(); why != "" {
		t.Fatalf("deaf after reading back: %q", why)
	}
	x.s.Cycle()
	if got := x.s.Rec.Texts(); len(got) != 0 {
		t.Fatalf("published: %q", got)
	}
	x.s.WantState(occ, approvals.StateHeld)
}

// In events mode a silence may hide deliveries Slack gave up on: the next
// request reads back first. (Slack signs with the wall clock: the test's
// clock stays within minutes of it.)
func TestE2EEventsSilenceReadsBack(t *testing.T) {
	x := newStack(t, stackSetup{mode: ModeEvents})
	x.f.Sync(t)
	card, occ := x.post(t, "Due after a silence", 2*time.Minute)
	x.f.React(alice, chReview, card.TS, "white_check_mark")
	card.ExpectUpdateText(t, "approved by @alice")

	x.f.SaySilently(bob, chReview, "", "pause nobody heard")
	x.advance(t, 2*time.Minute)
	x.f.ExpectMessage(t, chReview, says("Paused all publishing. By @bob, reason: nobody heard"))
	x.s.Cycle()
	if got := x.s.Rec.Texts(); len(got) != 0 {
		t.Fatalf("published: %q", got)
	}
	x.s.WantState(occ, approvals.StateHeld)
}

// A full queue refuses a reaction (503, Slack retries it) but never a
// pause, which reaches the engine while the reactions before it wait.
func TestEventsAPIFullQueueNeverRefusesPause(t *testing.T) {
	e := newEnv(t, setup{mode: ModeEvents, fake: slackfake.Options{NoEcho: true}, noRun: true, opts: []Option{WithQueueSize(1)}})
	m := e.card(t, sampleCard(1))
	e.rec.block = make(chan struct{})
	e.start(t)
	e.f.React(alice, chReview, m.TS, "white_check_mark") // taken by the worker, which waits
	entered(t, e.rec)
	e.f.React(bob, chReview, m.TS, "white_check_mark") // fills the queue

	_, d := e.f.Say(carol, chReview, "pause")
	if got := d.Statuses(); len(got) != 1 || got[0] != http.StatusOK {
		t.Fatalf("the pause was answered %v", got)
	}
	if ev := entered(t, e.rec); ev.Kind != bot.Message || ev.Text != "pause" || ev.User != carol {
		t.Fatalf("the engine got %+v before the pause", ev)
	}
	close(e.rec.block)
	got := map[string]bool{}
	for range 3 {
		ev := e.rec.next(t)
		got[ev.User+" "+ev.Text+ev.Emoji] = true
	}
	if !got[alice+" white_check_mark"] || !got[bob+" white_check_mark"] || !got[carol+" pause"] {
		t.Fatalf("events = %v", got)
	}
}

func entered(t *testing.T, r *recorder) bot.Event {
	t.Helper()
	select {
	case ev := <-r.entered:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event reached the engine within 10s")
	}
	return bot.Event{}
}

// A pause still queued when heed stops is handled before Run returns.
func TestPauseQueuedAtStopIsHandled(t *testing.T) {
	e := newEnv(t, setup{fake: slackfake.Options{NoEcho: true}, noRun: true})
	e.rec.block = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.a.Run(ctx, e.rec) }()
	e.f.WaitConnections(t, 1)
	e.f.Say(bob, chReview, "pause first")
	if ev := entered(t, e.rec); ev.Text != "pause first" {
		t.Fatalf("first = %+v", ev)
	}
	e.f.Say(bob, chReview, "pause second") // queued behind the first
	cancel()
	if ev := entered(t, e.rec); ev.Text != "pause second" {
		t.Fatalf("after the stop = %+v", ev)
	}
	close(e.rec.block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ev := e.rec.next(t); ev.Text != "pause second" {
		t.Fatalf("handled = %+v", ev)
	}
}

// The read-back mark of a channel moves past a message only once every
// message queued before it was handled, whichever lane handled it first.
func TestReadBackMarkWaitsForQueuedMessages(t *testing.T) {
	var m marks
	m.reset(map[string]string{"C1": "100.000001"})
	m.pend("C1", "100.000002") // the other lane: cancel 3
	m.pend("C1", "100.000003") // the priority lane: pause
	if m.complete("C1", "100.000003", true) || m.get("C1") != "100.000001" {
		t.Fatalf("the mark passed a message still queued: %q", m.get("C1"))
	}
	if !m.complete("C1", "100.000002", true) || m.get("C1") != "100.000003" {
		t.Fatalf("mark = %q, want 100.000003", m.get("C1"))
	}
	if m.complete("C1", "100.000001", true) || m.get("C1") != "100.000003" {
		t.Fatalf("an older message moved the mark back: %q", m.get("C1"))
	}
	m.pend("C1", "100.000009")
	m.unpend("C1", "100.000009") // refused: Slack delivers it again
	if !m.complete("C1", "100.000010", true) || m.get("C1") != "100.000010" {
		t.Fatalf("mark = %q after a refused message", m.get("C1"))
	}
	// Read back up to a message that is queued live: the mark waits for it.
	m.pend("C1", "100.000012")
	if m.complete("C1", "100.000012", false) || m.get("C1") != "100.000010" {
		t.Fatalf("reading past a queued message moved the mark: %q", m.get("C1"))
	}
	if !m.complete("C1", "100.000012", true) || m.get("C1") != "100.000012" {
		t.Fatalf("mark = %q once it was handled", m.get("C1"))
	}
	if tsBefore("99.999999", "100.000000") != true || tsBefore("100.5", "100.000001") {
		t.Fatal("tsBefore compares as text")
	}
}

// A rate-limit wait holds back later calls of its own method only.
func TestRateLimitWaitHoldsOnlyItsMethod(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	slept := make(chan time.Duration, 10)
	sleep := func(ctx context.Context, d time.Duration) error {
		slept <- d
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	e := newEnv(t, setup{fake: slackfake.Options{NoEcho: true}, noRun: true, opts: []Option{WithSleep(sleep)}})
	ctx := context.Background()
	c := sampleCard(2)
	ref, err := e.a.PostCard(ctx, chReview, c)
	if err != nil {
		t.Fatal(err)
	}
	e.f.RateLimitMethod("chat.update", 1, 30)
	errc := make(chan error, 2)
	go func() { errc <- e.a.UpdateCard(ctx, chReview, ref, c) }()
	if d := <-slept; d != 30*time.Second {
		t.Fatalf("waited %v, want Retry-After 30s", d)
	}
	go func() { errc <- e.a.UpdateCard(ctx, chReview, ref, c) }()
	replied := make(chan error, 1)
	go func() { replied <- e.a.Reply(ctx, chReview, ref, "receipt") }()
	select {
	case err := <-replied:
		if err != nil {
			t.Fatalf("chat.postMessage while chat.update waits: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("chat.postMessage waited behind chat.update's Retry-After")
	}
	if n := len(e.f.Calls("chat.update")); n != 1 {
		t.Fatalf("%d chat.update calls during the wait, want the one answered 429", n)
	}
	unblock()
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if m, _ := e.f.Message(chReview, string(ref)); m.Edits != 2 {
		t.Fatalf("%d edits, want 2", m.Edits)
	}
	if len(slept) != 0 {
		t.Fatal("a call waited without a 429")
	}
}

// kv is a state store in memory.
type kv struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *kv) GetKV(_ context.Context, key string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[key], nil
}

func (s *kv) SetKV(_ context.Context, key, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]string{}
	}
	s.m[key] = value
	return nil
}

// heed run hands the adapter its state store; the read-back mark and the
// open cards are kept there.
func TestStateStoreKeepsMarkAndOpenCards(t *testing.T) {
	st := &kv{}
	a, err := bot.NewAdapter(bot.AdapterConfig{Name: "slack", Kind: "slack", RoomIDs: []string{chReview}, State: st,
		Decode: func(v any) error {
			*v.(*Config) = Config{BotToken: "xoxb-1", AppToken: "xapp-1"}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if a.(*Adapter).state != st {
		t.Fatal("the adapter does not keep its state in the store it was given")
	}

	e := newEnv(t, setup{fake: slackfake.Options{NoEcho: true}, noRun: true, opts: []Option{WithState(st)}})
	m := e.card(t, sampleCard(4))
	if got := st.m["slack/slack/open_cards/"+chReview]; got != m.TS {
		t.Fatalf("open cards = %q, want %s", got, m.TS)
	}
	e.start(t)
	if st.m["slack/slack/read_mark/"+chReview] != m.TS {
		t.Fatalf("first mark = %q, want the newest message %s", st.m["slack/slack/read_mark/"+chReview], m.TS)
	}
	said, _ := e.f.Say(bob, chReview, "status")
	e.rec.next(t)
	eventually(t, 10*time.Second, "the stored mark to move past "+said.TS, func() bool {
		mark, _ := st.GetKV(context.Background(), "slack/slack/read_mark/"+chReview)
		return mark == said.TS
	})
	c := sampleCard(4)
	c.State = approvals.StatePublished
	if err := e.a.UpdateCard(context.Background(), chReview, bot.MessageRef(m.TS), c); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if got := st.m["slack/slack/open_cards/"+chReview]; got != "" {
		t.Fatalf("open cards after publishing = %q", got)
	}
}

// BenchmarkPauseBehindBacklog: the time from `pause` being typed until the
// pause is in force in the store, with Slack answering every Web API call
// after 150 ms, behind 400 queued reactions and behind none. The pause's
// lane makes the two alike (docs/PERFORMANCE.md).
func BenchmarkPauseBehindBacklog(b *testing.B) {
	for _, backlog := range []int{0, 400} {
		b.Run(fmt.Sprintf("queued=%d", backlog), func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				b.StopTimer()
				x := newStack(b, stackSetup{fakeOpts: slackfake.Options{Latency: 150 * time.Millisecond, NoEcho: true}})
				card, _ := x.post(b, "Popular", time.Hour)
				for i := range backlog {
					x.f.AddUser(slackfake.User{ID: fmt.Sprintf("UFAN%04d", i), Name: fmt.Sprintf("fan%d", i)})
				}
				for i := range backlog {
					x.f.React(fmt.Sprintf("UFAN%04d", i), chReview, card.TS, "white_check_mark")
				}
				b.StartTimer()
				start := time.Now()
				x.f.Say(bob, chReview, "pause")
				tick := time.NewTicker(time.Millisecond)
				for {
					ps, err := x.s.Service.Pauses.ActivePauses(x.s.Ctx)
					if err != nil {
						b.Fatal(err)
					}
					if len(ps) == 1 {
						break
					}
					if time.Since(start) > time.Minute {
						b.Fatal("no pause in force within a minute")
					}
					<-tick.C
				}
				tick.Stop()
				took = append(took, time.Since(start))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "in-force-p50-ms")
			b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "in-force-max-ms")
		})
	}
}
