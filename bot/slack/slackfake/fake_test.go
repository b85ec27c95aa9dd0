package slackfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/heed-dev/heed/bot/slack/slackfake"
)

func newFake(t *testing.T, opt slackfake.Options) (*slackfake.Fake, *slack.Client) {
	f := slackfake.New(t, opt)
	f.AddUser(slackfake.User{ID: "UALICE", Name: "alice"})
	f.AddUser(slackfake.User{ID: "UBOB", Name: "bob"})
	f.AddUser(slackfake.User{ID: "UDEPLOY", Name: "deploybot", IsBot: true, BotID: "BDEPLOY"})
	f.AddChannel("CREVIEW", "social-review", "UALICE", "UBOB")
	f.SetGroup("SAPPROVERS", "UALICE")
	api := slack.New(f.Options().BotToken, slack.OptionAPIURL(f.APIURL()))
	return f, api
}

func TestWebAPI(t *testing.T) {
	frozen := time.Unix(1795219200, 0)
	f, api := newFake(t, slackfake.Options{Now: func() time.Time { return frozen }, NoEcho: true})
	ctx := context.Background()

	at, err := api.AuthTestContext(ctx)
	if err != nil || at.UserID != f.Options().BotUserID || at.BotID != f.Options().BotID {
		t.Fatalf("auth.test = %+v, %v", at, err)
	}

	// Two posts in the same instant still get distinct, increasing ts.
	_, ts1, err := api.PostMessageContext(ctx, "CREVIEW", slack.MsgOptionText("one", false))
	if err != nil {
		t.Fatal(err)
	}
	_, ts2, err := api.PostMessageContext(ctx, "CREVIEW", slack.MsgOptionText("two", false),
		slack.MsgOptionMetadata(slack.SlackMetadata{EventType: "heed_publish", EventPayload: map[string]any{"idempotency_key": "k2"}}))
	if err != nil {
		t.Fatal(err)
	}
	if ts1 == ts2 || !(ts1 < ts2) {
		t.Fatalf("ts not unique and increasing: %s, %s", ts1, ts2)
	}

	if _, _, _, err := api.UpdateMessageContext(ctx, "CREVIEW", ts1, slack.MsgOptionText("one, edited", false)); err != nil {
		t.Fatal(err)
	}
	if m, _ := f.Message("CREVIEW", ts1); m.Edits != 1 || m.Text != "one, edited" {
		t.Fatalf("after update: %+v", m)
	}
	// Only the app's own messages can be updated.
	user, _ := f.Say("UALICE", "CREVIEW", "hello")
	if _, _, _, err := api.UpdateMessageContext(ctx, "CREVIEW", user.TS, slack.MsgOptionText("x", false)); err == nil || err.Error() != "cant_update_message" {
		t.Fatalf("update of a user's message: %v", err)
	}

	// reactions.get lists every user only with full=true.
	f.React("UALICE", "CREVIEW", ts1, "white_check_mark")
	f.React("UBOB", "CREVIEW", ts1, "white_check_mark")
	f.React("UBOB", "CREVIEW", ts1, "+1::skin-tone-4")
	ref := slack.NewRefToMessage("CREVIEW", ts1)
	partial, err := api.GetReactionsContext(ctx, ref, slack.GetReactionsParameters{})
	if err != nil {
		t.Fatal(err)
	}
	if len(partial.Reactions) != 2 || partial.Reactions[0].Count != 2 || len(partial.Reactions[0].Users) != 1 {
		t.Fatalf("partial reactions = %+v", partial.Reactions)
	}
	full, err := api.GetReactionsContext(ctx, ref, slack.GetReactionsParameters{Full: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := full.Reactions[0].Users; len(got) != 2 || got[0] != "UALICE" || got[1] != "UBOB" {
		t.Fatalf("full users = %v", got)
	}
	f.Unreact("UBOB", "CREVIEW", ts1, "+1::skin-tone-4")
	full, _ = api.GetReactionsContext(ctx, ref, slack.GetReactionsParameters{Full: true})
	if len(full.Reactions) != 1 {
		t.Fatalf("after unreact: %+v", full.Reactions)
	}

	u, err := api.GetUserInfoContext(ctx, "UDEPLOY")
	if err != nil || !u.IsBot || u.Profile.BotID != "BDEPLOY" {
		t.Fatalf("users.info = %+v, %v", u, err)
	}
	if _, err := api.GetUserInfoContext(ctx, "UNOBODY"); err == nil || err.Error() != "user_not_found" {
		t.Fatalf("unknown user: %v", err)
	}
	members, err := api.GetUserGroupMembersContext(ctx, "SAPPROVERS")
	if err != nil || len(members) != 1 || members[0] != "UALICE" {
		t.Fatalf("usergroups.users.list = %v, %v", members, err)
	}
	cm, _, err := api.GetUsersInConversationContext(ctx, &slack.GetUsersInConversationParameters{ChannelID: "CREVIEW"})
	if err != nil || len(cm) != 3 {
		t.Fatalf("conversations.members = %v, %v", cm, err)
	}

	// Metadata comes back only with include_all_metadata.
	h, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: "CREVIEW", IncludeAllMetadata: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Messages) != 3 || h.Messages[1].Timestamp != ts2 || h.Messages[1].Metadata.EventPayload["idempotency_key"] != "k2" {
		t.Fatalf("history = %+v", h.Messages)
	}
	h, _ = api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: "CREVIEW", Limit: 1})
	if len(h.Messages) != 1 || !h.HasMore || h.Messages[0].Metadata.EventType != "" {
		t.Fatalf("history without metadata, limit 1 = %+v", h)
	}

	if _, _, err := api.DeleteMessageContext(ctx, "CREVIEW", ts2); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Message("CREVIEW", ts2); ok {
		t.Fatal("deleted message still there")
	}
	if _, _, err := api.DeleteMessageContext(ctx, "CREVIEW", ts2); err == nil || err.Error() != "message_not_found" {
		t.Fatalf("second delete: %v", err)
	}

	// Threads.
	_, rts, err := api.PostMessageContext(ctx, "CREVIEW", slack.MsgOptionText("reply", false), slack.MsgOptionTS(ts1))
	if err != nil {
		t.Fatal(err)
	}
	if th := f.Thread("CREVIEW", ts1); len(th) != 1 || th[0].TS != rts {
		t.Fatalf("thread = %+v", th)
	}
	f.ExpectReply(t, "CREVIEW", ts1, "reply")

	// Tokens are checked.
	if _, err := slack.New("xoxb-wrong", slack.OptionAPIURL(f.APIURL())).AuthTestContext(ctx); err == nil || err.Error() != "invalid_auth" {
		t.Fatalf("wrong token: %v", err)
	}
	if _, err := slack.New("", slack.OptionAPIURL(f.APIURL())).AuthTestContext(ctx); err == nil || err.Error() != "not_authed" {
		t.Fatalf("no token: %v", err)
	}
	// The bot token does not open sockets.
	wrongApp := slack.New(f.Options().BotToken, slack.OptionAPIURL(f.APIURL()), slack.OptionAppLevelToken(f.Options().BotToken))
	if _, _, err := wrongApp.StartSocketModeContext(ctx); err == nil || err.Error() != "invalid_auth" {
		t.Fatalf("socket with bot token: %v", err)
	}
}

func TestRateLimitAndFailures(t *testing.T) {
	f, api := newFake(t, slackfake.Options{NoEcho: true})
	ctx := context.Background()
	f.RateLimit(2, 7)
	for i := 0; i < 2; i++ {
		_, err := api.AuthTestContext(ctx)
		var rl *slack.RateLimitedError
		if !errors.As(err, &rl) || rl.RetryAfter != 7*time.Second {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if _, err := api.AuthTestContext(ctx); err != nil {
		t.Fatalf("after the storm: %v", err)
	}
	if calls := f.Calls("auth.test"); len(calls) != 3 || calls[0].Status != 429 || calls[2].Status != 200 {
		t.Fatalf("calls = %+v", calls)
	}

	f.FailNext("chat.postMessage", "channel_not_found")
	if _, _, err := api.PostMessageContext(ctx, "CREVIEW", slack.MsgOptionText("x", false)); err == nil || err.Error() != "channel_not_found" {
		t.Fatalf("FailNext: %v", err)
	}

	// An HTTP 500 for one message's reactions, twice; others are answered.
	_, ts, err := api.PostMessageContext(ctx, "CREVIEW", slack.MsgOptionText("card", false))
	if err != nil {
		t.Fatal(err)
	}
	f.FailHTTP("reactions.get", http.StatusInternalServerError, 2, func(p url.Values) bool { return p.Get("timestamp") == ts })
	for i := 0; i < 2; i++ {
		_, err := api.GetReactionsContext(ctx, slack.NewRefToMessage("CREVIEW", ts), slack.GetReactionsParameters{})
		var sc slack.StatusCodeError
		if !errors.As(err, &sc) || sc.Code != http.StatusInternalServerError {
			t.Fatalf("FailHTTP, call %d: %v", i, err)
		}
	}
	if _, err := api.GetReactionsContext(ctx, slack.NewRefToMessage("CREVIEW", ts), slack.GetReactionsParameters{}); err != nil {
		t.Fatalf("after two failures: %v", err)
	}

	// A broken answer: the post happens, the reply is lost.
	f.BreakNext("chat.postMessage")
	if _, _, err := api.PostMessageContext(ctx, "CREVIEW", slack.MsgOptionText("lost answer", false)); err == nil {
		t.Fatal("BreakNext: no error")
	}
	if m := f.LastMessage("CREVIEW"); m.Text != "lost answer" {
		t.Fatalf("BreakNext did not post: %+v", m)
	}
}

// conversations.history pages newest first with cursors that name where
// the next page starts: a message posted between two pages shifts
// nothing. conversations.replies pages oldest first, parent first.
func TestHistoryAndRepliesPages(t *testing.T) {
	f, api := newFake(t, slackfake.Options{NoEcho: true})
	ctx := context.Background()
	var ts []string
	for _, text := range []string{"one", "two", "three", "four", "five"} {
		ts = append(ts, f.SaySilently("UBOB", "CREVIEW", "", text).TS)
	}
	var got []string
	cursor := ""
	for page := 0; ; page++ {
		h, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: "CREVIEW", Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range h.Messages {
			got = append(got, m.Text)
		}
		if page == 0 {
			f.SaySilently("UALICE", "CREVIEW", "", "six") // newer than every page to come
		}
		if !h.HasMore {
			break
		}
		cursor = h.ResponseMetaData.NextCursor
	}
	if want := "five four three two one"; strings.Join(got, " ") != want {
		t.Fatalf("pages = %v, want %s", got, want)
	}
	if _, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: "CREVIEW", Cursor: "garbage"}); err == nil || err.Error() != "invalid_cursor" {
		t.Fatalf("bad cursor: %v", err)
	}
	h, _ := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: "CREVIEW", Oldest: ts[3]})
	if len(h.Messages) != 2 || h.Messages[1].Text != "five" {
		t.Fatalf("oldest (exclusive) = %+v", h.Messages)
	}
	h, _ = api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: "CREVIEW", Oldest: ts[3], Inclusive: true})
	if len(h.Messages) != 3 || h.Messages[2].Text != "four" {
		t.Fatalf("oldest, inclusive = %+v", h.Messages)
	}

	// A thread: its parent shows the newest reply; replies come oldest
	// first after the parent, from oldest on, a page at a time.
	var replies []string
	for _, text := range []string{"r1", "r2", "r3"} {
		replies = append(replies, f.SaySilently("UALICE", "CREVIEW", ts[0], text).TS)
	}
	h, _ = api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: "CREVIEW", Latest: ts[0], Inclusive: true})
	if len(h.Messages) != 1 || h.Messages[0].ReplyCount != 3 || h.Messages[0].LatestReply != replies[2] || h.Messages[0].ThreadTimestamp != ts[0] {
		t.Fatalf("thread parent = %+v", h.Messages)
	}
	for _, m := range f.Messages("CREVIEW") {
		if m.ThreadTS != "" {
			t.Fatalf("a reply among the channel's messages: %+v", m)
		}
	}
	got = nil
	cursor = ""
	for {
		msgs, more, next, err := api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{
			ChannelID: "CREVIEW", Timestamp: ts[0], Oldest: replies[0], Limit: 1, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			got = append(got, m.Text)
		}
		if !more {
			break
		}
		cursor = next
	}
	if want := "one r2 r3"; strings.Join(got, " ") != want {
		t.Fatalf("replies = %v, want %s", got, want)
	}
}

// RateLimitMethod and Limits answer 429 for one method only; Latency
// delays every answer.
func TestPerMethodRateLimits(t *testing.T) {
	f, api := newFake(t, slackfake.Options{NoEcho: true, Limits: map[string]int{"chat.update": 3}, Latency: 20 * time.Millisecond})
	ctx := context.Background()
	start := time.Now()
	_, ts, err := api.PostMessageContext(ctx, "CREVIEW", slack.MsgOptionText("card", false))
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 20*time.Millisecond {
		t.Fatalf("an answer took %v with 20ms latency", took)
	}
	update := func() error {
		_, _, _, err := api.UpdateMessageContext(ctx, "CREVIEW", ts, slack.MsgOptionText("edit", false))
		return err
	}
	f.RateLimitMethod("chat.update", 1, 30)
	var rl *slack.RateLimitedError
	if err := update(); !errors.As(err, &rl) || rl.RetryAfter != 30*time.Second {
		t.Fatalf("first update: %v", err)
	}
	if _, _, err := api.PostMessageContext(ctx, "CREVIEW", slack.MsgOptionText("receipt", false)); err != nil {
		t.Fatalf("another method while chat.update is limited: %v", err)
	}
	for i := 0; i < 3; i++ {
		if err := update(); err != nil {
			t.Fatalf("update %d within the limit: %v", i, err)
		}
	}
	if err := update(); !errors.As(err, &rl) || rl.RetryAfter < time.Second || rl.RetryAfter > time.Minute {
		t.Fatalf("update over 3 a minute: %v", err)
	}
	if _, _, err := api.PostMessageContext(ctx, "CREVIEW", slack.MsgOptionText("receipt", false)); err != nil {
		t.Fatalf("another method over chat.update's limit: %v", err)
	}
	if c := f.WaitCall(t, "chat.update", func(c slackfake.Call) bool { return c.Status == http.StatusTooManyRequests }); c.Error != "ratelimited" {
		t.Fatalf("429 call = %+v", c)
	}
}

func TestSignMatchesSlackDocVector(t *testing.T) {
	// The example from Slack's "Verifying requests from Slack" page.
	body := "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	got := slackfake.Sign("8f742231b10e8888abcd99yyyzzz85a5", 1531420618, []byte(body))
	if want := "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

// socketClient runs slack-go's Socket Mode client against f and acks
// everything; it returns the events it saw.
func socketClient(t *testing.T, f *slackfake.Fake) (*socketmode.Client, <-chan socketmode.Event) {
	api := slack.New(f.Options().BotToken, slack.OptionAPIURL(f.APIURL()), slack.OptionAppLevelToken(f.Options().AppToken))
	smc := socketmode.New(api)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = smc.RunContext(ctx) }()
	out := make(chan socketmode.Event, 100)
	go func() {
		for {
			select {
			case ev := <-smc.Events:
				if ev.Request != nil && ev.Request.EnvelopeID != "" {
					_ = smc.Ack(*ev.Request)
				}
				select {
				case out <- ev:
				default:
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return smc, out
}

func TestSocketMode(t *testing.T) {
	f, api := newFake(t, slackfake.Options{NoEcho: true})
	_, events := socketClient(t, f)
	f.WaitConnections(t, 1)

	_, ts, _ := api.PostMessageContext(context.Background(), "CREVIEW", slack.MsgOptionText("card", false))
	d := f.React("UALICE", "CREVIEW", ts, "white_check_mark")
	if len(d.Envelopes()) != 1 || d.Err() != nil {
		t.Fatalf("delivery: %v %v", d.Envelopes(), d.Err())
	}
	if acks := f.Acks(); len(acks) != 1 || acks[0] != d.Envelopes()[0] {
		t.Fatalf("acks = %v", acks)
	}
	waitEvent(t, events, func(ev socketmode.Event) bool { return ev.Type == socketmode.EventTypeEventsAPI })

	// A drop, and a refresh: the client reconnects both times.
	f.Drop(t)
	f.WaitConnections(t, 2)
	f.Disconnect(t, "refresh_requested")
	f.WaitConnections(t, 3)

	// Events made while no socket is open are delivered, in order, on reconnect.
	f.RefuseSockets(true)
	f.Drop(t)
	d1 := f.React("UBOB", "CREVIEW", ts, "x")
	d2 := f.Unreact("UBOB", "CREVIEW", ts, "x")
	select {
	case <-d1.Done():
		t.Fatal("delivered while no socket was open")
	default:
	}
	f.RefuseSockets(false)
	d1.Wait(t, 10*time.Second)
	d2.Wait(t, 10*time.Second)
	acks := f.Acks()
	if acks[len(acks)-2] != d1.Envelopes()[0] || acks[len(acks)-1] != d2.Envelopes()[0] {
		t.Fatalf("out of order: acks %v", acks)
	}
}

func waitEvent(t *testing.T, ch <-chan socketmode.Event, ok func(socketmode.Event) bool) socketmode.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-ch:
			if ok(ev) {
				return ev
			}
		case <-deadline:
			t.Fatal("no matching socket mode event")
		}
	}
}

type recorder struct {
	mu     sync.Mutex
	reqs   []*http.Request
	bodies [][]byte
	status []int // answers to give, in order; 200 after that
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.bodies = append(r.bodies, b)
	st := 200
	if len(r.status) > 0 {
		st, r.status = r.status[0], r.status[1:]
	}
	r.mu.Unlock()
	w.WriteHeader(st)
}

func TestHTTPDeliveriesAreSignedAndRetried(t *testing.T) {
	f, api := newFake(t, slackfake.Options{NoEcho: true})
	rec := &recorder{status: []int{500, 503}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	f.DeliverTo(srv.URL)

	_, ts, _ := api.PostMessageContext(context.Background(), "CREVIEW", slack.MsgOptionText("card", false))
	d := f.React("UALICE", "CREVIEW", ts, "+1::skin-tone-4")
	if got := d.Statuses(); len(got) != 3 || got[2] != 200 {
		t.Fatalf("statuses = %v", got)
	}
	for i, req := range rec.reqs {
		sv, err := slack.NewSecretsVerifier(req.Header, f.Options().SigningSecret)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = sv.Write(rec.bodies[i])
		if err := sv.Ensure(); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		var ev struct {
			EventID string `json:"event_id"`
		}
		_ = json.Unmarshal(rec.bodies[i], &ev)
		if ev.EventID != d.EventID {
			t.Fatalf("attempt %d: event_id %s, want %s", i, ev.EventID, d.EventID)
		}
		if want := []string{"", "1", "2"}[i]; req.Header.Get("X-Slack-Retry-Num") != want {
			t.Fatalf("attempt %d: X-Slack-Retry-Num %q", i, req.Header.Get("X-Slack-Retry-Num"))
		}
	}

	// Interactions arrive form-encoded with the payload field.
	if _, _, err := api.PostMessageContext(context.Background(), "CREVIEW", slack.MsgOptionBlocks(
		slack.NewActionBlock("acts", slack.NewButtonBlockElement("approve", "42", slack.NewTextBlockObject("plain_text", "Approve", false, false))))); err != nil {
		t.Fatal(err)
	}
	card := f.LastMessage("CREVIEW")
	if got := card.Actions(); len(got) != 1 || got[0] != "approve" {
		t.Fatalf("actions = %v", got)
	}
	press := card.Click("UALICE", "approve")
	pressed := len(rec.bodies) - 1
	last := rec.bodies[pressed]
	form, err := url.ParseQuery(string(last))
	if err != nil {
		t.Fatal(err)
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
		t.Fatal(err)
	}
	if cb.Type != slack.InteractionTypeBlockActions || cb.User.ID != "UALICE" || cb.Container.MessageTs != card.TS ||
		len(cb.ActionCallback.BlockActions) != 1 || cb.ActionCallback.BlockActions[0].Value != "42" {
		t.Fatalf("block_actions = %+v", cb)
	}
	f.Slash("UBOB", "CREVIEW", "/heed", "pause breaking news")
	form, _ = url.ParseQuery(string(rec.bodies[len(rec.bodies)-1]))
	if form.Get("command") != "/heed" || form.Get("text") != "pause breaking news" || form.Get("user_id") != "UBOB" {
		t.Fatalf("slash form = %v", form)
	}

	// A replay is the same request: body, timestamp and signature.
	if got := f.Replay(press).Statuses(); len(got) != 1 || got[0] != 200 {
		t.Fatalf("replay statuses = %v", got)
	}
	again := len(rec.bodies) - 1
	if string(rec.bodies[again]) != string(rec.bodies[pressed]) {
		t.Fatalf("the replay sent another body:\n%s\nthen\n%s", rec.bodies[pressed], rec.bodies[again])
	}
	for _, h := range []string{"X-Slack-Request-Timestamp", "X-Slack-Signature", "Content-Type"} {
		if a, b := rec.reqs[pressed].Header.Get(h), rec.reqs[again].Header.Get(h); a != b || a == "" {
			t.Fatalf("%s: %q, then %q in the replay", h, a, b)
		}
	}
}

// TestShapesMatchFixtures checks that what the fake sends carries every
// field of the documented shapes in ../testdata.
func TestShapesMatchFixtures(t *testing.T) {
	f, api := newFake(t, slackfake.Options{NoEcho: true})
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	f.DeliverTo(srv.URL)
	ctx := context.Background()
	_, ts, _ := api.PostMessageContext(ctx, "CREVIEW", slack.MsgOptionText("card", false),
		slack.MsgOptionBlocks(slack.NewActionBlock("acts", slack.NewButtonBlockElement("heed_approve", "42",
			slack.NewTextBlockObject("plain_text", "Approve", false, false)).WithStyle(slack.StylePrimary))))
	last := func() []byte { return rec.bodies[len(rec.bodies)-1] }

	f.React("UALICE", "CREVIEW", ts, "+1::skin-tone-4")
	conforms(t, "events/reaction_added-skin-tone.json", last())
	f.Unreact("UALICE", "CREVIEW", ts, "+1::skin-tone-4")
	conforms(t, "events/reaction_removed.json", last())
	f.Say("UBOB", "CREVIEW", "pause breaking news")
	conforms(t, "events/message-pause.json", last())
	f.Say("UBOB", "CREVIEW", "<@"+f.Options().BotUserID+"> status")
	conforms(t, "events/app_mention.json", last())
	card, _ := f.Message("CREVIEW", ts)
	card.Click("UALICE", "heed_approve")
	form, _ := url.ParseQuery(string(last()))
	conforms(t, "http/block_actions.json", []byte(form.Get("payload")))
	f.Slash("UBOB", "CREVIEW", "/heed", "pause breaking news")
	want, _ := url.ParseQuery(readFixture(t, "http/slash-heed-pause.txt"))
	form, _ = url.ParseQuery(string(last()))
	for k := range want {
		if !form.Has(k) {
			t.Errorf("slash command body lacks %q", k)
		}
	}

	// A message shortcut, the modal it opens, and its submission.
	msg := f.SaySilently("UALICE", "CREVIEW", "", "Release 2.0 is out")
	f.Shortcut("UALICE", msg, "heed_schedule")
	form, _ = url.ParseQuery(string(last()))
	conforms(t, "http/message_action.json", []byte(form.Get("payload")))
	var shortcut struct {
		TriggerID string `json:"trigger_id"`
	}
	_ = json.Unmarshal([]byte(form.Get("payload")), &shortcut)
	view := slack.ModalViewRequest{Type: slack.VTModal, CallbackID: "heed_schedule", PrivateMetadata: `{"room":"CREVIEW"}`,
		Title:  slack.NewTextBlockObject("plain_text", "Schedule with heed", false, false),
		Submit: slack.NewTextBlockObject("plain_text", "Schedule", false, false),
		Close:  slack.NewTextBlockObject("plain_text", "Cancel", false, false),
		Blocks: slack.Blocks{BlockSet: []slack.Block{slack.NewInputBlock("text", slack.NewTextBlockObject("plain_text", "Text", false, false), nil,
			slack.NewPlainTextInputBlockElement(nil, "text").WithInitialValue("Release 2.0 is out").WithMultiline(true))}}}
	vb, _ := json.Marshal(view)
	conforms(t, "web/views.open.json", rawCall(t, f, "views.open", url.Values{"trigger_id": {shortcut.TriggerID}, "view": {string(vb)}}))
	f.ExpectView(t, nil).Submit(t, "UALICE", nil)
	form, _ = url.ParseQuery(string(last()))
	conforms(t, "http/view_submission.json", []byte(form.Get("payload")))

	// Web API answers.
	raw := func(method string, v url.Values) []byte {
		v.Set("token", f.Options().BotToken)
		resp, err := http.PostForm(f.APIURL()+method, v)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	f.React("UALICE", "CREVIEW", ts, "white_check_mark")
	conforms(t, "web/reactions.get.json", raw("reactions.get", url.Values{"channel": {"CREVIEW"}, "timestamp": {ts}, "full": {"true"}}))
	conforms(t, "web/chat.postMessage.json", raw("chat.postMessage", url.Values{"channel": {"CREVIEW"}, "text": {"x"}}))
	raw("chat.postMessage", url.Values{"channel": {"CREVIEW"}, "text": {"x"}, "metadata": {`{"event_type":"heed_publish","event_payload":{"idempotency_key":"k"}}`}})
	conforms(t, "web/conversations.history.json", raw("conversations.history", url.Values{"channel": {"CREVIEW"}, "limit": {"1"}, "include_all_metadata": {"1"}}))
	_, parent, err := api.PostMessageContext(ctx, "CREVIEW", slack.MsgOptionText("#42 · IN REVIEW", false))
	if err != nil {
		t.Fatal(err)
	}
	f.SaySilently("UBOB", "CREVIEW", parent, "pause")
	conforms(t, "web/conversations.history-thread.json", raw("conversations.history", url.Values{"channel": {"CREVIEW"}, "limit": {"1"}}))
	conforms(t, "web/conversations.replies.json", raw("conversations.replies", url.Values{"channel": {"CREVIEW"}, "ts": {parent}}))
	conforms(t, "web/usergroups.users.list.json", raw("usergroups.users.list", url.Values{"usergroup": {"SAPPROVERS"}}))
	conforms(t, "web/users.info-bot.json", raw("users.info", url.Values{"user": {"UDEPLOY"}}))

	// Socket Mode frames, read with a bare websocket client.
	f.DeliverTo("")
	resp, err := http.Post(f.APIURL()+"apps.connections.open?token="+f.Options().AppToken, "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	var open struct{ URL string }
	_ = json.NewDecoder(resp.Body).Decode(&open)
	resp.Body.Close()
	conn, _, err := websocket.DefaultDialer.Dial(open.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Read and ack every frame in the background, as an app would.
	frames := make(chan []byte, 10)
	go func() {
		defer close(frames)
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var env struct {
				EnvelopeID string `json:"envelope_id"`
			}
			_ = json.Unmarshal(b, &env)
			if env.EnvelopeID != "" {
				_ = conn.WriteJSON(map[string]string{"envelope_id": env.EnvelopeID})
			}
			frames <- b
		}
	}()
	next := func() []byte {
		select {
		case b := <-frames:
			return b
		case <-time.After(10 * time.Second):
			t.Fatal("no frame")
			return nil
		}
	}
	conforms(t, "socket/hello.json", next())
	f.React("UBOB", "CREVIEW", ts, "white_check_mark")
	conforms(t, "socket/events_api.json", next())
	card.Click("UALICE", "heed_approve")
	conforms(t, "socket/interactive.json", next())
	f.Slash("UBOB", "CREVIEW", "/heed", "pause")
	conforms(t, "socket/slash_commands.json", next())
	// Disconnect waits for the app to close the socket; this app closes it
	// once it has read the frame.
	closed := make(chan struct{})
	go func() { defer close(closed); f.Disconnect(t, "refresh_requested") }()
	conforms(t, "socket/disconnect-refresh_requested.json", next())
	conn.Close()
	<-closed
}

func readFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// conforms fails unless got has every key of the fixture, recursively.
func conforms(t *testing.T, fixture string, got []byte) {
	t.Helper()
	var want, have any
	if err := json.Unmarshal([]byte(readFixture(t, fixture)), &want); err != nil {
		t.Fatalf("%s: %v", fixture, err)
	}
	if err := json.Unmarshal(got, &have); err != nil {
		t.Fatalf("%s: fake sent invalid JSON: %v\n%s", fixture, err, got)
	}
	var missing []string
	var walk func(path string, w, h any)
	walk = func(path string, w, h any) {
		switch w := w.(type) {
		case map[string]any:
			hm, ok := h.(map[string]any)
			if !ok {
				missing = append(missing, path+" (not an object)")
				return
			}
			for k, wv := range w {
				hv, ok := hm[k]
				if !ok {
					missing = append(missing, path+"."+k)
					continue
				}
				walk(path+"."+k, wv, hv)
			}
		case []any:
			ha, ok := h.([]any)
			if !ok || len(w) == 0 {
				return
			}
			if len(ha) == 0 {
				missing = append(missing, path+"[0]")
				return
			}
			walk(path+"[0]", w[0], ha[0])
		}
	}
	walk("", want, have)
	if len(missing) > 0 {
		sort.Strings(missing)
		t.Errorf("%s: the fake's payload lacks %s\n%s", fixture, strings.Join(missing, ", "), got)
	}
}

// rawCall calls the fake's Web API with the bot token and returns the body.
func rawCall(t *testing.T, f *slackfake.Fake, method string, v url.Values) []byte {
	t.Helper()
	v.Set("token", f.Options().BotToken)
	resp, err := http.PostForm(f.APIURL()+method, v)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

// views.open takes a trigger_id the fake issued, once, within 3 seconds
// of the fake's clock, and a modal with a title of at most 24
// characters; each refusal is Slack's documented error.
func TestViewsOpenTriggers(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	f, _ := newFake(t, slackfake.Options{NoEcho: true, Now: clock})
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	f.DeliverTo(srv.URL)
	trigger := func() string {
		f.Slash("UBOB", "CREVIEW", "/heed", "schedule")
		rec.mu.Lock()
		defer rec.mu.Unlock()
		form, _ := url.ParseQuery(string(rec.bodies[len(rec.bodies)-1]))
		return form.Get("trigger_id")
	}
	modal := `{"type":"modal","title":{"type":"plain_text","text":"Schedule with heed"},"blocks":[]}`
	open := func(trigger, view string) string {
		var r struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		}
		_ = json.Unmarshal(rawCall(t, f, "views.open", url.Values{"trigger_id": {trigger}, "view": {view}}), &r)
		if r.OK {
			return "ok"
		}
		return r.Error
	}
	tr := trigger()
	if got := open(tr, `{"type":"modal","title":{"type":"plain_text","text":"A title longer than 24 characters"},"blocks":[]}`); got != "invalid_arguments" {
		t.Errorf("long title: %s", got)
	}
	if got := open(tr, modal); got != "ok" {
		t.Errorf("first use: %s", got)
	}
	if got := open(tr, modal); got != "exchanged_trigger_id" {
		t.Errorf("second use: %s", got)
	}
	if got := open("1.2.made-up", modal); got != "invalid_trigger_id" {
		t.Errorf("made-up trigger: %s", got)
	}
	late := trigger()
	mu.Lock()
	now = now.Add(3*time.Second + time.Millisecond)
	mu.Unlock()
	if got := open(late, modal); got != "expired_trigger_id" {
		t.Errorf("late trigger: %s", got)
	}
	if n := len(f.Views()); n != 1 {
		t.Errorf("%d views stored, want 1", n)
	}
}
