// Package invariants holds one test per invariant in docs/DESIGN.md. Each
// drives a whole heed (internal/heedtest) on a real SQLite file with an
// injected clock, and would fail if its invariant were broken.
package invariants
