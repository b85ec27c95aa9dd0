package matrix

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/heed-dev/heed/bot"
)

// translator turns Matrix room events into bot.Events. It is pure, so the
// recorded events in testdata/ exercise exactly what the live sync runs.
type translator struct {
	adapter string          // the adapter's Name()
	self    id.UserID       // the bot
	bots    map[string]bool // other bots, from the configuration
	// displayName is the bot's display name, for stripping "Heed: pause".
	displayName string
}

// translate returns the bot.Event for evt, or false when evt means nothing
// to heed (state, edits, other message types, relations other than
// annotations).
func (t *translator) translate(roomID id.RoomID, evt *event.Event) (bot.Event, bool) {
	ev := bot.Event{
		ID:       evt.ID.String(),
		Adapter:  t.adapter,
		Room:     roomID.String(),
		User:     evt.Sender.String(),
		UserName: evt.Sender.String(),
		FromSelf: evt.Sender == t.self,
		FromBot:  t.bots[evt.Sender.String()],
		At:       time.UnixMilli(evt.Timestamp),
	}
	if evt.StateKey != nil {
		return bot.Event{}, false
	}
	switch evt.Type.Type {
	case event.EventReaction.Type:
		var c event.ReactionEventContent
		if json.Unmarshal(evt.Content.VeryRaw, &c) != nil || c.RelatesTo.Type != event.RelAnnotation ||
			c.RelatesTo.EventID == "" || c.RelatesTo.Key == "" {
			return bot.Event{}, false
		}
		// The key passes through as sent; the engine normalises variation
		// selectors and skin tones.
		ev.Kind, ev.Card, ev.Emoji, ev.ReactionID = bot.Reaction, bot.MessageRef(c.RelatesTo.EventID), c.RelatesTo.Key, evt.ID.String()
		return ev, true
	case event.EventRedaction.Type:
		var c event.RedactionEventContent
		_ = json.Unmarshal(evt.Content.VeryRaw, &c)
		redacts := c.Redacts
		if redacts == "" {
			redacts = evt.Redacts // room versions 1–10 carry it at the top level
		}
		if redacts == "" {
			return bot.Event{}, false
		}
		// A redaction names only the event it removes; the engine matches it
		// to a reaction it holds and ignores it otherwise.
		ev.Kind, ev.ReactionID = bot.Unreaction, redacts.String()
		return ev, true
	case event.EventMessage.Type:
		var c event.MessageEventContent
		if json.Unmarshal(evt.Content.VeryRaw, &c) != nil {
			return bot.Event{}, false
		}
		switch c.MsgType {
		case event.MsgText:
		case event.MsgNotice:
			// Notices are what automated clients send (spec: bots must not
			// answer them), so a notice is a bot's message.
			ev.FromBot = true
		default:
			return bot.Event{}, false
		}
		rel := c.RelatesTo
		if rel != nil && rel.Type == event.RelReplace {
			// An edit of a message already handled: typing `pause` by editing
			// an old message does not run it again or twice.
			return bot.Event{}, false
		}
		text := c.Body
		if rel != nil && rel.InReplyTo != nil && !rel.IsFallingBack {
			text = stripReplyFallback(text)
			// A reply, not a thread's fallback to one: a command sent as a
			// reply may act on the message it answers.
			ev.ReplyTo = bot.MessageRef(rel.InReplyTo.EventID)
		}
		if rel != nil && rel.Type == event.RelThread && rel.EventID != "" {
			ev.Card = bot.MessageRef(rel.EventID)
		}
		ev.Kind, ev.Text = bot.Message, t.stripMention(strings.TrimSpace(text))
		return ev, true
	}
	return bot.Event{}, false
}

// messageText is the text a person wrote in a message event (m.text,
// m.notice, m.emote), without the quote of an earlier message that a reply
// carries, or false when evt is no such message.
func messageText(evt *event.Event) (string, bool) {
	if evt.Type.Type != event.EventMessage.Type {
		return "", false
	}
	var c event.MessageEventContent
	if json.Unmarshal(evt.Content.VeryRaw, &c) != nil {
		return "", false
	}
	switch c.MsgType {
	case event.MsgText, event.MsgNotice, event.MsgEmote:
	default:
		return "", false
	}
	text := c.Body
	if rel := c.RelatesTo; rel != nil && rel.InReplyTo != nil && !rel.IsFallingBack {
		text = stripReplyFallback(text)
	}
	return strings.TrimSpace(text), true
}

// stripReplyFallback removes the "> <@user> quoted" lines older clients
// put in front of a reply's body.
func stripReplyFallback(body string) string {
	lines := strings.Split(body, "\n")
	i := 0
	for i < len(lines) && strings.HasPrefix(lines[i], ">") {
		i++
	}
	if i == 0 {
		return body
	}
	return strings.TrimLeft(strings.Join(lines[i:], "\n"), "\n")
}

var mentionSep = regexp.MustCompile(`^[:,]?\s+|^[:,]$`)

// stripMention removes a leading mention of the bot: its user id, its
// localpart with or without @, or its display name, followed by ":" or ","
// and spaces, as clients write a mention pill in the plain body.
func (t *translator) stripMention(text string) string {
	candidates := []string{t.self.String()}
	if local := t.self.Localpart(); local != "" {
		candidates = append(candidates, "@"+local, local)
	}
	if t.displayName != "" {
		candidates = append(candidates, "@"+t.displayName, t.displayName)
	}
	// Longest first: "Heed Bot: pause" is the display name, not "Heed".
	sort.Slice(candidates, func(i, j int) bool { return len(candidates[i]) > len(candidates[j]) })
	for _, c := range candidates {
		if len(text) < len(c) || !strings.EqualFold(text[:len(c)], c) {
			continue
		}
		rest := text[len(c):]
		if rest == "" {
			return ""
		}
		if loc := mentionSep.FindStringIndex(rest); loc != nil {
			return strings.TrimSpace(rest[loc[1]:])
		}
	}
	return text
}

// reactionEvent turns an annotation read back through the relations API
// into the Reaction event the engine reconciles with.
func (t *translator) reactionEvent(roomID id.RoomID, card id.EventID, evt *event.Event) (bot.Event, bool) {
	if evt.Type.Type != event.EventReaction.Type || evt.Unsigned.RedactedBecause != nil {
		return bot.Event{}, false
	}
	ev, ok := t.translate(roomID, evt)
	if !ok || ev.Kind != bot.Reaction || ev.Card != bot.MessageRef(card) {
		return bot.Event{}, false
	}
	return ev, true
}
