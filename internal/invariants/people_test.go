package invariants

import (
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/internal/heedtest"
)

// TestInvariant6_AuthorCannotApproveFromChat: a post added on the command
// line as alice, who is U0ALICE001 in the chat, cannot be approved by her
// reaction there; bob's can, from the chat identity the configuration gives
// him.
func TestInvariant6_AuthorCannotApproveFromChat(t *testing.T) {
	people, err := approvals.NewPeople(map[string][]string{"alice": {"U0ALICE001"}, "bob": {"U0BOB00001"}})
	if err != nil {
		t.Fatal(err)
	}
	s := heedtest.New(t, heedtest.Options{Rooms: []bot.Room{{Name: "review", Adapter: "mem", ID: "review",
		Policy: approvals.Policy{Approvers: []string{"alice", "bob"}, People: people}}}})
	p, err := s.Service.Posts.AddPost(s.Ctx, approvals.NewPost{Text: "mine", Targets: []string{"rec"}, Author: "alice",
		Schedule: approvals.Schedule{At: s.Clock.Now().Add(10 * time.Minute), TZ: "UTC"}}, "alice", "cli")
	if err != nil {
		t.Fatal(err)
	}
	s.Cycle()
	if err := s.Chat.React("U0ALICE001", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	s.WantState(p.ID, approvals.StateInReview)
	if got := s.Chat.CardText(p.ID); !strings.Contains(got, "does not count: the post's author may not approve it") {
		t.Fatalf("the card does not say why:\n%s", got)
	}
	if err := s.Chat.React("U0BOB00001", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	s.WantState(p.ID, approvals.StateApproved)
}
