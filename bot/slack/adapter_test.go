package slack

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/bot/slack/slackfake"
)

func TestConfigValidate(t *testing.T) {
	good := Config{BotToken: "xoxb-secret-1", AppToken: "xapp-secret-2", Channels: []ChannelConfig{{ID: "C0123ABCD",
		Approvers: []string{"U0ALICE"}, ApproverGroups: []string{"S0SOCIAL"}}}}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	events := good
	events.Mode, events.AppToken, events.SigningSecret = ModeEvents, "", "s3cr3t-signing"
	if err := events.Validate(); err != nil {
		t.Fatalf("events config: %v", err)
	}
	t.Setenv("HEED_TEST_BOT_TOKEN", "xoxb-from-env")
	fromEnv := good
	fromEnv.BotToken = "${HEED_TEST_BOT_TOKEN}"
	if err := fromEnv.Validate(); err != nil {
		t.Fatalf("token from env: %v", err)
	}

	for name, c := range map[string]Config{
		"no bot token":     {AppToken: "xapp-secret-2", Channels: good.Channels},
		"user token":       {BotToken: "xoxp-secret-3", AppToken: "xapp-secret-2", Channels: good.Channels},
		"bot as app token": {BotToken: "xoxb-secret-1", AppToken: "xoxb-secret-1", Channels: good.Channels},
		"events no secret": {Mode: ModeEvents, BotToken: "xoxb-secret-1", Channels: good.Channels},
		"unknown mode":     {Mode: "rtm", BotToken: "xoxb-secret-1", Channels: good.Channels},
		"channel name":     {BotToken: "xoxb-secret-1", AppToken: "xapp-secret-2", Channels: []ChannelConfig{{ID: "#social"}}},
		"approver name":    {BotToken: "xoxb-secret-1", AppToken: "xapp-secret-2", Channels: []ChannelConfig{{ID: "C0123ABCD", Approvers: []string{"alice"}}}},
		"group handle":     {BotToken: "xoxb-secret-1", AppToken: "xapp-secret-2", Channels: []ChannelConfig{{ID: "C0123ABCD", ApproverGroups: []string{"@social"}}}},
		"channel twice":    {BotToken: "xoxb-secret-1", AppToken: "xapp-secret-2", Channels: []ChannelConfig{{ID: "C0123ABCD"}, {ID: "C0123ABCD"}}},
	} {
		err := c.Validate()
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		for _, secret := range []string{"secret-1", "secret-2", "secret-3"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error shows a token: %v", name, err)
			}
		}
	}

	// Review channels come from heed's rooms, the channels list, or both.
	noChannels := Config{BotToken: "xoxb-secret-1", AppToken: "xapp-secret-2"}
	if _, err := New(noChannels); err == nil || !strings.Contains(err.Error(), "no review channel") {
		t.Errorf("no channels: %v", err)
	}
	if _, err := New(noChannels, WithRooms("#social")); err == nil {
		t.Errorf("room named by name accepted")
	}
	a, err := New(good, WithRooms("C0OTHER01", "C0123ABCD"), WithName("work-slack"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Name() != "work-slack" || len(a.channels) != 2 || len(a.channels["C0123ABCD"].ApproverGroups) != 1 {
		t.Errorf("adapter %q channels %+v", a.Name(), a.channels)
	}
}

func TestRegisteredAsAdapterKind(t *testing.T) {
	a, err := bot.NewAdapter(bot.AdapterConfig{Name: "slack-work", Kind: "slack", RoomIDs: []string{"C0123ABCD"},
		Decode: func(v any) error {
			*v.(*Config) = Config{BotToken: "xoxb-1", AppToken: "xapp-1"}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Name() != "slack-work" {
		t.Fatalf("name = %q", a.Name())
	}
}

func blocksJSON(t *testing.T, c bot.Card) string {
	b, err := json.Marshal(cardBlocks(c))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCardBlocks(t *testing.T) {
	c := sampleCard(42)
	c.Approvals = []bot.Decision{{User: "@alice", Emoji: "✅"}}
	c.Ignored = []bot.Ignored{{User: "@eve", Emoji: "👍", Reason: "not an approver"}}
	c.Warnings = []string{"falls on a sensitive date"}
	js := blocksJSON(t, c)
	var blocks []map[string]any
	_ = json.Unmarshal([]byte(js), &blocks)

	// The exact text, in a rich-text quote: no mrkdwn, no escaping.
	q := blocks[1]
	if q["type"] != "rich_text" || !strings.Contains(js, `"type":"rich_text_quote"`) ||
		!strings.Contains(js, `"text":"Launch *day*! \u003c!channel\u003e \u0026 more\nsecond line"`) {
		t.Fatalf("quote block: %s", js)
	}
	for _, want := range []string{
		"*#42 · IN REVIEW* · <!date^" + itoa(c.At.Unix()) + "^{date_short_pretty} {time}|Mon 23 Nov 2026 10:30 CET> (in 13 h)",
		"→ *mastodon-main* (mastodon)",
		"*approved by @alice (1/1)*",
		"👍 from @eve does not count: not an approver",
		"⚠ falls on a sensitive date",
		":white_check_mark:", // how to act
	} {
		if !strings.Contains(unescapeJSON(js), want) {
			t.Errorf("card lacks %q:\n%s", want, js)
		}
	}
	// A mention or link in the post is never live outside the quote.
	c.Link = "https://example.org/?a=1&b=<2>"
	if js := unescapeJSON(blocksJSON(t, c)); !strings.Contains(js, "link: https://example.org/?a=1&amp;b=&lt;2&gt;") {
		t.Errorf("link not escaped: %s", js)
	}
	if !strings.Contains(js, `"action_id":"heed_approve"`) || !strings.Contains(js, `"action_id":"heed_reject"`) {
		t.Errorf("open card without buttons: %s", js)
	}
	c.State = "published"
	c.Targets[0].URL = "https://social.example/@heed/1"
	if js := blocksJSON(t, c); strings.Contains(js, "heed_approve") || !strings.Contains(js, "https://social.example/@heed/1") {
		t.Errorf("published card: %s", js)
	}
	c.Text = strings.Repeat("x", 5000)
	c.Targets[0].Problems = []string{strings.Repeat("y", 4000)}
	for _, b := range cardBlocks(c) {
		if s, ok := b.(*slackapi.SectionBlock); ok && len([]rune(s.Text.Text)) > maxSectionText {
			t.Errorf("section of %d characters", len([]rune(s.Text.Text)))
		}
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func unescapeJSON(s string) string {
	return strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(s)
}

func TestPostUpdateReplyThroughTheFake(t *testing.T) {
	e := newEnv(t, setup{fake: slackfake.Options{NoEcho: true}, noRun: true})
	ctx := context.Background()
	m := e.card(t, sampleCard(7))
	m.AssertText(t, "#7 · IN REVIEW", "Launch *day*! <!channel> & more")
	if m.Metadata == nil || m.Metadata.EventType != "heed_card" {
		t.Fatalf("card metadata = %+v", m.Metadata)
	}
	c := sampleCard(7)
	c.State = "approved"
	c.Approvals = []bot.Decision{{User: "@alice", Emoji: "✅"}}
	if err := e.a.UpdateCard(ctx, chReview, bot.MessageRef(m.TS), c); err != nil {
		t.Fatal(err)
	}
	m.ExpectUpdate(t).AssertText(t, "#7 · APPROVED", "approved by @alice (1/1)")
	if err := e.a.Reply(ctx, chReview, bot.MessageRef(m.TS), "published: <https://x>"); err != nil {
		t.Fatal(err)
	}
	r := e.f.ExpectReply(t, chReview, m.TS, "published")
	if r.Text != "published: &lt;https://x&gt;" {
		t.Fatalf("reply text %q", r.Text)
	}
	if err := e.a.Reply(ctx, chReview, "", "paused by @bob"); err != nil {
		t.Fatal(err)
	}
	if got := e.f.LastMessage(chReview); got.Text != "paused by @bob" || got.ThreadTS != "" {
		t.Fatalf("channel reply = %+v", got)
	}
}

func TestReactionsBecomeEvents(t *testing.T) {
	for _, mode := range []string{ModeSocket, ModeEvents} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, setup{mode: mode})
			m := e.card(t, sampleCard(1))

			e.f.React(alice, chReview, m.TS, "+1::skin-tone-4")
			ev := e.rec.next(t)
			want := bot.Event{ID: ev.ID, Kind: bot.Reaction, Adapter: "slack", Room: chReview, User: alice, UserName: "@alice",
				Card: bot.MessageRef(m.TS), Emoji: "+1::skin-tone-4", At: ev.At}
			if ev != want || ev.ID == "" || ev.At.IsZero() {
				t.Fatalf("event = %+v\nwant %+v", ev, want)
			}
			e.f.Unreact(alice, chReview, m.TS, "+1::skin-tone-4")
			if ev := e.rec.next(t); ev.Kind != bot.Unreaction || ev.Emoji != "+1::skin-tone-4" || ev.User != alice {
				t.Fatalf("unreaction = %+v", ev)
			}
			// Bots' reactions are marked; the engine never counts them.
			e.f.React(deploybot, chReview, m.TS, "white_check_mark")
			if ev := e.rec.next(t); !ev.FromBot || ev.FromSelf {
				t.Fatalf("bot reaction = %+v", ev)
			}
			// The app's own reaction is marked as its own.
			if err := e.a.api.c.AddReactionContext(context.Background(), "eyes", slackapi.NewRefToMessage(chReview, m.TS)); err != nil {
				t.Fatal(err)
			}
			if ev := e.rec.nextAny(t); !ev.FromSelf || ev.Emoji != "eyes" {
				t.Fatalf("own reaction = %+v", ev)
			}
			// Reactions on a person's message, or in another channel, are not decisions.
			own, _ := e.f.Say(bob, chReview, "lunch?")
			if ev := e.rec.next(t); ev.Kind != bot.Message || ev.Text != "lunch?" {
				t.Fatalf("message = %+v", ev)
			}
			e.f.React(alice, chReview, own.TS, "white_check_mark")
			other, _ := e.f.Say(alice, chOther, "hi")
			e.f.React(bob, chOther, other.TS, "white_check_mark")
			e.f.React(carol, chReview, m.TS, "x")
			if ev := e.rec.next(t); ev.User != carol || ev.Emoji != "x" {
				t.Fatalf("expected carol's x next, got %+v", ev)
			}
		})
	}
}

func TestMessagesBecomeEvents(t *testing.T) {
	e := newEnv(t, setup{})
	bot1 := e.f.Options().BotUserID
	m := e.card(t, sampleCard(3))
	// The card's own echo arrives, marked as the bot's.
	if ev := e.rec.nextAny(t); ev.Kind != bot.Message || !ev.FromSelf || !ev.FromBot {
		t.Fatalf("echo of the card = %+v", ev)
	}

	e.f.Say(bob, chReview, "pause breaking news")
	if ev := e.rec.next(t); ev.Kind != bot.Message || ev.Text != "pause breaking news" || ev.User != bob || ev.UserName != "@bob" || ev.Card != "" {
		t.Fatalf("pause = %+v", ev)
	}
	// A leading mention is dropped; message and app_mention count once.
	e.f.Say(alice, chReview, "<@"+bot1+">  resume")
	if ev := e.rec.next(t); ev.Text != "resume" {
		t.Fatalf("mention = %+v", ev)
	}
	e.f.Say(alice, chReview, "<@"+bot1+"|heed>: status")
	if ev := e.rec.next(t); ev.Text != "status" {
		t.Fatalf("mention with name = %+v (the app_mention duplicate must not arrive)", ev)
	}
	// Mentions of someone else stay.
	e.f.Say(alice, chReview, "<@UBOB> delay 3 2h")
	if ev := e.rec.next(t); ev.Text != "<@UBOB> delay 3 2h" {
		t.Fatalf("other mention = %+v", ev)
	}
	// Slack escapes &, < and > in text; the engine gets them back.
	e.f.Say(bob, chReview, "pause a &lt;b&gt; &amp; c")
	if ev := e.rec.next(t); ev.Text != "pause a <b> & c" {
		t.Fatalf("unescape = %q", ev.Text)
	}
	// Thread replies name the card.
	e.f.SayInThread(bob, chReview, m.TS, "cancel 3")
	if ev := e.rec.next(t); ev.Card != bot.MessageRef(m.TS) || ev.Text != "cancel 3" {
		t.Fatalf("thread reply = %+v", ev)
	}
	// Another bot's message is marked as from a bot.
	e.f.Say(deploybot, chReview, "resume")
	if ev := e.rec.next(t); !ev.FromBot || ev.FromSelf || ev.Text != "resume" {
		t.Fatalf("bot message = %+v", ev)
	}
	// Other channels are not review channels.
	e.f.Say(bob, chOther, "pause")
	e.f.Say(bob, chReview, "status")
	if ev := e.rec.next(t); ev.Room != chReview || ev.Text != "status" {
		t.Fatalf("message from another channel reached the engine: %+v", ev)
	}
}

func TestBotMessageSubtypeFixture(t *testing.T) {
	e := newEnv(t, setup{noRun: true})
	e.a.id = &identity{UserID: e.f.Options().BotUserID, BotID: e.f.Options().BotID}
	body, err := os.ReadFile("testdata/events/message-bot.json")
	if err != nil {
		t.Fatal(err)
	}
	body = []byte(strings.ReplaceAll(string(body), "C0REVIEW01", chReview))
	var cb eventCallback
	_ = json.Unmarshal(body, &cb)
	in, _, ok := e.a.fromCallback(cb)
	if !ok || !in.ev.FromBot || in.ev.User != "B0OTHERBOT" || in.ev.Text != "resume" {
		t.Fatalf("bot_message = %+v, %v", in, ok)
	}
	body, _ = os.ReadFile("testdata/events/message-changed.json")
	body = []byte(strings.ReplaceAll(string(body), "C0REVIEW01", chReview))
	_ = json.Unmarshal(body, &cb)
	if _, _, ok := e.a.fromCallback(cb); ok {
		t.Fatal("an edit was taken as a command")
	}
}

func TestSlashCommand(t *testing.T) {
	for _, mode := range []string{ModeSocket, ModeEvents} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, setup{mode: mode, fake: slackfake.Options{NoEcho: true}})
			e.f.Slash(bob, chReview, "/heed", "pause breaking news")
			if ev := e.rec.next(t); ev.Kind != bot.Message || ev.Text != "pause breaking news" || ev.User != bob || ev.Room != chReview {
				t.Fatalf("slash = %+v", ev)
			}
			e.f.Slash(bob, chReview, "/heed", "")
			if ev := e.rec.next(t); ev.Text != "help" {
				t.Fatalf("bare /heed = %+v", ev)
			}
			d := e.f.Slash(bob, chOther, "/heed", "pause")
			if !strings.Contains(string(d.Response()), "only listens in its review channels") {
				t.Fatalf("refusal = %s", d.Response())
			}
			e.f.Slash(alice, chReview, "/heed", "status")
			if ev := e.rec.next(t); ev.Text != "status" || ev.User != alice {
				t.Fatalf("after refusal = %+v", ev)
			}
		})
	}
}

func TestButtons(t *testing.T) {
	e := newEnv(t, setup{fake: slackfake.Options{NoEcho: true}})
	ctx := context.Background()
	m := e.card(t, sampleCard(5))
	if got := m.Actions(); !slices.Equal(got, []string{actionApprove, actionReject}) {
		t.Fatalf("buttons = %v", got)
	}

	m.Click(alice, actionApprove)
	ev := e.rec.next(t)
	if ev.Kind != bot.Reaction || ev.Emoji != "white_check_mark" || ev.User != alice || ev.ReactionID == "" || ev.Card != bot.MessageRef(m.TS) {
		t.Fatalf("approve click = %+v", ev)
	}
	e.f.ExpectReply(t, chReview, m.TS, "@alice pressed Approve")
	got, err := e.a.CardReactions(ctx, chReview, bot.MessageRef(m.TS))
	if err != nil || len(got) != 1 || got[0].User != alice || got[0].Emoji != "white_check_mark" || got[0].ReactionID != ev.ReactionID {
		t.Fatalf("CardReactions after a click = %+v, %v", got, err)
	}

	// A second press takes it back.
	m.Click(alice, actionApprove)
	if ev2 := e.rec.next(t); ev2.Kind != bot.Unreaction || ev2.ReactionID != ev.ReactionID {
		t.Fatalf("second click = %+v", ev2)
	}
	if got, _ := e.a.CardReactions(ctx, chReview, bot.MessageRef(m.TS)); len(got) != 0 {
		t.Fatalf("CardReactions after taking back = %+v", got)
	}

	// With the same reaction on the card, taking back the button leaves
	// the decision standing, and says so privately.
	e.f.React(bob, chReview, m.TS, "x")
	e.rec.next(t)
	m.Click(bob, actionReject)
	if ev := e.rec.next(t); ev.Kind != bot.Reaction || ev.Emoji != "x" {
		t.Fatalf("reject click = %+v", ev)
	}
	m.Click(bob, actionReject)
	e.f.Click(carol, m, actionApprove) // the next event must be carol's, not bob's withdrawal
	if ev := e.rec.next(t); ev.User != carol {
		t.Fatalf("bob's reaction still stands, yet: %+v", ev)
	}
	if rs := e.f.Responses(); len(rs) != 1 || !strings.Contains(rs[0].Body, "still counts") {
		t.Fatalf("responses = %+v", rs)
	}
	// Removing a reaction ends the button decision with the same emoji.
	e.f.React(carol, chReview, m.TS, "white_check_mark")
	e.rec.next(t)
	e.f.Unreact(carol, chReview, m.TS, "white_check_mark")
	if ev := e.rec.next(t); ev.Kind != bot.Unreaction || ev.User != carol {
		t.Fatalf("carol's unreaction = %+v", ev)
	}
	got, _ = e.a.CardReactions(ctx, chReview, bot.MessageRef(m.TS))
	for _, r := range got {
		if r.User == carol {
			t.Fatalf("carol's button decision survived her unreaction: %+v", got)
		}
	}
}

func TestCardReactionsReadsEveryone(t *testing.T) {
	e := newEnv(t, setup{fake: slackfake.Options{NoEcho: true, PartialUsers: 1}, noRun: true})
	m := e.card(t, sampleCard(9))
	e.f.ReactSilently(alice, chReview, m.TS, "white_check_mark", true)
	e.f.ReactSilently(carol, chReview, m.TS, "white_check_mark", true)
	e.f.ReactSilently(deploybot, chReview, m.TS, "+1::skin-tone-2", true)
	got, err := e.a.CardReactions(context.Background(), chReview, bot.MessageRef(m.TS))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d reactions, want 3 (full=true): %+v", len(got), got)
	}
	for _, r := range got {
		if r.Kind != bot.Reaction || r.Card != bot.MessageRef(m.TS) || r.Room != chReview {
			t.Errorf("reaction %+v", r)
		}
		if (r.User == deploybot) != r.FromBot {
			t.Errorf("FromBot wrong for %+v", r)
		}
	}
	calls := e.f.Calls("reactions.get")
	if calls[len(calls)-1].Params.Get("full") != "true" {
		t.Fatalf("reactions.get without full=true: %v", calls[len(calls)-1].Params)
	}
}

func TestApproverSource(t *testing.T) {
	e := newEnv(t, setup{noRun: true, refresh: time.Minute})
	ctx := context.Background()
	check := func(user string, want bool) string {
		t.Helper()
		ok, why, read := isApprover(e.a, chReview, user)
		if !read || ok != want {
			t.Fatalf("isApprover(%s) = %v %q %v, want %v", user, ok, why, read, want)
		}
		return why
	}
	if _, read := e.a.Roster(chReview); read {
		t.Fatal("a roster before the groups were first read")
	}
	e.a.refreshGroups(ctx)
	check(alice, true) // listed
	check(carol, true) // in the group
	if why := check(bob, false); why != "not in the channel's approver groups" {
		t.Fatalf("why = %q", why)
	}
	if _, read := e.a.Roster(chOther); read {
		t.Fatal("a roster for a channel that is not a review channel")
	}

	// Membership changes show once the refresh interval has passed, not before.
	e.f.SetGroup(groupSocial, bob)
	e.a.refreshGroups(ctx)
	check(bob, false)
	e.clock.Advance(time.Minute)
	e.a.refreshGroups(ctx)
	check(bob, true)
	check(carol, false)
	if n := len(e.f.Calls("usergroups.users.list")); n != 2 {
		t.Fatalf("usergroups.users.list called %d times, want 2", n)
	}

	// A failed read keeps the members read last, and is not tried again
	// at once.
	e.clock.Advance(time.Minute)
	e.f.FailNext("usergroups.users.list", "internal_error")
	e.a.refreshGroups(ctx)
	check(bob, true)
	e.a.refreshGroups(ctx)
	if n := len(e.f.Calls("usergroups.users.list")); n != 3 {
		t.Fatalf("usergroups.users.list called %d times, want 3", n)
	}
	e.clock.Advance(groupRetry)
	e.a.refreshGroups(ctx)
	if n := len(e.f.Calls("usergroups.users.list")); n != 4 {
		t.Fatalf("usergroups.users.list called %d times after the retry delay, want 4", n)
	}
}

// The worker reads the groups again before handing an event over, so the
// engine's check (from memory) sees the members as of that event.
func TestGroupsRefreshBeforeEvents(t *testing.T) {
	e := newEnv(t, setup{refresh: time.Minute, fake: slackfake.Options{NoEcho: true}})
	m := e.card(t, sampleCard(1))
	if ok, _, _ := isApprover(e.a, chReview, carol); !ok {
		t.Fatal("groups not read on start")
	}
	e.f.SetGroup(groupSocial, bob)
	e.clock.Advance(time.Minute)
	e.f.React(bob, chReview, m.TS, "white_check_mark")
	e.rec.next(t)
	if ok, _, _ := isApprover(e.a, chReview, bob); !ok {
		t.Fatal("bob's membership not read before his reaction was handed over")
	}
}

// A 429 storm: every call waits out Retry-After and goes out again, and
// everything arrives, in order. Every wait is told to WithRateLimited
// (heed's metrics).
func TestRateLimitStormKeepsOrder(t *testing.T) {
	var mu sync.Mutex
	var waits, told []time.Duration
	sleep := func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return ctx.Err()
	}
	limited := func(d time.Duration) { mu.Lock(); told = append(told, d); mu.Unlock() }
	e := newEnv(t, setup{fake: slackfake.Options{NoEcho: true}, noRun: true, opts: []Option{WithSleep(sleep), WithRateLimited(limited)}})
	ctx := context.Background()
	e.f.RateLimit(12, 3)
	c := sampleCard(11)
	ref, err := e.a.PostCard(ctx, chReview, c)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		c.Notes = []string{"update " + itoa(int64(i))}
		if err := e.a.UpdateCard(ctx, chReview, ref, c); err != nil {
			t.Fatal(err)
		}
		if err := e.a.Reply(ctx, chReview, ref, "reply "+itoa(int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	m, _ := e.f.Message(chReview, string(ref))
	if m.Edits != 5 {
		t.Fatalf("%d updates arrived, want 5", m.Edits)
	}
	m.AssertText(t, "update 5")
	th := e.f.Thread(chReview, string(ref))
	for i, r := range th {
		if want := "reply " + itoa(int64(i+1)); r.Text != want {
			t.Fatalf("reply %d = %q, want %q", i, r.Text, want)
		}
	}
	if len(th) != 5 {
		t.Fatalf("%d replies, want 5", len(th))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(waits) != 12 || waits[0] != 3*time.Second {
		t.Fatalf("waits = %v, want 12 × 3s", waits)
	}
	if !slices.Equal(told, waits) {
		t.Fatalf("rate-limit waits told: %v, want %v", told, waits)
	}
	// The calls went out in order: every 429 was followed by the same call.
	var order []string
	for _, c := range e.f.Calls("") {
		if c.Status == http.StatusOK {
			order = append(order, c.Method)
		}
	}
	want := []string{"chat.postMessage"}
	for i := 0; i < 5; i++ {
		want = append(want, "chat.update", "chat.postMessage")
	}
	if !slices.Equal(order, want) {
		t.Fatalf("order = %v", order)
	}
}

func TestNoSecretsInLogs(t *testing.T) {
	e := newEnv(t, setup{mode: ModeEvents})
	m := e.card(t, sampleCard(1))
	e.f.React(alice, chReview, m.TS, "white_check_mark")
	e.rec.next(t)
	e.f.PostRaw([]byte(`{"type":"event_callback"}`), http.Header{"X-Slack-Signature": {"v0=00"}, "X-Slack-Request-Timestamp": {"1"}})
	e.f.FailNext("chat.update", "invalid_auth")
	_ = e.a.UpdateCard(context.Background(), chReview, bot.MessageRef(m.TS), sampleCard(1))
	logs := e.logs.String()
	if !strings.Contains(logs, "rejected a request") {
		t.Fatalf("expected a rejection in the logs:\n%s", logs)
	}
	o := e.f.Options()
	for _, s := range []string{o.BotToken, o.AppToken, o.SigningSecret} {
		if strings.Contains(logs, s) {
			t.Fatalf("a secret reached the logs:\n%s", logs)
		}
	}
}

func TestMentionIsSlackSyntax(t *testing.T) {
	var m bot.Mentioner = &Adapter{}
	if got := m.Mention("U0ALICE01"); got != "<@U0ALICE01>" {
		t.Fatalf("Mention = %q", got)
	}
}

// isApprover asks the adapter's roster about user; read is false while
// the adapter has no roster for room.
func isApprover(a *Adapter, room, user string) (ok bool, why string, read bool) {
	r, read := a.Roster(room)
	if !read {
		return false, "", false
	}
	ok, why = r.Allows(user)
	return ok, why, true
}
