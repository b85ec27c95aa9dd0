// Package heedtest builds a whole heed for tests: the store on a real SQLite
// file (or a real PostgreSQL database: Options.Postgres), the chat engine,
// the dispatcher and a recording publisher, with an injected clock, wired
// by app.Build as `heed run` is. Tests drive time one cycle at a time and
// never sleep:
//
//	s := heedtest.New(t, heedtest.Options{})
//	p := s.Add("hello", 10*time.Minute)          // a post due in 10 min to "rec"
//	s.Cycle()                                     // the card is posted
//	s.Chat.React("alice", p.ID, "✅")              // alice approves (MemChat)
//	s.Clock.Advance(10 * time.Minute)
//	s.Cycle()                                     // due: published
//	s.Rec.Texts()                                 // ["hello"]
//
// A chat adapter under test (Matrix, Slack) is passed in Options.Adapters
// with its Rooms; the stack then starts nothing itself: the test runs the
// adapter (go adapter.Run(ctx, s.Engine)) and calls s.Cycle() when it
// wants the engine and dispatcher to act.
package heedtest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/heed-dev/heed/app"
	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/approvals/timing"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/dispatch"
	"github.com/heed-dev/heed/internal/pgtest"
	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/sqlite"
)

// Clock is a settable clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t.UTC()} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// Set puts the clock at t.
func (c *Clock) Set(t time.Time) { c.mu.Lock(); c.t = t.UTC(); c.mu.Unlock() }

// Options configure a Stack. Zero values give: a MemChat room "review"
// whose approvers are alice, bob and carol; a recording target "rec"; a
// clock at 2030-01-07 09:00 UTC (a Monday).
type Options struct {
	Adapters []bot.Adapter
	Rooms    []bot.Room
	Targets  []publish.Target // in addition to "rec"
	Start    time.Time
	DBPath   string // reuse a database file or PostgreSQL URL (restart tests); default: a new file in t.TempDir()
	// Postgres puts the store in a fresh PostgreSQL database of its own
	// (pgtest.URL: the test binary's TestMain must run pgtest.Main)
	// instead of a SQLite file. With HEED_TEST_DATABASE=postgres in the
	// environment, every stack that names no DBPath and counts no SQL is
	// so: a package's tests then run as a conformance suite of the store
	// on PostgreSQL.
	Postgres bool
	Clock    *Clock // share a clock across restarts
	Zone     *time.Location
	Log      *slog.Logger
	// Safeguards are the timing safeguards (last call, staffed hours,
	// sensitive dates, tripwire); nil turns them off. Tests may also set
	// s.Engine.Safeguards before the first cycle.
	Safeguards *timing.Safeguards
	// CountSQL opens the store on CountingDriver, so that SQLCount counts
	// its statements and transactions.
	CountSQL bool
	// Chat is a MemChat shared with other stacks (replicas on one
	// database, one chat); default a new one. Its events reach the stack
	// that last called Hear.
	Chat *MemChat
	// Replica makes the stack one of several heed replicas on its
	// database (PostgreSQL), by that name: it serves a chat only while it
	// holds its lease (Engine.HoldCycle). ChatLease is the lease's length
	// (default bot.DefaultLease).
	Replica   string
	ChatLease time.Duration
}

// Stack is a whole heed under test.
type Stack struct {
	T          testing.TB
	Ctx        context.Context
	Clock      *Clock
	Store      *sqlite.Store
	Service    *sqlite.Service
	Engine     *bot.Engine
	Dispatcher *dispatch.Dispatcher
	Catalog    *dispatch.Catalog
	Rec        *Recorder
	Chat       *MemChat    // nil when Options.Adapters were given
	DBPath     string      // the SQLite file, or the PostgreSQL URL
	System     *app.System // what app.Build wired: the HTTP listener's handler comes from it
}

// DefaultApprovers are the approvers of the default MemChat room.
var DefaultApprovers = []string{"alice", "bob", "carol"}

// New builds a stack; it is closed when the test ends.
func New(t testing.TB, o Options) *Stack {
	t.Helper()
	ctx := t.Context()
	if o.Clock == nil {
		start := o.Start
		if start.IsZero() {
			start = time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
		}
		o.Clock = NewClock(start)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if os.Getenv("HEED_TEST_DATABASE") == sqlite.DialectPostgres && o.DBPath == "" && !o.CountSQL {
		o.Postgres = true
	}
	var st *sqlite.Store
	var err error
	if o.Postgres || sqlite.IsPostgres(o.DBPath) {
		if o.CountSQL {
			t.Fatal("heedtest: CountSQL counts SQLite's statements only")
		}
		if o.DBPath == "" {
			o.DBPath = pgtest.URL(t)
		}
		if st, err = sqlite.Open(ctx, o.DBPath); err != nil {
			t.Fatalf("open store: %v", err)
		}
		st.SetMediaDir(filepath.Join(t.TempDir(), "heed-media"))
	} else {
		if o.DBPath == "" {
			o.DBPath = filepath.Join(t.TempDir(), "heed.db")
		}
		driverName := "sqlite"
		if o.CountSQL {
			RegisterCountingDriver()
			driverName = CountingDriver
		}
		if st, err = sqlite.OpenDriver(ctx, driverName, o.DBPath); err != nil {
			t.Fatalf("open store: %v", err)
		}
	}
	t.Cleanup(func() { st.Close() })
	s := &Stack{T: t, Ctx: ctx, Clock: o.Clock, Store: st, DBPath: o.DBPath, Rec: NewRecorder()}
	targets := append([]publish.Target{{Name: "rec", Kind: "recorder", Publisher: s.Rec}}, o.Targets...)
	s.Catalog = dispatch.NewCatalog(targets...)
	if len(o.Adapters) == 0 {
		s.Chat = o.Chat
		if s.Chat == nil {
			s.Chat = NewMemChat(o.Clock.Now)
		}
		o.Adapters = []bot.Adapter{s.Chat}
		if len(o.Rooms) == 0 {
			o.Rooms = []bot.Room{{Name: "review", Adapter: s.Chat.Name(), ID: "review", Policy: approvals.Policy{Approvers: DefaultApprovers}}}
		}
	}
	sys, err := app.Build(ctx, app.Parts{
		Store: st, Catalog: s.Catalog, Adapters: o.Adapters, Rooms: o.Rooms, Safeguards: o.Safeguards,
		Zone: o.Zone, Runner: "heedtest", Now: o.Clock.Now, Log: o.Log, Replica: o.Replica, ChatLease: o.ChatLease,
	})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	s.Service, s.Engine, s.Dispatcher, s.System = sys.Service, sys.Engine, sys.Dispatcher, sys
	if s.Chat != nil {
		if o.Chat == nil {
			s.Hear()
		}
	} else {
		// The chats under test run on their own goroutines, as in heed
		// run; so does the loop that renders what their events changed.
		done := make(chan struct{})
		go func() { defer close(done); s.Engine.Cards().Run(ctx) }()
		t.Cleanup(func() { <-done }) // before the store closes
	}
	if _, err := st.DB().ExecContext(ctx, `SELECT 1`); err != nil {
		t.Fatal(err)
	}
	return s
}

// Hear makes the stack's MemChat deliver its events to this stack's
// engine, and render after each, as the replica holding the chat does.
func (s *Stack) Hear() {
	s.Chat.mu.Lock()
	defer s.Chat.mu.Unlock()
	s.Chat.handler = s.Engine
	s.Chat.render = func() error { return s.Engine.Cards().Sync(s.Ctx) }
}

// Cycle runs one engine cycle (occurrences, cards) and one dispatch cycle
// at the clock's time, then brings cards up to date again.
func (s *Stack) Cycle() dispatch.Stats {
	s.T.Helper()
	if err := s.Engine.RunOnce(s.Ctx); err != nil {
		s.T.Fatalf("engine cycle: %v", err)
	}
	st, err := s.Dispatcher.RunOnce(s.Ctx, s.Clock.Now())
	if err != nil {
		s.T.Fatalf("dispatch cycle: %v", err)
	}
	if err := s.Engine.Cards().Sync(s.Ctx); err != nil {
		s.T.Fatalf("sync cards: %v", err)
	}
	return st
}

// Add schedules a one-shot post by "author" due `in` from now, to the
// given targets (default "rec"), in the default room.
func (s *Stack) Add(text string, in time.Duration, targets ...string) approvals.Post {
	s.T.Helper()
	if len(targets) == 0 {
		targets = []string{"rec"}
	}
	p, err := s.Service.Posts.AddPost(s.Ctx, approvals.NewPost{
		Text: text, Targets: targets, Author: "author",
		Schedule: approvals.Schedule{At: s.Clock.Now().Add(in), TZ: "UTC"},
	}, "author", "test")
	if err != nil {
		s.T.Fatalf("add post: %v", err)
	}
	return p
}

// State returns an occurrence's state.
func (s *Stack) State(occ int64) approvals.State {
	s.T.Helper()
	v, err := s.Service.Reviews.Occurrence(s.Ctx, occ)
	if err != nil {
		s.T.Fatalf("occurrence %d: %v", occ, err)
	}
	return v.State
}

// View returns an occurrence's view.
func (s *Stack) View(occ int64) approvals.View {
	s.T.Helper()
	v, err := s.Service.Reviews.Occurrence(s.Ctx, occ)
	if err != nil {
		s.T.Fatalf("occurrence %d: %v", occ, err)
	}
	return v
}

// WantState fails the test unless occ is in state want.
func (s *Stack) WantState(occ int64, want approvals.State) {
	s.T.Helper()
	if got := s.State(occ); got != want {
		s.T.Fatalf("#%d is %s, want %s (note: %q)", occ, got, want, s.View(occ).Note)
	}
}
