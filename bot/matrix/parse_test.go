package matrix

import (
	"encoding/json"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
)

const testRoom = id.RoomID("!review:heed.test")

func testTranslator() *translator {
	return &translator{adapter: "matrix", self: "@heed:heed.test", displayName: "Heed Bot",
		bots: map[string]bool{"@feeds:heed.test": true}}
}

func loadEvent(t *testing.T, name string) *event.Event {
	t.Helper()
	var evt event.Event
	if err := json.Unmarshal(readFixture(t, name), &evt); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &evt
}

func translateFixture(t *testing.T, name string) (bot.Event, bool) {
	t.Helper()
	return testTranslator().translate(testRoom, loadEvent(t, name))
}

// The adapter passes reaction keys through untouched; normalising is the
// engine's. Each key must arrive byte for byte, and must normalise to the
// emoji a policy names.
func TestReactionKeysRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		file, key, normal string
	}{
		{"reaction-check.json", "\u2705", "✅"},
		{"reaction-check-fe0f.json", "\u2705\ufe0f", "✅"},
		{"reaction-thumbs-skin.json", "\U0001F44D\U0001F3FD", "👍"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			ev, ok := translateFixture(t, tc.file)
			if !ok {
				t.Fatal("reaction not translated")
			}
			if ev.Emoji != tc.key {
				t.Errorf("Emoji = %+q, want exactly %+q", ev.Emoji, tc.key)
			}
			if n, ok := approvals.NormalizeEmoji(ev.Emoji); !ok || n != tc.normal {
				t.Errorf("NormalizeEmoji(%+q) = %+q, %v; want %+q", ev.Emoji, n, ok, tc.normal)
			}
		})
	}
}

func TestReaction(t *testing.T) {
	ev, ok := translateFixture(t, "reaction-check.json")
	if !ok {
		t.Fatal("not translated")
	}
	want := bot.Event{
		ID: "$react-check:heed.test", Kind: bot.Reaction, Adapter: "matrix", Room: string(testRoom),
		User: "@alice:heed.test", UserName: "@alice:heed.test", Card: "$card1:heed.test", Emoji: "✅",
		ReactionID: "$react-check:heed.test", At: time.UnixMilli(1735722000000),
	}
	if ev != want {
		t.Errorf("got  %+v\nwant %+v", ev, want)
	}
}

func TestReactionFromTheBotItself(t *testing.T) {
	ev, ok := translateFixture(t, "reaction-by-bot.json")
	if !ok || !ev.FromSelf || ev.FromBot {
		t.Errorf("FromSelf=%v FromBot=%v ok=%v; want the bot's own reaction marked FromSelf", ev.FromSelf, ev.FromBot, ok)
	}
}

func TestRedactionTakesAReactionBack(t *testing.T) {
	for _, tc := range []struct{ file, redacts string }{
		{"redaction.json", "$react-check:heed.test"},          // room v11: content.redacts
		{"redaction-v10.json", "$react-check-fe0f:heed.test"}, // room v1–10: top-level redacts
	} {
		ev, ok := translateFixture(t, tc.file)
		if !ok {
			t.Fatalf("%s: not translated", tc.file)
		}
		if ev.Kind != bot.Unreaction || ev.ReactionID != tc.redacts || ev.Card != "" || ev.Emoji != "" {
			t.Errorf("%s: got %+v, want an Unreaction naming only ReactionID %s", tc.file, ev, tc.redacts)
		}
	}
}

func TestMessages(t *testing.T) {
	for _, tc := range []struct {
		file    string
		ok      bool
		text    string
		card    bot.MessageRef
		fromBot bool
		replyTo bot.MessageRef
	}{
		{file: "message-pause.json", ok: true, text: "pause breaking news, hold everything"},
		// A thread reply to a card, with a mention pill: the thread root is
		// the card, and its m.in_reply_to is the thread's fallback, no reply.
		{file: "message-thread.json", ok: true, text: "delay 1 2h", card: "$card1:heed.test"},
		// An old-style reply: the quoted fallback and the mention go; the
		// message answered is kept.
		{file: "message-reply-fallback.json", ok: true, text: "status", replyTo: "$card1:heed.test"},
		// Notices are what bots send: never a command.
		{file: "message-notice.json", ok: true, text: "pause is a word in this RSS headline", fromBot: true},
		// An edit is not a new message.
		{file: "message-edit.json", ok: false},
		// State is not a message.
		{file: "power-levels.json", ok: false},
	} {
		t.Run(tc.file, func(t *testing.T) {
			ev, ok := translateFixture(t, tc.file)
			if ok != tc.ok {
				t.Fatalf("translated = %v, want %v (%+v)", ok, tc.ok, ev)
			}
			if !ok {
				return
			}
			if ev.Kind != bot.Message || ev.Text != tc.text || ev.Card != tc.card || ev.FromBot != tc.fromBot || ev.ReplyTo != tc.replyTo {
				t.Errorf("got Kind=%s Text=%q Card=%q FromBot=%v ReplyTo=%q; want Message %q card %q fromBot %v replyTo %q",
					ev.Kind, ev.Text, ev.Card, ev.FromBot, ev.ReplyTo, tc.text, tc.card, tc.fromBot, tc.replyTo)
			}
			if text, ok := messageText(loadEvent(t, tc.file)); ok && tc.file == "message-reply-fallback.json" && text != "@heed:heed.test: status" {
				t.Errorf("messageText = %q, want the reply without its quote", text)
			}
		})
	}
}

func TestConfiguredBotsAreMarked(t *testing.T) {
	evt := loadEvent(t, "reaction-check.json")
	evt.Sender = "@feeds:heed.test"
	ev, _ := testTranslator().translate(testRoom, evt)
	if !ev.FromBot || ev.FromSelf {
		t.Errorf("FromBot=%v FromSelf=%v for a configured bot", ev.FromBot, ev.FromSelf)
	}
}

func TestStripMention(t *testing.T) {
	tr := testTranslator()
	for in, want := range map[string]string{
		"@heed:heed.test: pause":  "pause",
		"@heed:heed.test pause":   "pause",
		"heed: pause":             "pause",
		"Heed, pause now":         "pause now",
		"@heed pause":             "pause",
		"Heed Bot: resume":        "resume",
		"heedless pause":          "heedless pause",
		"pause":                   "pause",
		"@heed:heed.test":         "",
		"@heed:other.test: pause": "@heed:other.test: pause",
		"heed:pause":              "heed:pause",
	} {
		if got := tr.stripMention(in); got != want {
			t.Errorf("stripMention(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRelationsSkipRedactedAndOtherCards(t *testing.T) {
	var page struct {
		Chunk []*event.Event `json:"chunk"`
	}
	if err := json.Unmarshal(readFixture(t, "relations-page2.json"), &page); err != nil {
		t.Fatal(err)
	}
	tr := testTranslator()
	var got []string
	for _, evt := range page.Chunk {
		if ev, ok := tr.reactionEvent(testRoom, "$card1:heed.test", evt); ok {
			got = append(got, ev.User+" "+ev.Emoji)
		}
		if _, ok := tr.reactionEvent(testRoom, "$another-card:heed.test", evt); ok {
			t.Errorf("a reaction to $card1 was returned for another card")
		}
	}
	if len(got) != 1 || got[0] != "@alice:heed.test ✅\ufe0f" {
		t.Errorf("got %q, want only alice's live reaction (mallory's is redacted)", got)
	}
}
