package invariants

import (
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/internal/heedtest"
)

// The people who must act are told in the card's thread, and approving a
// changed post takes one reaction.

// TestEditVoidsApprovalOnAFreshCard reproduces the sequence in which an
// approver's ✅ after an edit was a silent no-op (her reaction already
// existed) and the post went missed with nobody told: the edit now posts a
// fresh card, tells alice and the author in its thread, and alice's one ✅
// on the fresh card approves the new text.
func TestEditVoidsApprovalOnAFreshCard(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	p := approved(t, s, "v1")
	old, _ := s.Chat.Card(p.ID)
	text := "v2"
	if _, err := s.Service.Posts.EditPost(s.Ctx, p.ID, approvals.PostEdit{Text: &text}, "author", "test"); err != nil {
		t.Fatal(err)
	}
	s.Cycle()
	fresh, _ := s.Chat.Card(p.ID)
	if fresh.Ref == old.Ref {
		t.Fatalf("no fresh card after the edit voided alice's approval (still %s)", old.Ref)
	}
	notices := s.Chat.RepliesContaining("#1 needs a fresh decision")
	if notices != 1 {
		t.Fatalf("%d notices that alice's approval no longer counts, want 1: %q", notices, s.Chat.Replies)
	}
	for _, r := range s.Chat.Replies {
		if strings.Contains(r, "needs a fresh decision") && (!strings.Contains(r, "alice") || !strings.Contains(r, "author")) {
			t.Fatalf("the notice does not address alice and the author: %q", r)
		}
	}
	if !strings.Contains(s.Chat.CardTextOf(old.Ref), "Superseded") {
		t.Fatalf("the old card does not say it is superseded:\n%s", s.Chat.CardTextOf(old.Ref))
	}
	// Rendering again changes nothing: one fresh card, one notice.
	posts := s.Chat.Calls().Posts
	s.Cycle()
	if s.Chat.Calls().Posts != posts || s.Chat.RepliesContaining("needs a fresh decision") != 1 {
		t.Fatalf("the fresh card or its notice was repeated: %d posts (was %d), replies %q", s.Chat.Calls().Posts, posts, s.Chat.Replies)
	}
	// One reaction approves the new version.
	if err := s.Chat.React("alice", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	s.WantState(p.ID, approvals.StateApproved)
	s.Clock.Advance(15 * time.Minute)
	s.Cycle()
	if got := s.Rec.Texts(); len(got) != 1 || got[0] != "v2" {
		t.Fatalf("published %q, want the new text once", got)
	}
	if a := auditActions(t, s, p.ID, "card.superseded"); a != 1 {
		t.Fatalf("%d card.superseded audit lines, want 1", a)
	}
}

// TestUnapprovedEditDoesNotPostAFreshCard: an edit before anyone decided
// only edits the card; nobody's decision was voided.
func TestUnapprovedEditDoesNotPostAFreshCard(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	p := s.Add("v1", 10*time.Minute)
	s.Cycle()
	text := "v2"
	if _, err := s.Service.Posts.EditPost(s.Ctx, p.ID, approvals.PostEdit{Text: &text}, "author", "test"); err != nil {
		t.Fatal(err)
	}
	s.Cycle()
	if c := s.Chat.Calls(); c.Posts != 1 || s.Chat.RepliesContaining("fresh decision") != 0 {
		t.Fatalf("an undecided edit posted %d cards, replies %q", c.Posts, s.Chat.Replies)
	}
}

// TestHeldAndMissedTellTheApproversOnce: a post held by a pause, and one
// that missed its time, each get one reply addressed to the approvers (and,
// for the missed one, its author), also after a restart on the same
// database.
func TestHeldAndMissedTellTheApproversOnce(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	missed := s.Add("nobody approved me", 5*time.Minute)
	held := approved(t, s, "due during a pause")
	s.Clock.Advance(6 * time.Minute)
	s.Cycle()
	s.WantState(missed.ID, approvals.StateMissed)
	if _, err := s.Service.Pauses.PauseAll(s.Ctx, "dave", "", "incident", "cli"); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	s.Cycle()
	s.WantState(held.ID, approvals.StateHeld)
	for mark, want := range map[string]int{"#2 is held": 1, "#1 missed its time": 1} {
		if n := s.Chat.RepliesContaining(mark); n != want {
			t.Fatalf("%d replies with %q, want %d: %q", n, mark, want, s.Chat.Replies)
		}
	}
	for _, r := range s.Chat.Replies {
		if strings.Contains(r, "is held") && !strings.HasPrefix(r, "alice bob carol: ") {
			t.Fatalf("the notice does not address the approvers: %q", r)
		}
		if strings.Contains(r, "missed its time") && !strings.HasPrefix(r, "alice bob carol author: ") {
			t.Fatalf("the missed notice does not address the approvers and the author: %q", r)
		}
	}

	again := heedtest.New(t, heedtest.Options{DBPath: s.DBPath, Clock: s.Clock})
	again.Cycle()
	again.Clock.Advance(time.Minute)
	again.Cycle()
	if n := again.Chat.RepliesContaining("is held") + again.Chat.RepliesContaining("missed its time"); n != 0 {
		t.Fatalf("told again after a restart: %q", again.Chat.Replies)
	}
}

func auditActions(t *testing.T, s *heedtest.Stack, occ int64, action string) int {
	t.Helper()
	entries, err := s.Service.Audit.Audit(s.Ctx, 0, occ, 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Occurrence == occ && e.Action == action {
			n++
		}
	}
	return n
}
