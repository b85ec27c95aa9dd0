package slackfake

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// Message is a snapshot of one message as the fake holds it.
type Message struct {
	Channel   string
	TS        string
	ThreadTS  string
	User      string
	BotID     string
	Text      string          // the text (fallback) field
	Blocks    json.RawMessage // Block Kit blocks as posted
	Metadata  *Metadata
	Reactions []Reaction
	Replies   int
	Edits     int // chat.update calls applied so far
	Deleted   bool

	f *Fake
}

func (f *Fake) snapshotLocked(m *message) Message {
	rs := make([]Reaction, len(m.reactions))
	for i, r := range m.reactions {
		rs[i] = Reaction{Name: r.Name, Count: r.Count, Users: slices.Clone(r.Users)}
	}
	var md *Metadata
	if m.metadata != nil {
		c := *m.metadata
		md = &c
	}
	return Message{Channel: m.channel, TS: m.ts, ThreadTS: m.threadTS, User: m.user, BotID: m.botID,
		Text: m.text, Blocks: slices.Clone(m.blocks), Metadata: md, Reactions: rs, Replies: m.replies,
		Edits: m.edits, Deleted: m.deleted, f: f}
}

// AllText is the text field followed by every "text" string in the blocks,
// in order, one per line: what a reader sees, for assertions.
func (m Message) AllText() string {
	parts := []string{m.Text}
	type frame struct {
		obj       bool
		expectKey bool
		key       string
	}
	var stack []*frame
	dec := json.NewDecoder(bytes.NewReader(m.Blocks))
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '}' || d == ']' {
				stack = stack[:len(stack)-1]
				continue
			}
			if top != nil && top.obj {
				top.expectKey = true
			}
			stack = append(stack, &frame{obj: d == '{', expectKey: true})
			continue
		}
		if top == nil || !top.obj {
			continue
		}
		if top.expectKey {
			top.key, _ = tok.(string)
			top.expectKey = false
			continue
		}
		if s, ok := tok.(string); ok && top.key == "text" {
			parts = append(parts, s)
		}
		top.expectKey = true
	}
	return strings.Join(parts, "\n")
}

// AssertText fails the test unless every s appears in AllText.
func (m Message) AssertText(tb testing.TB, want ...string) {
	tb.Helper()
	all := m.AllText()
	for _, s := range want {
		if !strings.Contains(all, s) {
			tb.Fatalf("slackfake: message %s lacks %q; it reads:\n%s", m.TS, s, all)
		}
	}
}

// AssertNoText fails the test if any s appears in AllText.
func (m Message) AssertNoText(tb testing.TB, unwanted ...string) {
	tb.Helper()
	all := m.AllText()
	for _, s := range unwanted {
		if strings.Contains(all, s) {
			tb.Fatalf("slackfake: message %s contains %q; it reads:\n%s", m.TS, s, all)
		}
	}
}

// Actions lists the action_ids of the message's buttons.
func (m Message) Actions() []string {
	var bs []struct {
		Elements []struct {
			ActionID string `json:"action_id"`
		} `json:"elements"`
	}
	_ = json.Unmarshal(m.Blocks, &bs)
	var out []string
	for _, b := range bs {
		for _, e := range b.Elements {
			if e.ActionID != "" {
				out = append(out, e.ActionID)
			}
		}
	}
	return out
}

// Click presses the button actionID as user.
func (m Message) Click(user, actionID string) *Delivery {
	m.f.tb.Helper()
	return m.f.Click(user, m, actionID)
}

// Refresh returns the message's current state.
func (m Message) Refresh() Message {
	got, _ := m.f.Message(m.Channel, m.TS)
	return got
}

// ExpectUpdate waits for the next chat.update of the message and returns
// the updated message.
func (m Message) ExpectUpdate(tb testing.TB) Message {
	tb.Helper()
	return m.f.ExpectUpdate(tb, m)
}

// ExpectUpdateText waits until an update of the message reads all of want.
func (m Message) ExpectUpdateText(tb testing.TB, want ...string) Message {
	tb.Helper()
	return m.f.expectMessage(tb, m.Channel, m.TS, "text "+strings.Join(want, ", "), func(got Message) bool {
		all := got.AllText()
		for _, s := range want {
			if !strings.Contains(all, s) {
				return false
			}
		}
		return got.Edits > m.Edits || m.Edits == 0 && got.Edits > 0
	})
}

// ExpectUpdate waits until msg has been updated again since the snapshot.
func (f *Fake) ExpectUpdate(tb testing.TB, msg Message) Message {
	tb.Helper()
	return f.expectMessage(tb, msg.Channel, msg.TS, "an update", func(got Message) bool {
		return got.Edits > msg.Edits
	})
}

func (f *Fake) expectMessage(tb testing.TB, ch, ts, what string, ok func(Message) bool) Message {
	tb.Helper()
	var got Message
	if !f.waitFor(func() bool {
		_, m := f.findLocked(ch, ts)
		if m == nil {
			return false
		}
		got = f.snapshotLocked(m)
		return ok(got)
	}) {
		tb.Fatalf("slackfake: waited %v for %s of message %s in %s; it reads:\n%s", f.opt.Wait, what, ts, ch, got.AllText())
	}
	return got
}

// Message returns the message ts in channel ch.
func (f *Fake) Message(ch, ts string) (Message, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, m := f.findLocked(ch, ts)
	if m == nil {
		return Message{}, false
	}
	return f.snapshotLocked(m), true
}

// Messages lists the channel's top-level messages, oldest first.
func (f *Fake) Messages(ch string) []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Message
	if c := f.channels[ch]; c != nil {
		for _, m := range c.msgs {
			if !m.deleted && m.threadTS == "" {
				out = append(out, f.snapshotLocked(m))
			}
		}
	}
	return out
}

// Thread lists the replies in the thread of ts, oldest first.
func (f *Fake) Thread(ch, ts string) []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Message
	if c := f.channels[ch]; c != nil {
		for _, m := range c.msgs {
			if !m.deleted && m.threadTS == ts {
				out = append(out, f.snapshotLocked(m))
			}
		}
	}
	return out
}

// LastMessage is the channel's newest top-level message (zero if none).
func (f *Fake) LastMessage(ch string) Message {
	ms := f.Messages(ch)
	if len(ms) == 0 {
		return Message{f: f}
	}
	return ms[len(ms)-1]
}

// ExpectMessage waits for a top-level message in ch, posted by the app,
// that satisfies ok, and returns the newest such.
func (f *Fake) ExpectMessage(tb testing.TB, ch string, ok func(Message) bool) Message {
	tb.Helper()
	return f.expectIn(tb, ch, "", ok)
}

// ExpectReply waits for a reply by the app in the thread of threadTS that
// reads all of want.
func (f *Fake) ExpectReply(tb testing.TB, ch, threadTS string, want ...string) Message {
	tb.Helper()
	return f.expectIn(tb, ch, threadTS, func(m Message) bool {
		all := m.AllText()
		for _, s := range want {
			if !strings.Contains(all, s) {
				return false
			}
		}
		return true
	})
}

func (f *Fake) expectIn(tb testing.TB, ch, threadTS string, ok func(Message) bool) Message {
	tb.Helper()
	var got Message
	found := f.waitFor(func() bool {
		c := f.channels[ch]
		if c == nil {
			return false
		}
		for i := len(c.msgs) - 1; i >= 0; i-- {
			m := c.msgs[i]
			if m.deleted || m.threadTS != threadTS || m.user != f.opt.BotUserID {
				continue
			}
			if s := f.snapshotLocked(m); ok(s) {
				got = s
				return true
			}
		}
		return false
	})
	if !found {
		var seen []string
		for _, m := range f.listIn(ch, threadTS) {
			seen = append(seen, m.AllText())
		}
		tb.Fatalf("slackfake: waited %v for a matching message in %s (thread %q); have:\n%s",
			f.opt.Wait, ch, threadTS, strings.Join(seen, "\n---\n"))
	}
	return got
}

func (f *Fake) listIn(ch, threadTS string) []Message {
	if threadTS == "" {
		return f.Messages(ch)
	}
	return f.Thread(ch, threadTS)
}
