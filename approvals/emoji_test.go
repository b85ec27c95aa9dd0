package approvals

import (
	"strings"
	"testing"
)

func TestNormalizeEmoji(t *testing.T) {
	cases := []struct {
		in   string
		want string
		ok   bool
	}{
		{"✅", "✅", true},
		{"white_check_mark", "✅", true},
		{":white_check_mark:", "✅", true},
		{"+1", "👍", true},
		{"thumbsup", "👍", true},
		{"+1::skin-tone-3", "👍", true},
		{"👍🏽", "👍", true},
		{"👍", "👍", true},
		{"-1", "👎", true},
		{"thumbsdown", "👎", true},
		{"x", "❌", true},
		{"❌", "❌", true},
		{"✔️", "✔", true},
		{"✔", "✔", true},
		{"❤️", "❤", true},
		{"heart", "❤", true},
		{"", "", false},
		{"not_an_emoji_name", "", false},
		{"approve", "", false},
		{"a b", "", false},
	}
	for _, c := range cases {
		got, ok := NormalizeEmoji(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("NormalizeEmoji(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestNormalizeEmojiListNamesUnknown(t *testing.T) {
	_, err := NormalizeEmojiList([]string{"✅", "aproved"})
	if err == nil || ErrorCode(err) != EINVALID {
		t.Fatalf("want invalid error, got %v", err)
	}
	if msg := ErrorMessage(err); msg == "" || !strings.Contains(msg, `"aproved"`) {
		t.Fatalf("message does not name the emoji: %q", msg)
	}
}
