package matrix

import (
	"slices"
	"strings"

	"maunium.net/go/mautrix/id"
)

// Owns reports whether identity is a Matrix user id (@localpart:server),
// so that the engine mentions a person by the identity Matrix knows
// (bot.Identifier).
func (a *Adapter) Owns(identity string) bool {
	local, server, ok := strings.Cut(identity, ":")
	return ok && len(local) > 1 && strings.HasPrefix(local, "@") && server != ""
}

// MembersAtLevel implements bot.LevelMembers: the users the room's power
// levels put at or above level, and its creators (who rank above every
// power level from room version 12), as last read; never heed itself.
func (a *Adapter) MembersAtLevel(room string, level int) ([]string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	pl := a.power[id.RoomID(room)]
	if pl == nil {
		return nil, false
	}
	self := string(a.tr.self)
	out := slices.DeleteFunc(slices.Clone(a.creators[id.RoomID(room)]), func(u string) bool { return u == self })
	for u, l := range pl.Users {
		if l >= level && string(u) != self && !slices.Contains(out, string(u)) {
			out = append(out, string(u))
		}
	}
	slices.Sort(out)
	return out, true
}
