package bot

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heed-dev/heed/approvals"
)

// Cards are rendered by the render loop (Cards.Run, which Engine.Run
// starts), never on a chat's event worker. Writers mark an occurrence's
// card as changed in the store (its change count); a pass renders every
// changed card once, however often it changed since the last pass, and
// paces itself by the chats' own rate limits, since each edit waits for
// its adapter. A reaction hands the pass the view its own transaction
// read, so that view is not built a second time. Replies that report a
// publish outcome wait in the same queue, so the dispatcher never waits on
// a chat, and stay in it while the chat cannot be reached.

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

// Cards renders the engine's cards and the replies that wait with them.
type Cards struct {
	e    *Engine
	mu   sync.Mutex // serialises card posting so no card is posted twice
	qmu  sync.Mutex // guards rq
	rq   renderQueue
	kick chan struct{}
	// imgTries is what the render pass knows of each image in a card's
	// thread: posted, failing, given up (images.go); guarded by mu.
	imgTries imageTries
}

func (cs *Cards) queue() *renderQueue {
	if cs.rq.views == nil {
		cs.rq.views = map[int64]approvals.View{}
		cs.rq.rendered = map[int64]approvals.View{}
		cs.rq.shown = map[int64][32]byte{}
	}
	return &cs.rq
}

// Kick asks the render loop to render changed cards now rather than at
// its next tick. It never blocks.
func (cs *Cards) Kick() {
	select {
	case cs.kick <- struct{}{}:
	default:
	}
}

// Run runs a render pass each time the cards are kicked (after a chat
// event, a publish outcome, a pass that ran out of time) until ctx is
// done, then records the cards rendered. Engine.Run starts it; the
// engine's own cycle renders too, at each tick.
func (cs *Cards) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			if err := cs.FlushRendered(context.WithoutCancel(ctx)); err != nil {
				cs.e.Log.Warn("could not record the cards rendered; they are rendered again at the next start", "err", err)
			}
			return
		case <-cs.kick:
			if err := cs.Sync(ctx); err != nil && ctx.Err() == nil {
				cs.e.Log.Warn("render pass", "err", err)
			}
		}
	}
}

// queueView hands the renderer the view a write transaction just read.
func (cs *Cards) queueView(v approvals.View) {
	cs.qmu.Lock()
	q := cs.queue()
	if old, ok := q.views[v.ID]; !ok || old.Dirty <= v.Dirty {
		q.views[v.ID] = v
	}
	cs.qmu.Unlock()
	cs.Kick()
}

// announce queues a reply in a card's thread for the next pass.
func (cs *Cards) announce(room Room, thread MessageRef, text string) {
	cs.qmu.Lock()
	q := cs.queue()
	q.outbox = append(q.outbox, announcement{room, thread, text, cs.e.Now()})
	cs.qmu.Unlock()
	cs.Kick()
}

// Sync is one render pass: it sends the queued replies, posts the
// cards of new occurrences and edits the changed ones.
func (cs *Cards) Sync(ctx context.Context) error {
	if err := cs.e.init(); err != nil {
		return err
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.qmu.Lock()
	q := cs.queue()
	out := q.outbox
	q.outbox = nil
	cs.qmu.Unlock()
	// A reply that cannot be sent waits for the next pass (for up to
	// replyKeep), with the later ones to the same room, so that they
	// arrive in order.
	var keep []announcement
	failed := map[string]bool{}
	for _, a := range out {
		place := cs.e.place(a.room)
		if !cs.e.Holds(a.room.Adapter) {
			continue // this replica no longer holds the chat
		}
		if !failed[place] {
			err := cs.e.adapter(a.room.Adapter).Reply(ctx, a.room.ID, a.thread, a.text)
			if err == nil {
				continue
			}
			if cs.e.Now().Sub(a.at) > replyKeep {
				cs.e.Log.Error("reply failed for too long; dropped", "adapter", a.room.Adapter, "room", a.room.ID, "text", a.text, "err", err)
				continue
			}
			cs.e.Log.Warn("reply failed; will retry", "adapter", a.room.Adapter, "err", err)
			failed[place] = true
		}
		keep = append(keep, a)
	}
	if len(keep) > 0 {
		cs.qmu.Lock()
		q.outbox = append(keep, q.outbox...)
		cs.qmu.Unlock()
	}

	if !cs.e.holdsAny() {
		return nil // another replica renders every card
	}
	pauses, err := cs.e.Pauses.ActivePauses(ctx)
	if err != nil {
		return err
	}
	if err := cs.showPauses(ctx, pauses); err != nil {
		return err
	}
	start := time.Now()
	var after int64
	for {
		page, err := cs.e.Reviews.Dirty(ctx, after, 200)
		if err != nil {
			return err
		}
		failed := 0
		for _, d := range page {
			after = d.ID
			cs.qmu.Lock()
			r, done := q.rendered[d.ID]
			v, queued := q.views[d.ID]
			cs.qmu.Unlock()
			if done && r.Dirty == d.Dirty {
				continue // rendered; marked in the store with the next batch
			}
			if !queued || v.Dirty != d.Dirty {
				if v, err = cs.e.Reviews.Occurrence(ctx, d.ID); err != nil {
					cs.e.Log.Warn("card not synced; will retry", "occurrence", d.ID, "err", err)
					failed++
					continue
				}
			}
			if publishingNow(v) {
				continue // edited once, when every target has its outcome
			}
			if !cs.e.Holds(cs.e.room(v.Post.Room).Adapter) {
				continue // its chat's holder renders it
			}
			v, err = cs.syncCard(ctx, v, pauses)
			if err != nil {
				cs.e.Log.Warn("card not synced; will retry", "occurrence", d.ID, "err", err)
				failed++
				continue
			}
			cs.qmu.Lock()
			if cur, ok := q.views[d.ID]; ok && cur.Dirty <= v.Dirty {
				delete(q.views, d.ID)
			}
			q.rendered[d.ID] = v
			cs.qmu.Unlock()
			if time.Since(start) > renderBudget {
				cs.Kick() // go on in the next pass
				return cs.markRendered(ctx, false)
			}
		}
		if failed > 0 || len(page) < 200 {
			break // a failing chat is tried again next pass
		}
	}
	return cs.markRendered(ctx, false)
}

// publishingNow reports whether some target of v is being sent: its card
// waits for the outcomes, so that a dispatch edits it once.
func publishingNow(v approvals.View) bool {
	return slices.ContainsFunc(v.Deliveries, func(d approvals.Delivery) bool { return d.State == approvals.DeliveryPublishing })
}

// markRendered records the cards rendered since the last batch, when the
// batch is due or all is true.
func (cs *Cards) markRendered(ctx context.Context, all bool) error {
	cs.qmu.Lock()
	q := cs.queue()
	now := cs.e.Now()
	if len(q.rendered) == 0 || (!all && len(q.rendered) < markBatch && now.Sub(q.lastMark) < markEvery) {
		cs.qmu.Unlock()
		return nil
	}
	views := make([]approvals.View, 0, len(q.rendered))
	for _, v := range q.rendered {
		views = append(views, v)
	}
	q.rendered = map[int64]approvals.View{}
	q.lastMark = now
	cs.qmu.Unlock()
	slices.SortFunc(views, func(a, b approvals.View) int { return int(a.ID - b.ID) })
	return cs.e.Reviews.MarkRendered(ctx, views...)
}

// FlushRendered marks every card rendered so far in the store; Run calls it
// when it stops.
func (cs *Cards) FlushRendered(ctx context.Context) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.markRendered(ctx, true)
}

// ownPauses notes pauses this engine made or lifted itself, in a chat that
// has had the receipt: the render pass does not announce them again.
func (cs *Cards) ownPauses(ids ...int64) {
	cs.qmu.Lock()
	defer cs.qmu.Unlock()
	q := cs.queue()
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
func (cs *Cards) showPauses(ctx context.Context, pauses []approvals.Pause) error {
	ids := make([]string, len(pauses))
	for i, p := range pauses {
		ids[i] = strconv.FormatInt(p.ID, 10)
	}
	key := strings.Join(ids, ",")
	q := &cs.rq
	if !q.known {
		stored, err := cs.e.State.GetKV(ctx, pausesKey)
		if err != nil {
			return err
		}
		q.pauses, q.known = stored, true
	}
	if key == q.pauses {
		return nil
	}
	cs.announcePauses(ctx, q.pauses, pauses)
	cs.forgetOwn(pauses)
	if err := cs.e.Reviews.TouchOpen(ctx); err != nil {
		return err
	}
	if err := cs.e.State.SetKV(ctx, pausesKey, key); err != nil {
		return err
	}
	q.pauses = key
	return nil
}

// forgetOwn drops from the pauses this engine made or lifted those no
// longer in force: once announced (or not), they are never looked at again.
func (cs *Cards) forgetOwn(active []approvals.Pause) {
	cs.qmu.Lock()
	defer cs.qmu.Unlock()
	q := cs.queue()
	for id := range q.own {
		if !slices.ContainsFunc(active, func(p approvals.Pause) bool { return p.ID == id }) {
			delete(q.own, id)
		}
	}
}

// announcePauses tells every review room about the pauses that came or went
// since the cards last showed them (before), unless this engine made or
// lifted them in a chat.
func (cs *Cards) announcePauses(ctx context.Context, before string, now []approvals.Pause) {
	was := map[int64]bool{}
	for _, f := range strings.Split(before, ",") {
		if id, err := strconv.ParseInt(f, 10, 64); err == nil {
			was[id] = true
		}
	}
	cs.qmu.Lock()
	own := maps.Clone(cs.queue().own) // ownPauses writes it from the chats' workers
	cs.qmu.Unlock()
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
		for _, r := range cs.e.Rooms {
			if cs.e.Holds(r.Adapter) {
				_ = cs.e.reply(ctx, r, "", l)
			}
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
func (cs *Cards) unchanged(id int64, c Card) (same bool, sent func()) {
	sum := cardSum(c)
	cs.qmu.Lock()
	defer cs.qmu.Unlock()
	q := cs.queue()
	if q.shown[id] == sum {
		return true, nil
	}
	return false, func() {
		cs.qmu.Lock()
		q.shown[id] = sum
		cs.qmu.Unlock()
	}
}

// syncCard posts the card of v, or edits it, and returns the view the
// card shows.
func (cs *Cards) syncCard(ctx context.Context, v approvals.View, pauses []approvals.Pause) (approvals.View, error) {
	room := cs.e.room(v.Post.Room)
	a := cs.e.adapter(room.Adapter)
	ref, ok, err := cs.e.Reviews.Card(ctx, v.ID, room.Adapter, room.ID)
	if err != nil {
		return v, err
	}
	if !ok && v.State == approvals.StateScheduled {
		// The card goes up already in review, so that its first version is
		// the one people act on. If posting fails, the next pass posts it.
		if err := cs.e.Reviews.OpenReview(ctx, v.ID); err != nil {
			return v, err
		}
		if v, err = cs.e.Reviews.Occurrence(ctx, v.ID); err != nil {
			return v, err
		}
	}
	voided := v.Verdict.Voided()
	if ok && len(voided) > 0 && v.State.Open() {
		// Decisions the post's change voided: the fresh card shows none
		// of them, and one reaction on it approves the new version.
		v.Verdict.Ignored = slices.DeleteFunc(slices.Clone(v.Verdict.Ignored), func(ig approvals.Ignored) bool { return ig.Stale })
	}
	card := cs.Build(v, room, pauses)
	same, sent := cs.unchanged(v.ID, card)
	switch {
	case !ok:
		mref, err := a.PostCard(ctx, room.ID, card)
		if err != nil {
			return v, err
		}
		ref = approvals.CardRef{Occurrence: v.ID, Adapter: room.Adapter, Room: room.ID, Ref: string(mref)}
		if err := cs.e.Reviews.SetCard(ctx, ref); err != nil {
			return v, err
		}
		if sent != nil {
			sent()
		}
	case len(voided) > 0 && v.State.Open():
		if ref, err = cs.supersede(ctx, v, room, ref, card, voided); err != nil {
			return v, err
		}
		if sent != nil {
			sent()
		}
	case !same:
		if err := a.UpdateCard(ctx, room.ID, MessageRef(ref.Ref), card); err != nil {
			if !IsPermanent(err) {
				return v, err
			}
			// Sending this same card again cannot succeed: it counts as shown,
			// so it is tried again only once the card changes.
			cs.e.Log.Error("the chat refused a card edit for good; not retried until the card changes", "occurrence", v.ID, "adapter", room.Adapter, "err", err)
			cs.announce(room, MessageRef(ref.Ref), fmt.Sprintf("⚠ #%d: the chat refused an edit of this card (%s), so it may not show the latest state. heed tries again when the card changes; `queue` shows where things stand.",
				v.ID, approvals.Clip(err.Error(), 200)))
		}
		sent()
	}
	// (An unchanged card is a change that does not show: a roster
	// recorded again, say.)
	if ref, err = cs.notifyState(ctx, v, room, ref); err != nil {
		return v, err
	}
	return v, cs.postImages(ctx, v, room, MessageRef(ref.Ref))
}

// Build renders an occurrence into the adapter-neutral card model.
func (cs *Cards) Build(v approvals.View, room Room, pauses []approvals.Pause) Card {
	pol := room.Policy.WithDefaults()
	c := Card{
		Number: v.ID, PostID: v.PostID, State: v.State, Text: v.Post.Text, Link: v.Post.Link, Images: cardImages(v.Post.Media),
		At: v.At, Zone: cs.e.Zone, Now: cs.e.Now(), Required: v.Verdict.Required, Version: approvals.CombinedHash(v.Hashes),
	}
	delivered := map[string]approvals.Delivery{}
	for _, d := range v.Deliveries {
		delivered[d.Target] = d
	}
	for _, pl := range v.Payloads {
		p := Preview{Target: pl.Target, Kind: cs.e.Targets.Kind(pl.Target), Text: cs.e.Targets.Preview(pl), Problems: v.Problems[pl.Target]}
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
	if v.Post.Source != "" {
		c.Notes = append(c.Notes, "from "+v.Post.Source)
	}
	if v.Note != "" {
		c.Notes = append(c.Notes, strings.Split(v.Note, "\n")...)
	}
	if line := cs.seriesLine(v); line != "" {
		c.Notes = append(c.Notes, line)
	}
	cs.timingCard(&c, v)
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
			if u := cs.e.Targets.AccountURL(d.Target); d.State == approvals.DeliveryUnknown && u != "" {
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

// seriesLine sums up the series an occurrence belongs to: how it repeats,
// its next time after this one, and that only the next few have cards.
func (cs *Cards) seriesLine(v approvals.View) string {
	sc := v.Post.Schedule
	if !sc.Recurring() {
		return ""
	}
	line := fmt.Sprintf("🔁 part of a series (`%s`, %s", sc.Cron, sc.TZ)
	if !sc.Until.IsZero() {
		line += ", until " + sc.Until.In(cs.e.Zone).Format("2 Jan 2006")
	}
	line += ")"
	if next, ok := sc.Next(v.At); ok {
		line += "; next after this: " + next.In(cs.e.Zone).Format("Mon 2 Jan 15:04")
	} else {
		line += "; this is its last time"
	}
	n := cs.e.SeriesCards
	if n <= 0 {
		n = 3
	}
	return line + fmt.Sprintf(". Cards show its next %d times; later ones appear as these pass. `cancel %d` drops this one; the post's own commands change them all.", n, v.ID)
}

// Announce replies in a card's thread with a publish outcome. It is the
// dispatcher's Notify.
func (cs *Cards) Announce(ctx context.Context, occ int64, target, url string, kind approvals.OutcomeKind, errMsg string) {
	if cs.e.init() != nil {
		return
	}
	v, err := cs.e.Reviews.Occurrence(ctx, occ)
	if err != nil {
		return
	}
	room := cs.e.room(v.Post.Room)
	if !cs.e.Holds(room.Adapter) {
		// Another replica holds the chat; the card its holder renders
		// shows the outcome.
		return
	}
	ref, ok, err := cs.e.Reviews.Card(ctx, occ, room.Adapter, room.ID)
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
		if u := cs.e.Targets.AccountURL(target); u != "" {
			where = u
		}
		text = fmt.Sprintf("❓ #%d → %s: outcome unknown (%s). Check %s, then `resolve %d published` or `resolve %d failed`.", occ, target, errMsg, where, occ, occ)
	}
	cs.announce(room, MessageRef(ref.Ref), text)
}
