// Package perf holds the benchmarks of heed's data paths: what one
// reaction, one pause and one dispatch cost in SQL statements,
// transactions and chat API calls, at 50 and at 1,000 open cards. The
// counts come from heedtest's counting SQL driver and MemChat; they are
// reported per operation next to the time, and docs/PERFORMANCE.md quotes
// them with the command that reproduces them:
//
//	go test -run '^$' -bench . -benchmem ./internal/perf/
package perf
