package textlen

import (
	"unicode/utf8"

	"github.com/rivo/uniseg"
	"golang.org/x/text/unicode/norm"
)

// XLimit is X's maxWeightedTweetLength in twitter-text's v3 configuration.
const XLimit = 280

// X returns the weighted length X gives text, per twitter-text's v3
// configuration (config/v3.json: scale 100, defaultWeight 200,
// transformedURLLength 23, emojiParsingEnabled) and its parseTweet:
//
//   - the text is NFC-normalised first;
//   - every URL X would link counts 23, with or without a scheme;
//   - an emoji, including a whole sequence (ZWJ family, flag, keycap, skin
//     tone, tag sequence), counts 2;
//   - any other code point counts 1 in U+0000–U+10FF, U+2000–U+200D,
//     U+2010–U+201F and U+2032–U+2037, and 2 elsewhere (CJK, most symbols).
//
// twitter-text finds emoji with twemoji's pattern; here they are found from
// Unicode's own emoji properties, so a new emoji sequence counts 2 without
// waiting for a table update. Bare "©" and "®" are text (1 each), as in
// twitter-text; with U+FE0F they are emoji.
func X(text string) int {
	t := norm.NFC.String(text)
	n, prev := 0, 0
	for _, u := range xURLs(t) {
		n += xWeight(t[prev:u.start]) + URLLength
		prev = u.end
	}
	return n + xWeight(t[prev:])
}

// xWeight weighs text that holds no URL.
func xWeight(s string) int {
	rs := []rune(s)
	n := 0
	for len(rs) > 0 {
		if k := emojiLen(rs); k > 0 {
			n += 2
			rs = rs[k:]
			continue
		}
		n += codePointWeight(rs[0])
		rs = rs[1:]
	}
	return n
}

// codePointWeight is the v3 configuration's ranges (weight 100, i.e. 1)
// and defaultWeight (200, i.e. 2).
func codePointWeight(r rune) int {
	switch {
	case r >= 0 && r <= 0x10FF,
		r >= 0x2000 && r <= 0x200D,
		r >= 0x2010 && r <= 0x201F,
		r >= 0x2032 && r <= 0x2037:
		return 1
	}
	return 2
}

// emojiLen returns how many runes at the start of rs form one emoji, or 0.
func emojiLen(rs []rune) int {
	r := rs[0]
	switch {
	case r == '#' || r == '*' || (r >= '0' && r <= '9'):
		// A keycap is the character, an optional U+FE0F and U+20E3; the
		// character alone is text.
		i := 1
		if i < len(rs) && rs[i] == 0xFE0F {
			i++
		}
		if i < len(rs) && rs[i] == 0x20E3 {
			return i + 1
		}
		return 0
	case isRegionalIndicator(r):
		// Flags are pairs, taken left to right as UAX #29 pairs them.
		if len(rs) > 1 && isRegionalIndicator(rs[1]) {
			return 2
		}
		return 1
	case !isExtPict(r):
		return 0
	}
	if len(rs) > 1 && rs[1] == 0xFE0E {
		return 0 // text presentation was asked for
	}
	i := 1
	for i < len(rs) {
		c := rs[i]
		switch {
		case c == 0xFE0F, c == 0x20E3,
			c >= 0x1F3FB && c <= 0x1F3FF, // skin tones
			c >= 0xE0020 && c <= 0xE007F: // tag sequences (subdivision flags)
			i++
			continue
		case c == 0x200D && i+1 < len(rs) && isExtPict(rs[i+1]):
			i += 2
			continue
		}
		break
	}
	if r <= 0x10FF && i == 1 {
		return 0 // bare © and ®: text
	}
	return i
}

func isRegionalIndicator(r rune) bool { return r >= 0x1F1E6 && r <= 0x1F1FF }

// isExtPict reports whether r has Unicode's Extended_Pictographic property.
// uniseg keeps its property tables private, so this asks its grapheme
// rules instead: by UAX #29 rule GB11, r + ZWJ + an emoji form one grapheme
// cluster exactly when r is Extended_Pictographic.
func isExtPict(r rune) bool {
	if r < 0xA9 || !utf8.ValidRune(r) {
		return false // no Extended_Pictographic below U+00A9
	}
	var buf [utf8.UTFMax + 3 + 4]byte
	b := utf8.AppendRune(buf[:0], r)
	b = append(b, "\u200d\U0001F600"...)
	return uniseg.GraphemeClusterCount(string(b)) == 1
}
