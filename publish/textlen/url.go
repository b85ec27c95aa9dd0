package textlen

import (
	"regexp"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"mvdan.cc/xurls/v2"
)

// URL detection follows twitter-text's extractor (which Mastodon also runs,
// with a looser path): xurls finds candidates, then the rules that decide
// whether twitter-text would link them are applied here. The two that
// matter most for counting are the preceding character (a URL glued to a
// word is not linked) and the domain: it must end in a known top-level
// domain, and each label, once punycode-encoded, must fit in 63 bytes.

const (
	// maxURLLength is twitter-text's MAX_URL_LENGTH: a longer URL is not
	// linked and counts in full.
	maxURLLength = 4096
	// maxLabelLength is the DNS limit on one label (RFC 1035).
	maxLabelLength = 63
	// maxHostSearch bounds how far a domain is looked for, so pathological
	// input cannot make counting quadratic. A DNS name has at most 253
	// octets; this leaves room for non-ASCII names.
	maxHostSearch = 1024
)

var (
	httpOnce sync.Once
	httpRe   *regexp.Regexp

	tldOnce sync.Once
	tldSet  map[string]bool
)

// httpURLs matches URLs with an http or https scheme.
func httpURLs() *regexp.Regexp {
	httpOnce.Do(func() {
		re, err := xurls.StrictMatchingScheme(`https?://`)
		if err != nil {
			panic("textlen: " + err.Error()) // a constant expression
		}
		httpRe = re
	})
	return httpRe
}

func isTLD(label string) bool {
	tldOnce.Do(func() {
		tldSet = make(map[string]bool, len(xurls.TLDs))
		for _, t := range xurls.TLDs {
			tldSet[t] = true
		}
	})
	label = strings.ToLower(label)
	if tldSet[label] {
		return true
	}
	if p, ok := strings.CutPrefix(label, "xn--"); ok && p != "" {
		return isASCIIAlnumHyphen(p)
	}
	return false
}

// urlRules selects the network's variant of the rules.
type urlRules struct {
	// schemeless allows URLs without a scheme ("example.com"), as X links
	// them and Mastodon does not.
	schemeless bool
	// twitterPath ends the path and query where twitter-text's grammar does
	// (X); otherwise the path runs as far as xurls takes it (Mastodon's
	// looser path).
	twitterPath bool
}

var (
	mastodonRules = urlRules{}
	xRules        = urlRules{schemeless: true, twitterPath: true}
)

// mastodonURLs returns the http(s) URLs Mastodon would link, each replaced
// by its 23-character placeholder.
func mastodonURLs(text string) []entity {
	return findURLs(text, httpURLs(), mastodonRules, -1)
}

// xURLs returns the URLs X would wrap in t.co.
func xURLs(text string) []entity {
	re := xurls.Relaxed()
	return findURLs(text, re, xRules, re.SubexpIndex("relaxedEmail"))
}

// findURLs returns the URLs among re's candidates, in one pass over text.
// A URL never holds whitespace and always a ".", so the regexp (large: it
// lists every top-level domain) runs only on the words that have a dot,
// which keeps a count fast. A refused candidate is not searched again for a
// URL inside it, which keeps counting linear (re-running the regexp after
// each refusal is quadratic on input such as "http://http://http://…");
// twitter-text would still find a URL glued without a space to the end of a
// refused one, and such text counts a few characters long here.
func findURLs(text string, re *regexp.Regexp, rules urlRules, emailGroup int) []entity {
	var out []entity
	done := 0 // end of the last URL taken
	for wStart := 0; wStart < len(text); {
		wEnd := wordEnd(text, wStart)
		if word := text[wStart:wEnd]; mayHoldDomain(word) {
			for _, loc := range re.FindAllStringSubmatchIndex(word, -1) {
				start, end := wStart+loc[0], wStart+loc[1]
				if start < done {
					continue // inside a URL that ran further than its candidate
				}
				if emailGroup > 0 && loc[2*emailGroup] >= 0 {
					continue // an address: its domain follows "@", never linked
				}
				if e, ok := urlAt(text, start, end, rules); ok {
					out = append(out, e)
					done = e.end
				}
			}
		}
		wStart = spaceEnd(text, wEnd)
	}
	return out
}

// mayHoldDomain reports whether a word has a "." followed by a letter (or a
// non-ASCII character): every top-level domain starts so. Words without one
// ("1.1.1.1…", "3.14") skip the large regexp, whose cost grows with the
// word's length.
func mayHoldDomain(word string) bool {
	for i := strings.IndexByte(word, '.'); i >= 0 && i+1 < len(word); {
		if c := word[i+1]; c >= utf8.RuneSelf || (c|0x20 >= 'a' && c|0x20 <= 'z') {
			return true
		}
		j := strings.IndexByte(word[i+1:], '.')
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}

// wordEnd returns the end of the run of non-space characters at i.
func wordEnd(text string, i int) int {
	for i < len(text) {
		r, size := utf8.DecodeRuneInString(text[i:])
		if unicode.IsSpace(r) {
			break
		}
		i += size
	}
	return i
}

// spaceEnd returns the end of the run of spaces at i.
func spaceEnd(text string, i int) int {
	for i < len(text) {
		r, size := utf8.DecodeRuneInString(text[i:])
		if !unicode.IsSpace(r) {
			break
		}
		i += size
	}
	return i
}

// urlAt decides whether the candidate text[start:end] is a URL the network
// links, and where it really starts and ends.
func urlAt(text string, start, end int, rules urlRules) (entity, bool) {
	rest := text[start:]
	schemeLen := 0
	switch {
	case hasPrefixFold(rest, "https://"):
		schemeLen = len("https://")
	case hasPrefixFold(rest, "http://"):
		schemeLen = len("http://")
	case !rules.schemeless || hasOtherScheme(text[start:end]):
		return entity{}, false
	}
	schemeless := schemeLen == 0
	hostStart := start + schemeLen
	if !precededOK(text, start, schemeless) {
		return entity{}, false
	}
	domEnd := domainEnd(text, hostStart, scanHost(text, hostStart))
	if domEnd < 0 {
		return entity{}, false
	}
	if schemeless && !isASCII(text[hostStart:domEnd]) {
		// twitter-text links only the ASCII part of a domain written
		// without a scheme: in "日本example.com", "example.com".
		i := strings.LastIndexFunc(text[hostStart:domEnd], func(r rune) bool { return r >= utf8.RuneSelf })
		_, size := utf8.DecodeRuneInString(text[hostStart+i:])
		start = hostStart + i + size
		for start < domEnd && (text[start] == '.' || text[start] == '-') {
			start++
		}
		hostStart = start
		if !validDomain(text[hostStart:domEnd]) {
			return entity{}, false
		}
	}

	urlEnd, hasPath := domEnd, false
	if rules.twitterPath {
		tail := twitterTail().FindStringSubmatchIndex(text[domEnd:])
		urlEnd = domEnd + tail[1]
		hasPath = tail[2] >= 0
	} else {
		urlEnd = skipPort(text, domEnd)
		if urlEnd < len(text) && (text[urlEnd] == '/' || text[urlEnd] == '?') && end > urlEnd {
			urlEnd = end
		}
	}

	domain := text[hostStart:domEnd]
	if schemeless && !hasPath && isShortCCDomain(domain) {
		// twitter-text leaves "example.de" alone without a path, but
		// links "t.co" and "example.de/page".
		return entity{}, false
	}
	length := utf16Len(text[start:urlEnd]) + punycodeLen(domain) - utf16Len(domain)
	if schemeless {
		length += len("https://")
	}
	if length > maxURLLength {
		return entity{}, false
	}
	return entity{start: start, end: urlEnd, repl: urlPlaceholder}, true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// hasOtherScheme reports a candidate such as "ftp://…" or "mailto:…": X
// links only http and https.
func hasOtherScheme(candidate string) bool {
	if strings.Contains(candidate, "://") {
		return true
	}
	lower := strings.ToLower(candidate)
	for _, s := range xurls.SchemesNoAuthority {
		if strings.HasPrefix(lower, s+":") {
			return true
		}
	}
	return false
}

// precededOK applies twitter-text's valid_url_preceding_chars: a URL may
// not follow an ASCII letter or digit, "@", "$" or "#" (or their fullwidth
// forms), and one without a scheme may not follow "-", "_", "." or "/".
func precededOK(text string, start int, schemeless bool) bool {
	if start == 0 {
		return true
	}
	r, _ := utf8.DecodeLastRuneInString(text[:start])
	switch {
	case r < utf8.RuneSelf && isASCIIAlnum(byte(r)):
		return false
	case strings.ContainsRune("@＠$#＃\uFFFE\uFEFF\uFFFF", r):
		return false
	case schemeless && strings.ContainsRune("-_./", r):
		return false
	}
	return true
}

// scanHost returns the end of the run of characters twitter-text accepts in
// a domain, starting at i: anything but ASCII punctuation (other than "-",
// "_" and "."), spaces, controls, and directional or invalid characters.
func scanHost(text string, i int) int {
	for i < len(text) {
		r, size := utf8.DecodeRuneInString(text[i:])
		if !isHostRune(r) || (r == utf8.RuneError && size == 1) {
			break
		}
		i += size
	}
	return i
}

func isHostRune(r rune) bool {
	if r < utf8.RuneSelf {
		return isASCIIAlnum(byte(r)) || r == '-' || r == '_' || r == '.'
	}
	switch {
	case unicode.IsSpace(r), unicode.IsControl(r),
		r == 0xFFFE, r == 0xFEFF, r == 0xFFFF,
		r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069,
		r == 0x061C, r == 0x200E, r == 0x200F,
		// twitter-text's spaces, some of which Go does not call spaces.
		r == 0x180E, r >= 0x2000 && r <= 0x200A, r == 0x2028, r == 0x2029:
		return false
	}
	return true
}

// domainEnd returns the end of the longest valid domain starting at
// hostStart and ending by hostEnd, or -1. As in twitter-text, the top-level
// domain must not run on into a letter, digit, "@", "+" or "-": in
// "example.com日本" the domain is "example.com".
func domainEnd(text string, hostStart, hostEnd int) int {
	limit := min(hostEnd, hostStart+maxHostSearch)
	for k := limit; k > hostStart; {
		// The cheap test first: a domain ends in a known top-level domain.
		// Checking every label only then keeps this linear in the host's
		// length (text such as "1.1.1.1…" is otherwise quadratic).
		if tldBoundary(text[k:]) && endsInTLD(text[hostStart:k]) && validDomain(text[hostStart:k]) {
			return k
		}
		_, size := utf8.DecodeLastRuneInString(text[hostStart:k])
		k -= size
	}
	return -1
}

// endsInTLD reports whether d's last label is a top-level domain.
func endsInTLD(d string) bool {
	i := strings.LastIndexByte(d, '.')
	return i >= 0 && isTLD(d[i+1:])
}

func tldBoundary(after string) bool {
	if after == "" {
		return true
	}
	c := after[0]
	return !(isASCIIAlnum(c) || c == '@' || c == '+' || c == '-')
}

// validDomain checks labels the way twitter-text's domain grammar and its
// IDNA step do.
func validDomain(d string) bool {
	labels := strings.Split(d, ".")
	if len(labels) < 2 || !isTLD(labels[len(labels)-1]) {
		return false
	}
	for i, l := range labels {
		if l == "" || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		// "_" is allowed inside subdomains only, never at an edge.
		if strings.Contains(l, "_") && (i >= len(labels)-2 || l[0] == '_' || l[len(l)-1] == '_') {
			return false
		}
		if punycodeLen(l) > maxLabelLength {
			return false
		}
	}
	return true
}

// punycodeLen is the length of s in its ASCII (punycode) form, label by
// label; an unencodable label counts as too long.
func punycodeLen(s string) int {
	if isASCII(s) {
		return len(s)
	}
	n := 0
	for i, l := range strings.Split(s, ".") {
		if i > 0 {
			n++
		}
		if isASCII(l) {
			n += len(l)
			continue
		}
		a, err := idna.Punycode.ToASCII(strings.ToLower(l))
		if err != nil {
			return maxURLLength + 1
		}
		n += len(a)
	}
	return n
}

// isShortCCDomain reports "name.cc" with a two-letter country TLD, which
// twitter-text links without a scheme only with a path, or for .co and .tv.
func isShortCCDomain(d string) bool {
	name, tld, ok := strings.Cut(d, ".")
	if !ok || strings.Contains(tld, ".") || len(tld) != 2 || name == "" {
		return false
	}
	tld = strings.ToLower(tld)
	return tld != "co" && tld != "tv"
}

func skipPort(text string, i int) int {
	if i < len(text) && text[i] == ':' {
		j := i + 1
		for j < len(text) && text[j] >= '0' && text[j] <= '9' {
			j++
		}
		if j > i+1 {
			return j
		}
	}
	return i
}

var (
	twitterTailOnce sync.Once
	twitterTailRe   *regexp.Regexp
)

// twitterTail matches what may follow a domain in twitter-text's URL
// grammar: a port, a path and a query (validUrlPath, validUrlQueryChars and
// their ending characters), anchored at the domain's end. Group 1 is the
// path.
func twitterTail() *regexp.Regexp {
	twitterTailOnce.Do(func() {
		const (
			cyrillic = `\x{0400}-\x{04FF}`
			latin    = `\x{00C0}-\x{00D6}\x{00D8}-\x{00F6}\x{00F8}-\x{00FF}\x{0100}-\x{024F}\x{0253}\x{0254}\x{0256}\x{0257}\x{0259}\x{025B}\x{0263}\x{0268}\x{026F}\x{0272}\x{0289}\x{028B}\x{02BB}\x{0300}-\x{036F}\x{1E00}-\x{1EFF}`
			general  = `[a-z` + cyrillic + `0-9!*';:=+,.$/%#\[\]\-\x{2013}_~@|&` + latin + `]`
			parens   = `\((?:` + general + `+|(?:` + general + `*\(` + general + `+\)` + general + `*))\)`
			ending   = `(?:[+\-a-z` + cyrillic + `0-9=_#/` + latin + `]|` + parens + `)`
			segment  = `(?:(?:` + general + `*(?:` + parens + general + `*)*` + ending + `)|(?:@` + general + `+/))`
			query    = `(?:\?[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]*[a-z0-9\-_&=#/])`
		)
		twitterTailRe = regexp.MustCompile(`(?i)^(?::[0-9]+)?(/` + segment + `*)?` + query + `?`)
	})
	return twitterTailRe
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func isASCIIAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isASCIIAlnumHyphen(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isASCIIAlnum(s[i]) && s[i] != '-' {
			return false
		}
	}
	return true
}

func utf16Len(s string) int { return Chars(s) }
