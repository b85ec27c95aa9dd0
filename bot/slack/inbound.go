package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/heed-dev/heed/bot"
)

// inbound is one event between its acknowledgement and the engine. The
// worker completes it (who the user is, whether a button press turns a
// decision on or off) before handing it over.
type inbound struct {
	ev    bot.Event
	botID string // the sender's bot_id, for messages
	click bool   // a button press; ev.Emoji is the button's emoji
	// responseURL answers a button press privately.
	responseURL string
	// brake is set for pause and resume from a person: they take the
	// priority lane, and who typed them is never a reason to drop them.
	brake bool
	// ts is a message's ts in ev.Room: once handled, the channel's
	// read-back mark may move past it.
	ts string
	// claim is a button press's id, claimed in the store before the press
	// is acted on, so that a replay of it does nothing (see clickID).
	claim string
	// recon, when set, is no event: the worker reads a card back.
	recon *reconItem
}

// isBrake reports whether text is pause or resume, read by the engine's
// own parser.
func isBrake(text string) bool {
	cmd, ok, _ := bot.ParseCommand(text, nil)
	return ok && (cmd.Name == "pause" || cmd.Name == "resume")
}

func isResume(text string) bool {
	cmd, ok, _ := bot.ParseCommand(text, nil)
	return ok && cmd.Name == "resume"
}

// messageID names a message by channel and ts: the same id whether it
// arrives as an event (message or app_mention) or is read back from the
// history, so that the engine handles it once.
func messageID(channel, ts string) string { return "msg:" + channel + ":" + ts }

// eventCallback is the Events API envelope (the same payload arrives over
// Socket Mode). Only the fields heed reads are decoded.
type eventCallback struct {
	Type      string          `json:"type"`
	Challenge string          `json:"challenge"`
	EventID   string          `json:"event_id"`
	Event     json.RawMessage `json:"event"`
}

type innerEvent struct {
	Type     string `json:"type"`
	Subtype  string `json:"subtype"`
	User     string `json:"user"`
	BotID    string `json:"bot_id"`
	Text     string `json:"text"`
	Channel  string `json:"channel"`
	TS       string `json:"ts"`
	ThreadTS string `json:"thread_ts"`
	EventTS  string `json:"event_ts"`
	Reaction string `json:"reaction"`
	ItemUser string `json:"item_user"`
	Item     struct {
		Type    string `json:"type"`
		Channel string `json:"channel"`
		TS      string `json:"ts"`
	} `json:"item"`
}

// blockActions is an interactivity payload, as far as heed reads it.
type blockActions struct {
	Type string `json:"type"`
	User struct {
		ID       string `json:"id"`
		Username string `json:"username"`
	} `json:"user"`
	Container struct {
		MessageTS string `json:"message_ts"`
		ChannelID string `json:"channel_id"`
	} `json:"container"`
	Channel struct {
		ID string `json:"id"`
	} `json:"channel"`
	Message struct {
		TS string `json:"ts"`
	} `json:"message"`
	ResponseURL string `json:"response_url"`
	Actions     []struct {
		ActionID string `json:"action_id"`
		ActionTS string `json:"action_ts"`
	} `json:"actions"`
}

// slashCommand is a slash command, from a form (HTTP) or JSON (socket).
type slashCommand struct {
	Command     string `json:"command"`
	Text        string `json:"text"`
	ChannelID   string `json:"channel_id"`
	UserID      string `json:"user_id"`
	UserName    string `json:"user_name"`
	TriggerID   string `json:"trigger_id"`
	ResponseURL string `json:"response_url"`
}

// fromCallback translates one event_callback into what to queue, with the
// keys that identify it for de-duplication. ok is false for events heed
// does not act on (other channels, edits, joins, reactions on messages
// that are not cards).
func (a *Adapter) fromCallback(cb eventCallback) (in inbound, keys []string, ok bool) {
	var e innerEvent
	if cb.Type != "event_callback" || json.Unmarshal(cb.Event, &e) != nil {
		return inbound{}, nil, false
	}
	keys = []string{"ev:" + cb.EventID}
	switch e.Type {
	case "reaction_added", "reaction_removed":
		if e.Item.Type != "message" || !a.isReviewChannel(e.Item.Channel) || e.User == "" || e.Reaction == "" {
			return inbound{}, nil, false
		}
		// Cards are the bot's own messages; a reaction on anything else
		// is not a decision.
		if me := a.knownSelf(); me != nil && e.ItemUser != "" && e.ItemUser != me.UserID {
			return inbound{}, nil, false
		}
		kind := bot.Reaction
		if e.Type == "reaction_removed" {
			kind = bot.Unreaction
		}
		return inbound{ev: bot.Event{ID: cb.EventID, Kind: kind, Adapter: a.name, Room: e.Item.Channel,
			User: e.User, Card: bot.MessageRef(e.Item.TS), Emoji: e.Reaction, At: tsTime(e.EventTS)}}, keys, true
	case "message", "app_mention":
		if !a.isReviewChannel(e.Channel) || e.TS == "" {
			return inbound{}, nil, false
		}
		switch e.Subtype {
		case "", "bot_message", "thread_broadcast":
		default:
			return inbound{}, nil, false // edits, deletions, joins, topic changes
		}
		// A message that mentions the app arrives twice, as message and
		// as app_mention; the channel and ts make them one.
		keys = append(keys, messageID(e.Channel, e.TS))
		ev := bot.Event{ID: messageID(e.Channel, e.TS), Kind: bot.Message, Adapter: a.name, Room: e.Channel, User: e.User,
			FromBot: e.BotID != "" || e.Subtype == "bot_message", Text: a.stripMention(unescape(e.Text)), At: tsTime(e.TS)}
		if ev.User == "" {
			ev.User = e.BotID
		}
		if e.ThreadTS != "" && e.ThreadTS != e.TS {
			ev.Card = bot.MessageRef(e.ThreadTS)
		}
		return inbound{ev: ev, botID: e.BotID, ts: e.TS, brake: !ev.FromBot && isBrake(ev.Text)}, keys, true
	}
	return inbound{}, nil, false
}

// fromBlockActions translates a button press on a card, with the keys
// that identify it for de-duplication.
func (a *Adapter) fromBlockActions(p blockActions) (inbound, []string, bool) {
	if p.Type != "block_actions" || len(p.Actions) == 0 || p.User.ID == "" {
		return inbound{}, nil, false
	}
	room := p.Container.ChannelID
	if room == "" {
		room = p.Channel.ID
	}
	ts := p.Container.MessageTS
	if ts == "" {
		ts = p.Message.TS
	}
	var emoji string
	switch p.Actions[0].ActionID {
	case actionApprove:
		emoji = emojiApprove
	case actionReject:
		emoji = emojiReject
	default:
		return inbound{}, nil, false
	}
	if !a.isReviewChannel(room) || ts == "" {
		return inbound{}, nil, false
	}
	in := inbound{click: true, responseURL: p.ResponseURL, ev: bot.Event{Kind: bot.Reaction, Adapter: a.name,
		Room: room, User: p.User.ID, Card: bot.MessageRef(ts), Emoji: emoji,
		ReactionID: buttonReactionID(room, ts, p.User.ID, emoji), At: tsTime(p.Actions[0].ActionTS)}}
	var keys []string
	if at := p.Actions[0].ActionTS; at != "" {
		in.claim = clickID(room, ts, p.User.ID, p.Actions[0].ActionID, at)
		keys = []string{in.claim}
	}
	return in, keys, true
}

// clickID names one button press: Slack sends nothing like an event_id
// with an interaction, and never retries one, so the same payload twice
// is a replay. A press is the card (channel and message ts), who pressed,
// which button, and action_ts, the time Slack stamps on each press.
func clickID(room, ts, user, actionID, actionTS string) string {
	return "click:" + room + ":" + ts + ":" + user + ":" + actionID + ":" + actionTS
}

// fromSlash translates "/heed pause breaking news" into the message
// "pause breaking news" from that user in that channel. A bare "/heed"
// asks for help.
func (a *Adapter) fromSlash(c slashCommand) (inbound, string, bool) {
	if !a.isReviewChannel(c.ChannelID) {
		return inbound{}, "heed only listens in its review channels. Use " + c.Command + " there.", false
	}
	text := strings.TrimSpace(c.Text)
	if text == "" {
		text = "help"
	}
	return inbound{ev: bot.Event{ID: "cmd:" + c.TriggerID, Kind: bot.Message, Adapter: a.name, Room: c.ChannelID,
		User: c.UserID, UserName: "@" + c.UserName, Text: text, At: a.now()}, brake: isBrake(text)}, "", true
}

func buttonReactionID(room, ts, user, emoji string) string {
	return "slack-button:" + room + ":" + ts + ":" + user + ":" + emoji
}

func (a *Adapter) isReviewChannel(id string) bool {
	_, ok := a.channels[id]
	return ok
}

func (a *Adapter) knownSelf() *identity {
	a.idMu.Lock()
	defer a.idMu.Unlock()
	return a.id
}

var mention = regexp.MustCompile(`^\s*<@([A-Z0-9]+)(\|[^>]*)?>[\s:,]*`)

// stripMention removes a leading mention of the bot ("<@U0BOT> pause").
func (a *Adapter) stripMention(text string) string {
	me := a.knownSelf()
	if m := mention.FindStringSubmatchIndex(text); m != nil && me != nil && text[m[2]:m[3]] == me.UserID {
		return strings.TrimSpace(text[m[1]:])
	}
	return strings.TrimSpace(text)
}

// tsTime turns a Slack ts ("1795219200.000100") into a time; zero if it
// is not one.
func tsTime(ts string) time.Time {
	sec, frac, _ := strings.Cut(ts, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil || s <= 0 {
		return time.Time{}
	}
	var us int64
	if frac != "" {
		frac = (frac + "000000")[:6]
		us, _ = strconv.ParseInt(frac, 10, 64)
	}
	return time.Unix(s, us*1000)
}

// accept de-duplicates and queues in. It reports false when the queue is
// full: the caller then refuses the delivery so that Slack retries it.
// Pause and resume are never refused.
func (a *Adapter) accept(in inbound, keys []string) bool {
	if !a.seen.claim(keys) {
		return true // a retry of something already queued
	}
	a.pend(in)
	if in.brake {
		a.prio.push(in)
		return true
	}
	select {
	case a.queue <- in:
		return true
	default:
		a.unpend(in)
		a.seen.release(keys)
		a.log.Warn("inbound queue full; refusing the delivery so that Slack retries it")
		return false
	}
}

// pend counts in as queued on its lane, and holds its channel's read-back
// mark before it until it is handled.
func (a *Adapter) pend(in inbound) {
	a.lane(in).add()
	if in.ts != "" {
		a.marks.pend(in.ev.Room, in.ts)
	}
}

// unpend takes back pend for an event that was not queued after all; it
// counts as handled on its lane, and as not handled for the mark.
func (a *Adapter) unpend(in inbound) {
	a.lane(in).finish()
	if in.ts != "" {
		a.marks.unpend(in.ev.Room, in.ts)
	}
}

func (a *Adapter) lane(in inbound) *lane {
	if in.brake {
		return &a.prioLane
	}
	return &a.normLane
}

// lane counts the events queued on a lane and those handled, so that a
// read-back can wait until everything queued before it was handled.
type lane struct {
	mu      sync.Mutex
	queued  uint64
	handled uint64
	changed chan struct{} // closed when handled grows; nil until waited on
}

func (l *lane) add() {
	l.mu.Lock()
	l.queued++
	l.mu.Unlock()
}

func (l *lane) finish() {
	l.mu.Lock()
	l.handled++
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
	l.mu.Unlock()
}

// wait waits until everything queued so far was handled; false if ctx
// ended first.
func (l *lane) wait(ctx context.Context) bool {
	l.mu.Lock()
	target := l.queued
	l.mu.Unlock()
	for {
		l.mu.Lock()
		if l.handled >= target {
			l.mu.Unlock()
			return true
		}
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// work hands queued events to the engine, one at a time, in order.
func (a *Adapter) work(ctx context.Context, h bot.Handler) {
	for {
		select {
		case <-ctx.Done():
			return
		case in := <-a.queue:
			a.refreshGroupsFor(ctx, h)
			a.handle(ctx, h, in)
		}
	}
}

// refreshGroupsFor reads the approver groups again when due. Here, outside
// any store transaction and before the next event, is where that happens;
// when their members changed, the engine weighs the reactions on open
// cards again.
func (a *Adapter) refreshGroupsFor(ctx context.Context, h bot.Handler) {
	if !a.refreshGroups(ctx) {
		return
	}
	for _, ch := range a.groupChannels() {
		ev := bot.Event{Kind: bot.PolicyChanged, Adapter: a.Name(), Room: ch, At: a.now()}
		if err := h.HandleEvent(ctx, ev); err != nil && ctx.Err() == nil {
			a.log.Warn("engine could not weigh reactions again after a user-group change", "room", ch, "err", err)
		}
	}
}

// workPriority hands pause and resume to the engine, one at a time, in
// order, ahead of whatever waits in the queue. A resume, which only an
// approver may give, is judged with the groups read again when due; a
// pause waits for nothing. When ctx ends, those still queued are handled
// before it returns.
func (a *Adapter) workPriority(ctx context.Context, h bot.Handler) {
	for {
		select {
		case <-ctx.Done():
			a.drainPriority(ctx, h)
			return
		case <-a.prio.wake:
		}
		for ctx.Err() == nil {
			in, ok := a.prio.pop()
			if !ok {
				break
			}
			if isResume(in.ev.Text) {
				a.refreshGroupsFor(ctx, h)
			}
			a.handle(ctx, h, in)
		}
	}
}

// drainTimeout bounds how long pauses queued at shutdown may take.
const drainTimeout = 10 * time.Second

func (a *Adapter) drainPriority(ctx context.Context, h bot.Handler) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
	defer cancel()
	for {
		in, ok := a.prio.pop()
		if !ok {
			return
		}
		a.handle(ctx, h, in)
	}
}

// handle completes one queued event and hands it to the engine. A message
// counts as handled for the read-back mark unless ctx ended first.
func (a *Adapter) handle(ctx context.Context, h bot.Handler, in inbound) {
	if in.recon != nil { // not counted on the lane (reconcileOnWorker)
		in.recon.done <- in.recon.rc.ReconcileCard(ctx, in.recon.card)
		return
	}
	defer a.lane(in).finish()
	if in.claim != "" && !a.firstClaim(ctx, h, in) {
		return
	}
	handled := true
	evs, err := a.resolve(ctx, in)
	if err != nil {
		if ctx.Err() != nil {
			handled = false
		} else {
			a.log.Error("could not read the event's context from Slack; event dropped", "kind", in.ev.Kind,
				"room", in.ev.Room, "user", in.ev.User, "err", err)
		}
	}
	for _, ev := range evs {
		if err := h.HandleEvent(ctx, ev); err != nil {
			if ctx.Err() != nil {
				handled = false
				continue
			}
			a.log.Warn("engine refused event", "kind", ev.Kind, "room", ev.Room, "card", ev.Card, "err", err)
		}
	}
	if handled && in.ts != "" {
		a.markHandled(context.WithoutCancel(ctx), in.ev.Room, in.ts)
	}
}

// firstClaim claims a button press in the engine's store before it is
// acted on (recorded in the card's thread, handed over), and reports
// whether it is the first claim. A replayed press, also one replayed after
// a restart, is dropped; so is a press that cannot be claimed.
func (a *Adapter) firstClaim(ctx context.Context, h bot.Handler, in inbound) bool {
	c, ok := h.(bot.Claimer)
	if !ok {
		return true // only the in-memory de-duplication (accept) applies
	}
	first, err := c.Claim(ctx, a.name, in.claim)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			a.log.Error("could not record a button press as handled; the press is dropped", "room", in.ev.Room,
				"card", in.ev.Card, "user", in.ev.User, "err", err)
		}
		return false
	case !first:
		a.log.Warn("a button press handled before came again; it changes nothing", "room", in.ev.Room,
			"card", in.ev.Card, "user", in.ev.User, "press", in.claim)
	}
	return first
}

// prioQueue is the priority lane: unbounded, so that a pause is never
// refused.
type prioQueue struct {
	mu    sync.Mutex
	items []inbound
	wake  chan struct{}
}

func (q *prioQueue) push(in inbound) {
	q.mu.Lock()
	q.items = append(q.items, in)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *prioQueue) pop() (inbound, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return inbound{}, false
	}
	in := q.items[0]
	q.items[0] = inbound{}
	q.items = q.items[1:]
	return in, true
}

// resolve completes an inbound event with who sent it, and settles button
// presses against the card's thread.
func (a *Adapter) resolve(ctx context.Context, in inbound) ([]bot.Event, error) {
	ev := in.ev
	if err := a.fillUser(ctx, &ev, in.botID, in.brake); err != nil {
		// Taking a reaction back needs no name: the engine finds it by
		// who and which emoji. Dropping it would leave the decision
		// standing.
		if ev.Kind != bot.Unreaction || in.click || ctx.Err() != nil {
			return nil, err
		}
		a.log.Warn("could not look up who took a reaction back; naming them by id", "user", ev.User, "err", err)
		ev.UserName = ev.User
	}
	switch {
	case in.click && !ev.FromBot:
		return a.settleClick(ctx, ev, in.responseURL)
	case ev.Kind == bot.Unreaction && (ev.Emoji == emojiApprove || ev.Emoji == emojiReject) && !ev.FromBot:
		// Taking back a reaction also ends a button decision with the
		// same emoji: the engine counts them as one.
		if err := a.endButton(ctx, ev, "took back "+emojiText(ev.Emoji)); err != nil {
			a.log.Warn("could not record the end of a button decision", "room", ev.Room, "card", ev.Card, "err", err)
		}
	}
	return []bot.Event{ev}, nil
}

// fillUser sets UserName, FromBot and FromSelf. For a brake it never
// fails: the name is asked for once, without waiting out a rate limit,
// and a person who cannot be looked up is named by their raw id.
func (a *Adapter) fillUser(ctx context.Context, ev *bot.Event, botID string, brake bool) error {
	me, err := a.self(ctx)
	if err != nil {
		if !brake {
			return err
		}
		if known := a.knownSelf(); known != nil {
			me = *known
		}
	}
	if ev.User == me.UserID || (botID != "" && botID == me.BotID) {
		ev.FromSelf, ev.FromBot = true, true
		ev.UserName = "@heed"
		return nil
	}
	if botID != "" {
		ev.FromBot = true
	}
	if ev.User == "" || ev.User == botID {
		ev.UserName = ev.User
		return nil
	}
	var u userEntry
	if brake {
		u, err = a.userQuick(ctx, ev.User)
	} else {
		u, err = a.userInfo(ctx, ev.User)
	}
	if err != nil {
		// Slack does not know the user (one from another workspace): a
		// clear answer, which asking again would not change.
		if !brake && !slackError(err, "user_not_found") {
			return err
		}
		a.log.Warn("could not look the user up; naming them by id", "user", ev.User, "err", err)
		if ev.UserName == "" { // a slash command names its user
			ev.UserName = ev.User + " (name not found)"
		}
		return nil
	}
	ev.UserName = "@" + u.name
	if u.isBot {
		ev.FromBot = true
	}
	return nil
}

type userEntry struct {
	name  string
	isBot bool
	tz    string // the user's zone as Slack says ("Europe/Berlin"), or ""
	at    time.Time
}

// userCache remembers users.info answers for a while.
type userCache struct {
	mu  sync.Mutex
	ttl time.Duration
	m   map[string]userEntry
}

// quickLookup bounds the one users.info call made for a brake.
const quickLookup = 2 * time.Second

// userQuick is userInfo with one try, bounded by quickLookup, that never
// waits out a rate limit.
func (a *Adapter) userQuick(ctx context.Context, id string) (userEntry, error) {
	if e, ok := a.cachedUser(id); ok {
		return e, nil
	}
	ctx, cancel := context.WithTimeout(ctx, quickLookup)
	defer cancel()
	var u *slackapi.User
	err := a.api.callOnce(ctx, "users.info", func(ctx context.Context) (err error) {
		u, err = a.api.c.GetUserInfoContext(ctx, id)
		return err
	})
	if err != nil {
		return userEntry{}, fmt.Errorf("users.info %s: %w", id, err)
	}
	return a.rememberUser(id, u), nil
}

func (a *Adapter) cachedUser(id string) (userEntry, bool) {
	a.users.mu.Lock()
	defer a.users.mu.Unlock()
	e, ok := a.users.m[id]
	return e, ok && a.now().Sub(e.at) < a.users.ttl
}

func (a *Adapter) rememberUser(id string, u *slackapi.User) userEntry {
	e := userEntry{name: u.Name, isBot: u.IsBot || u.Profile.BotID != "", tz: u.TZ, at: a.now()}
	if u.Profile.DisplayName != "" {
		e.name = u.Profile.DisplayName
	}
	a.users.mu.Lock()
	defer a.users.mu.Unlock()
	if a.users.m == nil {
		a.users.m = map[string]userEntry{}
	}
	a.users.m[id] = e
	return e
}

func (a *Adapter) userInfo(ctx context.Context, id string) (userEntry, error) {
	if e, ok := a.cachedUser(id); ok {
		return e, nil
	}
	var u *slackapi.User
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = a.api.call(ctx, "users.info", func(ctx context.Context) (err error) {
			u, err = a.api.c.GetUserInfoContext(ctx, id)
			return err
		})
		var se slackapi.SlackErrorResponse
		if err == nil || asSlackError(err, &se) || ctx.Err() != nil {
			break // a clear answer from Slack is not worth asking again
		}
		if serr := a.sleep(ctx, time.Duration(1<<attempt)*time.Second); serr != nil {
			return userEntry{}, serr
		}
	}
	if err != nil {
		return userEntry{}, fmt.Errorf("users.info %s: %w", id, err)
	}
	return a.rememberUser(id, u), nil
}

// dedup remembers keys of events already queued, for a while and up to a
// bound, so that Slack's retries (same event_id) count once.
type dedup struct {
	mu    sync.Mutex
	now   func() time.Time
	ttl   time.Duration
	max   int
	seen  map[string]time.Time
	order []string
}

func newDedup(now func() time.Time, max int, ttl time.Duration) *dedup {
	return &dedup{now: now, ttl: ttl, max: max, seen: map[string]time.Time{}}
}

// claim marks keys as seen; it reports false if any was seen already.
// Empty keys ("ev:" without an id) never match.
func (d *dedup) claim(keys []string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	for len(d.order) > 0 && (len(d.order) > d.max || now.Sub(d.seen[d.order[0]]) > d.ttl) {
		delete(d.seen, d.order[0])
		d.order = d.order[1:]
	}
	for _, k := range keys {
		if _, ok := d.seen[k]; ok && !emptyKey(k) {
			return false
		}
	}
	for _, k := range keys {
		if emptyKey(k) {
			continue
		}
		if _, ok := d.seen[k]; !ok {
			d.order = append(d.order, k)
		}
		d.seen[k] = now
	}
	return true
}

func (d *dedup) release(keys []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, k := range keys {
		delete(d.seen, k)
	}
}

func emptyKey(k string) bool { return strings.HasSuffix(k, ":") }
