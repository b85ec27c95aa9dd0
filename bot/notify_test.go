package bot

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
)

// chatWithIDs is an adapter that mentions Slack's way and owns U… ids.
type chatWithIDs struct{ Adapter }

func (chatWithIDs) Name() string { return "slack" }
func (chatWithIDs) Mention(user string) string {
	return "<@" + user + ">"
}
func (chatWithIDs) Owns(id string) bool { return strings.HasPrefix(id, "U0") }

// TestMentionsUseTheChatsIdentityOfAPerson: a person named in the
// configuration (the author "alice", an approver "bob") is mentioned by
// the identity this chat knows, once however many identities appear; an
// identity nobody claims, and a person with none in this chat, are named.
func TestMentionsUseTheChatsIdentityOfAPerson(t *testing.T) {
	people, err := approvals.NewPeople(map[string][]string{
		"alice": {"U0ALICE", "@alice:example.org"},
		"bob":   {"U0BOB"},
		"carol": {"@carol:example.org"},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{Adapters: []Adapter{chatWithIDs{}}, Now: time.Now}
	cs := e.parts().cards
	room := Room{Adapter: "slack", ID: "C1", Policy: approvals.Policy{People: people}}
	got := cs.mentions(room, []string{"alice", "U0ALICE", "bob", "carol", "U0DAVE"})
	want := []string{"<@U0ALICE>", "<@U0BOB>", "carol", "<@U0DAVE>"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("mentions = %q, want %q", got, want)
	}
}
