// Package safeguards holds the end-to-end tests of heed's timing safeguards
// (issue 6): last call, 🛑 holds, staffed hours and the on-duty check,
// sensitive dates, retraction and the news tripwire. Each drives a whole
// heed (internal/heedtest) with an injected clock, one cycle at a time.
package safeguards
