package matrix

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/approvals/timing"
	"github.com/heed-dev/heed/bot/matrix/matrixtest"
)

// TestE2EEditAfterApprovalMentionsOnAFreshCard, against a real homeserver:
// an edit that voids alice's approval posts a fresh card, and a reply in its
// thread mentions her as an intentional mention (m.mentions), since an edit
// of the old card notifies nobody; her one ✅ on the fresh card approves the
// new text.
func TestE2EEditAfterApprovalMentionsOnAFreshCard(t *testing.T) {
	w := newWorld(t, matrixtest.Shared(t))
	occ, card := w.card("First draft", time.Hour)
	w.react(w.alice, card, "✅")
	w.waitEdit(card, "approved by "+string(w.alice.ID))

	text := "Second draft"
	if _, err := w.s.Service.Posts.EditPost(context.Background(), occ, approvals.PostEdit{Text: &text}, "author", "test"); err != nil {
		t.Fatal(err)
	}
	w.s.Cycle()
	ref, ok, err := w.s.Service.Reviews.Card(context.Background(), occ, "matrix", string(w.room))
	if err != nil || !ok || id.EventID(ref.Ref) == card {
		t.Fatalf("no fresh card: %+v %v %v\nlog:\n%s", ref, ok, err, w.logs)
	}
	fresh := id.EventID(ref.Ref)
	notice := w.watch.Wait(t, "a mention in the fresh card's thread", realWait, func(e *event.Event) bool {
		body, _ := e.Content.Raw["body"].(string)
		rel, _ := e.Content.Raw["m.relates_to"].(map[string]any)
		return e.Sender == w.bot.ID && rel != nil && rel["event_id"] == string(fresh) && strings.Contains(body, "needs a fresh decision")
	})
	mentions, _ := notice.Event.Content.Raw["m.mentions"].(map[string]any)
	users, _ := mentions["user_ids"].([]any)
	found := false
	for _, u := range users {
		found = found || u == string(w.alice.ID)
	}
	if !found {
		t.Fatalf("the notice does not mention alice: %v", notice.Event.Content.Raw)
	}
	w.waitEdit(card, "Superseded")

	w.react(w.alice, fresh, "✅")
	w.waitEdit(fresh, "approved by "+string(w.alice.ID))
	w.s.WantState(occ, approvals.StateApproved)
}

// TestE2EReminderMentionsApproversAndEscalates, against a real homeserver:
// a card nobody approved by approve_by gets a reply in its thread whose
// m.mentions name its approvers and, being the last before its time,
// everyone at the escalation's power level (eve, at 10, who may not
// approve), but never heed itself.
func TestE2EReminderMentionsApproversAndEscalates(t *testing.T) {
	guards := &timing.Safeguards{Rooms: map[string]timing.RoomSafeguards{"review": {ApproveBy: time.Hour, EscalateTo: []string{"10"}}},
		DefaultRoom: "review", Zone: time.UTC}
	w := newWorldWith(t, matrixtest.Shared(t), worldOptions{guards: guards})
	w.admin.SetPowerLevel(t, w.room, w.eve.ID, 10)
	deadline := time.Now().Add(realWait)
	for {
		users, _ := w.a.MembersAtLevel(string(w.room), 10)
		if slices.Contains(users, string(w.eve.ID)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("heed did not read eve's power level: %v (log:\n%s)", users, w.logs)
		}
		time.Sleep(10 * time.Millisecond) // polling a real server's sync, bounded by the deadline
	}
	occ, card := w.card("Needs a look", 2*time.Hour)
	w.advance(time.Hour)
	w.s.Cycle()
	notice := w.watch.Wait(t, "a reminder in the card's thread", realWait, func(e *event.Event) bool {
		body, _ := e.Content.Raw["body"].(string)
		rel, _ := e.Content.Raw["m.relates_to"].(map[string]any)
		return e.Sender == w.bot.ID && rel != nil && rel["event_id"] == string(card) && strings.Contains(body, "still needs approval")
	})
	body, _ := notice.Event.Content.Raw["body"].(string)
	if !strings.Contains(body, "Escalating to ") || !strings.Contains(body, string(w.eve.ID)) {
		t.Fatalf("the last reminder does not escalate to eve: %q", body)
	}
	mentions, _ := notice.Event.Content.Raw["m.mentions"].(map[string]any)
	users, _ := mentions["user_ids"].([]any)
	for _, u := range []id.UserID{w.alice.ID, w.carol.ID, w.eve.ID} {
		if !slices.Contains(users, any(string(u))) {
			t.Fatalf("the reminder does not mention %s: %v", u, notice.Event.Content.Raw)
		}
	}
	if slices.Contains(users, any(string(w.bot.ID))) {
		t.Fatalf("the reminder mentions heed itself: %v", users)
	}
	w.s.WantState(occ, approvals.StateInReview)
}
