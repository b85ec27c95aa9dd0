package bot

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heed-dev/heed/approvals"
)

// Cards are rendered by the engine's loop (Run), never on a chat's event
// worker. Writers mark an occurrence's card as changed in the store (its
// change count); a pass renders every changed card once, however often it
// changed since the last pass, and paces itself by the chats' own rate
// limits, since each edit waits for its adapter. A reaction hands the
// pass the view its own transaction read, so that view is not built a
// second time. Replies that report a publish outcome wait in the same
// queue, so the dispatcher never waits on a chat, and stay in it while the
// chat cannot be reached.

const (
	// renderBudget bounds one pass, so that a chat that edits slowly (a
	// pause over a thousand cards at Slack's rate limit) cannot hold up
	// the loop's other work; the next pass goes on where it stopped.
	renderBudget = 2 * time.Second
	// markEvery is how often the cards rendered are marked as such in the
	// store, in one transaction; until then the engine remembers them.
	markEvery = 5 * time.Second
	markBatch = 256
	// pausesKey holds the pauses the open cards last showed.
	pausesKey = "cards.pauses"
)

type renderQueue struct {
	shown    map[int64][32]byte       // what each card shows, as this engine last sent it
	views    map[int64]approvals.View // views read by writers, newest per occurrence
	rendered map[int64]approvals.View // rendered, not yet marked in the store
	outbox   []announcement
	own      map[int64]bool // pauses made or lifted in this engine's chats, which had their receipt there
	pauses   string         // the pauses the cards show (pausesKey)
	known    bool           // pauses was read from the store
	lastMark time.Time
}

type announcement struct {
	room   Room
	thread MessageRef
	text   string
	at     time.Time // when it was queued
}

// replyKeep bounds how long a reply that cannot be sent is tried again.
const replyKeep = time.Hour

func (e *Engine) queue() *renderQueue {
	if e.rq.views == nil {
		e.rq.views = map[int64]approvals.View{}
		e.rq.rendered = map[int64]approvals.View{}
		e.rq.shown = map[int64][32]byte{}
	}
	return &e.rq
}

// Kick asks the engine's loop to render changed cards now rather than at
// its next tick. It never blocks.
func (e *Engine) Kick() {
	e.kickOnce.Do(func() { e.kick = make(chan struct{}, 1) })
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

func (e *Engine) kicked() <-chan struct{} {
	e.kickOnce.Do(func() { e.kick = make(chan struct{}, 1) })
	return e.kick
}

// RenderLoop runs a render pass each time the engine is kicked (after a
// chat event, a publish outcome, a pass that ran out of time) until ctx is
// done, then records the cards rendered. Run starts it; the engine's own
// cycle renders too, at each tick.
func (e *Engine) RenderLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			if err := e.FlushRendered(context.WithoutCancel(ctx)); err != nil {
				e.Log.Warn("could not record the cards rendered; they are rendered again at the next start", "err", err)
			}
			return
		case <-e.kicked():
			if err := e.SyncCards(ctx); err != nil && ctx.Err() == nil {
				e.Log.Warn("render pass", "err", err)
			}
		}
	}
}

// queueView hands the renderer the view a write transaction just read.
func (e *Engine) queueView(v approvals.View) {
	e.qmu.Lock()
	q := e.queue()
	if old, ok := q.views[v.ID]; !ok || old.Dirty <= v.Dirty {
		q.views[v.ID] = v
	}
	e.qmu.Unlock()
	e.Kick()
}

// announce queues a reply in a card's thread for the next pass.
func (e *Engine) announce(room Room, thread MessageRef, text string) {
	e.qmu.Lock()
	q := e.queue()
	q.outbox = append(q.outbox, announcement{room, thread, text, e.Now()})
	e.qmu.Unlock()
	e.Kick()
}

// SyncCards is one render pass: it sends the queued replies, posts the
// cards of new occurrences and edits the changed ones.
func (e *Engine) SyncCards(ctx context.Context) error {
	if err := e.init(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.qmu.Lock()
	q := e.queue()
	out := q.outbox
	q.outbox = nil
	e.qmu.Unlock()
	// A reply that cannot be sent waits for the next pass (for up to
	// replyKeep), with the later ones to the same room, so that they
	// arrive in order.
	var keep []announcement
	failed := map[string]bool{}
	for _, a := range out {
		place := e.place(a.room)
		if !failed[place] {
			err := e.adapter(a.room.Adapter).Reply(ctx, a.room.ID, a.thread, a.text)
			if err == nil {
				continue
			}
			if e.Now().Sub(a.at) > replyKeep {
				e.Log.Error("reply failed for too long; dropped", "adapter", a.room.Adapter, "room", a.room.ID, "text", a.text, "err", err)
				continue
			}
			e.Log.Warn("reply failed; will retry", "adapter", a.room.Adapter, "err", err)
			failed[place] = true
		}
		keep = append(keep, a)
	}
	if len(keep) > 0 {
		e.qmu.Lock()
		q.outbox = append(keep, q.outbox...)
		e.qmu.Unlock()
	}

	pauses, err := e.Pauses.ActivePauses(ctx)
	if err != nil {
		return err
	}
	if err := e.showPauses(ctx, pauses); err != nil {
		return err
	}
	start := time.Now()
	var after int64
	for {
		page, err := e.Reviews.Dirty(ctx, after, 200)
		if err != nil {
			return err
		}
		failed := 0
		for _, d := range page {
			after = d.ID
			e.qmu.Lock()
			r, done := q.rendered[d.ID]
			v, queued := q.views[d.ID]
			e.qmu.Unlock()
			if done && r.Dirty == d.Dirty {
				continue // rendered; marked in the store with the next batch
			}
			if !queued || v.Dirty != d.Dirty {
				if v, err = e.Reviews.Occurrence(ctx, d.ID); err != nil {
					e.Log.Warn("card not synced; will retry", "occurrence", d.ID, "err", err)
					failed++
					continue
				}
			}
			if publishingNow(v) {
				continue // edited once, when every target has its outcome
			}
			v, err = e.syncCard(ctx, v, pauses)
			if err != nil {
				e.Log.Warn("card not synced; will retry", "occurrence", d.ID, "err", err)
				failed++
				continue
			}
			e.qmu.Lock()
			if cur, ok := q.views[d.ID]; ok && cur.Dirty <= v.Dirty {
				delete(q.views, d.ID)
			}
			q.rendered[d.ID] = v
			e.qmu.Unlock()
			if time.Since(start) > renderBudget {
				e.Kick() // go on in the next pass
				return e.markRendered(ctx, false)
			}
		}
		if failed > 0 || len(page) < 200 {
			break // a failing chat is tried again next pass
		}
	}
	return e.markRendered(ctx, false)
}

// publishingNow reports whether some target of v is being sent: its card
// waits for the outcomes, so that a dispatch edits it once.
func publishingNow(v approvals.View) bool {
	return slices.ContainsFunc(v.Deliveries, func(d approvals.Delivery) bool { return d.State == approvals.DeliveryPublishing })
}

// markRendered records the cards rendered since the last batch, when the
// batch is due or all is true.
func (e *Engine) markRendered(ctx context.Context, all bool) error {
	e.qmu.Lock()
	q := e.queue()
	now := e.Now()
	if len(q.rendered) == 0 || (!all && len(q.rendered) < markBatch && now.Sub(q.lastMark) < markEvery) {
		e.qmu.Unlock()
		return nil
	}
	views := make([]approvals.View, 0, len(q.rendered))
	for _, v := range q.rendered {
		views = append(views, v)
	}
	q.rendered = map[int64]approvals.View{}
	q.lastMark = now
	e.qmu.Unlock()
	slices.SortFunc(views, func(a, b approvals.View) int { return int(a.ID - b.ID) })
	return e.Reviews.MarkRendered(ctx, views...)
}

// FlushRendered marks every card rendered so far in the store; Run calls it
// when it stops.
func (e *Engine) FlushRendered(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.markRendered(ctx, true)
}

// ownPauses notes pauses this engine made or lifted itself, in a chat that
// has had the receipt: the render pass does not announce them again.
func (e *Engine) ownPauses(ids ...int64) {
	e.qmu.Lock()
	defer e.qmu.Unlock()
	q := e.queue()
	if q.own == nil {
		q.own = map[int64]bool{}
	}
	for _, id := range ids {
		q.own[id] = true
	}
}

// showPauses marks the open cards for rendering when the pauses in force
// differ from those they show: a pause or resume, from chat or the CLI,
// reaches the cards here, after its receipt has gone out. A pause or
// resume made outside the review rooms (`heed pause` in a terminal) is
// announced in every review room.
func (e *Engine) showPauses(ctx context.Context, pauses []approvals.Pause) error {
	ids := make([]string, len(pauses))
	for i, p := range pauses {
		ids[i] = strconv.FormatInt(p.ID, 10)
	}
	key := strings.Join(ids, ",")
	q := &e.rq
	if !q.known {
		stored, err := e.State.GetKV(ctx, pausesKey)
		if err != nil {
			return err
		}
		q.pauses, q.known = stored, true
	}
	if key == q.pauses {
		return nil
	}
	e.announcePauses(ctx, q.pauses, pauses)
	if err := e.Reviews.TouchOpen(ctx); err != nil {
		return err
	}
	if err := e.State.SetKV(ctx, pausesKey, key); err != nil {
		return err
	}
	q.pauses = key
	return nil
}

// announcePauses tells every review room about the pauses that came or went
// since the cards last showed them (before), unless this engine made or
// lifted them in a chat.
func (e *Engine) announcePauses(ctx context.Context, before string, now []approvals.Pause) {
	was := map[int64]bool{}
	for _, f := range strings.Split(before, ",") {
		if id, err := strconv.ParseInt(f, 10, 64); err == nil {
			was[id] = true
		}
	}
	e.qmu.Lock()
	own := e.queue().own
	e.qmu.Unlock()
	var lines []string
	for _, p := range now {
		if was[p.ID] {
			delete(was, p.ID)
			continue
		}
		if own[p.ID] {
			continue
		}
		scope := "all publishing"
		if p.Target != "" {
			scope = "publishing to " + p.Target
		}
		lines = append(lines, fmt.Sprintf("⏸ %s paused %s from outside this chat (reason: %s). Nothing it covers goes out until an approver types `resume`.",
			p.By, scope, reasonOr(p.Reason)))
	}
	for id := range was {
		if !own[id] {
			lines = append(lines, "▶ A pause was lifted from outside this chat (`heed resume`); held posts still need a fresh decision.")
			break
		}
	}
	for _, l := range lines {
		for _, r := range e.Rooms {
			_ = e.reply(ctx, r, "", l)
		}
	}
}

// cardSum names what a card shows, whenever it was rendered.
func cardSum(c Card) [32]byte {
	c.Now = time.Time{}
	b, _ := json.Marshal(c)
	return sha256.Sum256(b)
}

// unchanged reports whether the card of id already shows c, and if not,
// remembers c as shown once sent (sent must be called after a successful
// send).
func (e *Engine) unchanged(id int64, c Card) (same bool, sent func()) {
	sum := cardSum(c)
	e.qmu.Lock()
	defer e.qmu.Unlock()
	q := e.queue()
	if q.shown[id] == sum {
		return true, nil
	}
	return false, func() {
		e.qmu.Lock()
		q.shown[id] = sum
		e.qmu.Unlock()
	}
}
