package matrix

import (
	"context"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/heed-dev/heed/approvals"
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
