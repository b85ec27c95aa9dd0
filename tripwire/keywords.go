package tripwire

import (
	"errors"
	"regexp"
	"strings"
)

// keyword is one configured keyword and its matcher.
type keyword struct {
	text string
	re   *regexp.Regexp
}

// notWordChar is what must (unless at the start or end) surround a keyword.
// Go's \b only knows ASCII, and feeds are in every language ("Anschlag",
// "Überschwemmung").
const notWordChar = `[^\p{L}\p{M}\p{N}_]`

// compileKeyword turns a keyword into a case-insensitive whole-word matcher.
// Whitespace inside a phrase matches any run of whitespace; a trailing *
// lets the last word continue ("attack*" matches "attacks").
func compileKeyword(k string) (keyword, error) {
	text := strings.TrimSpace(k)
	prefix := strings.HasSuffix(text, "*")
	words := strings.Fields(strings.TrimSuffix(text, "*"))
	if len(words) == 0 {
		return keyword{}, errors.New("tripwire: empty keyword; remove it or write a word")
	}
	for i, w := range words {
		words[i] = regexp.QuoteMeta(w)
	}
	pattern := `(?i)(?:^|` + notWordChar + `)` + strings.Join(words, `\s+`)
	if !prefix {
		pattern += `(?:$|` + notWordChar + `)`
	}
	// Every word went through QuoteMeta, so the pattern always compiles.
	return keyword{text: text, re: regexp.MustCompile(pattern)}, nil
}

// match lists the keywords found in text, in configuration order.
func (w *Watcher) match(text string) []string {
	var found []string
	for _, k := range w.keywords {
		if k.re.MatchString(text) {
			found = append(found, k.text)
		}
	}
	return found
}
