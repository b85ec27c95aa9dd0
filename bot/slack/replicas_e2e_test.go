package slack

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/bot/slack/slackfake"
	"github.com/heed-dev/heed/internal/pgtest"
)

// holdSlack runs one lease cycle of x's replica and reports whether it
// took the Slack chat.
func holdSlack(t *testing.T, x *stackEnv) bool {
	t.Helper()
	names, err := x.s.Engine.HoldCycle(x.s.Ctx)
	if err != nil {
		t.Fatalf("lease cycle: %v", err)
	}
	return slices.Contains(names, "slack")
}

// cards are the heed cards in the review channel.
func cards(f *slackfake.Fake) []slackfake.Message {
	var out []slackfake.Message
	for _, m := range f.Messages(chReview) {
		if m.Metadata != nil && m.Metadata.EventType == "heed_card" {
			out = append(out, m)
		}
	}
	return out
}

// TestE2EReplicasSlackTakeoverPostsNoSecondCard: two heed replicas on
// one PostgreSQL database and one Slack workspace. Only the one holding
// the Slack chat connects and posts; when it dies, the other takes the
// socket over, and the card is edited in place, never posted again; the
// approved post goes out once.
func TestE2EReplicasSlackTakeoverPostsNoSecondCard(t *testing.T) {
	url := pgtest.URL(t)
	x := newStack(t, stackSetup{dbPath: url, replica: "r1", noStart: true})
	if !holdSlack(t, x) {
		t.Fatal("the first replica did not take the Slack chat")
	}
	x.start(t)
	y := newStack(t, stackSetup{dbPath: url, replica: "r2", clock: x.s.Clock, fake: x.f, noStart: true})
	if holdSlack(t, y) {
		t.Fatal("the second replica took a chat the first holds")
	}
	card, occ := x.post(t, "Across a takeover", time.Minute)
	due := x.s.View(occ).At
	y.s.Cycle() // a replica that does not hold the chat renders nothing
	if n := len(cards(x.f)); n != 1 {
		t.Fatalf("%d cards after both replicas' cycles, want 1", n)
	}
	x.f.React(alice, chReview, card.TS, "white_check_mark")
	card = card.ExpectUpdateText(t, "APPROVED")
	y.s.WantState(occ, approvals.StateApproved)

	// The holder dies: its socket closes and it renews nothing more.
	x.stop()
	x.stop = nil
	x.f.WaitDisconnected(t)
	step := y.s.Engine.RenewEvery()
	for i := 0; !holdSlack(t, y); i++ {
		if i > 8 {
			t.Fatalf("no takeover within twice the lease (%s)", 2*bot.DefaultLease)
		}
		x.s.Clock.Advance(step)
	}
	y.start(t)
	for !x.s.Clock.Now().After(due) {
		y.advance(t, step)
		holdSlack(t, y) // renews, with what the socket heard
		y.s.Cycle()
	}
	if got := y.s.Rec.Texts(); len(got) != 1 || got[0] != "Across a takeover" {
		t.Fatalf("published %q, want it once", got)
	}
	card.ExpectUpdateText(t, "PUBLISHED")
	all := cards(x.f)
	if len(all) != 1 {
		var texts []string
		for _, c := range all {
			texts = append(texts, c.AllText())
		}
		t.Fatalf("%d cards across the takeover, want 1:\n%s", len(all), strings.Join(texts, "\n---\n"))
	}
	if len(x.s.Rec.Texts()) != 0 {
		t.Fatalf("the dead replica published %q", x.s.Rec.Texts())
	}
}
