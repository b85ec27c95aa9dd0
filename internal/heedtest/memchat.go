package heedtest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
)

// MemChat is a stateful in-memory chat with history: cards, their current
// reactions, replies. While Down, people still react (the history changes)
// but heed hears nothing, as when heed is stopped; Reconcile then reads the
// history back.
type MemChat struct {
	mu        sync.Mutex
	now       func() time.Time
	handler   bot.Handler
	cards     map[string]*MemCard // by ref
	order     []string
	Replies   []string // every reply and receipt, in order
	down      bool
	alive     time.Time
	deaf      bool
	seq       int
	Bots      map[string]bool // user ids that are bots
	SelfID    string
	cardByNum map[int64]string
	rosters   map[string]approvals.Roster // room → what the chat says about approvers
	calls     ChatCalls
	// render runs one render pass after each event, as the kick that
	// HandleEvent gives the engine's loop does in a running heed.
	render func() error
	// OnReply, when set, is called with each reply as heed sends it.
	OnReply func(text string)
	// refuseReplies makes Reply fail, as a chat that is down does.
	refuseReplies bool
	// messages are what people said, by ref, for MessageText.
	messages map[string]string
}

// RefuseReplies makes every reply fail (true) or go through (false).
func (m *MemChat) RefuseReplies(refuse bool) {
	m.mu.Lock()
	m.refuseReplies = refuse
	m.mu.Unlock()
}

func (m *MemChat) handle(h bot.Handler, ev bot.Event) error {
	if err := h.HandleEvent(context.Background(), ev); err != nil {
		return err
	}
	m.mu.Lock()
	render := m.render
	m.mu.Unlock()
	if render != nil {
		return render()
	}
	return nil
}

// ChatCalls counts the chat API calls heed made.
type ChatCalls struct{ Posts, Edits, Replies int }

// Calls returns the chat API calls made so far.
func (m *MemChat) Calls() ChatCalls {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

// MemCard is a card as the chat holds it.
type MemCard struct {
	Ref       string
	Card      bot.Card
	Edits     int
	Reactions []MemReaction
}

// MemReaction is one reaction on a card.
type MemReaction struct {
	ID, User, Emoji string
}

var (
	_ bot.Adapter        = (*MemChat)(nil)
	_ bot.Reconciler     = (*MemChat)(nil)
	_ bot.ApproverSource = (*MemChat)(nil)
	_ bot.MessageReader  = (*MemChat)(nil)
)

// SetRoster sets who the chat says may approve in room, as Slack user
// groups or Matrix power levels would; the engine records it before the
// next event it handles.
func (m *MemChat) SetRoster(room string, r approvals.Roster) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rosters == nil {
		m.rosters = map[string]approvals.Roster{}
	}
	r.ReadAt = m.now()
	m.rosters[room] = r
}

// Roster implements bot.ApproverSource: false until SetRoster.
func (m *MemChat) Roster(room string) (approvals.Roster, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.rosters[room]
	return r, ok
}

// NewMemChat returns an empty chat.
func NewMemChat(now func() time.Time) *MemChat {
	return &MemChat{now: now, cards: map[string]*MemCard{}, cardByNum: map[int64]string{}, Bots: map[string]bool{}, SelfID: "heed-bot"}
}

// Name is "mem".
func (m *MemChat) Name() string { return "mem" }

// Run is not needed: tests deliver events through the methods below.
func (m *MemChat) Run(ctx context.Context, h bot.Handler) error {
	m.mu.Lock()
	m.handler = h
	m.mu.Unlock()
	<-ctx.Done()
	return nil
}

// Alive is the clock's time unless the chat was made deaf.
func (m *MemChat) Alive() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.deaf {
		return m.alive
	}
	return m.now()
}

// SetDeaf makes the chat stop (true) or start (false) showing signs of life.
func (m *MemChat) SetDeaf(deaf bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if deaf && !m.deaf {
		m.alive = m.now()
	}
	m.deaf = deaf
}

// SetDown makes heed stop (true) or start (false) hearing events, as when
// the bot is not running. History keeps changing.
func (m *MemChat) SetDown(down bool) {
	m.mu.Lock()
	m.down = down
	m.mu.Unlock()
}

// PostCard stores a card.
func (m *MemChat) PostCard(ctx context.Context, room string, c bot.Card) (bot.MessageRef, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls.Posts++
	m.seq++
	ref := "msg-" + strconv.Itoa(m.seq)
	m.cards[ref] = &MemCard{Ref: ref, Card: c}
	m.order = append(m.order, ref)
	m.cardByNum[c.Number] = ref
	return bot.MessageRef(ref), nil
}

// UpdateCard edits a card in place.
func (m *MemChat) UpdateCard(ctx context.Context, room string, ref bot.MessageRef, c bot.Card) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	mc, ok := m.cards[string(ref)]
	if !ok {
		return fmt.Errorf("no message %s", ref)
	}
	m.calls.Edits++
	mc.Card = c
	mc.Edits++
	return nil
}

// Reply records a reply.
func (m *MemChat) Reply(ctx context.Context, room string, thread bot.MessageRef, text string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.refuseReplies {
		return errors.New("mem: the chat refused the reply")
	}
	m.calls.Replies++
	m.Replies = append(m.Replies, text)
	if m.OnReply != nil {
		m.OnReply(text)
	}
	return nil
}

// CardReactions returns a card's current reactions.
func (m *MemChat) CardReactions(ctx context.Context, room string, ref bot.MessageRef) ([]bot.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mc, ok := m.cards[string(ref)]
	if !ok {
		return nil, fmt.Errorf("no message %s", ref)
	}
	var out []bot.Event
	for _, r := range mc.Reactions {
		out = append(out, m.event(bot.Reaction, r.User, ref, r.Emoji, r.ID))
	}
	return out, nil
}

func (m *MemChat) event(kind bot.EventKind, user string, ref bot.MessageRef, emoji, rid string) bot.Event {
	m.seq++
	return bot.Event{
		ID: "ev-" + strconv.Itoa(m.seq), Kind: kind, Adapter: m.Name(), Room: "review",
		User: user, UserName: "@" + user, FromBot: m.Bots[user], FromSelf: user == m.SelfID,
		Card: ref, Emoji: emoji, ReactionID: rid, At: m.now(),
	}
}

// Card returns the chat's copy of occurrence n's card.
func (m *MemChat) Card(n int64) (MemCard, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ref, ok := m.cardByNum[n]
	if !ok {
		return MemCard{}, false
	}
	return *m.cards[ref], true
}

// CardText is the card's plain text, or "" when there is no card.
func (m *MemChat) CardText(n int64) string {
	c, ok := m.Card(n)
	if !ok {
		return ""
	}
	return c.Card.PlainText()
}

// CardTextOf is the plain text of the message ref, or "".
func (m *MemChat) CardTextOf(ref string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.cards[ref]; ok {
		return c.Card.PlainText()
	}
	return ""
}

// LastReply is the last reply, or "".
func (m *MemChat) LastReply() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.Replies) == 0 {
		return ""
	}
	return m.Replies[len(m.Replies)-1]
}

// React adds user's reaction to occurrence n's card and, unless the chat
// is down, delivers it.
func (m *MemChat) React(user string, n int64, emoji string) error {
	return m.react(user, n, emoji, true)
}

// Unreact takes user's reaction back.
func (m *MemChat) Unreact(user string, n int64, emoji string) error {
	return m.react(user, n, emoji, false)
}

func (m *MemChat) react(user string, n int64, emoji string, add bool) error {
	m.mu.Lock()
	ref, ok := m.cardByNum[n]
	if !ok {
		m.mu.Unlock()
		return fmt.Errorf("no card #%d in the chat", n)
	}
	mc := m.cards[ref]
	kind := bot.Reaction
	var rid string
	if add {
		m.seq++
		rid = "r-" + strconv.Itoa(m.seq)
		mc.Reactions = append(mc.Reactions, MemReaction{ID: rid, User: user, Emoji: emoji})
	} else {
		kind = bot.Unreaction
		for i, r := range mc.Reactions {
			if r.User == user && r.Emoji == emoji {
				rid = r.ID
				mc.Reactions = append(mc.Reactions[:i], mc.Reactions[i+1:]...)
				break
			}
		}
	}
	ev := m.event(kind, user, bot.MessageRef(ref), emoji, rid)
	h, down := m.handler, m.down
	m.mu.Unlock()
	if down || h == nil {
		return nil
	}
	return m.handle(h, ev)
}

// Say delivers a message from user into the review room.
func (m *MemChat) Say(user, text string) error {
	_, err := m.Message(user, text, "")
	return err
}

// Message delivers a message from user into the review room, as a reply
// to message replyTo when it is set, and returns its ref.
func (m *MemChat) Message(user, text string, replyTo bot.MessageRef) (bot.MessageRef, error) {
	m.mu.Lock()
	ev := m.event(bot.Message, user, "", "", "")
	ev.Text, ev.ReplyTo = text, replyTo
	if m.messages == nil {
		m.messages = map[string]string{}
	}
	m.messages[ev.ID] = text
	h, down := m.handler, m.down
	m.mu.Unlock()
	if down || h == nil {
		return bot.MessageRef(ev.ID), nil
	}
	return bot.MessageRef(ev.ID), m.handle(h, ev)
}

// MessageText implements bot.MessageReader: the text of a message people
// said.
func (m *MemChat) MessageText(ctx context.Context, room string, ref bot.MessageRef) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	text, ok := m.messages[string(ref)]
	if !ok {
		return "", fmt.Errorf("no message %s", ref)
	}
	return text, nil
}

// Deliver hands a raw event to heed (for replays and forged events).
func (m *MemChat) Deliver(ev bot.Event) error {
	m.mu.Lock()
	h := m.handler
	m.mu.Unlock()
	return m.handle(h, ev)
}

// RepliesContaining counts replies that contain sub.
func (m *MemChat) RepliesContaining(sub string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, r := range m.Replies {
		if strings.Contains(r, sub) {
			n++
		}
	}
	return n
}
