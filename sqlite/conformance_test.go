package sqlite_test

import (
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/internal/heedtest"
	"github.com/heed-dev/heed/publish"
)

// The store's statements where SQLite and PostgreSQL differ most: each
// test runs on both (onBoth).

// everyMinute adds a post due every minute and makes its cards: its
// occurrences are a minute apart, from 09:01.
func everyMinute(t *testing.T, s *heedtest.Stack) []approvals.Occurrence {
	t.Helper()
	p, err := s.Service.Posts.AddPost(s.Ctx, approvals.NewPost{Text: "tick", Targets: []string{"rec"}, Author: "author",
		Schedule: approvals.Schedule{Cron: "* * * * *", TZ: "UTC"}}, "author", "test")
	if err != nil {
		t.Fatal(err)
	}
	s.Cycle()
	occ, err := s.Service.Reviews.Occurrences(s.Ctx, p.ID, 10)
	if err != nil || len(occ) < 2 || occ[1].At.Sub(occ[0].At) != time.Minute {
		t.Fatalf("occurrences %+v, %v", occ, err)
	}
	return occ
}

// TestDelayOntoAnotherOccurrenceIsAConflict: an occurrence moved onto
// the time of another of its post is refused, and nothing changes.
func TestDelayOntoAnotherOccurrenceIsAConflict(t *testing.T) {
	onBoth(t, testDelayOntoAnotherOccurrenceIsAConflict)
}

func testDelayOntoAnotherOccurrenceIsAConflict(t *testing.T, db heedtest.Options) {
	s := heedtest.New(t, db)
	occ := everyMinute(t, s)
	_, err := s.Service.Reviews.Delay(s.Ctx, occ[0].ID, time.Minute, "alice", "test")
	if approvals.ErrorCode(err) != approvals.ECONFLICT || !strings.Contains(err.Error(), "already has an occurrence at") {
		t.Fatalf("delay onto the next occurrence: %v", err)
	}
	if v := s.View(occ[0].ID); !v.At.Equal(occ[0].At) {
		t.Fatalf("the refused delay moved #%d to %s", occ[0].ID, v.At)
	}
}

// TestReconcileGoesOnAfterAClash: reactions read back after a restart
// that would move a held occurrence onto another of its post's times are
// refused one by one, and the rest of the reconciliation is kept (on
// PostgreSQL a failed statement would end the whole transaction).
func TestReconcileGoesOnAfterAClash(t *testing.T) { onBoth(t, testReconcileGoesOnAfterAClash) }

func testReconcileGoesOnAfterAClash(t *testing.T, db heedtest.Options) {
	s := heedtest.New(t, db)
	occ := everyMinute(t, s)
	first := occ[0].ID
	stop := approvals.ReactionInput{Occurrence: first, User: "dave", Emoji: approvals.StopEmoji, Source: "test"}
	if res, err := s.Service.Reviews.React(s.Ctx, stop); err != nil || !res.Held {
		t.Fatalf("🛑: %+v, %v", res, err)
	}
	// At the second occurrence's time, an approval of the held first one
	// would move it to now: onto the second.
	s.Clock.Set(occ[1].At)
	current := []approvals.ReactionInput{stop,
		{User: "alice", Emoji: "✅", Source: "test"},
		{User: "bob", Emoji: "✅", Source: "test"},
		{User: "carol", Emoji: "👀", Source: "test"},
	}
	added, withdrawn, err := s.Service.Reviews.Reconcile(s.Ctx, first, current)
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if added != 1 || withdrawn != 0 {
		t.Fatalf("reconcile added %d and withdrew %d; want carol's 👀 added, the approvals refused", added, withdrawn)
	}
	if v := s.View(first); v.State != approvals.StateHeld || !v.At.Equal(occ[0].At) {
		t.Fatalf("#%d is %s at %s; want held at its time", first, v.State, v.At)
	}
}

// TestTargetPauseCountsWhatGoesThere: a pause of one target counts the
// occurrences that go to it (a JSON list of targets, read by each
// dialect's JSON functions); a pause of everything counts all.
func TestTargetPauseCountsWhatGoesThere(t *testing.T) { onBoth(t, testTargetPauseCountsWhatGoesThere) }

func testTargetPauseCountsWhatGoesThere(t *testing.T, db heedtest.Options) {
	db.Targets = []publish.Target{{Name: "rec2", Kind: "recorder", Publisher: heedtest.NewRecorder()}}
	s := heedtest.New(t, db)
	s.Add("one", time.Hour, "rec")
	s.Add("two", time.Hour, "rec2")
	s.Add("both", time.Hour, "rec", "rec2")
	s.Cycle()
	rc, err := s.Service.Pauses.PauseAll(s.Ctx, "dave", "rec2", "its account is hacked", "test")
	if err != nil || rc.Waiting != 2 || rc.Pause.ID == 0 {
		t.Fatalf("pause of rec2: %+v, %v; want 2 waiting", rc, err)
	}
	rc, err = s.Service.Pauses.PauseAll(s.Ctx, "dave", "", "everything", "test")
	if err != nil || rc.Waiting != 3 || len(rc.Already) != 1 {
		t.Fatalf("pause of everything: %+v, %v; want 3 waiting, 1 pause already", rc, err)
	}
	res, err := s.Service.Pauses.Resume(s.Ctx, "alice", "", "test")
	if err != nil || len(res.Resumed) != 2 {
		t.Fatalf("resume: %+v, %v", res, err)
	}
}

// TestPresenceKeepsTheLatest: a person's presence in a room keeps the
// latest time seen, whatever order events arrive in, and an event seen
// twice is a duplicate.
func TestPresenceKeepsTheLatest(t *testing.T) { onBoth(t, testPresenceKeepsTheLatest) }

func testPresenceKeepsTheLatest(t *testing.T, db heedtest.Options) {
	s := heedtest.New(t, db)
	now := s.Clock.Now()
	for i, at := range []time.Time{now.Add(-time.Minute), now.Add(-time.Hour)} {
		dup, err := s.Service.Reviews.Seen(s.Ctx, "memchat", "event-"+string(rune('a'+i)), "review", "alice", at)
		if err != nil || dup {
			t.Fatalf("event %d: dup %v, %v", i, dup, err)
		}
	}
	if dup, err := s.Service.Reviews.Seen(s.Ctx, "memchat", "event-a", "review", "alice", now); err != nil || !dup {
		t.Fatalf("the same event again: dup %v, %v", dup, err)
	}
	var at int64
	if err := s.Store.DB().QueryRowContext(s.Ctx, `SELECT at FROM room_presence WHERE room = ? AND "user" = ?`, "review", "alice").Scan(&at); err != nil {
		t.Fatal(err)
	}
	if at != now.Add(-time.Minute).UnixMilli() {
		t.Fatalf("alice last seen at %s, want a minute ago", time.UnixMilli(at).UTC())
	}
}

// TestCanceledPostsAreListedOnRequest: a canceled post is listed only when
// asked for.
func TestCanceledPostsAreListedOnRequest(t *testing.T) {
	onBoth(t, testCanceledPostsAreListedOnRequest)
}

func testCanceledPostsAreListedOnRequest(t *testing.T, db heedtest.Options) {
	s := heedtest.New(t, db)
	keep, drop := s.Add("keep", time.Hour), s.Add("drop", time.Hour)
	if err := s.Service.Posts.CancelPost(s.Ctx, drop.ID, "alice", "test"); err != nil {
		t.Fatal(err)
	}
	open, err := s.Service.Posts.ListPosts(s.Ctx, false, 0)
	if err != nil || len(open) != 1 || open[0].ID != keep.ID {
		t.Fatalf("open posts: %+v, %v", open, err)
	}
	all, err := s.Service.Posts.ListPosts(s.Ctx, true, 0)
	if err != nil || len(all) != 2 || !all[0].Canceled || all[0].ID != drop.ID {
		t.Fatalf("all posts: %+v, %v", all, err)
	}
	if err := s.Service.Posts.CancelPost(s.Ctx, drop.ID, "alice", "test"); approvals.ErrorCode(err) != approvals.ECONFLICT {
		t.Fatalf("cancel twice: %v", err)
	}
}

// TestOnceOnlyRecords: a last call, a card's image and an adapter's value
// are each recorded once; ids given by the database grow.
func TestOnceOnlyRecords(t *testing.T) { onBoth(t, testOnceOnlyRecords) }

func testOnceOnlyRecords(t *testing.T, db heedtest.Options) {
	s := heedtest.New(t, db)
	p := s.Add("soon", time.Hour)
	s.Cycle()
	at := s.Clock.Now().Add(time.Hour)
	for i, want := range []bool{true, false} {
		if mine, err := s.Service.Reviews.ClaimLastCall(s.Ctx, p.ID, at); err != nil || mine != want {
			t.Fatalf("last call claim %d: %v, %v", i, mine, err)
		}
	}
	if err := s.Service.Reviews.ReleaseLastCall(s.Ctx, p.ID, at); err != nil {
		t.Fatal(err)
	}
	if mine, err := s.Service.Reviews.ClaimLastCall(s.Ctx, p.ID, at); err != nil || !mine {
		t.Fatalf("last call after a release: %v, %v", mine, err)
	}
	for range 2 {
		if err := s.Store.AddCardImage(s.Ctx, "memchat", "review", "ref", "sum", at); err != nil {
			t.Fatal(err)
		}
	}
	if imgs, err := s.Store.CardImages(s.Ctx, "memchat", "review", "ref"); err != nil || len(imgs) != 1 || !imgs["sum"] {
		t.Fatalf("card images %v, %v", imgs, err)
	}
	for _, v := range []string{"one", "two"} {
		if err := s.Store.SetKV(s.Ctx, "k", v); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := s.Store.GetKV(s.Ctx, "k"); err != nil || v != "two" {
		t.Fatalf("kv %q, %v", v, err)
	}
	a, err := s.Service.Reviews.AddSensitiveDate(s.Ctx, "12-01", "one", "alice", "test")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Service.Reviews.AddSensitiveDate(s.Ctx, "12-02", "two", "alice", "test")
	if err != nil || a.ID == 0 || b.ID <= a.ID {
		t.Fatalf("sensitive date ids %d then %d (%v)", a.ID, b.ID, err)
	}
}

// TestLeaseHasOneHolder: the dispatcher lease is held by one holder at a
// time, and is free once released.
func TestLeaseHasOneHolder(t *testing.T) { onBoth(t, testLeaseHasOneHolder) }

func testLeaseHasOneHolder(t *testing.T, db heedtest.Options) {
	s := heedtest.New(t, db)
	now := s.Clock.Now()
	if err := s.Store.AcquireLease(s.Ctx, "dispatcher", "a", now, time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Store.AcquireLease(s.Ctx, "dispatcher", "b", now, time.Minute, nil); approvals.ErrorCode(err) != approvals.ECONFLICT {
		t.Fatalf("a second holder: %v", err)
	}
	if err := s.Store.ReleaseLease(s.Ctx, "dispatcher", "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Store.AcquireLease(s.Ctx, "dispatcher", "b", now, time.Minute, nil); err != nil {
		t.Fatalf("after the release: %v", err)
	}
	if holder, until, err := s.Store.Lease(s.Ctx, "dispatcher"); err != nil || holder != "b" || !until.Equal(now.Add(time.Minute)) {
		t.Fatalf("lease %q until %s, %v", holder, until, err)
	}
}

// TestAuditIsAppendOnly: the database itself refuses to change or delete
// an audit line.
func TestAuditIsAppendOnly(t *testing.T) { onBoth(t, testAuditIsAppendOnly) }

func testAuditIsAppendOnly(t *testing.T, db heedtest.Options) {
	s := heedtest.New(t, db)
	if err := s.Service.Audit.Record(s.Ctx, approvals.AuditEntry{Actor: "alice", Action: "test.line"}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`UPDATE audit SET actor = 'mallory'`, `DELETE FROM audit`} {
		if _, err := s.Store.DB().ExecContext(s.Ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v", q, err)
		}
	}
	if entries, err := s.Service.Audit.Audit(s.Ctx, 0, 0, 0); err != nil || len(entries) != 1 || entries[0].Actor != "alice" {
		t.Fatalf("audit %+v, %v", entries, err)
	}
}
