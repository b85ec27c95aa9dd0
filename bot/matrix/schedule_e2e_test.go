package matrix

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot/matrix/matrixtest"
)

// replyTo sends text as u, as a Matrix reply (m.in_reply_to) to message.
func (w *world) replyTo(u *matrixtest.User, message id.EventID, text string) id.EventID {
	w.t.Helper()
	resp, err := u.Client.SendMessageEvent(context.Background(), w.room, event.EventMessage, &event.MessageEventContent{
		MsgType: event.MsgText, Body: text,
		RelatesTo: &event.RelatesTo{InReplyTo: &event.InReplyTo{EventID: message}},
	})
	if err != nil {
		w.t.Fatalf("%s replies %q: %v", u.ID, text, err)
	}
	return resp.EventID
}

// Against Dendrite: alice answers a message of eve's with `schedule`; the
// post takes that message's text, its author is alice, and its card
// follows the receipt without anyone running a cycle. Alice's own ✅ does
// not approve it; carol's does, and it goes out at its time. A time heed
// cannot read gets an answer saying how to write one, and stores nothing.
func TestE2EScheduleFromMatrixAsAReply(t *testing.T) {
	w := newWorldWith(t, matrixtest.Shared(t), worldOptions{people: true})
	const text = "heed 2.0 is out: https://example.org/heed-2.0"
	msg := w.say(w.eve, text)
	w.replyTo(w.alice, msg, "schedule in 2 hours to rec")
	receipt := w.waitBotSays("scheduled from chat by " + string(w.alice.ID))

	ps, err := w.s.Service.Posts.ListPosts(w.s.Ctx, true, 10)
	if err != nil || len(ps) != 1 {
		t.Fatalf("posts: %+v, %v (log:\n%s)", ps, err, w.logs)
	}
	p := ps[0]
	if p.Text != text || p.Author != "alice" || !p.Schedule.At.Equal(w.clock.Now().Add(2*time.Hour)) {
		t.Fatalf("post = %+v; want eve's text, by alice, in 2 hours", p)
	}
	if body, _ := receipt.Content.Raw["body"].(string); !strings.Contains(body, "#"+strconv.FormatInt(p.ID, 10)) || !strings.Contains(body, "with the text of the message replied to") {
		t.Errorf("the receipt does not name #%d and where its text came from: %q", p.ID, body)
	}
	// The card is posted by the render pass the command kicked.
	card := w.watch.Wait(t, "the card of the post scheduled from chat", realWait, func(e *event.Event) bool {
		body, _ := e.Content.Raw["body"].(string)
		return e.Sender == w.bot.ID && e.Content.Raw["m.new_content"] == nil && e.ID != receipt.ID && strings.Contains(body, text)
	}).Event
	// The pass that posted it records it after Dendrite answered, which
	// may be after the room showed it; passes take turns, so it has once a
	// pass of the test's own has run.
	if err := w.s.Engine.Cards().Sync(w.s.Ctx); err != nil {
		t.Fatal(err)
	}
	ref, ok, err := w.s.Service.Reviews.Card(w.s.Ctx, p.ID, "matrix", string(w.room))
	if err != nil || !ok || id.EventID(ref.Ref) != card.ID {
		t.Fatalf("card of #%d: %+v %v %v; the room shows %s", p.ID, ref, ok, err, card.ID)
	}

	w.react(w.alice, card.ID, "✅")
	if body := w.waitEdit(card.ID, "from "+string(w.alice.ID)); !strings.Contains(body, "the post's author may not approve it") {
		t.Fatalf("alice's ✅ on the post she scheduled:\n%s", body)
	}
	w.s.WantState(p.ID, approvals.StateInReview)
	w.react(w.carol, card.ID, "✅")
	w.waitEdit(card.ID, "approved by "+string(w.carol.ID))
	w.s.WantState(p.ID, approvals.StateApproved)
	w.advance(2 * time.Hour)
	w.s.Cycle()
	if got := w.s.Rec.Texts(); len(got) != 1 || got[0] != text {
		t.Fatalf("published %q, want eve's text once", got)
	}

	w.say(w.carol, "schedule someday to rec Another post")
	w.waitBotSays(`schedule: "someday" is not a time heed reads`)
	if ps, err := w.s.Service.Posts.ListPosts(w.s.Ctx, true, 10); err != nil || len(ps) != 1 {
		t.Errorf("a bad time stored a post: %+v, %v", ps, err)
	}
}

// Against Dendrite, in an encrypted room: the message replied to is read
// back and decrypted, and the post takes its text.
func TestE2EScheduleFromMatrixAsAReplyEncrypted(t *testing.T) {
	w := newWorldWith(t, matrixtest.Shared(t), worldOptions{people: true, crypto: &cryptoOptions{encrypted: true}})
	const text = "Encrypted release notes: https://example.org/notes"
	msg := w.say(w.eve, text)
	w.replyTo(w.alice, msg, "schedule in 2 hours to rec")
	w.waitBotSays("scheduled from chat by " + string(w.alice.ID))
	ps, err := w.s.Service.Posts.ListPosts(w.s.Ctx, true, 10)
	if err != nil || len(ps) != 1 || ps[0].Text != text || ps[0].Author != "alice" {
		t.Fatalf("posts: %+v, %v (log:\n%s)", ps, err, w.logs)
	}
	if strings.Contains(w.logs.String(), "Encrypted release notes") {
		t.Error("the decrypted text reached the log")
	}
}
