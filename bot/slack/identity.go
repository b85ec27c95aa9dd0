package slack

import "regexp"

// slackUser is the shape of a Slack user id: U… or W… (Enterprise Grid).
var slackUser = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)

// Owns reports whether identity is a Slack user id, so that the engine
// mentions a person by the identity Slack knows (bot.Identifier).
func (a *Adapter) Owns(identity string) bool { return slackUser.MatchString(identity) }

// slackGroup is the shape of a Slack user group id: S….
var slackGroup = regexp.MustCompile(`^S[A-Z0-9]{2,}$`)

// MentionGroup implements bot.GroupMentioner: Slack notifies a user
// group's members when it is named as <!subteam^S0123>.
func (a *Adapter) MentionGroup(group string) (string, bool) {
	if !slackGroup.MatchString(group) {
		return "", false
	}
	return "<!subteam^" + group + ">", true
}
