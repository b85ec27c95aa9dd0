package slack

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot/slack/slackfake"
	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/mastodon"
)

// The scheduling modal, on a whole heed (peopleStack: alice is U0ALICE,
// bob is UBOB, both approvers) with two targets: "rec", and "masto", a
// Mastodon account on an instance whose statuses hold 500 characters.

// modalStack is peopleStack in mode with the Mastodon target.
func modalStack(t *testing.T, mode string) *stackEnv {
	t.Helper()
	inst := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/instance" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"version":"4.3.0","configuration":{"statuses":{"max_characters":500,"max_media_attachments":4}}}`))
	}))
	t.Cleanup(inst.Close)
	pub, err := mastodon.New(publish.Config{Name: "masto", Kind: "mastodon", Decode: func(v any) error {
		*v.(*mastodon.Config) = mastodon.Config{Server: inst.URL, AccessToken: "fake-token"}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	x, _ := peopleStackWith(t, peopleSetup{mode: mode, targets: []publish.Target{{Name: "masto", Kind: "mastodon", Publisher: pub}}})
	return x
}

// openFromShortcut has alice run "Schedule with heed" on a message of
// hers in the review channel and returns the modal it opened.
func openFromShortcut(t *testing.T, x *stackEnv, text string) slackfake.View {
	t.Helper()
	msg := x.f.SaySilently(aliceSlack, chReview, "", text)
	x.f.Shortcut(aliceSlack, msg, callbackSchedule)
	return x.f.ExpectView(t, func(v slackfake.View) bool { return v.CallbackID == callbackSchedule && v.Open })
}

// tomorrow is the modal's date input for the day after the stack's now,
// in Berlin (the fake's users' zone).
func dayAfter(x *stackEnv, d time.Duration) (string, string) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := x.s.Clock.Now().Add(d).In(berlin)
	return at.Format(time.DateOnly), at.Format("15:04")
}

func submitted(t *testing.T, d *slackfake.Delivery) slackfake.SubmitResponse {
	t.Helper()
	r, err := slackfake.ParseSubmitResponse(d.Response())
	if err != nil {
		t.Fatalf("answer %q: %v", d.Response(), err)
	}
	return r
}

func countPosts(t *testing.T, x *stackEnv) int {
	t.Helper()
	ps, err := x.s.Service.Posts.ListPosts(x.s.Ctx, true, 100)
	if err != nil {
		t.Fatal(err)
	}
	return len(ps)
}

// The shortcut opens the modal prefilled with the message's text (as
// typed, not as Slack escapes it), the targets to choose from, and a
// line naming the zone: alice's Slack zone.
func TestModalShortcutOpensPrefilled(t *testing.T) {
	x := modalStack(t, ModeEvents)
	v := openFromShortcut(t, x, "Release 2.0 is out & <b>ready</b>")
	if in, _ := v.Input(blockText); in.Initial != "Release 2.0 is out & <b>ready</b>" || in.Type != "plain_text_input" {
		t.Errorf("text input = %+v", in)
	}
	if in, _ := v.Input(blockTargets); in.Type != "multi_static_select" || !slices.Equal(in.Options, []string{"masto", "rec"}) {
		t.Errorf("targets input = %+v", in)
	}
	for _, b := range []string{blockDate, blockTime} {
		if in, ok := v.Input(b); !ok || in.Initial == "" {
			t.Errorf("%s input = %+v", b, in)
		}
	}
	if !strings.Contains(string(v.Blocks), "Europe/Berlin") || !strings.Contains(string(v.Blocks), "your Slack time zone") {
		t.Errorf("the modal does not say the zone: %s", v.Blocks)
	}
	if !strings.Contains(v.PrivateMetadata, chReview) {
		t.Errorf("private_metadata %q does not name the review channel", v.PrivateMetadata)
	}
	if v.User != aliceSlack {
		t.Errorf("view opened for %s", v.User)
	}
}

// `/heed schedule TEXT` opens the same modal with TEXT; in a channel that
// is not a review channel, the card goes to the review channel. A
// complete `/heed schedule WHEN to T TEXT` still schedules as typed.
func TestModalFromSlashCommand(t *testing.T) {
	x := modalStack(t, ModeEvents)
	x.f.AddChannel(chOther, "random", aliceSlack)
	x.f.Slash(aliceSlack, chOther, "/heed", "schedule Our newsletter is out")
	v := x.f.ExpectView(t, nil)
	if in, _ := v.Input(blockText); in.Initial != "Our newsletter is out" {
		t.Errorf("text input = %+v", in)
	}
	if !strings.Contains(v.PrivateMetadata, chReview) {
		t.Errorf("private_metadata %q: want the review channel", v.PrivateMetadata)
	}
	x.f.Slash(aliceSlack, chReview, "/heed", "schedule in 3 minutes to rec Typed in full")
	x.f.ExpectMessage(t, chReview, func(m slackfake.Message) bool {
		return strings.Contains(m.AllText(), "scheduled from chat by") && strings.Contains(m.AllText(), "→ rec")
	})
	if n := len(x.f.Views()); n != 1 {
		t.Errorf("%d views opened, want 1 (the full command schedules as typed)", n)
	}
}

// A trigger_id opens one view, once; the fake refuses it again, as Slack
// does (exchanged_trigger_id).
func TestModalTriggerUsedOnce(t *testing.T) {
	x := modalStack(t, ModeEvents)
	x.f.Slash(aliceSlack, chReview, "/heed", "schedule")
	x.f.ExpectView(t, nil)
	var trigger string
	for _, c := range x.f.Calls("views.open") {
		trigger = c.Params.Get("trigger_id")
	}
	status, body := postAPI(t, x.f, "views.open", url.Values{"trigger_id": {trigger}, "view": {`{"type":"modal","title":{"type":"plain_text","text":"x"},"blocks":[]}`}})
	if status != http.StatusOK || !strings.Contains(body, "exchanged_trigger_id") {
		t.Fatalf("second views.open with the trigger: %d %s", status, body)
	}
}

// An over-long Mastodon text gets its error next to the text, names the
// limit, and stores nothing; the modal stays open.
func TestModalOverLongMastodonText(t *testing.T) {
	x := modalStack(t, ModeEvents)
	v := openFromShortcut(t, x, strings.Repeat("long ", 120)) // 600 characters
	day, hm := dayAfter(x, time.Hour)
	r := submitted(t, v.Submit(t, aliceSlack, map[string]any{blockTargets: []string{"masto", "rec"}, blockDate: day, blockTime: hm}))
	if r.Action != "errors" || !strings.Contains(r.Errors[blockText], "500") || !strings.Contains(r.Errors[blockText], "masto") {
		t.Fatalf("answer = %+v, want an error on the text naming masto's 500", r)
	}
	if n := countPosts(t, x); n != 0 {
		t.Fatalf("%d posts stored", n)
	}
	if !v.Refresh().Open {
		t.Fatal("the modal closed on an error")
	}
}

// Slack's client does not send a form with a required input left empty;
// a signed submission that has one anyway (no target, no text) gets the
// error next to that input, and stores nothing.
func TestModalEmptyInputsRefused(t *testing.T) {
	x := modalStack(t, ModeEvents)
	v := openFromShortcut(t, x, "Some text")
	day, hm := dayAfter(x, time.Hour)
	// A first submission names the text on masto, which is too long,
	// so that the view stays open; its payload is then sent again as a
	// new submission with an input emptied.
	d := v.Submit(t, aliceSlack, map[string]any{blockText: strings.Repeat("x", 501), blockTargets: []string{"masto"}, blockDate: day, blockTime: hm})
	if r := submitted(t, d); r.Action != "errors" {
		t.Fatalf("answer = %+v", r)
	}
	for i, tc := range []struct{ from, to, block string }{
		{`"selected_options":[{`, `"selected_options":[],"was":[{`, blockTargets},
		{`"value":"` + strings.Repeat("x", 501) + `"`, `"value":null`, blockText},
	} {
		payload := strings.Replace(string(d.Payload), tc.from, tc.to, 1)
		payload = strings.Replace(payload, `"trigger_id":"`, `"trigger_id":"again`+strconv.Itoa(i), 1)
		if payload == string(d.Payload) || !strings.Contains(payload, tc.to) {
			t.Fatalf("payload not changed: %s", payload)
		}
		status, body := x.f.PostSigned(x.s.Clock.Now().Unix(), []byte("payload="+url.QueryEscape(payload)),
			http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
		r, err := slackfake.ParseSubmitResponse(body)
		if status != http.StatusOK || err != nil || r.Action != "errors" || r.Errors[tc.block] == "" {
			t.Errorf("%s emptied: %d %s", tc.block, status, body)
		}
	}
	if n := countPosts(t, x); n != 0 {
		t.Fatalf("%d posts stored", n)
	}
}

// A time that has passed gets its error next to the time.
func TestModalTimeInThePast(t *testing.T) {
	x := modalStack(t, ModeEvents)
	v := openFromShortcut(t, x, "Too late")
	day, hm := dayAfter(x, -time.Hour)
	r := submitted(t, v.Submit(t, aliceSlack, map[string]any{blockTargets: []string{"rec"}, blockDate: day, blockTime: hm}))
	if r.Action != "errors" || !strings.Contains(r.Errors[blockTime], "in the past") {
		t.Fatalf("answer = %+v, want an error on the time", r)
	}
	if n := countPosts(t, x); n != 0 {
		t.Fatalf("%d posts stored", n)
	}
}

// A valid submission stores alice's post at the picked time in her zone,
// closes the modal, and its receipt and card follow in the review
// channel; her own ✅ does not count, bob's does.
func TestModalSubmitSchedules(t *testing.T) {
	x := modalStack(t, ModeEvents)
	testModalSubmitSchedules(t, x)
}

// The same over Socket Mode: the answer travels in the envelope's ack.
func TestModalSubmitSchedulesSocketMode(t *testing.T) {
	x := modalStack(t, ModeSocket)
	testModalSubmitSchedules(t, x)
}

func testModalSubmitSchedules(t *testing.T, x *stackEnv) {
	t.Helper()
	v := openFromShortcut(t, x, "Launch day from the modal")
	// The picker reads minutes: the time is two whole minutes ahead.
	at := x.s.Clock.Now().Truncate(time.Minute).Add(3 * time.Minute)
	day, hm := dayAfter(x, at.Sub(x.s.Clock.Now()))
	d := v.Submit(t, aliceSlack, map[string]any{blockTargets: []string{"rec"}, blockDate: day, blockTime: hm})
	if r := submitted(t, d); r.Action == "errors" {
		t.Fatalf("answer = %+v", r)
	}
	if v.Refresh().Open {
		t.Error("the modal is still open")
	}
	x.f.ExpectMessage(t, chReview, func(m slackfake.Message) bool {
		return strings.Contains(m.AllText(), "scheduled from chat by @alice") && strings.Contains(m.AllText(), "→ rec")
	})
	card := x.f.ExpectMessage(t, chReview, func(m slackfake.Message) bool {
		return m.Metadata != nil && m.Metadata.EventType == "heed_card" && strings.Contains(m.AllText(), "Launch day from the modal")
	})
	ps, err := x.s.Service.Posts.ListPosts(x.s.Ctx, true, 10)
	if err != nil || len(ps) != 1 {
		t.Fatalf("posts: %+v, %v", ps, err)
	}
	p := ps[0]
	if p.Author != "alice" || !p.Schedule.At.Equal(at) || p.Schedule.TZ != "Europe/Berlin" || !strings.Contains(p.Source, "@alice") {
		t.Fatalf("post = %+v, want alice's at %v in Europe/Berlin", p, at)
	}
	x.f.React(aliceSlack, chReview, card.TS, "white_check_mark")
	card = x.f.ExpectUpdate(t, card)
	card.AssertText(t, "the post's author may not approve it")
	x.s.WantState(p.ID, approvals.StateInReview)
	x.f.React(bob, chReview, card.TS, "white_check_mark")
	card.ExpectUpdateText(t, "APPROVED", "approved by @bob (1/1)")
	x.s.WantState(p.ID, approvals.StateApproved)
}

// A view_submission replayed exactly as it was signed stores nothing
// more; one without a valid signature is refused with 401.
func TestModalSubmissionReplayedOrUnsigned(t *testing.T) {
	x := modalStack(t, ModeEvents)
	v := openFromShortcut(t, x, "Once only")
	day, hm := dayAfter(x, time.Hour)
	d := v.Submit(t, aliceSlack, map[string]any{blockTargets: []string{"rec"}, blockDate: day, blockTime: hm})
	if r := submitted(t, d); r.Action == "errors" {
		t.Fatalf("answer = %+v", r)
	}
	if n := countPosts(t, x); n != 1 {
		t.Fatalf("%d posts after the submission", n)
	}
	again := x.f.Replay(d)
	if r := submitted(t, again); r.Action != "errors" || !strings.Contains(r.Errors[blockText], "sent already") {
		t.Errorf("answer to the replay = %+v", r)
	}
	if n := countPosts(t, x); n != 1 {
		t.Fatalf("%d posts after the replay, want 1", n)
	}
	body := []byte("payload=" + url.QueryEscape(string(d.Payload)))
	status, _ := x.f.PostRaw(body, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	if status != http.StatusUnauthorized {
		t.Errorf("unsigned view_submission answered %d, want 401", status)
	}
	forged := http.Header{"Content-Type": {"application/x-www-form-urlencoded"},
		"X-Slack-Request-Timestamp": {strconvUnix(x.s.Clock.Now())},
		"X-Slack-Signature":         {slackfake.Sign("not-the-secret", x.s.Clock.Now().Unix(), body)}}
	if status, _ := x.f.PostRaw(body, forged); status != http.StatusUnauthorized {
		t.Errorf("view_submission signed with another secret answered %d, want 401", status)
	}
	if n := countPosts(t, x); n != 1 {
		t.Fatalf("%d posts after forged submissions, want 1", n)
	}
}

// postAPI calls the fake's Web API with the bot token, as an app would.
func postAPI(t *testing.T, f *slackfake.Fake, method string, params url.Values) (int, string) {
	t.Helper()
	params.Set("token", f.Options().BotToken)
	resp, err := http.PostForm(f.APIURL()+method, params)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func strconvUnix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// A user Slack knows no zone for picks the time in the review room's
// zone (here the team's, UTC), and the modal says so.
func TestModalZoneFallsBackToTheRoom(t *testing.T) {
	x := modalStack(t, ModeEvents)
	x.f.AddUser(slackfake.User{ID: bob, Name: "bob", TZ: "-"})
	msg := x.f.SaySilently(bob, chReview, "", "Bob's news")
	x.f.Shortcut(bob, msg, callbackSchedule)
	v := x.f.ExpectView(t, nil)
	if !strings.Contains(string(v.Blocks), "*UTC*") || !strings.Contains(string(v.Blocks), "the review room's zone") {
		t.Fatalf("the modal does not say it uses the room's zone: %s", v.Blocks)
	}
	at := x.s.Clock.Now().UTC().Truncate(time.Minute).Add(time.Hour)
	d := v.Submit(t, bob, map[string]any{blockTargets: []string{"rec"}, blockDate: at.Format(time.DateOnly), blockTime: at.Format("15:04")})
	if r := submitted(t, d); r.Action == "errors" {
		t.Fatalf("answer = %+v", r)
	}
	ps, err := x.s.Service.Posts.ListPosts(x.s.Ctx, true, 10)
	if err != nil || len(ps) != 1 {
		t.Fatalf("posts: %+v, %v", ps, err)
	}
	if p := ps[0]; p.Author != "bob" || !p.Schedule.At.Equal(at) || p.Schedule.TZ != "UTC" {
		t.Fatalf("post = %+v, want bob's at %v UTC", p, at)
	}
}

// When Slack refuses to open the form (the trigger expired on the way),
// the user is told privately, through the shortcut's response_url.
func TestModalOpenRefusedIsTold(t *testing.T) {
	x := modalStack(t, ModeEvents)
	x.f.FailNext("views.open", "expired_trigger_id")
	msg := x.f.SaySilently(aliceSlack, chReview, "", "Some news")
	x.f.Shortcut(aliceSlack, msg, callbackSchedule)
	rs := x.f.Responses()
	if len(rs) != 1 || !strings.Contains(rs[0].Body, "could not open its scheduling form") || !strings.Contains(rs[0].Body, `"ephemeral"`) {
		t.Fatalf("responses = %+v", rs)
	}
	if n := len(x.f.Views()); n != 0 {
		t.Fatalf("%d views open", n)
	}
}

// Slack answers views.open with 429 and a Retry-After longer than the
// trigger lives: heed does not wait it out (the trigger would be dead),
// opens nothing, and tells the user privately.
func TestModalOpenRateLimitedIsTold(t *testing.T) {
	x := modalStack(t, ModeEvents)
	x.f.RateLimitMethod("views.open", 1, 30)
	msg := x.f.SaySilently(aliceSlack, chReview, "", "Some news")
	start := time.Now()
	x.f.Shortcut(aliceSlack, msg, callbackSchedule)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the shortcut was answered %s later: Slack wants an answer within 3 s", d)
	}
	rs := x.f.Responses()
	if len(rs) != 1 || !strings.Contains(rs[0].Body, "could not open its scheduling form") || !strings.Contains(rs[0].Body, `"ephemeral"`) {
		t.Fatalf("responses = %+v", rs)
	}
	if n := len(x.f.Views()); n != 0 {
		t.Fatalf("%d views open", n)
	}
}
