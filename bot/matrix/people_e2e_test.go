package matrix

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/heed-dev/heed/app"
	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot/matrix/matrixtest"
	_ "github.com/heed-dev/heed/publish/logpub" // the CLI's configuration names a log target
)

// peopleOf are the world's people: each person's CLI name and their
// Matrix id (@alice-…:localhost: the shared homeserver's users are
// registered with a random suffix).
func (w *world) peopleOf() map[string][]string {
	return map[string][]string{"alice": {string(w.alice.ID)}, "carol": {string(w.carol.ID)}}
}

// cliConfig is the configuration a person's `heed` command would read:
// the daemon's database, the people, the review room and a target named
// as the stack's.
func (w *world) cliConfig(t *testing.T) *app.Config {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "database: %q\npeople:\n", w.s.DBPath)
	for name, ids := range w.peopleOf() {
		fmt.Fprintf(&b, "  %s: [%q]\n", name, ids[0])
	}
	fmt.Fprintf(&b, "chats:\n  matrix:\n    kind: matrix\nrooms:\n  - name: review\n    chat: matrix\n    id: %q\n    approvers: [alice, carol]\n", w.room)
	b.WriteString("targets:\n  rec:\n    kind: log\n")
	path := filepath.Join(t.TempDir(), "heed.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := app.LoadConfig(path)
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	return cfg
}

// addAs adds a post as `heed post add --as who` does, through the command
// line's own services on the daemon's database, runs a cycle so its card
// is posted, and returns the occurrence and the card.
func (w *world) addAs(t *testing.T, cfg *app.Config, who, text string, in time.Duration) (int64, id.EventID) {
	t.Helper()
	if err := cfg.PersonOf(who); err != nil {
		t.Fatal(err)
	}
	svc, _, err := app.CLIService(t.Context(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Store.Close()
	ctx := approvals.WithActing(t.Context(), approvals.Acting{Name: who, Identity: who, Person: cfg.Person(who)})
	p, err := svc.Posts.AddPost(ctx, approvals.NewPost{Text: text, Targets: []string{"rec"}, Author: who,
		Schedule: approvals.Schedule{At: w.clock.Now().Add(in), TZ: "UTC"}}, who, "cli")
	if err != nil {
		t.Fatal(err)
	}
	w.s.Cycle()
	ref, ok, err := w.s.Service.Reviews.Card(w.s.Ctx, p.ID, "matrix", string(w.room))
	if err != nil || !ok {
		t.Fatalf("no card for #%d: %v (log:\n%s)", p.ID, err, w.logs)
	}
	w.watch.Wait(t, "the card", realWait, func(e *event.Event) bool { return e.ID == id.EventID(ref.Ref) })
	return p.ID, id.EventID(ref.Ref)
}

// Against Dendrite: alice writes two posts on the command line and
// approves both from Matrix as her own user. Each card says why her ✅
// does not count; the first, with no other approval, is not published at
// its time; carol's ✅ approves the second, which goes out.
func TestE2EAuthorCannotApproveFromMatrix(t *testing.T) {
	w := newWorldWith(t, matrixtest.Shared(t), worldOptions{people: true})
	cfg := w.cliConfig(t)
	occAlone, alone := w.addAs(t, cfg, "alice", "Alice's own release notes", 10*time.Minute)
	occSecond, second := w.addAs(t, cfg, "alice", "Alice's second release notes", 20*time.Minute)
	why := "✅ from " + string(w.alice.ID) + " does not count: the post's author may not approve it"

	// The first edit after her ✅ says what it did.
	decided := func(card id.EventID) string {
		t.Helper()
		s := w.watch.Wait(t, "an edit of the card after alice's ✅", realWait, func(e *event.Event) bool {
			return isEditOf(e, card) && (strings.Contains(newBody(e), "from "+string(w.alice.ID)) || strings.Contains(newBody(e), "approved by"))
		})
		if body := newBody(s.Event); !strings.Contains(body, why) || strings.Contains(body, "approved by") {
			t.Fatalf("alice's ✅ on her own post:\n%s", body)
		}
		return newBody(s.Event)
	}
	w.react(w.alice, alone, "✅")
	decided(alone)
	w.s.WantState(occAlone, approvals.StateInReview)

	w.react(w.alice, second, "✅")
	decided(second)
	w.react(w.carol, second, "✅")
	body := w.waitEdit(second, "approved by "+string(w.carol.ID)+" (1/1)")
	if !strings.Contains(body, why) {
		t.Errorf("the approved card no longer says why alice's ✅ does not count:\n%s", body)
	}
	w.s.WantState(occSecond, approvals.StateApproved)

	w.advance(10 * time.Minute)
	w.s.Cycle()
	if got := w.s.Rec.Texts(); len(got) != 0 {
		t.Fatalf("published %q: alice's own ✅ approved her post", got)
	}
	w.s.WantState(occAlone, approvals.StateMissed)
	w.advance(10 * time.Minute)
	w.s.Cycle()
	if got := w.s.Rec.Texts(); len(got) != 1 || got[0] != "Alice's second release notes" {
		t.Fatalf("published %q, want the second release notes alone", got)
	}

	es, err := w.s.Service.Audit.Audit(w.s.Ctx, 0, occAlone, 100)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range es {
		if e.Action == "decision.approve" {
			found = true
			if e.Identity != string(w.alice.ID) || e.Person != "alice" || !strings.Contains(e.Detail, "not counted: the post's author") {
				t.Errorf("alice's ✅ in the audit log: %+v", e)
			}
		}
	}
	if !found {
		t.Errorf("alice's ✅ is not in the audit log: %+v", es)
	}
}
