package matrix

import "github.com/heed-dev/heed/bot"

var _ bot.CardLinker = (*Adapter)(nil)

// CardLink is a matrix.to link to a card: any Matrix client opens the
// event in its room.
func (a *Adapter) CardLink(room string, ref bot.MessageRef) string {
	if room == "" || ref == "" {
		return ""
	}
	return "https://matrix.to/#/" + room + "/" + string(ref)
}
