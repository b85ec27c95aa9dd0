package publish

import "testing"

func TestTextWithLink(t *testing.T) {
	cases := []struct{ text, link, want string }{
		{"Release day", "", "Release day"},
		{"Release day", "https://example.org/1.2", "Release day\n\nhttps://example.org/1.2"},
		{"Notes at https://example.org/1.2 today", "https://example.org/1.2", "Notes at https://example.org/1.2 today"},
		{"  ", "https://example.org/1.2", "https://example.org/1.2"},
	}
	for _, c := range cases {
		if got := TextWithLink(c.text, c.link); got != c.want {
			t.Errorf("TextWithLink(%q, %q) = %q, want %q", c.text, c.link, got, c.want)
		}
	}
}
