package slack

import (
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/approvals/timing"
	"github.com/heed-dev/heed/bot/slack/slackfake"
)

// TestE2EEditAfterApprovalMentionsOnAFreshCard: an edited Slack message
// notifies nobody, so an edit that voids alice's approval posts a fresh
// card, mentions her the way Slack notifies (<@UALICE>) in its thread, and
// leaves the old card without buttons; her one ✅ on the fresh card
// approves the new text.
func TestE2EEditAfterApprovalMentionsOnAFreshCard(t *testing.T) {
	x := newStack(t, stackSetup{})
	card, occ := x.post(t, "first draft", 30*time.Minute)
	x.f.React(alice, chReview, card.TS, "white_check_mark")
	card = card.ExpectUpdateText(t, "APPROVED")

	text := "second draft"
	if _, err := x.s.Service.Posts.EditPost(x.s.Ctx, occ, approvals.PostEdit{Text: &text}, "author", "test"); err != nil {
		t.Fatal(err)
	}
	x.s.Cycle()
	fresh := x.f.ExpectMessage(t, chReview, func(m slackfake.Message) bool {
		return m.TS != card.TS && m.Metadata != nil && m.Metadata.EventType == "heed_card" && strings.Contains(m.AllText(), text)
	})
	if got := fresh.Actions(); len(got) != 2 {
		t.Fatalf("the fresh card's buttons = %v", got)
	}
	x.f.ExpectReply(t, chReview, fresh.TS, "<@"+alice+">", "needs a fresh decision")
	old := card.Refresh()
	old.AssertText(t, "Superseded")
	if got := old.Actions(); len(got) != 0 {
		t.Fatalf("the superseded card still offers %v", got)
	}

	x.f.React(alice, chReview, fresh.TS, "white_check_mark")
	fresh.ExpectUpdateText(t, "APPROVED", "approved by @alice (1/1)")
	x.s.WantState(occ, approvals.StateApproved)
}

// TestRepliesKeepMentions: a reply's mentions (of users and of user
// groups) reach Slack as mentions,
// everything else escaped; until this, a last call's <@U0123> arrived as
// text and notified nobody.
func TestRepliesKeepMentions(t *testing.T) {
	got := escapeKeepMentions("<@UALICE> <@W0BOB>: ⏰ #3 & <not a mention> <@alice> <!subteam^S0EDIT> <!subteam^nope> <!channel>")
	want := "<@UALICE> <@W0BOB>: ⏰ #3 &amp; &lt;not a mention&gt; &lt;@alice&gt; <!subteam^S0EDIT> &lt;!subteam^nope&gt; &lt;!channel&gt;"
	if got != want {
		t.Fatalf("escapeKeepMentions = %q, want %q", got, want)
	}
}

// TestE2EReminderMentionsApproversAndEscalates: a card nobody approved by
// approve_by gets a reply in its thread that mentions its approvers the way
// Slack notifies (<@UALICE>), and, being the last before its time, the
// escalation's user and user group (<!subteam^S…>), unescaped.
func TestE2EReminderMentionsApproversAndEscalates(t *testing.T) {
	guards := &timing.Safeguards{Rooms: map[string]timing.RoomSafeguards{"review": {ApproveBy: time.Hour, EscalateTo: []string{bob, "SESCALATE"}}},
		DefaultRoom: "review", Zone: time.UTC}
	x := newStack(t, stackSetup{guards: guards})
	card, occ := x.post(t, "needs a look", 2*time.Hour)
	x.advance(t, time.Hour)
	x.s.Cycle()
	reply := x.f.ExpectReply(t, chReview, card.TS, "<@"+alice+">", "still needs approval", "last reminder",
		"Escalating to <@"+bob+"> <!subteam^SESCALATE>: please decide")
	if strings.Contains(reply.AllText(), "&lt;") {
		t.Fatalf("a mention arrived escaped: %q", reply.AllText())
	}
	x.s.WantState(occ, approvals.StateInReview)
}
