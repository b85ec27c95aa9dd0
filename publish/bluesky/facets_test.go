package bluesky

import (
	"strings"
	"testing"

	"github.com/heed-dev/heed/publish"
)

// TestDetect checks facet detection against the rules of the Bluesky app's
// detectFacets (@atproto/api rich-text): what is a mention, a link and a
// tag, and where each starts and ends. Each want entry is the facet's bytes
// of the text, then its value.
func TestDetect(t *testing.T) {
	for _, c := range []struct {
		text string
		want []string
	}{
		{"no facets here", nil},
		{"@handle.com middle end", []string{"@handle.com=handle.com"}},
		{"start @handle.com end", []string{"@handle.com=handle.com"}},
		{"start middle @handle.com", []string{"@handle.com=handle.com"}},
		{"@handle.com @handle.com", []string{"@handle.com=handle.com", "@handle.com=handle.com"}},
		{"@full123-chars.test", []string{"@full123-chars.test=full123-chars.test"}},
		{"not@right", nil},
		{"@handle.notatld", nil},
		{"@bad!@#$chars", nil},
		{"parenthetical (@handle.com)", []string{"@handle.com=handle.com"}},
		{"end of sentence @alice.bsky.social.", []string{"@alice.bsky.social=alice.bsky.social"}},
		{"start https://middle.com/foo/bar?baz=bux#hash end", []string{"https://middle.com/foo/bar?baz=bux#hash=https://middle.com/foo/bar?baz=bux#hash"}},
		{"punctuation https://example.com.", []string{"https://example.com=https://example.com"}},
		{"parenthetical (https://example.com)", []string{"https://example.com=https://example.com"}},
		{"except for https://foo.com/thing_(cool)", []string{"https://foo.com/thing_(cool)=https://foo.com/thing_(cool)"}},
		{"start middle.com end", []string{"middle.com=https://middle.com"}},
		{"website.com.jpg", nil},
		{"something-cool.jpg", nil},
		{"e.g.", nil},
		{"not.. a..url ..here", nil},
		{"✨ see https://example.com", []string{"https://example.com=https://example.com"}},
		{"#a", []string{"#a=a"}},
		{"#a #b", []string{"#a=a", "#b=b"}},
		{"#1", nil},
		{"#1a", []string{"#1a=1a"}},
		{"#tag.", []string{"#tag=tag"}},
		{"body #thing\n", []string{"#thing=thing"}},
		{"#ñandú", []string{"#ñandú=ñandú"}},
		{"＃fullwidth", []string{"＃fullwidth=fullwidth"}},
		{"no#tag", nil},
		{"#\uFE0F\u20E3 keycap", nil},
		{"#" + strings.Repeat("a", 64), []string{"#" + strings.Repeat("a", 64) + "=" + strings.Repeat("a", 64)}},
		{"#" + strings.Repeat("a", 65), nil},
	} {
		var got []string
		for _, d := range detect(c.text) {
			if d.start < 0 || d.end > len(c.text) || d.start >= d.end {
				t.Fatalf("%q: facet bytes %d–%d out of range", c.text, d.start, d.end)
			}
			got = append(got, c.text[d.start:d.end]+"="+d.handle+d.uri+d.tag)
		}
		if strings.Join(got, " | ") != strings.Join(c.want, " | ") {
			t.Errorf("%q:\n got %q\nwant %q", c.text, got, c.want)
		}
	}
}

func TestPreviewAppendsLinkOnce(t *testing.T) {
	p := &Publisher{}
	for _, c := range []struct{ text, link, want string }{
		{"Hello", "", "Hello"},
		{"Hello", "https://example.com", "Hello\n\nhttps://example.com"},
		{"See https://example.com today", "https://example.com", "See https://example.com today"},
		{"", "https://example.com", "https://example.com"},
	} {
		if got := p.Preview(publish.Request{Text: c.text, Link: c.link}); got != c.want {
			t.Errorf("Preview(%q, %q) = %q, want %q", c.text, c.link, got, c.want)
		}
	}
}
