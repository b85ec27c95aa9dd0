package slack

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/heed-dev/heed/bot"
)

// Reading back what was typed while heed could not hear Slack.
//
// Slack delivers an event a few times, then gives up: a message typed
// while heed was stopped, or while its socket was down, may never arrive.
// After every gap (start, a new socket, a silence in events mode) the
// adapter reads each review channel's history since the last message it
// handled (the channel's read-back mark, kept in the state store), and the
// threads with new replies among its messages and open cards, and hands
// the commands found to the engine in order, on the same lanes as live
// events. Until those and everything queued before them are handled, the
// adapter says it is deaf: nothing is published on the strength of a chat
// that has not been read.

const (
	// catchUpWait is how long a new socket's hello waits for the
	// read-back before more envelopes are taken (half of it for a signed
	// request, which Slack wants answered within 3 seconds), so that what
	// was typed during the gap comes first.
	catchUpWait = 2 * time.Second
	// eventsGap is the silence after which, in events mode, Slack may
	// have given up on deliveries: the next request reads back first.
	eventsGap = time.Minute
	// historyPage is how many messages one history or replies call asks for.
	historyPage = 200
	// maxOlderPages bounds the pages read before the mark, looking for
	// the threads of older open cards.
	maxOlderPages = 25
)

// catchState counts the read-backs asked for and those done.
type catchState struct {
	mu      sync.Mutex
	asked   uint64
	done    uint64
	err     string // why the read-back fails, while it does
	changed chan struct{}
	wake    chan struct{}
}

func (c *catchState) init() {
	c.changed = make(chan struct{})
	c.wake = make(chan struct{}, 1)
}

func (c *catchState) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Deaf implements bot.Hearing: the chat cannot be heard from the moment
// its socket drops, after every gap until what was typed meanwhile has
// been read back and handled, and on start until every open card's
// reactions were read back (reconcile.go).
func (a *Adapter) Deaf() string {
	if at := a.dropAt.Load(); at != 0 {
		return fmt.Sprintf("the %s chat has not been heard from since its connection dropped at %s",
			a.name, time.Unix(0, at).UTC().Format("15:04:05 UTC"))
	}
	if why := a.catchingUp(); why != "" {
		return why
	}
	return a.recon.deaf(a.name)
}

// catchingUp says why the chat is deaf while a read-back is under way.
func (a *Adapter) catchingUp() string {
	a.catch.mu.Lock()
	defer a.catch.mu.Unlock()
	if a.catch.asked == a.catch.done {
		return ""
	}
	why := fmt.Sprintf("the %s chat is reading back what was typed while heed could not hear it", a.name)
	if a.catch.err != "" {
		why += " (" + a.catch.err + ")"
	}
	return why
}

// lose records that the live socket is gone: deaf until the next hello.
func (a *Adapter) lose() {
	if a.liveConn.Swap(nil) != nil {
		a.dropAt.CompareAndSwap(0, a.now().UnixNano())
	}
}

// quietGap reports whether, in events mode, Slack has been silent for
// eventsGap: the events of that time may have been given up on.
func (a *Adapter) quietGap() bool {
	started := a.started.Load()
	if started == 0 {
		return false
	}
	last := max(a.lastHeard.Load(), started)
	return a.now().UnixNano()-last > int64(eventsGap)
}

// askCatchUp asks for a read-back and returns its number; the adapter is
// deaf until it is done.
func (a *Adapter) askCatchUp() uint64 {
	a.catch.mu.Lock()
	a.catch.asked++
	gen := a.catch.asked
	a.catch.notifyLocked()
	a.catch.mu.Unlock()
	select {
	case a.catch.wake <- struct{}{}:
	default:
	}
	return gen
}

// awaitCatchUp waits up to d for read-back gen to be done.
func (a *Adapter) awaitCatchUp(ctx context.Context, gen uint64, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		a.catch.mu.Lock()
		done, ch := a.catch.done >= gen, a.catch.changed
		a.catch.mu.Unlock()
		if done {
			return true
		}
		select {
		case <-ch:
		case <-t.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// runCatchUp does the read-backs asked for, one at a time, until ctx ends.
// One run answers every request made before it started.
func (a *Adapter) runCatchUp(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.catch.wake:
		}
		for {
			a.catch.mu.Lock()
			gen, done := a.catch.asked, a.catch.done
			a.catch.mu.Unlock()
			if gen == done {
				break
			}
			if !a.catchUp(ctx) {
				return
			}
			a.catch.mu.Lock()
			a.catch.done, a.catch.err = gen, ""
			a.catch.notifyLocked()
			a.catch.mu.Unlock()
		}
	}
}

// catchUp reads back every review channel, trying again until it can,
// then waits until both lanes have handled what was queued. It reports
// false when ctx ended first.
func (a *Adapter) catchUp(ctx context.Context) bool {
	for backoff := time.Second; ; backoff = min(2*backoff, time.Minute) {
		err := a.readBack(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return false
		}
		a.log.Warn("could not read back the review channels; publishing holds until heed can", "err", err, "in", backoff)
		a.catch.mu.Lock()
		a.catch.err = err.Error()
		a.catch.notifyLocked()
		a.catch.mu.Unlock()
		if a.sleep(ctx, backoff) != nil {
			return false
		}
	}
	return a.prioLane.wait(ctx) && a.normLane.wait(ctx)
}

// readBack reads back each review channel in turn.
func (a *Adapter) readBack(ctx context.Context) error {
	for _, ch := range a.channelIDs() {
		if err := a.readChannel(ctx, ch); err != nil {
			return fmt.Errorf("slack: reading back %s: %w", ch, err)
		}
	}
	return nil
}

func (a *Adapter) channelIDs() []string {
	ids := make([]string, 0, len(a.channels))
	for id := range a.channels {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// typed is a message read back, with the thread it was found in.
type typed struct {
	msg    slackapi.Message
	thread string
}

// readChannel queues the commands typed in ch since its mark, oldest
// first. On the first start there is no mark: it is set to the newest
// message, and nothing older is read.
func (a *Adapter) readChannel(ctx context.Context, ch string) error {
	mark := a.marks.get(ch)
	if mark == "" {
		newest, err := a.newestTS(ctx, ch)
		if err != nil {
			return err
		}
		if newest == "" {
			newest = slackTS(a.now())
		}
		if a.marks.setFirst(ch, newest) {
			a.saveMark(ctx, ch)
		}
		return nil
	}
	from := mark
	if o := a.cards.oldest(ch); o != "" && tsBefore(o, from) {
		from = o
	}
	var found []typed
	var threads []string
	newest, cursor, older := mark, "", 0
	for {
		res, err := a.history(ctx, ch, from, cursor)
		if err != nil {
			return err
		}
		for _, m := range res.Messages {
			if tsBefore(mark, m.Timestamp) {
				found = append(found, typed{msg: m})
				newest = tsMax(newest, m.Timestamp)
			}
			if m.LatestReply != "" && tsBefore(mark, m.LatestReply) {
				threads = append(threads, m.Timestamp)
			}
		}
		if n := len(res.Messages); n > 0 && !tsBefore(mark, res.Messages[n-1].Timestamp) {
			older++
		}
		cursor = res.ResponseMetaData.NextCursor
		if !res.HasMore || cursor == "" {
			break
		}
		if older >= maxOlderPages {
			a.log.Warn("reading back: stopped looking for older threads", "channel", ch, "pages", older)
			break
		}
	}
	for _, th := range threads {
		replies, err := a.replies(ctx, ch, th, mark)
		if err != nil {
			return err
		}
		for _, m := range replies {
			if m.Timestamp != th && tsBefore(mark, m.Timestamp) {
				found = append(found, typed{msg: m, thread: th})
				newest = tsMax(newest, m.Timestamp)
			}
		}
	}
	slices.SortStableFunc(found, func(x, y typed) int { return tsCompare(x.msg.Timestamp, y.msg.Timestamp) })
	n := 0
	for i, t := range found {
		if i > 0 && found[i-1].msg.Timestamp == t.msg.Timestamp {
			continue // a reply broadcast to the channel is in both
		}
		in, ok := a.fromHistory(ch, t)
		if !ok || !a.seen.claim([]string{messageID(ch, in.ts)}) {
			continue
		}
		a.pend(in)
		if in.brake {
			a.prio.push(in)
		} else {
			select {
			case a.queue <- in:
			case <-ctx.Done():
				a.unpend(in)
				return ctx.Err()
			}
		}
		n++
	}
	if n > 0 {
		a.log.Info("read back commands typed while heed could not hear the channel", "channel", ch, "count", n, "since", mark)
	}
	// The rest of what was read needs nothing: the mark moves past it
	// once the messages queued before it are handled.
	if a.marks.complete(ch, newest, false) {
		a.saveMark(ctx, ch)
	}
	return nil
}

// fromHistory translates a message read back into an event, for commands
// from people only.
func (a *Adapter) fromHistory(ch string, t typed) (inbound, bool) {
	m := t.msg
	switch m.SubType {
	case "", "thread_broadcast":
	default:
		return inbound{}, false // bots, edits, joins
	}
	me := a.knownSelf()
	if m.User == "" || m.BotID != "" || (me != nil && m.User == me.UserID) {
		return inbound{}, false
	}
	text := a.stripMention(unescape(m.Text))
	if _, isCmd, _ := bot.ParseCommand(text, nil); !isCmd {
		return inbound{}, false
	}
	ev := bot.Event{ID: messageID(ch, m.Timestamp), Kind: bot.Message, Adapter: a.name, Room: ch, User: m.User,
		Text: text, At: tsTime(m.Timestamp)}
	switch {
	case t.thread != "":
		ev.Card = bot.MessageRef(t.thread)
	case m.ThreadTimestamp != "" && m.ThreadTimestamp != m.Timestamp:
		ev.Card = bot.MessageRef(m.ThreadTimestamp)
	}
	return inbound{ev: ev, ts: m.Timestamp, brake: isBrake(text)}, true
}

func (a *Adapter) history(ctx context.Context, ch, oldest, cursor string) (*slackapi.GetConversationHistoryResponse, error) {
	var res *slackapi.GetConversationHistoryResponse
	err := a.api.call(ctx, "conversations.history", func(ctx context.Context) (err error) {
		res, err = a.api.c.GetConversationHistoryContext(ctx, &slackapi.GetConversationHistoryParameters{
			ChannelID: ch, Oldest: oldest, Inclusive: true, Limit: historyPage, Cursor: cursor})
		return err
	})
	return res, err
}

func (a *Adapter) newestTS(ctx context.Context, ch string) (string, error) {
	var res *slackapi.GetConversationHistoryResponse
	err := a.api.call(ctx, "conversations.history", func(ctx context.Context) (err error) {
		res, err = a.api.c.GetConversationHistoryContext(ctx, &slackapi.GetConversationHistoryParameters{ChannelID: ch, Limit: 1})
		return err
	})
	if err != nil || len(res.Messages) == 0 {
		return "", err
	}
	return res.Messages[0].Timestamp, nil
}

// replies reads the replies in the thread of th after oldest; a thread
// whose parent is gone has none.
func (a *Adapter) replies(ctx context.Context, ch, th, oldest string) ([]slackapi.Message, error) {
	var out []slackapi.Message
	cursor := ""
	for {
		var msgs []slackapi.Message
		var more bool
		err := a.api.call(ctx, "conversations.replies", func(ctx context.Context) (err error) {
			msgs, more, cursor, err = a.api.c.GetConversationRepliesContext(ctx, &slackapi.GetConversationRepliesParameters{
				ChannelID: ch, Timestamp: th, Oldest: oldest, Limit: historyPage, Cursor: cursor})
			return err
		})
		var se slackapi.SlackErrorResponse
		if errors.As(err, &se) && se.Err == "thread_not_found" {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, msgs...)
		if !more || cursor == "" {
			return out, nil
		}
	}
}

// marks holds each channel's read-back mark: every message up to it was
// handled. A message queued holds the mark before it until it is handled,
// whichever lane handles it first.
type marks struct {
	mu      sync.Mutex
	save    sync.Mutex                // orders writes to the state store
	last    map[string]string         // channel → mark
	pending map[string]map[string]int // channel → ts of messages queued → how many times
	done    map[string][]string       // channel → ts handled past the mark while older ones wait
}

func (m *marks) get(ch string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last[ch]
}

// reset forgets what was queued (a new Run) and sets the marks read from
// the state store.
func (m *marks) reset(stored map[string]string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.last == nil {
		m.last = map[string]string{}
	}
	for ch, ts := range stored {
		if ts != "" {
			m.last[ch] = ts
		}
	}
	m.pending = map[string]map[string]int{}
	m.done = map[string][]string{}
}

// setFirst sets the mark of a channel that has none.
func (m *marks) setFirst(ch, ts string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.last == nil {
		m.last = map[string]string{}
	}
	if m.last[ch] != "" {
		return false
	}
	m.last[ch] = ts
	return true
}

func (m *marks) pend(ch, ts string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pending == nil {
		m.pending = map[string]map[string]int{}
	}
	if m.pending[ch] == nil {
		m.pending[ch] = map[string]int{}
	}
	m.pending[ch][ts]++
}

func (m *marks) unpend(ch, ts string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unpendLocked(ch, ts)
}

func (m *marks) unpendLocked(ch, ts string) {
	if p := m.pending[ch]; p[ts] > 0 {
		if p[ts]--; p[ts] == 0 {
			delete(p, ts)
		}
	}
}

// complete records that the message ts was handled (queued: it was
// pended), or needs nothing, and reports whether the mark moved.
func (m *marks) complete(ch, ts string, queued bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if queued {
		m.unpendLocked(ch, ts)
	}
	if m.last == nil {
		m.last = map[string]string{}
	}
	if m.done == nil {
		m.done = map[string][]string{}
	}
	if !tsBefore(m.last[ch], ts) {
		return false
	}
	m.done[ch] = append(m.done[ch], ts)
	low := ""
	for p := range m.pending[ch] {
		if low == "" || tsBefore(p, low) {
			low = p
		}
	}
	moved := false
	keep := m.done[ch][:0]
	for _, d := range m.done[ch] {
		if low != "" && !tsBefore(d, low) {
			keep = append(keep, d)
			continue
		}
		if tsBefore(m.last[ch], d) {
			m.last[ch], moved = d, true
		}
	}
	m.done[ch] = keep
	return moved
}

// markHandled records that the message ts in ch was handled, and stores
// the channel's mark when it moved.
func (a *Adapter) markHandled(ctx context.Context, ch, ts string) {
	if a.marks.complete(ch, ts, true) {
		a.saveMark(ctx, ch)
	}
}

func (a *Adapter) saveMark(ctx context.Context, ch string) {
	if a.state == nil {
		return
	}
	a.marks.save.Lock()
	defer a.marks.save.Unlock()
	if err := a.state.SetKV(context.WithoutCancel(ctx), a.key("read_mark", ch), a.marks.get(ch)); err != nil {
		a.log.Warn("could not store how far the channel was read; it is read back from further on the next start", "channel", ch, "err", err)
	}
}

func (a *Adapter) key(what, ch string) string { return "slack/" + a.name + "/" + what + "/" + ch }

// loadState reads each review channel's mark and open cards from the
// state store, trying again until it can. It fails only when ctx ends.
func (a *Adapter) loadState(ctx context.Context) error {
	for backoff := time.Second; ; backoff = min(2*backoff, time.Minute) {
		marks, cards, err := a.readState(ctx)
		if err == nil {
			a.marks.reset(marks)
			a.cards.reset(cards)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		a.log.Warn("cannot read the adapter's state; trying again", "err", err, "in", backoff)
		if err := a.sleep(ctx, backoff); err != nil {
			return err
		}
	}
}

func (a *Adapter) readState(ctx context.Context) (marks map[string]string, cards map[string][]string, err error) {
	marks, cards = map[string]string{}, map[string][]string{}
	if a.state == nil {
		return marks, cards, nil
	}
	for _, ch := range a.channelIDs() {
		if marks[ch], err = a.state.GetKV(ctx, a.key("read_mark", ch)); err != nil {
			return nil, nil, err
		}
		v, err := a.state.GetKV(ctx, a.key("open_cards", ch))
		if err != nil {
			return nil, nil, err
		}
		cards[ch] = strings.Fields(v)
	}
	return marks, cards, nil
}

// cardSet holds each review channel's open cards (their ts), so that the
// read-back finds new replies in their threads however old they are.
type cardSet struct {
	mu   sync.Mutex
	save sync.Mutex // orders writes to the state store
	open map[string]map[string]bool
}

func (c *cardSet) reset(stored map[string][]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open == nil {
		c.open = map[string]map[string]bool{}
	}
	for ch, list := range stored {
		if len(list) == 0 {
			continue
		}
		c.open[ch] = map[string]bool{}
		for _, ts := range list {
			c.open[ch][ts] = true
		}
	}
}

// oldest is the ts of the channel's oldest open card, or "".
func (c *cardSet) oldest(ch string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := ""
	for ts := range c.open[ch] {
		if o == "" || tsBefore(ts, o) {
			o = ts
		}
	}
	return o
}

func (c *cardSet) list(ch string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.open[ch]))
	for ts := range c.open[ch] {
		out = append(out, ts)
	}
	slices.SortFunc(out, tsCompare)
	return out
}

// noteCard records whether the card ts in room is open, and stores the
// channel's open cards when that changed.
func (a *Adapter) noteCard(ctx context.Context, room, ts string, open bool) {
	if ts == "" || !a.isReviewChannel(room) {
		return
	}
	a.cards.mu.Lock()
	if a.cards.open == nil {
		a.cards.open = map[string]map[string]bool{}
	}
	set := a.cards.open[room]
	if set == nil {
		set = map[string]bool{}
		a.cards.open[room] = set
	}
	if set[ts] == open {
		a.cards.mu.Unlock()
		return
	}
	if open {
		set[ts] = true
	} else {
		delete(set, ts)
	}
	a.cards.mu.Unlock()
	if a.state == nil {
		return
	}
	a.cards.save.Lock()
	defer a.cards.save.Unlock()
	if err := a.state.SetKV(context.WithoutCancel(ctx), a.key("open_cards", room), strings.Join(a.cards.list(room), " ")); err != nil {
		a.log.Warn("could not store the channel's open cards", "channel", room, "err", err)
	}
}

// slackTS writes t as a Slack ts.
func slackTS(t time.Time) string {
	return fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000)
}

// tsCompare orders two Slack ts values ("1795219200.000100"); "" comes
// before any.
func tsCompare(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "":
		return -1
	case b == "":
		return 1
	}
	as, af, _ := strings.Cut(a, ".")
	bs, bf, _ := strings.Cut(b, ".")
	if len(as) != len(bs) {
		return len(as) - len(bs)
	}
	if c := strings.Compare(as, bs); c != 0 {
		return c
	}
	for len(af) < len(bf) {
		af += "0"
	}
	for len(bf) < len(af) {
		bf += "0"
	}
	return strings.Compare(af, bf)
}

func tsBefore(a, b string) bool { return tsCompare(a, b) < 0 }

func tsMax(a, b string) string {
	if tsBefore(a, b) {
		return b
	}
	return a
}
