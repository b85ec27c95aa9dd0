package sqlite_test

import (
	"testing"
)

// BenchmarkReadGauges is one /metrics scrape's database reads (one query
// per gauge) over 100,000 occurrences and their deliveries.
func BenchmarkReadGauges(b *testing.B) {
	s := buildHistory(b, benchDir(b), 100_000)
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Store.ReadGauges(s.Ctx); err != nil {
			b.Fatal(err)
		}
	}
}
