package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/approvals/timing"
)

// Room is one review room: where cards go and whose policy decides.
type Room struct {
	Name    string // the name posts use; "" or the first room is the default
	Adapter string // the adapter's Name()
	ID      string // the room/channel id in the adapter's terms
	Policy  approvals.Policy
}

// Targets is what the engine needs to show targets on cards.
type Targets interface {
	Names() []string
	Kind(name string) string
	Preview(p approvals.Payload) string
	Known(name string) bool
	// AccountURL is where a person checks what a target published, or "".
	AccountURL(name string) string
}

// Engine connects chat adapters to the approval domain: it routes each chat
// event, runs the cycle and holds the configuration its parts read: the
// card renderer (Cards), the handlers of commands and reactions, and the
// news tripwire's side (Tripwire).
type Engine struct {
	// The domain, one service per aggregate.
	Posts      approvals.PostService
	Reviews    approvals.ReviewService
	Pauses     approvals.PauseService
	Deliveries approvals.DeliveryService
	Audit      approvals.AuditService
	// State keeps the engine's own values across restarts (the pauses its
	// cards show, the tripwire's status).
	State    StateStore
	Targets  Targets
	Adapters []Adapter
	Rooms    []Room
	Zone     *time.Location // the team's zone, for cards
	// DeafAfter is how long an adapter may go without a sign of life
	// before publishing holds (default 2 minutes).
	DeafAfter time.Duration
	// Safeguards are the timing safeguards (last call, staffed hours,
	// sensitive dates, tripwire); nil turns them all off.
	Safeguards *timing.Safeguards
	// SeriesCards is how many upcoming occurrences of a recurring post
	// have a card, for the series line cards show.
	SeriesCards int
	// Wake, when set, is called after anything that may make work for the
	// dispatcher (an approval, a resume).
	Wake func()
	Now  func() time.Time
	Log  *slog.Logger

	// Images is where a card's images come from and where the engine
	// records which it posted in each card's thread; nil shows them on
	// the card only.
	Images ImageStore

	// Leases, when set, makes this engine one of several heed replicas
	// on one database, named Replica: it connects to a chat, renders its
	// cards and polls the tripwire only while it holds their lease
	// (replicas.go), and judges a chat it does not hold by what the
	// chat's holder recorded. Lease is how long a lease lasts unless
	// renewed (default DefaultLease).
	Leases  ChatLeases
	Replica string
	Lease   time.Duration
	held    leases

	rmu       sync.Mutex                  // guards rosters
	rosters   map[string]approvals.Roster // room name → the roster last recorded by this engine
	cards     *Cards
	cmds      *commands
	trip      *Tripwire
	partsOnce sync.Once
	initErr   error
	once      sync.Once
	started   time.Time
}

// parts builds the engine's parts once. They read the engine's fields
// through it, so a field set after construction reaches them.
func (e *Engine) parts() *Engine {
	e.partsOnce.Do(func() {
		e.cards = &Cards{e: e, kick: make(chan struct{}, 1)}
		e.cmds = &commands{e: e}
		e.trip = &Tripwire{e: e}
	})
	return e
}

// Cards is the engine's card renderer.
func (e *Engine) Cards() *Cards { return e.parts().cards }

// Tripwire is the engine's side of the news tripwire.
func (e *Engine) Tripwire() *Tripwire { return e.parts().trip }

func (e *Engine) init() error {
	e.parts()
	e.once.Do(func() {
		if e.Now == nil {
			e.Now = time.Now
		}
		if e.Log == nil {
			e.Log = slog.Default()
		}
		if e.Zone == nil {
			e.Zone = time.UTC
		}
		if e.DeafAfter == 0 {
			e.DeafAfter = 2 * time.Minute
		}
		e.started = e.Now()
		if len(e.Rooms) == 0 {
			e.initErr = errors.New("no review room configured")
		}
		for _, r := range e.Rooms {
			if e.adapter(r.Adapter) == nil {
				e.initErr = fmt.Errorf("room %q names adapter %q, which is not configured", r.Name, r.Adapter)
			}
		}
	})
	return e.initErr
}

func (e *Engine) adapter(name string) Adapter {
	for _, a := range e.Adapters {
		if a.Name() == name {
			return a
		}
	}
	return nil
}

// room returns the review room of a post ("" is the first room).
func (e *Engine) room(name string) Room {
	for _, r := range e.Rooms {
		if r.Name == name {
			return r
		}
	}
	return e.Rooms[0]
}

func (e *Engine) roomByID(adapter, id string) (Room, bool) {
	for _, r := range e.Rooms {
		if r.Adapter == adapter && r.ID == id {
			return r, true
		}
	}
	return Room{}, false
}

// PolicyFor is the domain services' policy lookup: the room's configured
// policy, named after the room so that the store adds the roster it holds
// for it.
func (e *Engine) PolicyFor(roomName string) approvals.Policy {
	r := e.room(roomName)
	p := r.Policy
	p.Room = r.Name
	return p
}

// policyOf is a room's policy with the roster this engine last recorded,
// for commands that only an approver may give.
func (e *Engine) policyOf(room Room) approvals.Policy {
	p := e.PolicyFor(room.Name)
	e.rmu.Lock()
	if r, ok := e.rosters[room.Name]; ok {
		p.Roster = &r
	}
	e.rmu.Unlock()
	return p
}

// SyncRosters records in the store what each review room's chat now says
// about who may approve, for the rooms where that changed since this engine
// last recorded it. The store judges the open occurrences of such a room
// again; when any changed state, the dispatcher is woken.
func (e *Engine) SyncRosters(ctx context.Context) error {
	e.rmu.Lock()
	defer e.rmu.Unlock()
	woke := false
	for _, room := range e.Rooms {
		src, ok := e.adapter(room.Adapter).(ApproverSource)
		if !ok {
			continue
		}
		r, ok := src.Roster(room.ID)
		if !ok {
			continue
		}
		if have, ok := e.rosters[room.Name]; ok && have.SameAs(r) {
			continue
		}
		changed, err := e.Reviews.SetRoster(ctx, room.Name, room.Name == e.Rooms[0].Name, r)
		if err != nil {
			return fmt.Errorf("recording who may approve in %s: %w", room.Name, err)
		}
		if e.rosters == nil {
			e.rosters = map[string]approvals.Roster{}
		}
		e.rosters[room.Name] = r
		if changed > 0 && !woke && e.Wake != nil {
			e.Wake()
			woke = true
		}
	}
	return nil
}

// Deaf says why publishing must hold because a review room cannot be heard,
// or "" when every adapter with a review room has shown signs of life
// within DeafAfter. It is the dispatcher's Liveness. A replica reads a
// chat it does not hold from its holder's record in the database.
func (e *Engine) Deaf(now time.Time) string {
	if err := e.init(); err != nil {
		return err.Error()
	}
	for _, h := range e.Hearing(now) {
		if h.Deaf != "" {
			return h.Deaf
		}
	}
	return ""
}

// ChatHearing is whether one chat with a review room is heard: Deaf says
// why not, and is "" when it is.
type ChatHearing struct {
	Chat string
	Deaf string
}

// Hearing says for each chat with a review room, in the order of the
// rooms, whether it is heard at now (the readiness check and the metrics
// read it; Deaf is its first reason).
func (e *Engine) Hearing(now time.Time) []ChatHearing {
	if err := e.init(); err != nil {
		return []ChatHearing{{Chat: "", Deaf: err.Error()}}
	}
	var out []ChatHearing
	seen := map[string]bool{}
	for _, r := range e.Rooms {
		if seen[r.Adapter] {
			continue
		}
		seen[r.Adapter] = true
		a := e.adapter(r.Adapter)
		out = append(out, ChatHearing{Chat: a.Name(), Deaf: e.deaf(a, now)})
	}
	return out
}

// deaf says why adapter a cannot be heard at now, or "".
func (e *Engine) deaf(a Adapter, now time.Time) string {
	if !e.Holds(a.Name()) {
		// Another replica holds this chat, or none does: only what the
		// database says of its holder counts.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return e.heardElsewhere(ctx, a, now)
	}
	if h, ok := a.(Hearing); ok {
		if why := h.Deaf(); why != "" {
			return why
		}
	}
	alive := a.Alive()
	if alive.IsZero() {
		return fmt.Sprintf("the %s chat has not connected yet", a.Name())
	}
	if gap := now.Sub(alive); gap > e.DeafAfter {
		// No running gap in the text: it becomes a card note, which
		// must not change (and edit the card) on every cycle.
		return fmt.Sprintf("the %s chat has not been heard from since %s", a.Name(), alive.In(e.Zone).Format("15:04:05 MST"))
	}
	return ""
}

// HandleEvent implements Handler: one chat event becomes a domain call.
func (e *Engine) HandleEvent(ctx context.Context, ev Event) error {
	if err := e.init(); err != nil {
		return err
	}
	room, ok := e.roomByID(ev.Adapter, ev.Room)
	if !ok {
		e.Log.Debug("event from a room that is not a review room", "adapter", ev.Adapter, "room", ev.Room)
		return nil
	}
	if ev.User != "" {
		// What this event makes the domain write in the audit log names
		// the identity used and its person.
		ctx = approvals.WithActing(ctx, approvals.Acting{Name: displayName(ev), Identity: ev.User, Person: room.Policy.People.Of(ev.User)})
	}
	// A reaction is judged with what the chat says now about who may
	// approve, recorded first.
	if err := e.SyncRosters(ctx); err != nil {
		return err
	}
	if ev.Kind != Reaction { // a reaction's own transaction records these
		if dup, err := e.seen(ctx, room, ev); err != nil || dup {
			return err
		}
	}
	var err error
	switch ev.Kind {
	case Reaction:
		err = e.cmds.onReaction(ctx, room, ev)
	case Unreaction:
		err = e.cmds.onUnreaction(ctx, room, ev)
	case Message:
		err = e.cmds.onMessage(ctx, room, ev)
	case PolicyChanged:
		// Recorded above.
	}
	if err != nil {
		return err
	}
	// Cards are edited by the render loop, never on the chat's event
	// worker: a chat's rate limit on edits must not hold up the next event.
	e.cards.Kick()
	// An approval closer to its time than the lead gets its last call now.
	return e.cmds.lastCalls(ctx)
}

// seen records the event's id, to drop a second delivery of it, and, for
// the on-duty check, that its author was in the room.
func (e *Engine) seen(ctx context.Context, room Room, ev Event) (dup bool, err error) {
	return e.Reviews.Seen(ctx, ev.Adapter, ev.ID, room.Name, presentUser(ev), ev.At)
}

// displayName is how an event's author is shown.
func displayName(ev Event) string {
	if ev.UserName != "" {
		return ev.UserName
	}
	return ev.User
}

// presentUser is the person an event shows was in the room, or "".
func presentUser(ev Event) string {
	if ev.FromBot || ev.FromSelf {
		return ""
	}
	return ev.User
}

func (e *Engine) place(r Room) string { return r.Adapter + ":" + r.ID }

func (e *Engine) replyError(ctx context.Context, room Room, thread MessageRef, err error) error {
	if approvals.ErrorCode(err) == approvals.EINTERNAL {
		e.Log.Error("handling chat event", "err", err)
	}
	return e.reply(ctx, room, thread, approvals.ErrorMessage(err))
}

func (e *Engine) reply(ctx context.Context, room Room, thread MessageRef, text string) error {
	if err := e.adapter(room.Adapter).Reply(ctx, room.ID, thread, text); err != nil {
		e.Log.Warn("reply failed", "adapter", room.Adapter, "err", err)
	}
	return nil
}

// RunOnce makes occurrences for what entered the review window and brings
// every changed card up to date. Tests drive time through it.
func (e *Engine) RunOnce(ctx context.Context) error {
	if err := e.init(); err != nil {
		return err
	}
	if err := e.SyncRosters(ctx); err != nil {
		return err
	}
	if _, err := e.Posts.Materialize(ctx); err != nil {
		return err
	}
	if err := e.cards.Sync(ctx); err != nil {
		return err
	}
	if err := e.cmds.postOffers(ctx); err != nil {
		return err
	}
	if err := e.cmds.lastCalls(ctx); err != nil {
		return err
	}
	return e.cmds.reminders(ctx)
}

// Reconcile reads every open card's reactions back from the chat and makes
// the stored decisions match, so that reactions added or taken back while
// heed was down count exactly once. adapter "" reconciles every adapter.
// A card whose reactions cannot be read is left as it is (and logged).
func (e *Engine) Reconcile(ctx context.Context, adapter string) error {
	if err := e.init(); err != nil {
		return err
	}
	cards, err := e.Reviews.OpenCards(ctx)
	if err != nil {
		return err
	}
	for _, c := range cards {
		if adapter != "" && c.Adapter != adapter {
			continue
		}
		if err := e.reconcileCard(ctx, c); err != nil {
			var re readError
			if !errors.As(err, &re) {
				return err
			}
			e.Log.Warn("reconcile: cannot read reactions", "occurrence", c.Occurrence, "adapter", c.Adapter, "err", re.err)
		}
	}
	return e.cards.Sync(ctx)
}

// OpenCards implements CardReconciler: the open cards in the review rooms
// of adapter.
func (e *Engine) OpenCards(ctx context.Context, adapter string) ([]approvals.CardRef, error) {
	if err := e.init(); err != nil {
		return nil, err
	}
	cards, err := e.Reviews.OpenCards(ctx)
	if err != nil {
		return nil, err
	}
	out := cards[:0]
	for _, c := range cards {
		if _, ok := e.roomByID(c.Adapter, c.Room); ok && c.Adapter == adapter {
			out = append(out, c)
		}
	}
	return out, nil
}

// ReconcileCard implements CardReconciler: it reads one card's reactions
// back and makes the stored decisions match. The card is edited by the
// render loop, never here: an adapter calls this on its event worker.
func (e *Engine) ReconcileCard(ctx context.Context, c approvals.CardRef) error {
	if err := e.init(); err != nil {
		return err
	}
	// Judged with what the chat says now about who may approve, as a
	// reaction is.
	if err := e.SyncRosters(ctx); err != nil {
		return err
	}
	if err := e.reconcileCard(ctx, c); err != nil {
		var re readError
		if errors.As(err, &re) {
			return re.err
		}
		return err
	}
	e.cards.Kick()
	return nil
}

// readError is a card whose reactions the chat could not give.
type readError struct{ err error }

func (r readError) Error() string { return r.err.Error() }

// reconcileCard reads one card's reactions back from its adapter and
// records them; a failed read is a readError, and changes nothing.
func (e *Engine) reconcileCard(ctx context.Context, c approvals.CardRef) error {
	rec, ok := e.adapter(c.Adapter).(Reconciler)
	if !ok {
		return nil
	}
	room, ok := e.roomByID(c.Adapter, c.Room)
	if !ok {
		return nil
	}
	evs, err := rec.CardReactions(ctx, c.Room, MessageRef(c.Ref))
	if err != nil {
		return readError{err}
	}
	in := make([]approvals.ReactionInput, 0, len(evs))
	for _, ev := range evs {
		in = append(in, approvals.ReactionInput{Occurrence: c.Occurrence, User: ev.User, UserName: ev.UserName, Emoji: ev.Emoji,
			FromBot: ev.FromBot, FromSelf: ev.FromSelf, ReactionID: ev.ReactionID, Source: e.place(room), At: ev.At})
	}
	added, withdrawn, err := e.Reviews.Reconcile(ctx, c.Occurrence, in)
	if err != nil {
		return err
	}
	if added+withdrawn > 0 {
		e.Log.Info("reconciled card", "occurrence", c.Occurrence, "added", added, "withdrawn", withdrawn)
		if e.Wake != nil {
			e.Wake()
		}
	}
	return nil
}

// Claim implements Claimer: it records a chat event's id as handled in the
// store, and reports whether this was its first claim.
func (e *Engine) Claim(ctx context.Context, adapter, id string) (bool, error) {
	if err := e.init(); err != nil {
		return false, err
	}
	dup, err := e.Reviews.Seen(ctx, adapter, id, "", "", e.Now())
	return !dup, err
}

// adapterStop bounds how long Run waits for the adapters once it stops.
const adapterStop = 15 * time.Second

// Run starts every adapter and keeps cards in step until ctx is done.
// poll bounds how long a change made by another process (the CLI) goes
// unnoticed. It returns once the adapters have stopped (at most
// adapterStop after ctx is done) and the cards rendered are recorded.
func (e *Engine) Run(ctx context.Context, poll time.Duration) error {
	if err := e.init(); err != nil {
		return err
	}
	if e.replicated() {
		// Released once the adapters and the render loop have stopped:
		// another replica takes the chats at its next try.
		defer e.ReleaseAll(context.WithoutCancel(ctx))
	}
	rctx, stopRender := context.WithCancel(ctx)
	rendered := make(chan struct{})
	go func() { defer close(rendered); e.cards.Run(rctx) }()
	defer func() { stopRender(); <-rendered }() // it records the cards rendered before Run returns
	errc := make(chan error, len(e.Adapters)+1)
	actx, stopAdapters := context.WithCancel(ctx)
	var adapters sync.WaitGroup
	start := func(a Adapter) {
		adapters.Add(1)
		go func() {
			defer adapters.Done()
			if err := a.Run(actx, e); err != nil && actx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", a.Name(), err)
			}
		}()
	}
	if e.replicated() {
		// A chat connects once this replica takes its lease. The loop is
		// counted among the adapters, so it may start them.
		adapters.Add(1)
		go func() { defer adapters.Done(); e.holdLoop(actx, start, errc) }()
	} else {
		for _, a := range e.Adapters {
			start(a)
		}
	}
	// On the way out the adapters hand over what they still hold (a Slack
	// pause still queued) while the store is open; at most adapterStop.
	defer func() {
		stopAdapters()
		done := make(chan struct{})
		go func() { adapters.Wait(); close(done) }()
		t := time.NewTimer(adapterStop)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			e.Log.Warn("a chat adapter did not stop in time", "waited", adapterStop)
		}
	}()
	reconciled := map[string]bool{}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		// Each adapter is reconciled once, as soon as it first shows life:
		// before that its history cannot be read. One that reconciles
		// itself on start is left to it.
		for _, a := range e.Adapters {
			if sr, ok := a.(SelfReconciler); ok && sr.ReconcilesOnStart() {
				continue
			}
			if !reconciled[a.Name()] && e.Holds(a.Name()) && !a.Alive().IsZero() {
				if err := e.Reconcile(ctx, a.Name()); err != nil {
					e.Log.Error("reconcile", "adapter", a.Name(), "err", err)
					continue
				}
				reconciled[a.Name()] = true
			}
		}
		if err := e.RunOnce(ctx); err != nil && ctx.Err() == nil {
			e.Log.Error("engine cycle", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errc:
			return err
		case <-t.C:
		}
	}
}

// holdLoop runs HoldCycle every RenewEvery until ctx ends, starts the
// adapters of the chats it took, and reports a lost lease on errc. It
// never waits on the engine's cycle, so a slow cycle delays no renewal.
func (e *Engine) holdLoop(ctx context.Context, start func(Adapter), errc chan<- error) {
	t := time.NewTicker(e.RenewEvery())
	defer t.Stop()
	for {
		names, err := e.HoldCycle(ctx)
		if err != nil {
			if ctx.Err() == nil {
				errc <- err
			}
			return
		}
		for _, name := range names {
			if a := e.adapter(name); a != nil {
				start(a)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
