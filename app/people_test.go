package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// With a chat other than the console, an author must be one of the people,
// so that heed knows their chat identity; the console alone needs nothing.
func TestAuthorMustBeAPersonWhenAChatIsConfigured(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "heed.yaml")
	src := `people:
  alice: [U0ALICE001]
chats:
  team:
    kind: slack
rooms:
  - name: review
    id: C0REVIEW01
    approvers: [alice]
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PersonOf("alice"); err != nil {
		t.Errorf("alice: %v", err)
	}
	if err := c.PersonOf("root"); err == nil || !strings.Contains(err.Error(), "none of the people") {
		t.Errorf("root: %v", err)
	}
	if p := c.RoomPolicy(c.Rooms[0]); !p.People.Same("alice", "U0ALICE001") {
		t.Error("the room's policy does not know the people")
	}
	console, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if err := console.PersonOf("root"); err != nil {
		t.Errorf("console only: %v", err)
	}
}
