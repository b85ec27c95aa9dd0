package slack

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/bot/slack/slackfake"
)

// Test workspace: #social-review (CREVIEW) with approver alice, group
// SSOCIAL (carol), plain member bob, and a bot user deploybot.
const (
	chReview    = "CREVIEW"
	chOther     = "COTHER"
	alice       = "UALICE"
	bob         = "UBOB"
	carol       = "UCAROL"
	deploybot   = "UDEPLOY"
	groupSocial = "SSOCIAL"
)

// testClock is a clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock { return &testClock{t: time.Now()} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// recorder is a stand-in engine: it records every event it is handed.
type recorder struct {
	ch      chan bot.Event
	block   chan struct{}  // when non-nil, HandleEvent waits for it to close
	entered chan bot.Event // HandleEvent sends each event here as it starts, when block is set
}

func newRecorder() *recorder {
	return &recorder{ch: make(chan bot.Event, 1000), entered: make(chan bot.Event, 1000)}
}

func (r *recorder) HandleEvent(ctx context.Context, ev bot.Event) error {
	if r.block != nil {
		r.entered <- ev
		select {
		case <-r.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.ch <- ev
	return nil
}

// next returns the next event that is not the bot's own echo.
func (r *recorder) next(t testing.TB) bot.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-r.ch:
			if !ev.FromSelf {
				return ev
			}
		case <-deadline:
			t.Fatal("no event reached the engine within 10s")
		}
	}
}

// nextAny returns the next event, the bot's own included.
func (r *recorder) nextAny(t testing.TB) bot.Event {
	t.Helper()
	select {
	case ev := <-r.ch:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event reached the engine within 10s")
	}
	return bot.Event{}
}

type env struct {
	h     bot.Handler // what the adapter hands events to; the recorder unless set
	f     *slackfake.Fake
	a     *Adapter
	rec   *recorder
	clock *testClock
	logs  *syncBuffer
	srv   *httptest.Server // events mode
	stop  func()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type setup struct {
	mode    string
	fake    slackfake.Options
	opts    []Option
	noRun   bool
	refresh time.Duration
}

func newEnv(t testing.TB, s setup) *env {
	t.Helper()
	f := slackfake.New(t, s.fake)
	f.AddUser(slackfake.User{ID: alice, Name: "alice"})
	f.AddUser(slackfake.User{ID: bob, Name: "bob"})
	f.AddUser(slackfake.User{ID: carol, Name: "carol"})
	f.AddUser(slackfake.User{ID: deploybot, Name: "deploybot", IsBot: true, BotID: "BDEPLOY"})
	f.AddChannel(chReview, "social-review", alice, bob, carol, deploybot)
	f.AddChannel(chOther, "random", alice, bob)
	f.SetGroup(groupSocial, carol)
	o := f.Options()
	cfg := Config{Mode: s.mode, BotToken: o.BotToken, AppToken: o.AppToken, SigningSecret: o.SigningSecret,
		APIURL: f.APIURL(), GroupRefresh: s.refresh, Listen: testListen,
		Channels: []ChannelConfig{{ID: chReview, Approvers: []string{alice}, ApproverGroups: []string{groupSocial}}}}
	e := &env{f: f, rec: newRecorder(), clock: newClock(), logs: &syncBuffer{}}
	opts := append([]Option{WithClock(e.clock.Now), WithPingTimeout(10 * time.Second),
		WithLogger(slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))}, s.opts...)
	a, err := New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	e.a = a
	if s.mode == ModeEvents {
		e.srv = httptest.NewServer(a.EventsHandler())
		t.Cleanup(e.srv.Close)
		f.DeliverTo(e.srv.URL)
	}
	if s.noRun {
		return e
	}
	e.start(t)
	return e
}

// start runs the adapter until the test ends, and in Socket Mode waits
// until it is connected and has said hello. When the adapter hands its
// events to an engine, it also waits until the open cards were read back.
func (e *env) start(t testing.TB) {
	t.Helper()
	conns := e.f.Connections()
	e.run(t)
	if e.a.cfg.Mode == ModeSocket {
		e.f.WaitConnections(t, conns+1)
		e.f.Sync(t)
	}
	if _, ok := e.h.(bot.CardReconciler); ok {
		e.waitReconciled(t)
	}
}

// waitReconciled waits until the adapter has read every open card back
// since Run started.
func (e *env) waitReconciled(t testing.TB) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		r := &e.a.recon
		r.mu.Lock()
		pending, changed, why := r.pending, r.changed, r.err
		r.mu.Unlock()
		if !pending {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("the open cards were not read back within 10s (%s)", why)
		}
	}
}

// run runs the adapter until the test ends.
func (e *env) run(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	h := e.h
	if h == nil {
		h = e.rec
	}
	go func() { done <- e.a.Run(ctx, h) }()
	e.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(func() {
		if e.stop != nil {
			e.stop()
		}
	})
}

// card posts a card through the adapter and returns the fake's message.
func (e *env) card(t testing.TB, c bot.Card) slackfake.Message {
	t.Helper()
	ref, err := e.a.PostCard(context.Background(), chReview, c)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := e.f.Message(chReview, string(ref))
	if !ok {
		t.Fatalf("card %s not in the fake", ref)
	}
	return m
}

func sampleCard(n int64) bot.Card {
	at := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
	berlin := time.FixedZone("CET", 3600)
	return bot.Card{Number: n, PostID: n, State: "in_review", Text: "Launch *day*! <!channel> & more\nsecond line",
		Targets: []bot.Preview{{Target: "mastodon-main", Kind: "mastodon", Text: "Launch *day*! <!channel> & more\nsecond line"}},
		At:      at, Zone: berlin, Now: at.Add(-13 * time.Hour), Required: 1}
}

// testListen is where an adapter in Events API mode listens in tests: a
// free port, never the default one another test run may hold. Requests
// reach it through an httptest server on EventsHandler.
const testListen = "127.0.0.1:0"
