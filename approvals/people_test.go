package approvals

import (
	"strings"
	"testing"
)

func TestPeopleJoinIdentities(t *testing.T) {
	p, err := NewPeople(map[string][]string{"alice": {"U0ALICE001", "@alice:example.org"}, "bob": {"U0BOB00001"}})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Same("alice", "U0ALICE001") || !p.Same("@alice:example.org", "U0ALICE001") || p.Same("alice", "U0BOB00001") {
		t.Error("identities joined wrongly")
	}
	if p.Person("U0CAROL001") != "U0CAROL001" || p.Known("U0CAROL001") {
		t.Error("an unknown identity is not its own person")
	}
	if _, err := NewPeople(map[string][]string{"alice": {"U1"}, "bob": {"U1"}}); err == nil || !strings.Contains(err.Error(), "both alice and bob") {
		t.Errorf("an identity of two people: %v", err)
	}
}

// The author's own reaction does not count from any of their identities,
// and a person counts once whichever identities they react from.
func TestTallyComparesPeople(t *testing.T) {
	people, _ := NewPeople(map[string][]string{"alice": {"U0ALICE001"}, "bob": {"U0BOB00001", "@bob:example.org"}})
	pol := Policy{Approvers: []string{"alice", "bob"}, Required: 2, People: people}
	h := map[string]string{"x": "h"}
	ok := func(user string) Reaction { return Reaction{User: user, Emoji: "✅", Hashes: h} }
	v := Tally(pol, "alice", h, []Reaction{ok("U0ALICE001")})
	if len(v.Approvals) != 0 || len(v.Ignored) != 1 || v.Ignored[0].Reason != "the post's author may not approve it" {
		t.Errorf("the author approved from Slack: %+v", v)
	}
	v = Tally(pol, "carol", h, []Reaction{ok("U0BOB00001"), ok("@bob:example.org")})
	if len(v.Approvals) != 1 || v.Approved() {
		t.Errorf("bob counted twice from two chats: %+v", v)
	}
	v = Tally(pol, "carol", h, []Reaction{ok("U0BOB00001"), ok("U0ALICE001")})
	if !v.Approved() {
		t.Errorf("approvers named as people, reacting from Slack: %+v", v)
	}
}
