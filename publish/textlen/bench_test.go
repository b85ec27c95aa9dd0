package textlen

import (
	"strings"
	"testing"
)

// benchText is a typical post: prose, a link, a mention, a hashtag, emoji.
const benchText = "Grüße! heed 2.0 ist da 🎉 — release notes at https://example.com/blog/heed-2.0?utm_source=heed " +
	"thanks @alice@example.social and everyone who tested it 👩‍💻👨‍💻 #heed #golang 日本語のドキュメントも"

func BenchmarkCounters(b *testing.B) {
	for _, c := range counters {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.f(benchText)
			}
		})
	}
}

// BenchmarkPathological counts 4 KB words built to be slow for URL
// detection (the fuzzer found "1.1.1.1…", which once took seconds).
func BenchmarkPathological(b *testing.B) {
	for name, in := range map[string]string{
		"dotdigits": strings.Repeat("1.", 2000),
		"dotwords":  strings.Repeat("a.b", 1333),
		"urlish":    strings.Repeat("http://a.", 450),
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				X(in)
				Mastodon(in)
			}
		})
	}
}
