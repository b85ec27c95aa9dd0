package textlen

import "testing"

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
