package textlen

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// mentionRe is Mastodon's Account::MENTION_RE without its look-behind,
// which mastodonMentions applies by hand (RE2 has none):
//
//	(?<![=/[:word:]])@(([a-z0-9_]+([a-z0-9_.-]+[a-z0-9_]+)?)(?:@[[:word:].-]+[[:word:]]+)?)
//
// Group 1 is the username, group 2 the domain.
var mentionRe = regexp.MustCompile(`@([a-zA-Z0-9_]+(?:[a-zA-Z0-9_.-]+[a-zA-Z0-9_]+)?)(?:@([\p{L}\p{M}\p{Nd}\p{Pc}.-]+[\p{L}\p{M}\p{Nd}\p{Pc}]+))?`)

// maxMentionDomain is Mastodon's Extractor::MAX_DOMAIN_LENGTH: a mention of
// a longer domain is not shortened.
const maxMentionDomain = 253

// latinAccents is twitter-text's LATIN_ACCENTS, part of Mastodon's
// END_MENTION_MATCH: "@noël" is not a mention of "@no".
var latinAccents = &unicode.RangeTable{R16: []unicode.Range16{
	{Lo: 0x00C0, Hi: 0x00D6, Stride: 1}, {Lo: 0x00D8, Hi: 0x00F6, Stride: 1},
	{Lo: 0x00F8, Hi: 0x024F, Stride: 1}, {Lo: 0x0253, Hi: 0x0254, Stride: 1},
	{Lo: 0x0256, Hi: 0x0257, Stride: 1}, {Lo: 0x0259, Hi: 0x025B, Stride: 2},
	{Lo: 0x0263, Hi: 0x0263, Stride: 1}, {Lo: 0x0268, Hi: 0x0268, Stride: 1},
	{Lo: 0x026F, Hi: 0x026F, Stride: 1}, {Lo: 0x0272, Hi: 0x0272, Stride: 1},
	{Lo: 0x0289, Hi: 0x0289, Stride: 1}, {Lo: 0x028B, Hi: 0x028B, Stride: 1},
	{Lo: 0x02BB, Hi: 0x02BB, Stride: 1}, {Lo: 0x0300, Hi: 0x036F, Stride: 1},
	{Lo: 0x1E00, Hi: 0x1EFF, Stride: 1},
}}

// mastodonMentions finds the mentions Mastodon's Extractor finds; each
// counts as "@user", whatever its domain.
func mastodonMentions(text string) []entity {
	if !strings.ContainsAny(text, "@＠") {
		return nil
	}
	var out []entity
	pos := 0
	for pos < len(text) {
		base := pos
		loc := mentionRe.FindStringSubmatchIndex(text[base:])
		if loc == nil {
			break
		}
		start, end := base+loc[0], base+loc[1]
		if start > 0 {
			if r, _ := utf8.DecodeLastRuneInString(text[:start]); r == '=' || r == '/' || isWordRune(r) {
				// The look-behind fails here; the regexp would try the
				// next position ("@" is one byte).
				pos = start + 1
				continue
			}
		}
		pos = end
		if endsMention(text[end:]) {
			continue
		}
		if loc[4] >= 0 && utf8.RuneCountInString(text[base+loc[4]:base+loc[5]]) > maxMentionDomain {
			continue
		}
		user := text[base+loc[2] : base+loc[3]]
		out = append(out, entity{start: start, end: end, repl: "@" + user})
	}
	return out
}

// isWordRune is Onigmo's [[:word:]] on a UTF-8 string.
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.Is(unicode.Nd, r) || unicode.Is(unicode.Pc, r)
}

// endsMention is Mastodon's END_MENTION_MATCH on the text after a match.
func endsMention(after string) bool {
	if strings.HasPrefix(after, "://") {
		return true
	}
	r, _ := utf8.DecodeRuneInString(after)
	return r == '@' || r == '＠' || unicode.Is(latinAccents, r)
}
