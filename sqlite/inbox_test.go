package sqlite_test

import (
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/internal/heedtest"
)

// TestKeptRequestsAreKeptOncePerKey: a chat request kept for the chat's
// holder is stored once per chat and key, whatever replica keeps it
// again (a retry), comes back oldest first with its body unchanged, and
// is gone once dropped.
func TestKeptRequestsAreKeptOncePerKey(t *testing.T) { onBoth(t, testKeptRequestsAreKeptOncePerKey) }

func testKeptRequestsAreKeptOncePerKey(t *testing.T, o heedtest.Options) {
	s := heedtest.New(t, o)
	now := s.Clock.Now()
	body := []byte(`{"type":"event_callback","event_id":"Ev1","event":{"text":"ünïcode ✅"}}`)
	first := approvals.ChatRequest{Chat: "slack", Key: "ev:Ev1", ContentType: "application/json", Body: body, Received: now}
	for i, want := range []bool{true, false} {
		kept, err := s.Store.KeepRequest(s.Ctx, first)
		if err != nil || kept != want {
			t.Fatalf("keep #%d: %v, %v; want %v", i+1, kept, err, want)
		}
	}
	second := approvals.ChatRequest{Chat: "slack", Key: "body:ab", ContentType: "application/x-www-form-urlencoded", Body: []byte("payload=x"), Received: now.Add(time.Second)}
	other := approvals.ChatRequest{Chat: "other", Key: "ev:Ev1", ContentType: "application/json", Body: body, Received: now}
	for _, r := range []approvals.ChatRequest{second, other} {
		if kept, err := s.Store.KeepRequest(s.Ctx, r); err != nil || !kept {
			t.Fatalf("keep %s %s: %v, %v", r.Chat, r.Key, kept, err)
		}
	}
	got, err := s.Store.KeptRequests(s.Ctx, "slack", 10)
	if err != nil || len(got) != 2 || got[0].Key != "ev:Ev1" || string(got[0].Body) != string(body) || got[1].Key != "body:ab" {
		t.Fatalf("kept: %+v, %v", got, err)
	}
	if err := s.Store.DropRequest(s.Ctx, "slack", "ev:Ev1"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Store.KeptRequests(s.Ctx, "slack", 10); err != nil || len(got) != 1 || got[0].Key != "body:ab" {
		t.Fatalf("after the drop: %+v, %v", got, err)
	}
}
