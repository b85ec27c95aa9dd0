package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"

	slackapi "github.com/slack-go/slack"

	"github.com/heed-dev/heed/bot"
)

// Approve and Reject buttons are the same decisions as ✅ and ❌
// reactions, for people on desktop. A button press toggles, like clicking
// a reaction pill: the first press makes the decision, the second takes it
// back. Slack keeps no record of who pressed a button, so each press is
// recorded as a short reply in the card's thread carrying message metadata
// (event_type heed_button). That record survives restarts: reconciliation
// reads it back next to reactions.get, so a button decision counts exactly
// once like a reaction does. The engine treats a button decision and the
// same emoji as a reaction by the same person as one decision; taking back
// either ends both.

const buttonEvent = "heed_button"

type buttonKey struct{ user, emoji string }

// settleClick turns a button press into a decision or its withdrawal and
// records it in the card's thread.
func (a *Adapter) settleClick(ctx context.Context, ev bot.Event, responseURL string) ([]bot.Event, error) {
	state, err := a.buttonState(ctx, ev.Room, ev.Card)
	if err != nil {
		return nil, err
	}
	if !state[buttonKey{ev.User, ev.Emoji}] {
		if err := a.recordButton(ctx, ev, true, fmt.Sprintf("%s %s pressed %s (press it again to take it back)",
			emojiText(ev.Emoji), ev.UserName, buttonName(ev.Emoji))); err != nil {
			return nil, err
		}
		return []bot.Event{ev}, nil
	}
	if err := a.recordButton(ctx, ev, false, fmt.Sprintf("%s took back %s %s",
		ev.UserName, emojiText(ev.Emoji), buttonName(ev.Emoji))); err != nil {
		return nil, err
	}
	// If the same person also has that reaction on the card, the reaction
	// still stands and so does the decision.
	still, err := a.hasReaction(ctx, ev)
	if err != nil {
		return nil, err
	}
	if still {
		a.respond(ctx, responseURL, fmt.Sprintf("Your %s reaction on this card still counts; remove the reaction to take the decision back.", emojiText(ev.Emoji)))
		return nil, nil
	}
	ev.Kind = bot.Unreaction
	return []bot.Event{ev}, nil
}

// endButton records that a button decision ended because its reaction was
// taken back, when there was one.
func (a *Adapter) endButton(ctx context.Context, ev bot.Event, why string) error {
	state, err := a.buttonState(ctx, ev.Room, ev.Card)
	if err != nil || !state[buttonKey{ev.User, ev.Emoji}] {
		return err
	}
	return a.recordButton(ctx, ev, false, ev.UserName+" "+why)
}

func (a *Adapter) recordButton(ctx context.Context, ev bot.Event, on bool, text string) error {
	return a.reply(ctx, ev.Room, ev.Card, text, &slackapi.SlackMetadata{EventType: buttonEvent,
		EventPayload: map[string]any{"user": ev.User, "emoji": ev.Emoji, "on": on}})
}

// buttonState folds the button records in a card's thread: which
// (user, emoji) button decisions stand now.
func (a *Adapter) buttonState(ctx context.Context, room string, ref bot.MessageRef) (map[buttonKey]bool, error) {
	me, err := a.self(ctx)
	if err != nil {
		return nil, err
	}
	state := map[buttonKey]bool{}
	cursor := ""
	for {
		var msgs []slackapi.Message
		var more bool
		err := a.api.call(ctx, "conversations.replies", func(ctx context.Context) (err error) {
			msgs, more, cursor, err = a.api.c.GetConversationRepliesContext(ctx, &slackapi.GetConversationRepliesParameters{
				ChannelID: room, Timestamp: string(ref), Cursor: cursor, Limit: 200, IncludeAllMetadata: true})
			return err
		})
		if slackError(err, "thread_not_found") {
			return state, nil // the card is gone, and its thread with it
		}
		if err != nil {
			return nil, fmt.Errorf("slack: reading the thread of %s: %w", ref, err)
		}
		for _, m := range msgs {
			md := m.Metadata
			if m.User != me.UserID || md.EventType != buttonEvent {
				continue
			}
			u, _ := md.EventPayload["user"].(string)
			e, _ := md.EventPayload["emoji"].(string)
			on, _ := md.EventPayload["on"].(bool)
			state[buttonKey{u, e}] = on
		}
		if !more || cursor == "" {
			return state, nil
		}
	}
}

func (a *Adapter) hasReaction(ctx context.Context, ev bot.Event) (bool, error) {
	item, err := a.reactions(ctx, ev.Room, ev.Card)
	if err != nil {
		return false, err
	}
	for _, r := range item.Reactions {
		if r.Name == ev.Emoji && slices.Contains(r.Users, ev.User) {
			return true, nil
		}
	}
	return false, nil
}

func (a *Adapter) reactions(ctx context.Context, room string, ref bot.MessageRef) (slackapi.ReactedItem, error) {
	var item slackapi.ReactedItem
	err := a.api.call(ctx, "reactions.get", func(ctx context.Context) (err error) {
		item, err = a.api.c.GetReactionsContext(ctx, slackapi.NewRefToMessage(room, string(ref)),
			slackapi.GetReactionsParameters{Full: true})
		return err
	})
	if err != nil {
		return item, fmt.Errorf("slack: reactions.get %s in %s: %w", ref, room, err)
	}
	return item, nil
}

// CardReactions reads a card's reactions (reactions.get with full=true, so
// that no user is left out) and its standing button decisions, one
// Reaction event each. A card deleted from Slack has none. A reactor
// Slack does not know (user_not_found) is named by id; any other failure
// to read the card or to name a reactor fails the whole read, so that the
// engine changes nothing of the card until it can read all of it.
func (a *Adapter) CardReactions(ctx context.Context, room string, ref bot.MessageRef) ([]bot.Event, error) {
	a.noteCard(ctx, room, string(ref), true) // the engine reads open cards
	item, err := a.reactions(ctx, room, ref)
	if slackError(err, "message_not_found") {
		a.log.Warn("a card was deleted from Slack: the decisions on it are taken back", "room", room, "card", ref)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []bot.Event
	for _, r := range item.Reactions {
		for _, u := range r.Users {
			out = append(out, bot.Event{Kind: bot.Reaction, Adapter: a.name, Room: room, User: u, Card: ref, Emoji: r.Name})
		}
	}
	state, err := a.buttonState(ctx, room, ref)
	if err != nil {
		return nil, err
	}
	for k, on := range state {
		if on {
			out = append(out, bot.Event{Kind: bot.Reaction, Adapter: a.name, Room: room, User: k.user, Card: ref,
				Emoji: k.emoji, ReactionID: buttonReactionID(room, string(ref), k.user, k.emoji)})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].User != out[j].User {
			return out[i].User < out[j].User
		}
		return out[i].Emoji < out[j].Emoji
	})
	for i := range out {
		if err := a.fillUser(ctx, &out[i], "", false); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// respond sends a private note to whoever pressed a button.
func (a *Adapter) respond(ctx context.Context, responseURL, text string) {
	if responseURL == "" {
		return
	}
	body, _ := json.Marshal(map[string]any{"response_type": "ephemeral", "replace_original": false, "text": text})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		a.log.Warn("could not answer a button press", "err", err)
		return
	}
	resp.Body.Close()
}

func emojiText(name string) string { return ":" + name + ":" }

func buttonName(emoji string) string {
	if emoji == emojiReject {
		return "Reject"
	}
	return "Approve"
}

func asSlackError(err error, se *slackapi.SlackErrorResponse) bool { return errors.As(err, se) }

// slackError reports whether err is Slack's answer code (ok false).
func slackError(err error, code string) bool {
	var se slackapi.SlackErrorResponse
	return err != nil && errors.As(err, &se) && se.Err == code
}
