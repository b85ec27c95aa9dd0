package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
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
	Kind(name string) string
	Preview(p approvals.Payload) string
	Known(name string) bool
	// AccountURL is where a person checks what a target published, or "".
	AccountURL(name string) string
}

// Engine connects chat adapters to the approval domain: it posts and edits
// cards, turns reactions and messages into domain calls, and answers.
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
	// Wake, when set, is called after anything that may make work for the
	// dispatcher (an approval, a resume).
	Wake func()
	Now  func() time.Time
	Log  *slog.Logger

	mu       sync.Mutex                  // serialises card posting so no card is posted twice
	rmu      sync.Mutex                  // guards rosters
	rosters  map[string]approvals.Roster // room name → the roster last recorded by this engine
	qmu      sync.Mutex                  // guards rq
	rq       renderQueue
	kick     chan struct{}
	kickOnce sync.Once
	initErr  error
	once     sync.Once
	started  time.Time
}

func (e *Engine) init() error {
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
// within DeafAfter. It is the dispatcher's Liveness.
func (e *Engine) Deaf(now time.Time) string {
	if err := e.init(); err != nil {
		return err.Error()
	}
	seen := map[string]bool{}
	for _, r := range e.Rooms {
		if seen[r.Adapter] {
			continue
		}
		seen[r.Adapter] = true
		a := e.adapter(r.Adapter)
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
		err = e.onReaction(ctx, room, ev)
	case Unreaction:
		err = e.onUnreaction(ctx, room, ev)
	case Message:
		err = e.onMessage(ctx, room, ev)
	case PolicyChanged:
		// Recorded above.
	}
	if err != nil {
		return err
	}
	// Cards are edited by the engine's loop, never on the chat's event
	// worker: a chat's rate limit on edits must not hold up the next event.
	e.Kick()
	// An approval closer to its time than the lead gets its last call now.
	return e.lastCalls(ctx)
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

// cardOccurrence finds the occurrence of a card. A reaction can arrive
// before this engine's cycle posted a card just added from elsewhere (the
// CLI): cards are brought up to date once before giving up.
func (e *Engine) cardOccurrence(ctx context.Context, ev Event) (int64, bool, error) {
	occ, ok, err := e.Reviews.CardOccurrence(ctx, ev.Adapter, ev.Room, string(ev.Card))
	if err != nil || ok {
		return occ, ok, err
	}
	if err := e.RunOnce(ctx); err != nil {
		return 0, false, err
	}
	return e.Reviews.CardOccurrence(ctx, ev.Adapter, ev.Room, string(ev.Card))
}

func (e *Engine) onReaction(ctx context.Context, room Room, ev Event) error {
	occ, ok, err := e.cardOccurrence(ctx, ev)
	if err != nil {
		return err
	}
	emoji, _ := approvals.NormalizeEmoji(ev.Emoji)
	if retract := emoji == RetractEmoji && !ev.FromBot && !ev.FromSelf; !ok || retract {
		if dup, err := e.seen(ctx, room, ev); err != nil || dup || !ok {
			return err
		}
		return e.onRetractReaction(ctx, room, ev, occ)
	}
	res, err := e.Reviews.React(ctx, approvals.ReactionInput{
		Occurrence: occ, User: ev.User, UserName: ev.UserName, Emoji: ev.Emoji,
		FromBot: ev.FromBot, FromSelf: ev.FromSelf, ReactionID: ev.ReactionID,
		Source: e.place(room), At: ev.At,
		EventAdapter: ev.Adapter, EventID: ev.ID, PresenceRoom: room.Name,
	})
	if err != nil {
		if code := approvals.ErrorCode(err); code != approvals.EINTERNAL {
			// Name the card and the reaction: the reply may be read far
			// from the card.
			err = approvals.Errorf(code, "#%d: %s from %s was not recorded: %s", occ, ev.Emoji, displayName(ev), approvals.ErrorMessage(err))
		}
		return e.replyError(ctx, room, ev.Card, err)
	}
	if res.Duplicate {
		return nil
	}
	if res.View.ID != 0 {
		e.queueView(res.View)
	}
	if res.Changed && e.Wake != nil {
		e.Wake()
	}
	if res.Held {
		who := ev.UserName
		if who == "" {
			who = ev.User
		}
		return e.reply(ctx, room, ev.Card, fmt.Sprintf("%s #%d is held by %s. It needs a fresh decision: approve it again, `delay %d 1h`, or `cancel %d`.", StopEmoji, occ, who, occ, occ))
	}
	return nil
}

// onRetractReaction: 🗑 from an approver on a published card takes it back.
func (e *Engine) onRetractReaction(ctx context.Context, room Room, ev Event, occ int64) error {
	who := ev.UserName
	if who == "" {
		who = ev.User
	}
	if ok, why := e.policyOf(room).IsApprover(ev.User); !ok {
		_ = e.Audit.Record(ctx, approvals.AuditEntry{Actor: who, Action: "retract.refused", Occurrence: occ, Place: e.place(room), Detail: why})
		return e.reply(ctx, room, ev.Card, fmt.Sprintf("%s from %s does nothing: only approvers can retract (%s).", RetractEmoji, who, why))
	}
	return e.reply(ctx, room, ev.Card, e.retract(ctx, occ, who, e.place(room)))
}

func (e *Engine) onUnreaction(ctx context.Context, room Room, ev Event) error {
	in := approvals.UnreactionInput{User: ev.User, UserName: ev.UserName, Emoji: ev.Emoji, ReactionID: ev.ReactionID, Source: e.place(room), At: ev.At}
	if ev.Card != "" {
		occ, ok, err := e.cardOccurrence(ctx, ev)
		if err != nil || !ok {
			return err
		}
		in.Occurrence = occ
	} else if ev.ReactionID == "" {
		return nil
	}
	_, err := e.Reviews.Unreact(ctx, in)
	return err
}

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

func (e *Engine) onMessage(ctx context.Context, room Room, ev Event) error {
	if ev.FromSelf || ev.FromBot {
		return nil // heed's own receipts, and other bots, never command it
	}
	cmd, isCmd, perr := ParseCommand(ev.Text, e.Targets.Known)
	if !isCmd {
		return nil
	}
	who := ev.UserName
	if who == "" {
		who = ev.User
	}
	if perr != nil {
		return e.reply(ctx, room, ev.Card, perr.Error())
	}
	isApprover := func() (bool, string) { return e.policyOf(room).IsApprover(ev.User) }
	if handled, err := e.onSafeguardCommand(ctx, room, ev, cmd, who); handled {
		return err
	}
	switch cmd.Name {
	case "pause":
		rc, err := e.Pauses.PauseAll(ctx, who, cmd.Target, cmd.Reason, e.place(room))
		if err != nil {
			return e.replyError(ctx, room, ev.Card, err)
		}
		e.ownPauses(rc.Pause.ID)
		if err := e.reply(ctx, room, ev.Card, PauseReceipt(rc)); err != nil || cmd.Window == 0 {
			return err
		}
		// pause retract 2h: offer to take back what went out in the window.
		o, err := e.Pauses.OfferRetract(ctx, cmd.Window, who, cmd.Reason, e.place(room))
		if err != nil {
			return e.replyError(ctx, room, ev.Card, err)
		}
		if o.ID != 0 {
			if _, err := e.Pauses.MarkOfferPosted(ctx, o.ID); err != nil {
				return err
			}
		}
		return e.reply(ctx, room, ev.Card, e.offerText(ctx, o))
	case "resume":
		if ok, why := isApprover(); !ok {
			_ = e.Audit.Record(ctx, approvals.AuditEntry{Actor: who, Action: "resume.refused", Target: cmd.Target, Place: e.place(room), Detail: why})
			return e.reply(ctx, room, ev.Card, fmt.Sprintf("%s cannot resume: %s. Only approvers can resume; anyone can pause.", who, why))
		}
		rc, err := e.Pauses.Resume(ctx, who, cmd.Target, e.place(room))
		if err != nil {
			return e.replyError(ctx, room, ev.Card, err)
		}
		for _, p := range rc.Resumed {
			e.ownPauses(p.ID)
		}
		if e.Wake != nil {
			e.Wake()
		}
		return e.reply(ctx, room, ev.Card, ResumeReceipt(who, rc))
	case "status":
		return e.reply(ctx, room, ev.Card, e.statusText(ctx))
	case "queue":
		return e.reply(ctx, room, ev.Card, e.queueText(ctx))
	case "help":
		return e.reply(ctx, room, ev.Card, HelpText)
	case "cancel", "delay", "resolve":
		v, err := e.Reviews.Occurrence(ctx, cmd.N)
		if err != nil {
			return e.replyError(ctx, room, ev.Card, err)
		}
		if ok, why := isApprover(); !ok && !(cmd.Name != "resolve" && e.policyOf(room).People.Same(v.Post.Author, ev.User)) {
			return e.reply(ctx, room, ev.Card, fmt.Sprintf("%s cannot %s #%d: %s", who, cmd.Name, cmd.N, why))
		}
		var msg string
		switch cmd.Name {
		case "cancel":
			err = e.Reviews.CancelOccurrence(ctx, cmd.N, who, e.place(room))
			msg = fmt.Sprintf("#%d canceled by %s.", cmd.N, who)
		case "delay":
			var nv approvals.View
			nv, err = e.Reviews.Delay(ctx, cmd.N, cmd.Delay, who, e.place(room))
			msg = fmt.Sprintf("#%d moved to %s by %s; it needs a fresh approval.", cmd.N, nv.At.In(e.Zone).Format("Mon 2 Jan 15:04 MST"), who)
		case "resolve":
			err = e.Deliveries.Resolve(ctx, cmd.N, "", cmd.Arg == "published", cmd.URL, who, e.place(room))
			msg = fmt.Sprintf("#%d resolved as %s by %s.", cmd.N, cmd.Arg, who)
		}
		if err != nil {
			return e.replyError(ctx, room, ev.Card, err)
		}
		return e.reply(ctx, room, ev.Card, msg)
	}
	return nil
}

// PauseReceipt is the bot's answer to a pause.
func PauseReceipt(rc approvals.PauseReceipt) string {
	scope := "all publishing"
	if rc.Pause.Target != "" {
		scope = "publishing to " + rc.Pause.Target
	}
	s := fmt.Sprintf("⏸ Paused %s. By %s, reason: %s. %d upcoming occurrence(s) now held back: none goes out until an approver types `resume`, and each then needs a fresh decision.",
		scope, rc.Pause.By, reasonOr(rc.Pause.Reason), rc.Waiting)
	if rc.Pause.By == TripwireActor {
		s = fmt.Sprintf("⏸ The news tripwire paused %s by itself, because of %s. %d upcoming occurrence(s) now held back: none goes out until an approver types `resume`, and each then needs a fresh decision.",
			scope, reasonOr(rc.Pause.Reason), rc.Waiting)
	}
	if rc.Publishing > 0 {
		s += fmt.Sprintf(" %d publish call(s) already under way finish; nothing new starts.", rc.Publishing)
	}
	return s
}

// ResumeReceipt is the bot's answer to a resume.
func ResumeReceipt(who string, rc approvals.ResumeReceipt) string {
	s := fmt.Sprintf("▶ Resumed by %s.", who)
	if len(rc.Held) > 0 {
		ids := make([]string, len(rc.Held))
		for i, id := range rc.Held {
			ids[i] = fmt.Sprintf("#%d", id)
		}
		s += fmt.Sprintf(" Held during the pause: %s. None goes out by itself: approve each again to publish now, `delay N 1h`, or `cancel N`.", strings.Join(ids, ", "))
	}
	return s
}

func reasonOr(r string) string {
	if r == "" {
		return "none given"
	}
	return r
}

func (e *Engine) statusText(ctx context.Context) string {
	var b strings.Builder
	pauses, err := e.Pauses.ActivePauses(ctx)
	if err != nil {
		return approvals.ErrorMessage(err)
	}
	if len(pauses) == 0 {
		b.WriteString("▶ Not paused.")
	}
	for _, p := range pauses {
		scope := "everything"
		if p.Target != "" {
			scope = p.Target
		}
		fmt.Fprintf(&b, "⏸ %s paused by %s at %s: %s\n", scope, p.By, p.At.In(e.Zone).Format("Mon 15:04"), reasonOr(p.Reason))
	}
	if why := e.Deaf(e.Now()); why != "" {
		b.WriteString("\n⚠ publishing holds: " + why)
	}
	if tw, ok, err := ReadTripwireStatus(ctx, e.State); err == nil && ok {
		for _, line := range tw.Lines(e.Zone) {
			b.WriteString("\n" + line)
		}
	}
	counts, err := e.Reviews.Counts(ctx)
	if err == nil {
		var parts []string
		for _, st := range approvals.States {
			if counts[st] > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", st, counts[st]))
			}
		}
		if len(parts) > 0 {
			b.WriteString("\n" + strings.Join(parts, " · "))
		}
	}
	return strings.TrimSpace(b.String())
}

func (e *Engine) queueText(ctx context.Context) string {
	q, err := e.Reviews.Queue(ctx, 15)
	if err != nil {
		return approvals.ErrorMessage(err)
	}
	if len(q) == 0 {
		return "The queue is empty."
	}
	now := e.Now()
	var b strings.Builder
	for _, s := range q {
		fmt.Fprintf(&b, "#%d %s %s (%s) → %s: %s\n", s.ID, s.State, s.At.In(e.Zone).Format("Mon 2 Jan 15:04"), Relative(s.At, now),
			strings.Join(s.Targets, ", "), oneLine(approvals.Clip(s.Text, 60)))
	}
	return strings.TrimRight(b.String(), "\n")
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
	if err := e.SyncCards(ctx); err != nil {
		return err
	}
	if err := e.postOffers(ctx); err != nil {
		return err
	}
	return e.lastCalls(ctx)
}

// syncCard posts the card of v, or edits it, and returns the view the
// card shows.
func (e *Engine) syncCard(ctx context.Context, v approvals.View, pauses []approvals.Pause) (approvals.View, error) {
	room := e.room(v.Post.Room)
	a := e.adapter(room.Adapter)
	ref, ok, err := e.Reviews.Card(ctx, v.ID, room.Adapter, room.ID)
	if err != nil {
		return v, err
	}
	if !ok && v.State == approvals.StateScheduled {
		// The card goes up already in review, so that its first version is
		// the one people act on. If posting fails, the next pass posts it.
		if err := e.Reviews.OpenReview(ctx, v.ID); err != nil {
			return v, err
		}
		if v, err = e.Reviews.Occurrence(ctx, v.ID); err != nil {
			return v, err
		}
	}
	card := e.BuildCard(v, room, pauses)
	same, sent := e.unchanged(v.ID, card)
	if !ok {
		mref, err := a.PostCard(ctx, room.ID, card)
		if err != nil {
			return v, err
		}
		if err := e.Reviews.SetCard(ctx, approvals.CardRef{Occurrence: v.ID, Adapter: room.Adapter, Room: room.ID, Ref: string(mref)}); err != nil {
			return v, err
		}
		if sent != nil {
			sent()
		}
		return v, nil
	}
	if same {
		return v, nil // a change that does not show (a roster recorded again, say)
	}
	if err := a.UpdateCard(ctx, room.ID, MessageRef(ref.Ref), card); err != nil {
		return v, err
	}
	sent()
	return v, nil
}

// BuildCard renders an occurrence into the adapter-neutral card model.
func (e *Engine) BuildCard(v approvals.View, room Room, pauses []approvals.Pause) Card {
	pol := room.Policy.WithDefaults()
	c := Card{
		Number: v.ID, PostID: v.PostID, State: v.State, Text: v.Post.Text, Link: v.Post.Link,
		At: v.At, Zone: e.Zone, Now: e.Now(), Required: v.Verdict.Required,
	}
	delivered := map[string]approvals.Delivery{}
	for _, d := range v.Deliveries {
		delivered[d.Target] = d
	}
	for _, pl := range v.Payloads {
		p := Preview{Target: pl.Target, Kind: e.Targets.Kind(pl.Target), Text: e.Targets.Preview(pl), Problems: v.Problems[pl.Target]}
		if d, ok := delivered[pl.Target]; ok {
			p.URL = d.URL
			if d.State != approvals.DeliveryPublished {
				p.Error = d.Error
			}
		}
		c.Targets = append(c.Targets, p)
	}
	for _, r := range v.Verdict.Approvals {
		c.Approvals = append(c.Approvals, Decision{User: r.UserName, Emoji: r.Emoji, At: r.At})
	}
	for _, r := range v.Verdict.Rejections {
		c.Rejections = append(c.Rejections, Decision{User: r.UserName, Emoji: r.Emoji, At: r.At})
	}
	for _, ig := range v.Verdict.Ignored {
		c.Ignored = append(c.Ignored, Ignored{User: ig.Reaction.UserName, Emoji: ig.Reaction.Emoji, Reason: ig.Reason})
	}
	if v.State.Open() {
		for _, p := range pauses {
			scope := "all publishing"
			if p.Target != "" {
				scope = p.Target
			}
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s is paused by %s (%s)", scope, p.By, reasonOr(p.Reason)))
		}
	}
	if v.Note != "" {
		c.Notes = append(c.Notes, strings.Split(v.Note, "\n")...)
	}
	e.timingCard(&c, v)
	approve := strings.Join(pol.ApproveEmoji, " or ")
	reject := strings.Join(pol.RejectEmoji, " or ")
	switch v.State {
	case approvals.StateScheduled, approvals.StateInReview, approvals.StateApproved, approvals.StateRejected:
		c.HowTo = fmt.Sprintf("React %s to approve, %s to reject; take your reaction back to withdraw. `delay %d 1h`, `cancel %d`. Anyone can type `pause`, or react %s to hold this one.", approve, reject, v.ID, v.ID, StopEmoji)
	case approvals.StateHeld:
		c.HowTo = fmt.Sprintf("Held. React %s to publish it now (after resume), `delay %d 1h` to move it, or `cancel %d` to drop it.", approve, v.ID, v.ID)
		if v.At.After(c.Now) {
			c.HowTo = fmt.Sprintf("Held. React %s to approve it again (it keeps its time), `delay %d 1h` to move it, or `cancel %d` to drop it.", approve, v.ID, v.ID)
		}
	case approvals.StateUnknown:
		c.HowTo = fmt.Sprintf("Check the account, then `resolve %d published [URL]` or `resolve %d failed`. heed never retries this by itself.", v.ID, v.ID)
		for _, d := range v.Deliveries {
			if u := e.Targets.AccountURL(d.Target); d.State == approvals.DeliveryUnknown && u != "" {
				c.Notes = append(c.Notes, fmt.Sprintf("check %s at %s", d.Target, u))
			}
		}
	case approvals.StatePublished:
		if !retractedAll(v) {
			c.HowTo = fmt.Sprintf("Approvers: `retract %d` or react %s to delete it from every network that can.", v.ID, RetractEmoji)
		}
	}
	return c
}

// Announce replies in a card's thread with a publish outcome. It is the
// dispatcher's Notify.
func (e *Engine) Announce(ctx context.Context, occ int64, target, url string, kind approvals.OutcomeKind, errMsg string) {
	if e.init() != nil {
		return
	}
	v, err := e.Reviews.Occurrence(ctx, occ)
	if err != nil {
		return
	}
	room := e.room(v.Post.Room)
	ref, ok, err := e.Reviews.Card(ctx, occ, room.Adapter, room.ID)
	if err != nil || !ok {
		return
	}
	var text string
	switch kind {
	case approvals.OutcomeOK:
		text = fmt.Sprintf("✅ #%d published to %s", occ, target)
		if url != "" {
			text += ": " + url
		}
	case approvals.OutcomeRetryable:
		text = fmt.Sprintf("⏳ #%d → %s: %s; heed will retry", occ, target, errMsg)
	case approvals.OutcomePermanent:
		text = fmt.Sprintf("❌ #%d → %s failed: %s", occ, target, errMsg)
	case approvals.OutcomeWithheld:
		text = fmt.Sprintf("⏸ #%d → %s not sent: %s. It is held: approve it again to publish it, `delay %d 1h`, or `cancel %d`.", occ, target, errMsg, occ, occ)
	default:
		where := "the account"
		if u := e.Targets.AccountURL(target); u != "" {
			where = u
		}
		text = fmt.Sprintf("❓ #%d → %s: outcome unknown (%s). Check %s, then `resolve %d published` or `resolve %d failed`.", occ, target, errMsg, where, occ, occ)
	}
	e.announce(room, MessageRef(ref.Ref), text)
}

// Reconcile reads every open card's reactions back from the chat and makes
// the stored decisions match, so that reactions added or taken back while
// heed was down count exactly once. adapter "" reconciles every adapter.
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
		rec, ok := e.adapter(c.Adapter).(Reconciler)
		if !ok {
			continue
		}
		room, ok := e.roomByID(c.Adapter, c.Room)
		if !ok {
			continue
		}
		evs, err := rec.CardReactions(ctx, c.Room, MessageRef(c.Ref))
		if err != nil {
			e.Log.Warn("reconcile: cannot read reactions", "occurrence", c.Occurrence, "adapter", c.Adapter, "err", err)
			continue
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
		}
	}
	return e.SyncCards(ctx)
}

// Run starts every adapter and keeps cards in step until ctx is done.
// poll bounds how long a change made by another process (the CLI) goes
// unnoticed.
func (e *Engine) Run(ctx context.Context, poll time.Duration) error {
	if err := e.init(); err != nil {
		return err
	}
	rctx, stopRender := context.WithCancel(ctx)
	rendered := make(chan struct{})
	go func() { defer close(rendered); e.RenderLoop(rctx) }()
	defer func() { stopRender(); <-rendered }() // it records the cards rendered before Run returns
	errc := make(chan error, len(e.Adapters))
	for _, a := range e.Adapters {
		go func() {
			if err := a.Run(ctx, e); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", a.Name(), err)
			}
		}()
	}
	reconciled := map[string]bool{}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		// Each adapter is reconciled once, as soon as it first shows life:
		// before that its history cannot be read.
		for _, a := range e.Adapters {
			if !reconciled[a.Name()] && !a.Alive().IsZero() {
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
