package approvals

import (
	"strings"
	"testing"
)

func TestDecide(t *testing.T) {
	hashes := map[string]string{"x": "h1", "site": "h2"}
	ok := func(id int64, user string) Reaction {
		return Reaction{ID: id, User: user, Emoji: "✅", Hashes: map[string]string{"x": "h1", "site": "h2"}}
	}
	roster := &Roster{Approvers: []string{"erin"}, Refused: map[string]string{"frank": "power level 10, needs 50"}, DefaultWhy: "power level 0, needs 50"}
	pol := Policy{Approvers: []string{"alice", "bob"}, Roster: roster}
	for _, tc := range []struct {
		name   string
		stored State
		facts  func(*Facts)
		pol    Policy
		want   State
		reason string // an Ignored reason the verdict must give
		notFor string // a target the verdict must not approve
	}{
		{name: "approval counts whatever the cache says", stored: StateInReview, facts: func(f *Facts) { f.Reactions = []Reaction{ok(1, "alice")} }, pol: pol, want: StateApproved},
		{name: "no approval whatever the cache says", stored: StateApproved, pol: pol, want: StateInReview},
		{name: "roster approver", stored: StateInReview, facts: func(f *Facts) { f.Reactions = []Reaction{ok(1, "erin")} }, pol: pol, want: StateApproved},
		{name: "roster refuses with its reason", stored: StateInReview, facts: func(f *Facts) { f.Reactions = []Reaction{ok(1, "frank")} }, pol: pol, want: StateInReview,
			reason: "not an approver (power level 10, needs 50)"},
		{name: "no roster, no extra approvers", stored: StateInReview, facts: func(f *Facts) { f.Reactions = []Reaction{ok(1, "erin")} },
			pol: Policy{Approvers: []string{"alice"}}, want: StateInReview, reason: "not an approver"},
		{name: "a network would refuse it", stored: StateApproved, facts: func(f *Facts) {
			f.Reactions = []Reaction{ok(1, "alice")}
			f.Problems = map[string][]string{"x": {"too long"}}
		}, pol: pol, want: StateInReview, notFor: "x"},
		{name: "given before the hold", stored: StateInReview, facts: func(f *Facts) {
			f.Reactions = []Reaction{ok(1, "alice")}
			f.Occurrence.FreshAfter = 1
		}, pol: pol, want: StateInReview, reason: "given before it was held"},
		{name: "a sensitive day needs two", stored: StateApproved, facts: func(f *Facts) {
			f.Reactions = []Reaction{ok(1, "alice")}
			f.Timing.Required = 2
		}, pol: pol, want: StateInReview},
		{name: "the author may not approve", stored: StateInReview, facts: func(f *Facts) { f.Reactions = []Reaction{ok(1, "bob")}; f.Author = "bob" }, pol: pol, want: StateInReview,
			reason: "the post's author may not approve it"},
		{name: "an earlier version", stored: StateApproved, facts: func(f *Facts) {
			r := ok(1, "alice")
			r.Hashes = map[string]string{"x": "old", "site": "old"}
			f.Reactions = []Reaction{r}
		}, pol: pol, want: StateInReview, reason: "earlier version"},
		{name: "a rejection", stored: StateApproved, facts: func(f *Facts) {
			r := ok(2, "bob")
			r.Emoji = "❌"
			f.Reactions = []Reaction{ok(1, "alice"), r}
		}, pol: pol, want: StateRejected},
		{name: "held stays held", stored: StateHeld, facts: func(f *Facts) { f.Reactions = []Reaction{ok(1, "alice")} }, pol: pol, want: StateHeld},
		{name: "published stays published", stored: StatePublished, pol: pol, want: StatePublished},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Facts{Occurrence: Occurrence{ID: 7, State: tc.stored}, Author: "author", Hashes: hashes}
			if tc.facts != nil {
				tc.facts(&f)
			}
			v, got := Decide(f, tc.pol)
			if got != tc.want {
				t.Errorf("state %s, want %s (%s)", got, tc.want, v.Summary())
			}
			if tc.reason != "" {
				found := false
				for _, ig := range v.Ignored {
					found = found || strings.Contains(ig.Reason, tc.reason)
				}
				if !found {
					t.Errorf("no ignored reaction says %q: %+v", tc.reason, v.Ignored)
				}
			}
			if tc.notFor != "" && v.ApprovedFor(tc.notFor) {
				t.Errorf("approved for %s", tc.notFor)
			}
			// Pure: the same facts give the same answer.
			if _, again := Decide(f, tc.pol); again != got {
				t.Errorf("second answer %s, first %s", again, got)
			}
		})
	}
}

func TestRosterSameAsIgnoresOrderAndTime(t *testing.T) {
	a := Roster{Source: "s", Approvers: []string{"b", "a", "a"}, Refused: map[string]string{}}
	b := Roster{Source: "s", Approvers: []string{"a", "b"}}
	b.ReadAt = b.ReadAt.AddDate(1, 0, 0)
	if !a.SameAs(b) {
		t.Error("equal rosters differ")
	}
	b.Default = true
	if a.SameAs(b) {
		t.Error("a roster that lets everyone approve is the same as one that does not")
	}
}

// An approver's look-alike of an approve emoji gets a note saying what to
// react with; anyone else's, or one from someone who decided, stays silent.
func TestNearMissEmojiAreExplained(t *testing.T) {
	pol := Policy{Approvers: []string{"alice", "bob"}}.WithDefaults()
	h := map[string]string{"x": "h"}
	r := func(user, emoji string) Reaction { return Reaction{User: user, Emoji: emoji, Hashes: h} }
	v := Tally(pol, "author", h, []Reaction{r("alice", "✔"), r("eve", "✔"), r("bob", "🎉"), r("bob", "✅"), r("bob", "👌")})
	if len(v.Ignored) != 1 || v.Ignored[0].Reaction.User != "alice" || v.Ignored[0].Reason != "not an approve emoji here: react ✅ or 👍" {
		t.Fatalf("ignored: %+v", v.Ignored)
	}
}
