package slack

import (
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot/slack/slackfake"
)

// `schedule` typed in the Slack review channel takes the same path as in
// any chat: alice's post is stored with her person as its author, the
// receipt and the card follow, her own ✅ does not approve it and bob's
// does.
func TestE2EScheduleFromSlack(t *testing.T) {
	x, _ := peopleStack(t)
	x.f.Say(aliceSlack, chReview, "schedule in 3 minutes to rec Launch day from Slack")
	x.f.ExpectMessage(t, chReview, func(m slackfake.Message) bool {
		return strings.Contains(m.AllText(), "scheduled from chat by") && strings.Contains(m.AllText(), "→ rec")
	})
	card := x.f.ExpectMessage(t, chReview, func(m slackfake.Message) bool {
		return m.Metadata != nil && m.Metadata.EventType == "heed_card" && strings.Contains(m.AllText(), "Launch day from Slack")
	})
	ps, err := x.s.Service.Posts.ListPosts(x.s.Ctx, true, 10)
	if err != nil || len(ps) != 1 {
		t.Fatalf("posts: %+v, %v", ps, err)
	}
	p := ps[0]
	if p.Author != "alice" || p.Text != "Launch day from Slack" || !p.Schedule.At.Equal(x.s.Clock.Now().Add(3*time.Minute)) {
		t.Fatalf("post = %+v", p)
	}
	x.f.React(aliceSlack, chReview, card.TS, "white_check_mark")
	card = x.f.ExpectUpdate(t, card)
	card.AssertText(t, "the post's author may not approve it")
	x.s.WantState(p.ID, approvals.StateInReview)
	x.f.React(bob, chReview, card.TS, "white_check_mark")
	card.ExpectUpdateText(t, "APPROVED", "approved by @bob (1/1)")
	x.s.WantState(p.ID, approvals.StateApproved)
}
