package invariants

import (
	"time"

	"github.com/heed-dev/heed/bot"
)

func heedtestEvent(ref, user, emoji, id string) bot.Event {
	return bot.Event{ID: id, Kind: bot.Reaction, Adapter: "mem", Room: "review", User: user, UserName: "@" + user,
		Card: bot.MessageRef(ref), Emoji: emoji, ReactionID: id, At: time.Date(2030, 1, 7, 9, 1, 0, 0, time.UTC)}
}
