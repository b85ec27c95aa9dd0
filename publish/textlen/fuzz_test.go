package textlen

import (
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

var counters = []struct {
	name string
	f    func(string) int
}{
	{"Graphemes", Graphemes},
	{"Chars", Chars},
	{"Mastodon", Mastodon},
	{"X", X},
}

// FuzzCounters checks that the counters never panic and never disagree
// with themselves: the same text always gets the same count, a line break
// splits a text into parts counted independently, and the counters keep
// their order (graphemes ≤ code points ≤ UTF-16 units).
func FuzzCounters(f *testing.F) {
	for _, s := range []string{
		"", "hello", family, flagDE + flagDE, flagEngl, transFlag, keycapOne, "©\uFE0F", eAcute,
		"日本語", "http://example.com/path", "example.com", "@alice@example.com",
		"Test https://test.com test https://test.com test.com test",
		"\u2066\u202Ahttp://foobar.پاکستان/\u202C\u2069", "a\r\nb", "\xff\xfe",
		"https://" + strings.Repeat("a", 64) + ".com/x", "see t.co/abc.", "@noël@example.com",
	} {
		f.Add(s, "tail "+s)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, c := range counters {
			n := c.f(a)
			if n < 0 {
				t.Fatalf("%s(%q) = %d, negative", c.name, a, n)
			}
			if again := c.f(a); again != n {
				t.Fatalf("%s(%q) gave %d, then %d", c.name, a, n, again)
			}
			if (a == "") != (n == 0) && c.name != "X" {
				t.Fatalf("%s(%q) = %d", c.name, a, n)
			}
			// Nothing counts across a line break (UAX #29 GB4/GB5; URLs,
			// mentions and emoji sequences contain none), except CR LF.
			if !strings.HasSuffix(a, "\r") {
				joined, sum := c.f(a+"\n"+b), n+1+c.f(b)
				if joined != sum {
					t.Fatalf("%s: %q + LF + %q counts %d, parts count %d", c.name, a, b, joined, sum)
				}
			}
		}

		g, cp, u := Graphemes(a), utf8.RuneCountInString(a), Chars(a)
		if g > cp || cp > u {
			t.Fatalf("%q: graphemes %d, code points %d, UTF-16 units %d", a, g, cp, u)
		}
		if utf8.ValidString(a) && utf8.ValidString(b) {
			if Chars(a+b) != Chars(a)+Chars(b) {
				t.Fatalf("Chars is not additive on %q, %q", a, b)
			}
			// X normalises first, so normalising before makes no difference.
			if X(a) != X(norm.NFC.String(a)) {
				t.Fatalf("X(%q) = %d but X(NFC) = %d", a, X(a), X(norm.NFC.String(a)))
			}
		}
		// Without anything Mastodon shortens, it counts graphemes.
		if !strings.ContainsAny(a, "@＠:") {
			if m := Mastodon(a); m != g {
				t.Fatalf("Mastodon(%q) = %d, graphemes %d", a, m, g)
			}
		}
	})
}
