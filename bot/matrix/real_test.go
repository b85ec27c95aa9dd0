package matrix

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/bot/matrix/matrixtest"
)

// The tests named TestReal* and TestE2E* run against a real Dendrite
// started by scripts/dendrite.sh (see matrixtest).
func TestMain(m *testing.M) { os.Exit(matrixtest.Main(m)) }

const realWait = 30 * time.Second

// The adapter against Dendrite, without the engine: it joins a review room
// on invite and ignores another, posts a card, hears a reaction with the
// key as sent, edits the card, reads the reaction back through the
// relations API, and hears the redaction.
func TestRealAdapterBasics(t *testing.T) {
	srv := matrixtest.Shared(t)
	ctx := t.Context()
	botUser := srv.Register(t, "heed")
	alice := srv.Register(t, "alice")
	room := alice.CreateRoom(t, false, botUser)
	other := alice.CreateRoom(t, false, botUser)

	a, err := New(Config{Homeserver: srv.URL, UserID: string(botUser.ID), Password: botUser.Password,
		Rooms: []RoomConfig{{ID: string(room), ApproverPowerLevel: intp(50)}}}, nil, newMemState(), WithSyncTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	h := newRecorder()
	runAdapter(t, a, h)
	waitFor(t, "the first sync", func() bool { return !a.Alive().IsZero() })
	waitJoined(t, botUser, room)

	watch := alice.Watch(t)
	ref, err := a.PostCard(ctx, string(room), sampleCard())
	if err != nil {
		t.Fatal(err)
	}
	watch.Wait(t, "the card", realWait, func(e *event.Event) bool { return e.ID == id.EventID(ref) })

	resp, err := alice.Client.SendReaction(ctx, room, id.EventID(ref), "✅\ufe0f")
	if err != nil {
		t.Fatal(err)
	}
	ev := waitOther(t, h)
	if ev.Kind != bot.Reaction || ev.Emoji != "✅\ufe0f" || ev.Card != ref || ev.User != string(alice.ID) || ev.ReactionID != string(resp.EventID) {
		t.Errorf("reaction event %+v", ev)
	}
	if ok, _, _ := isApprover(a, string(room), string(alice.ID)); !ok {
		t.Errorf("the room's creator (power level 100) is not an approver at level 50")
	}

	got, err := a.CardReactions(ctx, string(room), ref)
	if err != nil || len(got) != 1 || got[0].ReactionID != string(resp.EventID) || got[0].Emoji != "✅\ufe0f" {
		t.Fatalf("CardReactions = %+v, %v", got, err)
	}
	if _, err := alice.Client.RedactEvent(ctx, room, resp.EventID); err != nil {
		t.Fatal(err)
	}
	if ev := waitOther(t, h); ev.Kind != bot.Unreaction || ev.ReactionID != string(resp.EventID) {
		t.Errorf("redaction event %+v", ev)
	}
	// Dendrite drops the relation shortly after the redaction is sent.
	deadline := time.Now().Add(realWait)
	for {
		got, err := a.CardReactions(ctx, string(room), ref)
		if err == nil && len(got) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CardReactions after the redaction = %+v, %v", got, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a real server, bounded by the deadline
	}

	c := sampleCard()
	c.Approvals = nil
	if err := a.UpdateCard(ctx, string(room), ref, c); err != nil {
		t.Fatal(err)
	}
	edit := watch.Wait(t, "the edit", realWait, func(e *event.Event) bool {
		return isEditOf(e, id.EventID(ref))
	})
	if body := newBody(edit.Event); !strings.Contains(body, "no approvals yet") {
		t.Errorf("edited body %q", body)
	}

	if _, err := alice.Client.SendText(ctx, other, "pause"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Client.SendText(ctx, room, "@"+botUser.ID.Localpart()+": status"); err != nil {
		t.Fatal(err)
	}
	if ev := waitOther(t, h); ev.Kind != bot.Message || ev.Text != "status" || ev.Room != string(room) {
		t.Errorf("message event %+v (the pause in the other room must not arrive)", ev)
	}
	var joined *mautrix.RespJoinedRooms
	if joined, err = botUser.Client.JoinedRooms(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range joined.JoinedRooms {
		if r == other {
			t.Errorf("the bot joined a room that is not a review room")
		}
	}
}

// waitOther returns the next event not sent by the bot itself.
// waitOther waits for the next event from someone else. A change of power
// levels (PolicyChanged) is skipped: the homeserver may deliver the room's
// power levels again in any sync, which these tests do not look at.
func waitOther(t *testing.T, h *recorder) bot.Event {
	t.Helper()
	for {
		if ev := waitEvent(t, h); !ev.FromSelf && ev.Kind != bot.PolicyChanged {
			return ev
		}
	}
}

func waitJoined(t *testing.T, u *matrixtest.User, room id.RoomID) {
	t.Helper()
	deadline := time.Now().Add(realWait)
	for {
		joined, err := u.Client.JoinedRooms(context.Background())
		if err == nil {
			for _, r := range joined.JoinedRooms {
				if r == room {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not join %s (last error %v)", u.ID, room, err)
		}
		time.Sleep(50 * time.Millisecond) // polling a real server, bounded by the deadline
	}
}

// isEditOf reports whether e is an m.replace edit of ref.
func isEditOf(e *event.Event, ref id.EventID) bool {
	if e.Type.Type != event.EventMessage.Type {
		return false
	}
	rel, _ := e.Content.Raw["m.relates_to"].(map[string]any)
	return rel["rel_type"] == "m.replace" && rel["event_id"] == string(ref)
}

func newBody(e *event.Event) string {
	nc, _ := e.Content.Raw["m.new_content"].(map[string]any)
	s, _ := nc["body"].(string)
	return s
}

// Events missed while heed was down that do not fit in one /sync timeline
// (a limited timeline) are read back through /messages up to the saved
// token, in order, each once.
func TestRealGapIsFilled(t *testing.T) {
	srv := matrixtest.Shared(t)
	botUser := srv.Register(t, "heed")
	alice := srv.Register(t, "alice")
	room := alice.CreateRoom(t, false, botUser)
	st := newMemState()
	logs := &syncBuffer{}
	newA := func() *Adapter {
		a, err := New(Config{Homeserver: srv.URL, UserID: string(botUser.ID), Password: botUser.Password,
			Rooms: []RoomConfig{{ID: string(room)}}}, nil, st, WithSyncTimeout(time.Second), WithTimelineLimit(3),
			WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := newA()
	h1 := newRecorder()
	_, cancel := runAdapter(t, a, h1)
	waitFor(t, "the first sync", func() bool { return !a.Alive().IsZero() })
	waitJoined(t, botUser, room)
	tokenKey := "matrix/matrix/" + string(botUser.ID) + "/next_batch"
	var tok0 string
	waitFor(t, "a saved sync token", func() bool { tok0, _ = st.GetKV(t.Context(), tokenKey); return tok0 != "" })
	if _, err := alice.Client.SendText(t.Context(), room, "before"); err != nil {
		t.Fatal(err)
	}
	if ev := waitOther(t, h1); ev.Text != "before" {
		t.Fatalf("heard %+v, want \"before\"", ev)
	}
	waitFor(t, "the token saved after \"before\"", func() bool { v, _ := st.GetKV(t.Context(), tokenKey); return v != tok0 })
	cancel()

	var want []string
	for i := 1; i <= 8; i++ {
		text := "while down " + strconv.Itoa(i)
		want = append(want, text)
		if _, err := alice.Client.SendText(t.Context(), room, text); err != nil {
			t.Fatal(err)
		}
	}
	h := newRecorder()
	b := newA()
	runAdapter(t, b, h)
	var got []string
	for len(got) < len(want) {
		ev := waitOther(t, h)
		if ev.Kind != bot.Message {
			continue
		}
		if !strings.HasPrefix(ev.Text, "while down") {
			t.Fatalf("after the restart heard %q: an event handled before the stop was replayed", ev.Text)
		}
		got = append(got, ev.Text)
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("after the restart heard %q, want %q", got, want)
	}
	if !strings.Contains(logs.String(), "read events a limited sync left out") {
		t.Errorf("the timeline was not limited, so the gap path was not exercised:\n%s", logs)
	}
	alice.Client.SendText(t.Context(), room, "after")
	for {
		ev := waitOther(t, h)
		if ev.Kind != bot.Message {
			continue
		}
		if ev.Text != "after" {
			t.Errorf("heard %q again or out of order before \"after\"", ev.Text)
		}
		break
	}
}
