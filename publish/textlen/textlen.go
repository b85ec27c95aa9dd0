// Package textlen counts a post's length the way each network counts it, so
// that a review card can show the exact figure a network would refuse
// ("312/300 graphemes on Bluesky") before anyone approves the post.
//
// Every function is pure, never panics (invalid UTF-8 counts one unit per
// bad byte, as Go's range loop decodes it) and works on the text exactly as
// it will be sent.
//
//   - Mastodon: grapheme clusters after Mastodon's substitutions (every
//     http(s) URL counts 23, a remote mention counts only "@user").
//   - Graphemes: extended grapheme clusters (UAX #29), Bluesky's unit.
//   - X: twitter-text v3 weighted length.
//   - Chars: UTF-16 code units, the unit LinkedIn's limit is measured in.
package textlen

import (
	"slices"
	"strings"
	"unicode/utf16"

	"github.com/rivo/uniseg"
)

// URLLength is what a URL counts for on Mastodon and X, whatever its real
// length: both shorten links for counting (X wraps them in t.co).
const URLLength = 23

// Graphemes counts extended grapheme clusters (UAX #29): what a reader sees
// as one character. A ZWJ family emoji, a flag or "e" with a combining acute
// accent each count 1. Bluesky limits a post to 300 of these (the
// app.bsky.feed.post lexicon's maxGraphemes).
func Graphemes(text string) int {
	return uniseg.GraphemeClusterCount(text)
}

// Chars counts UTF-16 code units, the unit of LinkedIn's 3,000-character
// commentary limit. LinkedIn documents no unit; its composer (JavaScript) and
// its API (Java) both measure strings in UTF-16, so an emoji outside the
// Basic Multilingual Plane counts 2 there. Counting the same way is also the
// cautious choice: it is never less than the code point or grapheme count,
// so heed does not approve a post LinkedIn would cut or refuse.
func Chars(text string) int {
	n := 0
	for _, r := range text {
		if utf16.RuneLen(r) == 2 {
			n += 2
		} else {
			n++ // invalid runes and U+FFFD are one unit once encoded
		}
	}
	return n
}

// Mastodon counts text as Mastodon's StatusLengthValidator does: each URL
// with an http or https scheme that Mastodon would link becomes 23
// characters, each remote mention "@user@domain" becomes "@user" (unless the
// domain is longer than 253 characters), and the result is counted in
// grapheme clusters (Ruby's each_grapheme_cluster). URLs without a scheme
// count in full, as Mastodon does not link them.
//
// Mastodon's own URL grammar (twitter-text's, with a looser path) is
// approximated with xurls; where the two disagree on where a URL ends (rare
// trailing punctuation), the count can differ by those few characters.
// GoToSocial counts differently (code points, no URL discount); instance
// limits are read by the Mastodon publisher.
func Mastodon(text string) int {
	ents := removeOverlaps(append(mastodonURLs(text), mastodonMentions(text)...))
	if len(ents) == 0 {
		return Graphemes(text)
	}
	var b strings.Builder
	prev := 0
	for _, e := range ents {
		b.WriteString(text[prev:e.start])
		b.WriteString(e.repl)
		prev = e.end
	}
	b.WriteString(text[prev:])
	return Graphemes(b.String())
}

// entity is a part of the text that a network counts as something else.
// start and end are byte offsets.
type entity struct {
	start, end int
	repl       string
}

// urlPlaceholder is what Mastodon puts in place of a URL before counting.
var urlPlaceholder = strings.Repeat("x", URLLength)

// removeOverlaps keeps, in order of position, each entity that does not
// start inside the one kept before it (twitter-text's
// remove_overlapping_entities, which Mastodon uses).
func removeOverlaps(ents []entity) []entity {
	if len(ents) < 2 {
		return ents
	}
	slices.SortStableFunc(ents, func(a, b entity) int { return a.start - b.start })
	out := ents[:1]
	for _, e := range ents[1:] {
		if e.start >= out[len(out)-1].end {
			out = append(out, e)
		}
	}
	return out
}
