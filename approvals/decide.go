package approvals

// Facts are what the store holds about one occurrence that bears on
// whether it may go out: the occurrence as stored, its post's author, the
// hash of each target's current payload, what a network would refuse in
// it, the reactions not withdrawn, and what the timing safeguards say of
// its time.
type Facts struct {
	Occurrence Occurrence
	Author     string
	Hashes     map[string]string   // target → current payload hash
	Problems   map[string][]string // target → why its network would refuse the payload
	Reactions  []Reaction          // live reactions, oldest first
	Timing     TimingCheck
}

// Decide is heed's one judge of approval: from the facts, the room's
// policy (with the roster the store recorded) and nothing else, it gives
// the verdict a card shows and the state the occurrence is in. It is pure,
// so the daemon, a CLI command and an import reach the same answer, and
// the dispatcher asks it again inside the claim transaction rather than
// trusting any stored state.
//
// The state differs from the stored one only while the occurrence is in
// review (in_review, approved, rejected): there it is what the verdict
// amounts to. Every other state is a fact of its own (held, publishing,
// published, …) and is returned as stored.
func Decide(f Facts, p Policy) (Verdict, State) {
	p = p.WithDefaults()
	p.Required = max(p.Required, f.Timing.Required)
	// Decisions given before the last hold no longer count: a held
	// occurrence needs a fresh one.
	var fresh, stale []Reaction
	for _, r := range f.Reactions {
		if r.ID <= f.Occurrence.FreshAfter {
			stale = append(stale, r)
		} else {
			fresh = append(fresh, r)
		}
	}
	v := Tally(p, f.Author, f.Hashes, fresh)
	for _, r := range stale {
		if p.KindOf(r.Emoji) != KindOther {
			v.Ignored = append(v.Ignored, Ignored{Reaction: r, Reason: "given before it was held; react again for a fresh decision"})
		}
	}
	for t := range f.Problems {
		v.PerTarget[t] = 0 // a payload a network would refuse cannot be approved
	}
	state := f.Occurrence.State
	switch state {
	case StateInReview, StateApproved, StateRejected:
		ev := v.Event()
		if ev == EvApproved && len(f.Problems) > 0 {
			ev = EvUndecided
		}
		if to, err := Transition(state, ev); err == nil {
			state = to
		}
	}
	return v, state
}
