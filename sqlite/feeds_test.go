package sqlite_test

import (
	"sync"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/internal/heedtest"
	"github.com/heed-dev/heed/sqlite"
)

// TestClaimFeedItemsOnce: of two heeds on one database that fetched the
// same feed, each item is claimed by one only; an item claimed once is
// never claimed again; its post and hash are recorded; a released claim
// can be made again; another feed's item of the same key is its own.
func TestClaimFeedItemsOnce(t *testing.T) { onBoth(t, testClaimFeedItemsOnce) }

func testClaimFeedItemsOnce(t *testing.T, o heedtest.Options) {
	s := heedtest.New(t, o)
	other, err := sqlite.Open(s.Ctx, s.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	now := s.Clock.Now()
	items := []approvals.FeedItem{
		{Feed: "blog", Key: "a", Hash: "h1", FirstSeen: now},
		{Feed: "blog", Key: "b", Hash: "h1", FirstSeen: now},
		{Feed: "blog", Key: "c", Hash: "h1", FirstSeen: now},
	}
	var wg sync.WaitGroup
	got := make([]map[string]bool, 2)
	for i, st := range []*sqlite.Store{s.Store, other} {
		wg.Go(func() {
			c, err := st.ClaimFeedItems(s.Ctx, items)
			if err != nil {
				t.Error(err)
			}
			got[i] = c
		})
	}
	wg.Wait()
	for _, it := range items {
		if got[0][it.Key] == got[1][it.Key] {
			t.Fatalf("item %s claimed by both or neither: %v", it.Key, got)
		}
	}
	if c, err := s.Store.ClaimFeedItems(s.Ctx, items); err != nil || len(c) != 0 {
		t.Fatalf("claimed again: %v, %v", c, err)
	}

	p := s.Add("from the feed", time.Hour)
	if err := s.Store.SetFeedItem(s.Ctx, "blog", "a", "h2", p.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Store.ReleaseFeedItem(s.Ctx, "blog", "b"); err != nil {
		t.Fatal(err)
	}
	known, err := other.FeedItems(s.Ctx, "blog")
	if err != nil {
		t.Fatal(err)
	}
	if a := known["a"]; a.Hash != "h2" || a.PostID != p.ID || !a.FirstSeen.Equal(now) {
		t.Fatalf("item a: %+v", a)
	}
	if _, ok := known["b"]; ok || len(known) != 2 || known["c"].PostID != 0 {
		t.Fatalf("items: %+v", known)
	}
	c, err := other.ClaimFeedItems(s.Ctx, []approvals.FeedItem{{Feed: "blog", Key: "b", FirstSeen: now}, {Feed: "news", Key: "a", FirstSeen: now}})
	if err != nil || !c["b"] || !c["a"] {
		t.Fatalf("after release, and for another feed: %v, %v", c, err)
	}
}
