package safeguards

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/internal/heedtest"
	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/webhook"
)

// receiver is a webhook endpoint that checks signatures and keeps what it
// received: posts answered with an id and URL, and retract events.
type receiver struct {
	srv       *httptest.Server
	mu        sync.Mutex
	posts     int
	retracted []string // remote ids
}

const hookSecret = "test-secret-for-the-hook"

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := webhook.VerifyRequest(hookSecret, req, time.Now(), time.Minute)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var ev struct {
			Event    string `json:"event"`
			RemoteID string `json:"remote_id"`
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if ev.Event == "retract" {
			r.retracted = append(r.retracted, ev.RemoteID)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		r.posts++
		fmt.Fprintf(w, `{"id": "remote-%d", "url": "https://hook.example/posts/%d"}`, r.posts, r.posts)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) retracts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.retracted...)
}

func (r *receiver) target(t *testing.T) publish.Target {
	t.Helper()
	p, err := publish.New(publish.Config{Name: "hook", Kind: "webhook", Decode: func(v any) error {
		c := v.(*webhook.Config)
		c.URL, c.Secret = r.srv.URL+"/heed", hookSecret
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return publish.Target{Name: "hook", Kind: "webhook", Publisher: p}
}

// plain is a publisher that cannot delete.
type plain struct{ n int }

func (p *plain) Publish(ctx context.Context, req publish.Request) (publish.Result, error) {
	p.n++
	return publish.Result{RemoteID: fmt.Sprint(p.n)}, nil
}

func TestRetractDeletesEverywhereOnce(t *testing.T) {
	hook := newReceiver(t)
	s := heedtest.New(t, heedtest.Options{Targets: []publish.Target{hook.target(t), {Name: "plain", Kind: "plain", Publisher: &plain{}}}})
	p := approved(t, s, "oops, wrong day", 10*time.Minute, "rec", "hook", "plain")
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	s.WantState(p.ID, approvals.StatePublished)
	wantContains(t, "published card", s.Chat.CardText(p.ID), "`retract 1` or react 🗑")

	wantContains(t, "eve's retract", say(t, s, "eve", "retract 1"), "@eve cannot retract #1: not an approver")
	if len(s.Rec.Retracted()) != 0 || len(hook.retracts()) != 0 {
		t.Fatal("a non-approver's retract reached a network")
	}

	reply := say(t, s, "alice", "retract 1")
	wantContains(t, "retract reply", reply, "#1: retract asked by @alice", "rec: deleted", "hook: deleted", "plain: cannot be deleted through heed; delete it by hand")
	if got := s.Rec.Retracted(); len(got) != 1 || got[0].RemoteID != remoteID(t, s, p.ID, "rec") {
		t.Fatalf("recorder retracted %+v", got)
	}
	if got := hook.retracts(); len(got) != 1 || got[0] != "remote-1" {
		t.Fatalf("webhook got retracts %q, want the stored remote id", got)
	}
	wantContains(t, "card", s.Chat.CardText(p.ID), "🗑 hook: deleted (retracted by @alice)", "🗑 rec: deleted", "🗑 plain: cannot be deleted")
	wantNotContains(t, "card", s.Chat.CardText(p.ID), "`retract 1` or react")
	for action, n := range map[string]int{"retract.request": 1, "retract.ok": 2, "retract.unsupported": 1, "retract.refused": 1} {
		if got := len(audits(t, s, p.ID, action)); got != n {
			t.Errorf("%d %s audit entries, want %d", got, action, n)
		}
	}

	// A second retract is a no-op, and says so.
	wantContains(t, "second retract", say(t, s, "bob", "retract 1"), "#1 was retracted already", "nothing more to do")
	if len(s.Rec.Retracted()) != 1 || len(hook.retracts()) != 1 {
		t.Fatal("a second retract reached a network")
	}
}

func TestRetractReactionAndRetryAfterFailure(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	a := approved(t, s, "first", 10*time.Minute)
	b := approved(t, s, "second", 10*time.Minute)
	pending := s.Add("not out yet", time.Hour)
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()

	react(t, s, "eve", a.ID, "🗑️")
	wantContains(t, "eve's 🗑", s.Chat.LastReply(), "🗑 from @eve does nothing: only approvers can retract")
	react(t, s, "bob", a.ID, "🗑️")
	wantContains(t, "bob's 🗑", s.Chat.LastReply(), "#1: retract asked by @bob", "rec: deleted")

	s.Rec.FailNextRetract(publish.RetryableError(errors.New("503 service unavailable"), 0))
	wantContains(t, "failed retract", say(t, s, "alice", "retract 2"), "rec: retract failed: retryable: 503 service unavailable")
	wantContains(t, "card", s.Chat.CardText(b.ID), "🗑 rec: retract failed")
	wantContains(t, "retry", say(t, s, "alice", "retract 2"), "rec: deleted")
	wantContains(t, "third", say(t, s, "alice", "retract 2"), "was retracted already")
	if got := len(s.Rec.Retracted()); got != 2 {
		t.Fatalf("%d retracted, want 2", got)
	}

	wantContains(t, "unpublished", say(t, s, "alice", fmt.Sprintf("retract %d", pending.ID)), "has not been published", "nothing to retract")
}

func TestPauseRetractListsTheRightPostsAndWaitsForConfirmation(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{}) // 09:00
	old := approved(t, s, "old news", 10*time.Minute)
	recent := approved(t, s, "recent", 100*time.Minute)
	latest := approved(t, s, "latest", 120*time.Minute)
	upcoming := approved(t, s, "upcoming", 180*time.Minute)
	for _, at := range []time.Duration{10, 100, 120} { // 09:10, 10:40, 11:00
		s.Clock.Set(time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC).Add(at * time.Minute))
		s.Cycle()
	}
	for _, p := range []approvals.Post{old, recent, latest} {
		s.WantState(p.ID, approvals.StatePublished)
	}
	s.Clock.Set(time.Date(2030, 1, 7, 11, 30, 0, 0, time.UTC))

	// Anyone may pause; the offer covers 09:30 to 11:30.
	reply := say(t, s, "eve", "pause retract 2h breaking news")
	wantContains(t, "pause retract reply", reply, "⏸ Paused all publishing. By @eve, reason: breaking news",
		"Retract offer 1 by @eve: published in the last 2h:", "#2 ", "#3 ", "recent", "latest", "`retract confirm`")
	wantNotContains(t, "pause retract reply", reply, "#1 ", "old news", "#4 ")
	if len(s.Rec.Retracted()) != 0 {
		t.Fatal("retracted before anyone confirmed")
	}

	wantContains(t, "eve's confirm", say(t, s, "eve", "retract confirm"), "@eve cannot retract: not an approver")
	if len(s.Rec.Retracted()) != 0 {
		t.Fatal("retracted on a non-approver's confirmation")
	}
	reply = say(t, s, "alice", "retract confirm")
	wantContains(t, "confirm", reply, "Retract offer 1 confirmed by @alice", "#2: retract asked by @alice", "#3: retract asked by @alice")
	got := s.Rec.Retracted()
	want := []string{remoteID(t, s, recent.ID, "rec"), remoteID(t, s, latest.ID, "rec")}
	if len(got) != 2 || got[0].RemoteID != want[0] || got[1].RemoteID != want[1] {
		t.Fatalf("retracted %+v, want %q", got, want)
	}
	wantContains(t, "second confirm", say(t, s, "alice", "retract confirm 1"), "retract offer 1 was confirmed by @alice already")
	wantContains(t, "third confirm", say(t, s, "alice", "retract confirm"), "no retract offer is waiting")
	for action, n := range map[string]int{"pause": 1, "retract.offer": 1, "retract.offer_confirm": 1} {
		if got := len(audits(t, s, 0, action)); got != n {
			t.Errorf("%d %s audit entries, want %d", got, action, n)
		}
	}

	// The pause holds what was still to come.
	s.Clock.Set(time.Date(2030, 1, 7, 12, 0, 0, 0, time.UTC))
	s.Cycle()
	s.WantState(upcoming.ID, approvals.StateHeld)
}

func TestRetractOfferFromTheCLIIsPostedAndCanBeCanceled(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	p := approved(t, s, "went out", 10*time.Minute)
	s.Clock.Advance(20 * time.Minute)
	s.Cycle()
	s.WantState(p.ID, approvals.StatePublished)

	// What `heed pause --retract 1h` does from another process.
	if _, err := s.Service.Pauses.PauseAll(s.Ctx, "ops", "", "incident", "cli"); err != nil {
		t.Fatal(err)
	}
	o, err := s.Service.Pauses.OfferRetract(s.Ctx, time.Hour, "ops", "incident", "cli")
	if err != nil || o.ID == 0 || len(o.Items) != 1 || o.Items[0] != p.ID {
		t.Fatalf("offer %+v, %v", o, err)
	}
	s.Cycle()
	if n := s.Chat.RepliesContaining("Retract offer 1 by ops"); n != 1 {
		t.Fatalf("offer posted %d times: %q", n, s.Chat.Replies)
	}
	s.Cycle()
	if n := s.Chat.RepliesContaining("Retract offer 1 by ops"); n != 1 {
		t.Fatalf("offer posted %d times after another cycle", n)
	}
	wantContains(t, "cancel", say(t, s, "bob", "retract cancel"), "Retract offer 1 canceled by @bob: nothing was deleted.")
	wantContains(t, "confirm after cancel", say(t, s, "bob", "retract confirm 1"), "was canceled by @bob already")
	if len(s.Rec.Retracted()) != 0 {
		t.Fatal("retracted after a cancel")
	}

	// Nothing in the window: nothing is offered.
	s.Clock.Advance(3 * time.Hour)
	wantContains(t, "empty offer", say(t, s, "eve", "pause retract 1h"), "Nothing published in the last 1h is left to retract.")
}

func remoteID(t *testing.T, s *heedtest.Stack, occ int64, target string) string {
	t.Helper()
	for _, d := range s.View(occ).Deliveries {
		if d.Target == target && d.RemoteID != "" {
			return d.RemoteID
		}
	}
	t.Fatalf("#%d has no remote id for %s", occ, target)
	return ""
}
