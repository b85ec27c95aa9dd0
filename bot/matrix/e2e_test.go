package matrix

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/approvals/timing"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/bot/matrix/matrixtest"
	"github.com/heed-dev/heed/internal/heedtest"
	"github.com/heed-dev/heed/sqlite"
)

// The end-to-end tests run the whole heed (internal/heedtest: store,
// engine, dispatcher, a recording target) with this adapter against a real
// Dendrite. People are registered users reacting and typing through their
// own clients; every check reads what another member of the room sees.

// syncBuffer is a log sink safe for the adapter's goroutine.
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

// stateRef lets the adapter be built before the stack whose store it uses.
type stateRef struct {
	st *sqlite.Store
	// queued counts the adapter's calls running in the store's queue of
	// writers (Exclusive) now.
	queued atomic.Int32
}

func (r *stateRef) GetKV(ctx context.Context, k string) (string, error) { return r.st.GetKV(ctx, k) }
func (r *stateRef) SetKV(ctx context.Context, k, v string) error        { return r.st.SetKV(ctx, k, v) }

// DB is the store's database, where the adapter keeps its crypto state.
func (r *stateRef) DB() *sql.DB { return r.st.DB() }

// Dialect is the store's database kind, which the crypto store speaks.
func (r *stateRef) Dialect() string { return r.st.Dialect() }

// Exclusive is the store's queue of writers.
func (r *stateRef) Exclusive(f func() error) error {
	return r.st.Exclusive(func() error {
		r.queued.Add(1)
		defer r.queued.Add(-1)
		return f()
	})
}

// world is one review room with its people and a running heed.
type world struct {
	t     testing.TB
	srv   *matrixtest.Server
	room  id.RoomID
	bot   *matrixtest.User
	admin *matrixtest.User // created the room: power level 100
	alice *matrixtest.User // listed approver
	carol *matrixtest.User // listed approver
	eve   *matrixtest.User // plain member
	watch *matrixtest.Watcher
	clock *heedtest.Clock
	logs  *syncBuffer

	s    *heedtest.Stack
	a    *Adapter
	ref  *stateRef // the adapter's state store: the stack's store
	stop func()
	// syncTimeout is the adapter's long poll: short in tests, so that Alive
	// follows the test clock closely.
	syncTimeout time.Duration
	// wrap, when set, wraps the engine as the adapter's handler.
	wrap func(bot.Handler) bot.Handler
	// proxy, when set, is between heed and the homeserver; the people
	// reach the homeserver directly.
	proxy *matrixtest.Proxy
	// hsWrap is worldOptions.homeserver.
	hsWrap func(t testing.TB, upstream string) string
	// mem, when set, is a second chat, with a review room "ops" of its
	// own, where people can talk to heed whatever happens to Matrix (see
	// opsSays).
	mem *heedtest.MemChat
	// people, when set, joins each person's CLI name to their Matrix id
	// (peopleOf) in the room's policy.
	people bool
	// crypto, when set, is heed's encryption configuration (pickle_key,
	// decrypt_wait); the people then have encrypting clients.
	crypto *cryptoOptions
	// postgres, when set, puts heed's database in PostgreSQL.
	postgres bool
	// guards are the timing safeguards (reminders); nil: none.
	guards *timing.Safeguards
	// transport, when set, carries heed's HTTP requests (benchmarks count
	// them); countSQL opens heed's store on heedtest.CountingDriver.
	transport http.RoundTripper
	countSQL  bool
}

// peopleTransport, when set in worldOptions, carries each person's HTTP
// requests from their registration on.
type peopleTransport func(u *matrixtest.User) http.RoundTripper

// cryptoOptions are heed's encryption settings in a world.
type cryptoOptions struct {
	encrypted   bool   // the room is encrypted from its creation
	decryptWait string // decrypt_wait (default 1h, beyond any test's clock)
	pickleKey   string
	recoveryKey string        // recovery_key
	recoveryOut *bytes.Buffer // where heed prints a new recovery key
}

// worldOptions are the settings of a world beyond the homeserver.
type worldOptions struct {
	syncTimeout time.Duration // default 1 s
	wrap        func(bot.Handler) bot.Handler
	proxy       bool // heed reaches the homeserver through a proxy the test can cut
	mem         bool // a second chat (MemChat) with a review room "ops"
	people      bool // the room's policy knows alice and carol as people (peopleOf)
	crypto      *cryptoOptions
	postgres    bool               // heed's database is PostgreSQL (internal/pgtest), not SQLite
	guards      *timing.Safeguards // timing safeguards (reminders)
	transport   http.RoundTripper  // heed's HTTP transport
	countSQL    bool               // heed's store on heedtest.CountingDriver
	peopleRT    peopleTransport    // the people's HTTP transports
	// homeserver, when set, is the URL heed is given instead of the
	// server's (a test's HTTP proxy in front of it).
	homeserver func(t testing.TB, upstream string) string
}

func newWorld(t testing.TB, srv *matrixtest.Server) *world {
	t.Helper()
	return newWorldSync(t, srv, time.Second)
}

func newWorldSync(t testing.TB, srv *matrixtest.Server, syncTimeout time.Duration, wrap ...func(bot.Handler) bot.Handler) *world {
	t.Helper()
	o := worldOptions{syncTimeout: syncTimeout}
	if len(wrap) > 0 {
		o.wrap = wrap[0]
	}
	return newWorldWith(t, srv, o)
}

func newWorldWith(t testing.TB, srv *matrixtest.Server, o worldOptions) *world {
	t.Helper()
	if o.syncTimeout == 0 {
		o.syncTimeout = time.Second
	}
	w := &world{t: t, srv: srv, logs: &syncBuffer{}, syncTimeout: o.syncTimeout, wrap: o.wrap, people: o.people, crypto: o.crypto,
		postgres: o.postgres, hsWrap: o.homeserver, guards: o.guards,
		transport: o.transport, countSQL: o.countSQL}
	if o.proxy {
		w.proxy = srv.Proxy(t)
	}
	w.bot = srv.Register(t, "heed")
	w.admin = srv.Register(t, "admin")
	w.alice = srv.Register(t, "alice")
	w.carol = srv.Register(t, "carol")
	w.eve = srv.Register(t, "eve")
	if o.peopleRT != nil {
		for _, u := range []*matrixtest.User{w.admin, w.alice, w.carol, w.eve} {
			u.Client.Client = &http.Client{Transport: o.peopleRT(u)}
		}
	}
	switch {
	case o.crypto != nil:
		for _, u := range []*matrixtest.User{w.admin, w.alice, w.carol, w.eve} {
			u.EnableCrypto(t)
		}
		if o.crypto.pickleKey == "" {
			o.crypto.pickleKey = matrixtest.Random(32)
		}
		if o.crypto.recoveryOut == nil {
			o.crypto.recoveryOut = &bytes.Buffer{}
		}
		if o.crypto.decryptWait == "" {
			o.crypto.decryptWait = "1h"
		}
		if o.crypto.encrypted {
			w.room = w.admin.CreateEncryptedRoom(t, true, w.alice, w.carol, w.eve)
			for _, u := range []*matrixtest.User{w.admin, w.alice, w.carol, w.eve} {
				u.Crypto.Learn(t, w.room)
			}
			break
		}
		fallthrough
	default:
		w.room = w.admin.CreateRoom(t, true, w.alice, w.carol, w.eve)
	}
	w.watch = w.eve.Watch(t)
	w.clock = heedtest.NewClock(time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC))
	// The bot is invited, not joined: it joins on the invite.
	if _, err := w.admin.Client.InviteUser(context.Background(), w.room, inviteReq(w.bot.ID)); err != nil {
		t.Fatal(err)
	}
	if o.mem {
		w.mem = heedtest.NewMemChat(w.clock.Now)
	}
	w.start("")
	return w
}

// start runs a heed (a stack on dbPath, or a new database) with a fresh
// adapter, and waits until it hears the room.
func (w *world) start(dbPath string) {
	t := w.t
	t.Helper()
	ref := &stateRef{}
	hs := w.srv.URL
	if w.proxy != nil {
		hs = w.proxy.URL
	}
	if w.hsWrap != nil {
		hs = w.hsWrap(t, hs)
	}
	cfg := Config{
		Homeserver: hs, UserID: string(w.bot.ID), Password: w.bot.Password,
		Rooms: []RoomConfig{{ID: string(w.room), ApproverPowerLevel: intp(50)}},
	}
	var extra []Option
	if w.crypto != nil {
		cfg.PickleKey, cfg.DecryptWait, cfg.RecoveryKey = w.crypto.pickleKey, w.crypto.decryptWait, w.crypto.recoveryKey
		extra = append(extra, WithRecoveryKeyOut(w.crypto.recoveryOut))
	}
	if w.transport != nil {
		extra = append(extra, WithHTTPClient(&http.Client{Transport: w.transport, Timeout: 30 * time.Second}))
	}
	a, err := New(cfg, nil, ref, append(extra, WithClock(w.clock.Now), WithSyncTimeout(w.syncTimeout),
		WithLogger(slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))...)
	if err != nil {
		t.Fatal(err)
	}
	adapters := []bot.Adapter{a}
	policy := approvals.Policy{Approvers: []string{string(w.alice.ID), string(w.carol.ID)}}
	if w.people {
		people, err := approvals.NewPeople(w.peopleOf())
		if err != nil {
			t.Fatal(err)
		}
		policy.People = people
	}
	rooms := []bot.Room{{Name: "review", Adapter: "matrix", ID: string(w.room), Policy: policy}}
	if w.mem != nil {
		adapters = append(adapters, w.mem)
		rooms = append(rooms, bot.Room{Name: "ops", Adapter: w.mem.Name(), ID: "review", Policy: approvals.Policy{Approvers: heedtest.DefaultApprovers}})
	}
	w.s = heedtest.New(t, heedtest.Options{
		Adapters: adapters, Rooms: rooms,
		Clock: w.clock, DBPath: dbPath, Postgres: w.postgres, Safeguards: w.guards, CountSQL: w.countSQL,
		Log: slog.New(slog.NewTextHandler(w.logs, nil)),
	})
	ref.st = w.s.Store
	w.a, w.ref = a, ref
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var h bot.Handler = w.s.Engine
	if w.wrap != nil {
		h = w.wrap(h)
	}
	go func() { done <- a.Run(ctx, h) }()
	var once sync.Once
	w.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("adapter Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("adapter Run did not return")
			}
		})
	}
	t.Cleanup(w.stop)
	w.waitAlive()
	// As Engine.Run does once an adapter shows life.
	if err := w.s.Engine.Reconcile(context.Background(), "matrix"); err != nil {
		t.Fatal(err)
	}
}

// waitAlive waits until the adapter has synced at the clock's current time.
func (w *world) waitAlive() {
	w.t.Helper()
	deadline := time.Now().Add(realWait)
	for w.a.Alive().Before(w.clock.Now()) {
		if time.Now().After(deadline) {
			w.t.Fatalf("the adapter did not sync within %v (log:\n%s)", realWait, w.logs)
		}
		time.Sleep(10 * time.Millisecond) // polling a real server's sync, bounded by the deadline
	}
}

// advance moves heed's clock and waits until the adapter has heard the room
// since, so the deaf-listener guard does not mistake the jump for silence.
func (w *world) advance(d time.Duration) {
	w.t.Helper()
	w.clock.Advance(d)
	w.waitAlive()
}

// card schedules a post due in `in`, runs a cycle so its card is posted,
// and returns the occurrence and its card's event id.
func (w *world) card(text string, in time.Duration) (int64, id.EventID) {
	t := w.t
	t.Helper()
	p := w.s.Add(text, in)
	w.s.Cycle()
	occs, err := w.s.Service.Reviews.Occurrences(context.Background(), p.ID, 10)
	if err != nil || len(occs) != 1 {
		t.Fatalf("occurrences of post %d: %v %v", p.ID, occs, err)
	}
	ref, ok, err := w.s.Service.Reviews.Card(context.Background(), occs[0].ID, "matrix", string(w.room))
	if err != nil || !ok {
		t.Fatalf("card of #%d: %v %v (log:\n%s)", occs[0].ID, ok, err, w.logs)
	}
	card := w.watch.Wait(t, "the card", realWait, func(e *event.Event) bool { return e.ID == id.EventID(ref.Ref) })
	if body, _ := card.Event.Content.Raw["body"].(string); !strings.Contains(body, text) {
		t.Errorf("the card's body lacks the post text: %q", body)
	}
	if card.Event.Content.Raw["msgtype"] != "m.notice" || card.Event.Content.Raw["format"] != "org.matrix.custom.html" {
		t.Errorf("the card is not an m.notice with HTML: %v", card.Event.Content.Raw)
	}
	return occs[0].ID, id.EventID(ref.Ref)
}

// react sends a reaction as u and returns its event id.
func (w *world) react(u *matrixtest.User, card id.EventID, key string) id.EventID {
	w.t.Helper()
	resp, err := u.Client.SendReaction(context.Background(), w.room, card, key)
	if err != nil {
		w.t.Fatalf("%s reacts %s: %v", u.ID, key, err)
	}
	return resp.EventID
}

func (w *world) redact(u *matrixtest.User, ev id.EventID) {
	w.t.Helper()
	if _, err := u.Client.RedactEvent(context.Background(), w.room, ev); err != nil {
		w.t.Fatalf("%s redacts %s: %v", u.ID, ev, err)
	}
}

func (w *world) say(u *matrixtest.User, text string) id.EventID {
	w.t.Helper()
	resp, err := u.Client.SendText(context.Background(), w.room, text)
	if err != nil {
		w.t.Fatalf("%s says %q: %v", u.ID, text, err)
	}
	return resp.EventID
}

// waitEdit waits until another member sees an edit of card whose new body
// contains want, and returns that body.
func (w *world) waitEdit(card id.EventID, want string) string {
	w.t.Helper()
	s := w.watch.Wait(w.t, "an edit of the card showing "+want, realWait, func(e *event.Event) bool {
		return isEditOf(e, card) && strings.Contains(newBody(e), want)
	})
	return newBody(s.Event)
}

// waitBotSays waits until another member sees a message from the bot
// containing want.
func (w *world) waitBotSays(want string) *event.Event {
	w.t.Helper()
	s := w.watch.Wait(w.t, "the bot saying "+want, realWait, func(e *event.Event) bool {
		body, _ := e.Content.Raw["body"].(string)
		return e.Sender == w.bot.ID && e.Content.Raw["m.new_content"] == nil && strings.Contains(body, want)
	})
	return s.Event
}

func inviteReq(u id.UserID) *mautrix.ReqInviteUser { return &mautrix.ReqInviteUser{UserID: u} }

func (w *world) audit(occ int64, action string) int {
	w.t.Helper()
	es, err := w.s.Service.Audit.Audit(context.Background(), 0, occ, 1000)
	if err != nil {
		w.t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if e.Action == action {
			n++
		}
	}
	return n
}

// 1. A card is posted; an approver's ✅ approves it, and the card is edited
// to show who approved.
func TestE2EApproverApproves(t *testing.T) {
	w := newWorld(t, matrixtest.Shared(t))
	occ, card := w.card("Release 2.0 is out", time.Hour)
	w.s.WantState(occ, approvals.StateInReview)
	w.react(w.alice, card, "✅")
	body := w.waitEdit(card, "approved by "+string(w.alice.ID))
	w.s.WantState(occ, approvals.StateApproved)
	if !strings.Contains(body, "APPROVED") {
		t.Errorf("the edited card does not show the state: %q", body)
	}
}

// 2. A non-approver's ✅ does not count, and the card says why.
func TestE2ENonApproverDoesNotCount(t *testing.T) {
	w := newWorld(t, matrixtest.Shared(t))
	occ, card := w.card("Meetup on Friday", time.Hour)
	w.react(w.eve, card, "✅\ufe0f")
	w.waitEdit(card, "✅ from "+string(w.eve.ID)+" does not count: not an approver (power level 0, needs 50)")
	w.s.WantState(occ, approvals.StateInReview)
}

// 3. A ❌ from an approver rejects it.
func TestE2EApproverRejects(t *testing.T) {
	w := newWorld(t, matrixtest.Shared(t))
	occ, card := w.card("Hot take", time.Hour)
	w.react(w.carol, card, "❌")
	w.waitEdit(card, "rejected by "+string(w.carol.ID))
	w.s.WantState(occ, approvals.StateRejected)
}

// 4. Redacting the ✅ withdraws the approval.
func TestE2ERedactionWithdraws(t *testing.T) {
	w := newWorld(t, matrixtest.Shared(t))
	occ, card := w.card("Blog post", time.Hour)
	r := w.react(w.alice, card, "✅")
	w.waitEdit(card, "approved by "+string(w.alice.ID))
	w.redact(w.alice, r)
	w.waitEdit(card, "no approvals yet (0/1)")
	w.s.WantState(occ, approvals.StateInReview)
}

// 5. A power-level change makes a user an approver.
func TestE2EPowerLevelMakesAnApprover(t *testing.T) {
	w := newWorld(t, matrixtest.Shared(t))
	occ, card := w.card("Security advisory", time.Hour)
	w.react(w.eve, card, "✅")
	w.waitEdit(card, "not an approver (power level 0, needs 50)")
	w.admin.SetPowerLevel(t, w.room, w.eve.ID, 50)
	// The ✅ eve gave before her promotion counts from then on: the
	// power-level change makes heed weigh the card's reactions again.
	w.waitEdit(card, "approved by "+string(w.eve.ID))
	w.s.WantState(occ, approvals.StateApproved)
	w.react(w.eve, card, "👍🏽") // a second approve emoji from the same person counts once
	w.waitEdit(card, "approved by "+string(w.eve.ID)+" (1/1)")
	// And back: at 49 a new card's approval from eve does not count.
	w.admin.SetPowerLevel(t, w.room, w.eve.ID, 49)
	occ2, card2 := w.card("Another one", time.Hour)
	w.react(w.eve, card2, "✅")
	w.waitEdit(card2, "not an approver (power level 49, needs 50)")
	w.s.WantState(occ2, approvals.StateInReview)
}

// 6. `pause` typed by a plain member halts publishing, with a receipt in
// the room; `resume` from a non-approver is refused.
func TestE2EPauseAndResume(t *testing.T) {
	w := newWorld(t, matrixtest.Shared(t))
	occ, card := w.card("Scheduled cheer", 10*time.Minute)
	w.react(w.alice, card, "✅")
	w.waitEdit(card, "approved by "+string(w.alice.ID))

	w.say(w.eve, "pause breaking news")
	w.waitBotSays("⏸ Paused all publishing. By " + string(w.eve.ID) + ", reason: breaking news")
	w.advance(10 * time.Minute)
	st := w.s.Cycle()
	if st.Held != 1 || st.Claimed != 0 || len(w.s.Rec.Texts()) != 0 {
		t.Fatalf("after pause: %+v, published %q; want it held", st, w.s.Rec.Texts())
	}
	w.s.WantState(occ, approvals.StateHeld)
	w.waitEdit(card, "during a pause by "+string(w.eve.ID))

	w.say(w.eve, "@"+w.bot.ID.Localpart()+": resume")
	w.waitBotSays(string(w.eve.ID) + " cannot resume")
	if ps, _ := w.s.Service.Pauses.ActivePauses(context.Background()); len(ps) != 1 {
		t.Errorf("a non-approver's resume lifted the pause: %+v", ps)
	}
	w.say(w.alice, "resume")
	w.waitBotSays("▶ Resumed by " + string(w.alice.ID))
	w.s.Cycle()
	if len(w.s.Rec.Texts()) != 0 {
		t.Errorf("a held occurrence was published by surprise after resume: %q", w.s.Rec.Texts())
	}
}

// 7. The bot is stopped; a ✅ is added and another taken back while it is
// down; after a restart the state is right and nothing counted twice.
func TestE2ERestartCountsOnce(t *testing.T) {
	w := newWorld(t, matrixtest.Shared(t))
	occA, cardA := w.card("Card A", time.Hour)
	occB, cardB := w.card("Card B", time.Hour)
	rB := w.react(w.carol, cardB, "✅")
	w.waitEdit(cardB, "approved by "+string(w.carol.ID))

	w.say(w.eve, "status")
	w.waitBotSays("Not paused")

	w.stop()
	db := w.s.DBPath
	w.react(w.alice, cardA, "✅")
	w.redact(w.carol, rB)
	w.say(w.eve, "pause lunch break") // a command typed while heed is down is not lost

	w.start(db)
	w.waitEdit(cardA, "approved by "+string(w.alice.ID))
	w.waitEdit(cardB, "no approvals yet (0/1)")
	w.waitBotSays("reason: lunch break")
	// Everything sent before this message has been handled once the bot
	// answers it: the replayed reaction, redaction and pause included.
	w.say(w.eve, "status")
	w.waitBotSays("everything paused by " + string(w.eve.ID))

	var statusAnswers, pauseReceipts int
	for _, s := range w.watch.Events() {
		body, _ := s.Event.Content.Raw["body"].(string)
		if s.Event.Sender == w.bot.ID && strings.HasPrefix(body, "▶ Not paused") {
			statusAnswers++
		}
		if s.Event.Sender == w.bot.ID && strings.HasPrefix(body, "⏸ Paused all publishing") {
			pauseReceipts++
		}
	}
	if statusAnswers != 1 || pauseReceipts != 1 {
		t.Errorf("the bot answered the first status %d times and the pause %d times, want once each: handled events were replayed", statusAnswers, pauseReceipts)
	}

	w.s.WantState(occA, approvals.StateApproved)
	w.s.WantState(occB, approvals.StateInReview)
	if v := w.s.View(occA); len(v.Verdict.Approvals) != 1 {
		t.Errorf("card A counts %d approvals, want 1", len(v.Verdict.Approvals))
	}
	if n := w.audit(occA, "decision.approve"); n != 1 {
		t.Errorf("alice's ✅ was recorded %d times, want once", n)
	}
	if n := w.audit(occB, "decision.withdraw"); n != 1 {
		t.Errorf("carol's withdrawal was recorded %d times, want once", n)
	}
	if n := w.audit(occB, "decision.approve"); n != 1 {
		t.Errorf("carol's ✅ was recorded %d times, want once", n)
	}
}

// 8. The homeserver is stopped: publishing holds and the hold is logged.
// The homeserver comes back and the bot recovers.
func TestE2EHomeserverDown(t *testing.T) {
	srv := matrixtest.Start(t)
	w := newWorld(t, srv)
	occ, card := w.card("Due while the homeserver is down", 5*time.Minute)
	w.react(w.alice, card, "✅")
	w.waitEdit(card, "approved by "+string(w.alice.ID))

	srv.Stop(t)
	w.clock.Advance(5 * time.Minute)
	st := w.s.Cycle()
	if st.Claimed != 0 || st.Held != 1 || len(w.s.Rec.Texts()) != 0 {
		t.Fatalf("with the homeserver down: %+v, published %q; want nothing claimed, one held", st, w.s.Rec.Texts())
	}
	logs := w.logs.String()
	// Deaf at once through the failed sync, or through silence when the
	// cycle came first.
	deaf := strings.Contains(logs, "the Matrix homeserver could not be reached since") || strings.Contains(logs, "the matrix chat has not been heard from since")
	if !strings.Contains(logs, "held") || !deaf {
		t.Errorf("the hold is not logged:\n%s", logs)
	}
	if !strings.Contains(logs, "/sync failed") {
		t.Errorf("the adapter did not log the failing sync:\n%s", logs)
	}

	srv.Restart(t)
	w.waitAlive()
	st = w.s.Cycle()
	if len(w.s.Rec.Texts()) != 0 {
		t.Fatalf("a post held while deaf went out without a fresh decision: %+v, published %q", st, w.s.Rec.Texts())
	}
	w.s.WantState(occ, approvals.StateHeld)
	// A fresh decision publishes it now.
	w.react(w.carol, card, "✅")
	w.waitEdit(card, "publishing now")
	st = w.s.Cycle()
	if st.Published != 1 || len(w.s.Rec.Texts()) != 1 {
		t.Fatalf("after a fresh decision: %+v, published %q", st, w.s.Rec.Texts())
	}
	w.s.WantState(occ, approvals.StatePublished)
	w.waitBotSays("published to rec")
}
