package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"

	"github.com/heed-dev/heed/bot"
)

func intp(n int) *int { return &n }

func parseSync(t *testing.T, raw []byte) *mautrix.RespSync {
	t.Helper()
	var resp mautrix.RespSync
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Fatal(err)
	}
	return &resp
}

// newTestAdapter builds an adapter on the fake homeserver, serving
// !review:heed.test (moderators approve) and !review2:heed.test.
func newTestAdapter(t *testing.T, f *fakeHS, st *memState, opts ...Option) (*Adapter, *recordingSleep) {
	t.Helper()
	sl := &recordingSleep{}
	cfg := Config{
		Homeserver: f.URL, UserID: "@heed:heed.test", Password: "correct horse",
		Rooms: []RoomConfig{{ID: "!review:heed.test", Approvers: []string{"@alice:heed.test"}, ApproverPowerLevel: intp(50)}},
		Bots:  []string{"@feeds:heed.test"},
	}
	a, err := New(cfg, []string{"!review2:heed.test"}, st, append([]Option{WithSleep(sl.sleep)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return a, sl
}

// runAdapter runs a until the test ends and returns Run's result channel.
func runAdapter(t *testing.T, a *Adapter, h bot.Handler) (<-chan error, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() { done <- a.Run(ctx, h); close(finished) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return done, cancel
}

func waitEvent(t *testing.T, r *recorder) bot.Event {
	t.Helper()
	select {
	case ev := <-r.ch:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event delivered")
		return bot.Event{}
	}
}

// waitFor polls a condition on the fake (in memory, no network) until the
// deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Homeserver: "matrix.example.org", AccessToken: "t", Rooms: []RoomConfig{{ID: "!a:b"}}}, "homeserver must be"},
		{Config{Homeserver: "https://m.org", Rooms: []RoomConfig{{ID: "!a:b"}}}, "set either access_token"},
		{Config{Homeserver: "https://m.org", Password: "pw"}, "password needs user_id"},
		{Config{Homeserver: "https://m.org", AccessToken: "t", Password: "pw", UserID: "@a:b"}, "not both"},
		{Config{Homeserver: "https://m.org", AccessToken: "t", Rooms: []RoomConfig{{ID: "#alias:b"}}}, "not a room id"},
		{Config{Homeserver: "https://m.org", AccessToken: "t", Rooms: []RoomConfig{{ID: "!a:b", Approvers: []string{"alice"}}}}, "not a user id"},
		{Config{Homeserver: "https://m.org", AccessToken: "t", Rooms: []RoomConfig{{ID: "!a:b", ApproverPowerLevel: intp(0)}}}, "must be 1 or more"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	secret := Config{Homeserver: "https://m.org", AccessToken: "syt_secret_value", Password: "hunter2-secret", UserID: "@a:b"}
	if err := secret.Validate(); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("Validate error leaks a secret or is missing: %v", err)
	}
	ok := Config{Homeserver: "https://m.org", UserID: "@heed:m.org", Password: "pw", Rooms: []RoomConfig{{ID: "!a:m.org", ApproverPowerLevel: intp(50)}}}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	if _, err := New(ok, []string{"#alias:m.org"}, newMemState()); err == nil {
		t.Errorf("New accepted a room alias from the top-level rooms")
	}
	if _, err := New(ok, nil, nil); err == nil {
		t.Errorf("New accepted no state store")
	}
}

// Login keeps the device and token; a restart reuses them without logging
// in; a token the server no longer accepts means logging in again on the
// same device.
func TestLoginKeepsDeviceAndToken(t *testing.T) {
	f := newFakeHS(t)
	st := newMemState()
	a, _ := newTestAdapter(t, f, st)
	if err := a.connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(f.logins) != 1 {
		t.Fatalf("%d logins, want 1", len(f.logins))
	}
	dev, _ := st.GetKV(t.Context(), "matrix/matrix/@heed:heed.test/device_id")
	tok, _ := st.GetKV(t.Context(), "matrix/matrix/@heed:heed.test/access_token")
	if dev != "NEWDEVICE" || tok != f.token {
		t.Fatalf("stored device %q token %q", dev, tok)
	}
	if a.UserID() != "@heed:heed.test" {
		t.Errorf("UserID = %q", a.UserID())
	}

	b, _ := newTestAdapter(t, f, st)
	if err := b.connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(f.logins) != 1 {
		t.Errorf("restart logged in again although the stored token is valid")
	}

	f.mu.Lock()
	f.token = "syt_revoked_elsewhere"
	f.mu.Unlock()
	c, _ := newTestAdapter(t, f, st)
	if err := c.connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(f.logins) != 2 || f.logins[1]["device_id"] != "NEWDEVICE" {
		t.Errorf("logins %v, want a second login reusing device NEWDEVICE", f.logins)
	}
}

func TestWrongPasswordIsFatal(t *testing.T) {
	f := newFakeHS(t)
	f.password = "something else"
	a, _ := newTestAdapter(t, f, newMemState())
	err := a.Run(t.Context(), newRecorder())
	if err == nil || !isFatal(err) || !strings.Contains(err.Error(), "check user_id and password") {
		t.Fatalf("Run = %v, want a fatal login error", err)
	}
	if strings.Contains(err.Error(), "correct horse") {
		t.Errorf("the password reached the error: %v", err)
	}
}

func TestAccessTokenOfAnotherUserIsRefused(t *testing.T) {
	f := newFakeHS(t)
	cfg := Config{Homeserver: f.URL, UserID: "@someone:heed.test", AccessToken: f.token, Rooms: []RoomConfig{{ID: "!review:heed.test"}}}
	a, err := New(cfg, nil, newMemState())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.connect(t.Context()); err == nil || !isFatal(err) || strings.Contains(err.Error(), f.token) {
		t.Errorf("connect = %v, want a fatal error without the token", err)
	}
}

// The recorded sync response: invites to review rooms are accepted and
// others ignored, events from rooms that are not review rooms are dropped,
// power levels apply in timeline order, edits are ignored, and a repeated
// response delivers nothing twice.
func TestProcessSync(t *testing.T) {
	f := newFakeHS(t)
	a, _ := newTestAdapter(t, f, newMemState())
	if err := a.connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	raw := readFixture(t, "sync.json")
	sync := parseSync(t, raw)

	h := newRecorder()
	approverAtEvent := map[string]bool{}
	h.during = func(ev bot.Event) {
		ok, _, _ := isApprover(a, ev.Room, "@dave:heed.test")
		approverAtEvent[ev.ID] = ok
	}
	cli, _ := a.client()
	if err := a.process(t.Context(), h, cli, sync, "s99"); err != nil {
		t.Fatal(err)
	}
	if len(f.joins) != 1 || f.joins[0] != "!review2:heed.test" {
		t.Errorf("joined %v, want only the invited review room !review2", f.joins)
	}
	var got []string
	for _, ev := range h.got() {
		got = append(got, string(ev.Kind)+" "+ev.ID)
		if ev.Room != "!review:heed.test" {
			t.Errorf("event %s from room %s", ev.ID, ev.Room)
		}
	}
	want := []string{
		"reaction $react-check:heed.test",
		"policy $pl2:heed.test", // the power-level change: heed weighs the cards' reactions again
		"reaction $react-thumbs:heed.test",
		"message $msg-thread:heed.test",
		"unreaction $redact1:heed.test",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("delivered:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if approverAtEvent["$react-check:heed.test"] || !approverAtEvent["$react-thumbs:heed.test"] {
		t.Errorf("dave approver before/after the power-level change in the same batch: %v, want false then true", approverAtEvent)
	}

	if err := a.process(t.Context(), h, cli, parseSync(t, raw), "s99"); err != nil {
		t.Fatal(err)
	}
	if n := len(h.got()); n != len(want) {
		t.Errorf("a repeated sync response delivered %d events, want still %d", n, len(want))
	}
}

// The first sync of an account skips the history (old events), but
// follows state.
func TestFirstSyncSkipsHistory(t *testing.T) {
	f := newFakeHS(t)
	a, _ := newTestAdapter(t, f, newMemState())
	if err := a.connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	a.startedMS = time.Now().UnixMilli() // the fixture's events are from before
	h := newRecorder()
	cli, _ := a.client()
	if err := a.process(t.Context(), h, cli, parseSync(t, readFixture(t, "sync.json")), ""); err != nil {
		t.Fatal(err)
	}
	if n := len(h.got()); n != 0 {
		t.Errorf("first sync delivered %d old events", n)
	}
	if ok, _, _ := isApprover(a, "!review:heed.test", "@dave:heed.test"); !ok {
		t.Errorf("power levels from the first sync were not followed")
	}
}

func TestPowerLevelApprovers(t *testing.T) {
	f := newFakeHS(t)
	a, _ := newTestAdapter(t, f, newMemState())
	if ok, _, read := isApprover(a, "!review:heed.test", "@mod:heed.test"); ok || read {
		t.Errorf("before power levels are known: %v, roster read %v", ok, read)
	}
	a.applyState("!review:heed.test", loadEvent(t, "power-levels.json"))
	for user, want := range map[string]string{
		"@admin:heed.test":    "",
		"@mod:heed.test":      "",
		"@helper:heed.test":   "power level 49, needs 50",
		"@stranger:heed.test": "power level 0, needs 50",
	} {
		ok, why, read := isApprover(a, "!review:heed.test", user)
		if !read || ok != (want == "") || why != want {
			t.Errorf("isApprover(%s) = %v %q %v, want reason %q", user, ok, why, read, want)
		}
	}
	// A room without a power-level policy: only explicit approvers.
	if ok, _, _ := isApprover(a, "!review:heed.test", "@alice:heed.test"); !ok {
		t.Errorf("explicit approver refused")
	}
	if ok, why, _ := isApprover(a, "!review2:heed.test", "@admin:heed.test"); ok || why != "" {
		t.Errorf("room without approver_power_level: %v %q", ok, why)
	}
	if ok, _, read := isApprover(a, "!elsewhere:heed.test", "@alice:heed.test"); ok || read {
		t.Errorf("approver in a room that is not a review room")
	}
}

// Without pickle_key, an encrypted review room is refused at start-up, with a message in the
// room.
func TestEncryptedRoomRefusedAtStart(t *testing.T) {
	f := newFakeHS(t)
	f.joined = []string{"!review:heed.test", "!review2:heed.test"}
	f.encrypted["!review2:heed.test"] = true
	a, _ := newTestAdapter(t, f, newMemState())
	err := a.Run(t.Context(), newRecorder())
	if err == nil || !strings.Contains(err.Error(), "end-to-end encrypted") {
		t.Fatalf("Run = %v, want a refusal of the encrypted room", err)
	}
	sent := f.sentEvents()
	if len(sent) != 1 || sent[0].Room != "!review2:heed.test" || !strings.Contains(sent[0].Content["body"].(string), "will not serve this room") {
		t.Errorf("sent %+v, want one explanation in the encrypted room", sent)
	}
}

// Without pickle_key, a review room that turns encryption on while heed runs stops the adapter.
func TestEncryptionTurnedOnStopsTheAdapter(t *testing.T) {
	f := newFakeHS(t)
	f.joined = []string{"!review:heed.test", "!review2:heed.test"}
	a, _ := newTestAdapter(t, f, newMemState())
	done, _ := runAdapter(t, a, newRecorder())
	enc := loadEvent(t, "encryption.json")
	b, _ := json.Marshal(map[string]any{"next_batch": "s2", "rooms": map[string]any{"join": map[string]any{
		"!review:heed.test": map[string]any{"timeline": map[string]any{"events": []any{enc}}}}}})
	f.queueSync(string(b))
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "end-to-end encrypted") {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop for an encrypted review room")
	}
	if sent := f.sentEvents(); len(sent) != 1 || sent[0].Room != "!review:heed.test" {
		t.Errorf("sent %+v, want the explanation in the room", sent)
	}
}

// Alive moves only with successful syncs; a 429 on /sync is waited out for
// as long as retry_after_ms says; the sync token is saved after each batch
// and used after a restart.
func TestSyncAliveRateLimitAndToken(t *testing.T) {
	f := newFakeHS(t)
	st := newMemState()
	f.limitNext["sync"] = 1
	a, sl := newTestAdapter(t, f, st)
	if !a.Alive().IsZero() {
		t.Fatal("Alive before any sync")
	}
	h := newRecorder()
	_, cancel := runAdapter(t, a, h)
	waitFor(t, "a successful sync", func() bool { return !a.Alive().IsZero() })
	if w := sl.got(); len(w) == 0 || w[0] != 2*time.Second {
		t.Errorf("waits %v, want 2s first (retry_after_ms 2000)", w)
	}
	msg := loadEvent(t, "message-pause.json")
	msg.Timestamp = time.Now().UnixMilli()
	b, _ := json.Marshal(map[string]any{"next_batch": "s_after_pause", "rooms": map[string]any{"join": map[string]any{
		"!review:heed.test": map[string]any{"timeline": map[string]any{"events": []any{msg}}}}}})
	f.queueSync(string(b))
	if ev := waitEvent(t, h); ev.Text != "pause breaking news, hold everything" {
		t.Errorf("got %+v", ev)
	}
	waitFor(t, "the token saved", func() bool {
		v, _ := st.GetKV(t.Context(), "matrix/matrix/@heed:heed.test/next_batch")
		return strings.HasPrefix(v, "s_")
	})
	cancel()

	b2, _ := newTestAdapter(t, f, st)
	before := len(f.since())
	runAdapter(t, b2, newRecorder())
	waitFor(t, "a sync after restart", func() bool { return len(f.since()) > before })
	if first := f.since()[before]; first == "" {
		t.Errorf("after a restart the first /sync had no since token: history would be skipped or replayed")
	}
}

// Sends wait out 429s as asked, with the same transaction id, so the card
// is posted once.
func TestPostCardRateLimited(t *testing.T) {
	f := newFakeHS(t)
	f.limitNext["send"] = 2
	f.limitBody = `{"errcode":"M_LIMIT_EXCEEDED","error":"Too many requests"}`
	f.limitHdr = "3"
	a, sl := newTestAdapter(t, f, newMemState())
	if err := a.connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	ref, err := a.PostCard(t.Context(), "!review:heed.test", sampleCard())
	if err != nil {
		t.Fatal(err)
	}
	if w := sl.got(); len(w) != 2 || w[0] != 3*time.Second || w[1] != 3*time.Second {
		t.Errorf("waits %v, want two of 3s (Retry-After)", w)
	}
	sent := f.sentEvents()
	if len(sent) != 1 || ref != "$ev1:heed.test" {
		t.Fatalf("sent %d events, ref %q", len(sent), ref)
	}
	// Posting the same card again (its first answer lost) returns the same
	// event: the transaction id is derived from the occurrence.
	ref2, err := a.PostCard(t.Context(), "!review:heed.test", sampleCard())
	if err != nil || ref2 != ref || len(f.sentEvents()) != 1 {
		t.Errorf("second post of the same card: ref %q err %v, %d events", ref2, err, len(f.sentEvents()))
	}
}

func TestRateLimitGivesUpEventually(t *testing.T) {
	f := newFakeHS(t)
	f.limitNext["send"] = 100
	a, sl := newTestAdapter(t, f, newMemState())
	if err := a.connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, err := a.PostCard(t.Context(), "!review:heed.test", sampleCard())
	if _, limited := rateLimited(err); !limited {
		t.Fatalf("err = %v, want the rate limit after giving up", err)
	}
	if n := len(sl.got()); n != maxRateLimitWaits-1 {
		t.Errorf("waited %d times, want %d", n, maxRateLimitWaits-1)
	}
}

func TestUpdateCardEditsOnlyOnChange(t *testing.T) {
	f := newFakeHS(t)
	a, _ := newTestAdapter(t, f, newMemState())
	if err := a.connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	c := sampleCard()
	ref, err := a.PostCard(t.Context(), "!review:heed.test", c)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.UpdateCard(t.Context(), "!review:heed.test", ref, c); err != nil {
		t.Fatal(err)
	}
	if n := len(f.sentEvents()); n != 1 {
		t.Errorf("an unchanged card was edited (%d events)", n)
	}
	c.Approvals = append(c.Approvals, bot.Decision{User: "@bob:heed.test", Emoji: "✅"})
	if err := a.UpdateCard(t.Context(), "!review:heed.test", ref, c); err != nil {
		t.Fatal(err)
	}
	sent := f.sentEvents()
	if len(sent) != 2 {
		t.Fatalf("%d events, want the card and one edit", len(sent))
	}
	rel, _ := sent[1].Content["m.relates_to"].(map[string]any)
	nc, _ := sent[1].Content["m.new_content"].(map[string]any)
	if rel["rel_type"] != "m.replace" || rel["event_id"] != string(ref) || !strings.Contains(nc["body"].(string), "@bob:heed.test") {
		t.Errorf("edit = %v", sent[1].Content)
	}
	if err := a.Reply(t.Context(), "!review:heed.test", ref, "done"); err != nil {
		t.Fatal(err)
	}
	if err := a.Reply(t.Context(), "!elsewhere:heed.test", "", "x"); err == nil {
		t.Errorf("Reply into a room that is not a review room succeeded")
	}
}

func TestCardReactionsFollowsPages(t *testing.T) {
	f := newFakeHS(t)
	f.relPages[""] = readFixture(t, "relations-page1.json")
	f.relPages["page2_token"] = readFixture(t, "relations-page2.json")
	f.limitNext["relations"] = 1
	a, _ := newTestAdapter(t, f, newMemState())
	if err := a.connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	evs, err := a.CardReactions(t.Context(), "!review:heed.test", "$card1:heed.test")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		if ev.Kind != bot.Reaction || ev.Card != "$card1:heed.test" || ev.ReactionID == "" {
			t.Errorf("bad event %+v", ev)
		}
		got = append(got, ev.User+" "+ev.Emoji)
	}
	want := "@alice:heed.test ✅\ufe0f|@bob:heed.test 👍🏽|@carol:heed.test ❌"
	if strings.Join(got, "|") != want {
		t.Errorf("reactions %q, want %q (oldest first, redacted one left out)", strings.Join(got, "|"), want)
	}
}

func TestNotConnected(t *testing.T) {
	f := newFakeHS(t)
	a, _ := newTestAdapter(t, f, newMemState())
	if _, err := a.PostCard(t.Context(), "!review:heed.test", sampleCard()); !errors.Is(err, errNotConnected) {
		t.Errorf("PostCard before login: %v", err)
	}
}

// An invite that cannot be accepted (withdrawn meanwhile) is logged, and
// the rest of the batch is still handled.
func TestFailedJoinDoesNotStallTheSync(t *testing.T) {
	f := newFakeHS(t)
	f.noJoin = true
	a, _ := newTestAdapter(t, f, newMemState())
	if err := a.connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	h := newRecorder()
	cli, _ := a.client()
	if err := a.process(t.Context(), h, cli, parseSync(t, readFixture(t, "sync.json")), "s99"); err != nil {
		t.Fatalf("process = %v, want the batch handled despite the failed join", err)
	}
	if n := len(h.got()); n != 5 {
		t.Errorf("%d events delivered, want 5 (4 and a power-level change)", n)
	}
}

// isApprover asks the adapter's roster about user; read is false while
// the adapter has no roster for room (not read yet, or not a review room).
func isApprover(a *Adapter, room, user string) (ok bool, why string, read bool) {
	r, read := a.Roster(room)
	if !read {
		return false, "", false
	}
	ok, why = r.Allows(user)
	return ok, why, true
}

// In a room of version 12 the creators rank above every power level and
// are not listed in the power levels: they are approvers wherever a power
// level makes one. Before version 12, the creator is only what the power
// levels say.
func TestRoomVersion12CreatorsApprove(t *testing.T) {
	f := newFakeHS(t)
	a, _ := newTestAdapter(t, f, newMemState())
	a.applyState("!review:heed.test", loadEvent(t, "create-v12.json"))
	a.applyState("!review:heed.test", loadEvent(t, "power-levels.json"))
	for _, u := range []string{"@founder:heed.test", "@cofounder:heed.test"} {
		if ok, why, _ := isApprover(a, "!review:heed.test", u); !ok {
			t.Errorf("creator %s of a v12 room is not an approver: %q", u, why)
		}
	}
	old := loadEvent(t, "create-v12.json")
	old.Content.VeryRaw = []byte(`{"room_version":"11"}`)
	b, _ := newTestAdapter(t, newFakeHS(t), newMemState())
	b.applyState("!review:heed.test", old)
	b.applyState("!review:heed.test", loadEvent(t, "power-levels.json"))
	if ok, _, _ := isApprover(b, "!review:heed.test", "@founder:heed.test"); ok {
		t.Error("the creator of a v11 room counts without a power level")
	}
}
