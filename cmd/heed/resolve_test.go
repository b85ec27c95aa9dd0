package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/sqlite"
)

// unknownAt leaves an occurrence due at `at` with an unknown outcome, as a
// crash mid-publish does.
func unknownAt(t *testing.T, svc *sqlite.Service, text string, at time.Time) int64 {
	t.Helper()
	ctx := t.Context()
	p, err := svc.Posts.AddPost(ctx, approvals.NewPost{Text: text, Targets: []string{"log"}, Author: "bob",
		Schedule: approvals.Schedule{At: at, TZ: "UTC"}}, "bob", "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Posts.Materialize(ctx); err != nil {
		t.Fatal(err)
	}
	if err := svc.Reviews.OpenReview(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Reviews.React(ctx, approvals.ReactionInput{Occurrence: p.ID, User: "alice", Emoji: "✅"}); err != nil {
		t.Fatal(err)
	}
	if res, err := svc.Deliveries.Settle(ctx, p.ID, at.Add(time.Minute), approvals.SettleOptions{Runner: "test"}); err != nil || len(res.Claims) != 1 {
		t.Fatalf("settle: %+v %v", res, err)
	}
	if n, err := svc.Deliveries.RecoverCrashed(ctx, nil); err != nil || n != 1 {
		t.Fatalf("recover: %d %v", n, err)
	}
	return p.ID
}

// TestResolveAllBefore: `heed resolve --all --before T published` settles
// only the unknown outcomes of occurrences due before T, each audited; bad
// input says what to fix and changes nothing.
func TestResolveAllBefore(t *testing.T) {
	db := newDB(t, t.TempDir())
	svc := openService(t, db)
	base := time.Now().Add(time.Hour).Truncate(time.Minute).UTC()
	early := unknownAt(t, svc, "due first", base)
	second := unknownAt(t, svc, "due second", base.Add(time.Hour))
	late := unknownAt(t, svc, "due a day later", base.Add(26*time.Hour))
	cutoff := base.Add(2 * time.Hour).Format(time.RFC3339)

	resolves := func() int {
		t.Helper()
		n := 0
		for _, id := range []int64{early, second, late} {
			entries, err := svc.Audit.Audit(t.Context(), 0, id, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if e.Action == "publish.resolve" {
					n++
				}
			}
		}
		return n
	}
	state := func(id int64) approvals.State {
		t.Helper()
		v, err := svc.Reviews.Occurrence(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		return v.State
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"resolve", "--all", "--before", "someday", "published"}, `--before: "someday" is not a time: use a date (2026-12-01, meaning the start of that day)`},
		{[]string{"resolve", "all", "--before", "", "published"}, "--before: no time given"},
		{[]string{"resolve", strconv.FormatInt(early, 10), "--before", cutoff, "published"}, "--before goes with all (--all)"},
		{[]string{"resolve", "--all", strconv.FormatInt(early, 10), "published"}, "give occurrence numbers or --all, not both"},
		{[]string{"resolve", "--all", "--before", cutoff, "maybe"}, `"maybe": end with published or failed`},
		{[]string{"resolve", "published"}, "which occurrences?"},
		{[]string{"resolve", "--all", "--before", base.Add(-time.Hour).Format(time.RFC3339), "published"}, "no occurrence due before"},
	} {
		out, err := heed(t, db, c.args...)
		if err == nil || !strings.Contains(approvals.ErrorMessage(err), c.want) {
			t.Errorf("heed %s = %v\n%s\nwant an error saying %q", strings.Join(c.args, " "), err, out, c.want)
		}
	}
	if n := resolves(); n != 0 {
		t.Fatalf("bad input resolved %d occurrences", n)
	}
	for _, id := range []int64{early, second, late} {
		if st := state(id); st != approvals.StateUnknown {
			t.Fatalf("#%d is %s after bad input, want unknown", id, st)
		}
	}

	out := mustHeed(t, db, "resolve", "--all", "--before", cutoff, "published")
	for _, id := range []int64{early, second} {
		if !strings.Contains(out, "#"+strconv.FormatInt(id, 10)+" resolved as published") {
			t.Errorf("#%d was not resolved:\n%s", id, out)
		}
		if st := state(id); st != approvals.StatePublished {
			t.Errorf("#%d is %s, want published", id, st)
		}
	}
	if strings.Contains(out, "#"+strconv.FormatInt(late, 10)+" ") {
		t.Errorf("#%d, due after --before, was resolved:\n%s", late, out)
	}
	if st := state(late); st != approvals.StateUnknown {
		t.Fatalf("#%d is %s, want unknown", late, st)
	}
	if n := resolves(); n != 2 {
		t.Fatalf("%d resolutions audited, want one per occurrence (2)", n)
	}
	mustHeed(t, db, "resolve", "all", "failed")
	if st := state(late); st != approvals.StateFailed {
		t.Fatalf("#%d is %s, want failed", late, st)
	}
	if n := resolves(); n != 3 {
		t.Fatalf("%d resolutions audited, want 3", n)
	}
}
