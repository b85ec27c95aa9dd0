package bot_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/internal/heedtest"
)

// TestResolveAllBeforeFromChat: `resolve all published before T` settles
// only the unknown outcomes of occurrences due before T, each audited;
// bad input says what to fix and changes nothing.
func TestResolveAllBeforeFromChat(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{}) // Monday 2030-01-07 09:00 UTC
	var ids []int64
	for _, in := range []time.Duration{10 * time.Minute, 20 * time.Minute, 3 * time.Hour} {
		p := s.Add("crashed at +"+in.String(), in)
		s.Cycle()
		if err := s.Chat.React("alice", p.ID, "✅"); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	s.Rec.FailNext(heedtest.ErrTimeout, heedtest.ErrTimeout, heedtest.ErrTimeout)
	for _, step := range []time.Duration{10 * time.Minute, 10 * time.Minute, 160 * time.Minute} {
		s.Clock.Advance(step)
		s.Cycle()
	}
	for _, id := range ids {
		s.WantState(id, approvals.StateUnknown)
	}
	resolved := func() int {
		t.Helper()
		n := 0
		for _, id := range ids {
			entries, err := s.Service.Audit.Audit(s.Ctx, 0, id, 100)
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
	say := func(who, text string) string {
		t.Helper()
		if err := s.Chat.Say(who, text); err != nil {
			t.Fatal(err)
		}
		return s.Chat.LastReply()
	}

	for _, c := range []struct{ who, text, want string }{
		{"bob", "resolve all published before someday", `resolve all published before: "someday" is not a time: use a date (2026-12-01, meaning the start of that day)`},
		{"bob", "resolve all published before", "only `before TIME` may follow"},
		{"bob", "resolve all published after 10:00", "only `before TIME` may follow"},
		{"mallory", "resolve all published before 2030-01-07 10:00", "@mallory cannot resolve"},
		{"bob", "resolve all published before 2030-01-07", "No occurrence due before Mon 7 Jan 2030 00:00 UTC has an unknown outcome."},
	} {
		if got := say(c.who, c.text); !strings.Contains(got, c.want) {
			t.Errorf("%s: %q\nreplied %q, want %q", c.who, c.text, got, c.want)
		}
	}
	if n := resolved(); n != 0 {
		t.Fatalf("bad input resolved %d", n)
	}
	for _, id := range ids {
		s.WantState(id, approvals.StateUnknown)
	}

	want := "#" + strconv.FormatInt(ids[0], 10) + ", #" + strconv.FormatInt(ids[1], 10) + " resolved as published by @bob."
	if got := say("bob", "resolve all published before 2030-01-07 10:00"); got != want {
		t.Fatalf("replied %q, want %q", got, want)
	}
	s.WantState(ids[0], approvals.StatePublished)
	s.WantState(ids[1], approvals.StatePublished)
	s.WantState(ids[2], approvals.StateUnknown)
	if n := resolved(); n != 2 {
		t.Fatalf("%d resolutions audited, want one per occurrence (2)", n)
	}
	// The English forms work too: it is Monday 12:00 now.
	if got := say("bob", "resolve all failed before tomorrow 9:00"); !strings.HasPrefix(got, "#"+strconv.FormatInt(ids[2], 10)+" resolved as failed") {
		t.Fatalf("replied %q", got)
	}
	s.WantState(ids[2], approvals.StateFailed)
}
