package approvals

import (
	"strings"

	"github.com/kyokomi/emoji/v2"
	"go.mau.fi/util/variationselector"
)

// NormalizeEmoji turns an emoji as a chat sends it into one canonical
// Unicode form, so that configuration and reactions compare equal:
// Slack short names ("white_check_mark", "+1::skin-tone-3", ":thumbsup:"),
// Unicode with or without variation selectors (✅, ✔️), and skin tones
// (👍🏽) all reduce to the base emoji without selectors or modifiers.
// It reports false when s is not an emoji it knows.
func NormalizeEmoji(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", false
	}
	// Slack appends the skin tone as "::skin-tone-N"; drop it before lookup.
	if i := strings.Index(s, "::skin-tone-"); i > 0 {
		s = s[:i]
	}
	if !hasNonASCII(s) {
		name := strings.Trim(s, ":")
		u, ok := emojiByName(name)
		if !ok {
			return "", false
		}
		s = u
	}
	s = stripModifiers(variationselector.Remove(s))
	if s == "" || !hasNonASCII(s) {
		return "", false
	}
	return s, true
}

// emojiByName looks a short name up in the maintained shortcode table.
func emojiByName(name string) (string, bool) {
	if name == "" || strings.ContainsAny(name, " \t:") {
		return "", false
	}
	u, ok := emoji.CodeMap()[":"+strings.ToLower(name)+":"]
	if !ok {
		return "", false
	}
	return strings.TrimSpace(u), true
}

// stripModifiers removes Fitzpatrick skin-tone modifiers (U+1F3FB..U+1F3FF).
func stripModifiers(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 0x1F3FB && r <= 0x1F3FF {
			return -1
		}
		return r
	}, s)
}

func hasNonASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}

// NormalizeEmojiList normalizes configured emoji, naming the first unknown one.
func NormalizeEmojiList(list []string) ([]string, error) {
	out := make([]string, 0, len(list))
	for _, e := range list {
		n, ok := NormalizeEmoji(e)
		if !ok {
			return nil, Errorf(EINVALID, "unknown emoji %q: use the emoji itself (✅) or its short name (white_check_mark)", e)
		}
		out = append(out, n)
	}
	return out, nil
}
