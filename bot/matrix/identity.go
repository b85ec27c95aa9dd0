package matrix

import "strings"

// Owns reports whether identity is a Matrix user id (@localpart:server),
// so that the engine mentions a person by the identity Matrix knows
// (bot.Identifier).
func (a *Adapter) Owns(identity string) bool {
	local, server, ok := strings.Cut(identity, ":")
	return ok && len(local) > 1 && strings.HasPrefix(local, "@") && server != ""
}
