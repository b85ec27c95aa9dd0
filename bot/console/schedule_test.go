package console_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/bot/console"
	"github.com/heed-dev/heed/internal/heedtest"
)

// screen is the console's output, safe for the render loop's goroutine;
// each write wakes Wait.
type screen struct {
	mu    sync.Mutex
	b     bytes.Buffer
	wrote chan struct{}
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case s.wrote <- struct{}{}:
	default:
	}
	return s.b.Write(p)
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Wait waits until the output shows want.
func (s *screen) Wait(t *testing.T, want string) {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for !strings.Contains(s.String(), want) {
		select {
		case <-s.wrote:
		case <-deadline.C:
			t.Fatalf("the console never showed %q:\n%s", want, s.String())
		}
	}
}

// TestConsoleSchedule: `schedule` typed in the console stores the post
// with the console's user as its author, answers with a receipt and the
// card, and the author's own ✅ does not approve it; a past time is
// refused and stores nothing.
func TestConsoleSchedule(t *testing.T) {
	out := &screen{wrote: make(chan struct{}, 1)}
	clock := heedtest.NewClock(time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC))
	a := &console.Adapter{In: strings.NewReader(""), Out: out, User: "carol", Now: clock.Now}
	s := heedtest.New(t, heedtest.Options{Clock: clock, Adapters: []bot.Adapter{a},
		Rooms: []bot.Room{{Name: "review", Adapter: "console", ID: console.Room, Policy: approvals.Policy{Approvers: heedtest.DefaultApprovers}}}})
	line := func(l string) {
		t.Helper()
		if err := a.Line(s.Ctx, s.Engine, l); err != nil {
			t.Fatal(err)
		}
	}
	line("schedule today 8:00 to rec Too late")
	out.Wait(t, "heed: schedule: time 2030-01-07T08:00:00Z is in the past")
	line("schedule in 2 hours to rec Hello from the console")
	out.Wait(t, "heed: 📝 #1 scheduled from chat by @carol for Mon 7 Jan 11:00 UTC (in 2 h) → rec")
	out.Wait(t, "┌─ card #1")
	ps, err := s.Service.Posts.ListPosts(s.Ctx, true, 10)
	if err != nil || len(ps) != 1 || ps[0].Author != "carol" || ps[0].Text != "Hello from the console" {
		t.Fatalf("posts: %+v, %v", ps, err)
	}
	line("+1 ✅")
	out.Wait(t, "the post's author may not approve it")
	s.WantState(1, approvals.StateInReview)
	line("/as alice")
	line("+1 ✅")
	out.Wait(t, "approved by @alice")
	s.WantState(1, approvals.StateApproved)
}
