package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// planned is a post the harness scheduled and approved: a one-shot post,
// so its occurrence id is its post id.
type planned struct {
	ID      int64
	Key     string
	At      time.Time
	Targets []string
}

// pauseRec is one pause cycle: the request the receiver held open across
// it, and the pause's commit, bounded by the `heed pause` process (it
// committed after CLIStart and before CLIEnd) and ordered among every
// other write by its audit row's id.
type pauseRec struct {
	N           int
	AuditID     int64
	CLIStart    time.Time
	CLIEnd      time.Time
	ResumeStart time.Time // zero: never resumed
	Held        arrival
	// HoldExpired: the receiver answered the held request on its own
	// (the pause took longer than the hold's safety limit), so it may have
	// been answered before the pause committed and its occurrence's other
	// targets are not judged by the check at the wire.
	HoldExpired bool
	// RetriesPending: deliveries were waiting for a retry when the pause
	// came, whose claims leave no audit row; a resend after the pause is
	// then not judged.
	RetriesPending bool
}

// evidence is everything the verdict is drawn from: the posts the harness
// approved, the store after the run, and what the receiver got.
type evidence struct {
	Keyed, Plain string
	Posts        map[int64]planned
	Facts        facts
	Arrivals     []arrival
	Pauses       []pauseRec
}

// verdict counts what the run shows. Every count named in Problems is a
// defect; the others are figures.
type verdict struct {
	Posts      int // approved posts
	Deliveries int // their occurrence × target pairs

	Published      int
	Unknown        int // left unknown for a person
	UnknownArrived int // of those, the receiver had in fact got
	UnknownKeyed   int // unknown on the target that honours the key
	Failed         int
	HeldPause      int // held by a pause (at the claim or at the wire)
	HeldWire       int // of those, withheld at the wire: claimed before the pause, checked again just before sending
	HeldOther      int // held for any other reason
	HeldArrived    int // held, yet the receiver got it
	HeldResend     int // on the keyed target, a resend held by a pause whose key had reached the receiver before the pause: out once, as the key promises
	LateApproval   int // missed because the harness's approval came after its time: not heed's doing

	Requests   int // requests the receiver got
	Resends    int // the keyed target's repeated keys: one post each, as the key promises
	Duplicates int // one occurrence × target posted twice
	Lost       int // approved, due, never delivered, and neither unknown, failed nor held by a pause
	Retrying   int // on a target that honours the key, still waiting to send again (with -drop, the receiver kept failing)
	Unapproved int // requests for an occurrence without an approval recorded before its claim
	Bad        int // requests with a bad signature or body

	AfterPause      int // claims committed while paused, and requests during a pause not claimed before it
	InFlightAtPause int // requests that arrived after `heed pause` returned, claimed before the pause committed
	DuringPauseCLI  int // requests that arrived while `heed pause` ran, claimed before the pause committed
	UndecidedPause  int // resends during a pause that came while retries were waiting: their claims leave no audit row

	Problems []string
}

func (v *verdict) problem(format string, args ...any) {
	v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
}

// heldByPause reports whether a hold's note or error says a pause held it.
func heldByPause(why string) bool {
	return strings.Contains(why, "paused by") || strings.Contains(why, "during a pause")
}

// judge draws the verdict. It depends on no clock but the receiver's
// arrival stamps and the pause commands' own start and end, all taken in
// this process.
func judge(e evidence) verdict {
	var v verdict
	f := e.Facts
	// The first approval and the first settling of each occurrence, and
	// the last claim of each delivery, by audit id: commit order.
	approve, settle := map[int64]int64{}, map[int64]int64{}
	claim := map[dkey]int64{}
	for _, a := range f.Audit {
		switch a.Action {
		case "decision.approve":
			if approve[a.Occurrence] == 0 {
				approve[a.Occurrence] = a.ID
			}
		case "state.publishing", "state.missed", "state.held":
			if settle[a.Occurrence] == 0 {
				settle[a.Occurrence] = a.ID
			}
		case "publish.claim":
			claim[dkey{a.Occurrence, a.Target}] = a.ID
		}
	}
	byPair := map[dkey][]arrival{}
	for _, a := range e.Arrivals {
		if a.Err != "" {
			v.Bad++
			v.problem("request #%d to %s: %s", a.Seq, a.Target, a.Err)
			continue
		}
		v.Requests++
		k := dkey{a.Occurrence, a.Target}
		byPair[k] = append(byPair[k], a)
	}

	ids := make([]int64, 0, len(e.Posts))
	for id := range e.Posts {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		p := e.Posts[id]
		v.Posts++
		o, ok := f.Occurrences[id]
		if !ok {
			v.Lost += len(p.Targets)
			v.Deliveries += len(p.Targets)
			v.problem("#%d (%s): approved, but it has no occurrence", id, p.Key)
			continue
		}
		inTime := approve[id] > 0 && (settle[id] == 0 || approve[id] < settle[id])
		for _, t := range p.Targets {
			v.Deliveries++
			k := dkey{id, t}
			arr := byPair[k]
			d, hasD := f.Deliveries[k]
			switch {
			case hasD && d.State == "published":
				v.Published++
				if len(arr) == 0 {
					v.Lost++
					v.problem("#%d → %s: recorded published, but the receiver never got it", id, t)
				}
			case hasD && d.State == "unknown":
				v.Unknown++
				if len(arr) > 0 {
					v.UnknownArrived++
				}
				if t == e.Keyed {
					v.UnknownKeyed++
					v.problem("#%d → %s: unknown, on the target that honours the idempotency key (%s)", id, t, d.Error)
				}
			case hasD && d.State == "failed":
				v.Failed++
			case hasD && d.State == "held", !hasD && o.State == "held":
				why := o.Note
				if hasD {
					why = d.Error
				}
				if heldByPause(why) {
					v.HeldPause++
					if strings.Contains(why, "just before sending") {
						v.HeldWire++
					}
				} else {
					v.HeldOther++
					v.problem("#%d → %s: held, not by a pause: %s", id, t, why)
				}
				switch {
				case len(arr) == 0:
				case t == e.Keyed && strings.Contains(why, "before a retry") && arrivedBefore(arr, pauseNamed(e.Pauses, why)):
					// A send cut short by a crash, to be sent again with
					// its key, whose resend a pause then held: the key
					// had reached the receiver before the pause began.
					v.HeldResend++
				default:
					v.HeldArrived++
					v.problem("#%d → %s: held, yet the receiver got it (request #%d)", id, t, arr[0].Seq)
				}
			case !hasD && o.State == "missed":
				if inTime {
					v.Lost++
					v.problem("#%d → %s: approved (audit %d) before it was settled (audit %d), yet missed: %s", id, t, approve[id], settle[id], o.Note)
				} else {
					v.LateApproval++
				}
			case hasD && d.State == "retry" && strings.HasPrefix(d.Error, "ambiguous"):
				// An ambiguous send to the target that honours the key,
				// to be sent again with the same key: heed still owes it.
				v.Retrying++
			default:
				state := o.State
				if hasD {
					state = "delivery " + d.State
				}
				v.Lost++
				v.problem("#%d → %s: approved and due at %s, never settled (%s)", id, t, p.At.Format(time.TimeOnly), state)
			}
		}
	}

	// Twice to one occurrence × target. The keyed target posts once per
	// key: a repeated key is the same post, sent again after a crash.
	pairs := make([]dkey, 0, len(byPair))
	for k := range byPair {
		pairs = append(pairs, k)
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].Occurrence != pairs[j].Occurrence {
			return pairs[i].Occurrence < pairs[j].Occurrence
		}
		return pairs[i].Target < pairs[j].Target
	})
	for _, k := range pairs {
		arr := byPair[k]
		posts := len(arr)
		if k.Target == e.Keyed {
			keys := map[string]bool{}
			for _, a := range arr {
				keys[a.Key] = true
			}
			v.Resends += len(arr) - len(keys)
			posts = len(keys)
		}
		if posts > 1 {
			v.Duplicates += posts - 1
			seqs := make([]string, len(arr))
			for i, a := range arr {
				seqs[i] = fmt.Sprintf("#%d", a.Seq)
			}
			v.problem("#%d → %s: posted %d times (requests %s)", k.Occurrence, k.Target, posts, strings.Join(seqs, ", "))
		}
		if _, ours := e.Posts[k.Occurrence]; !ours {
			v.Unapproved++
			v.problem("#%d → %s: the receiver got an occurrence the harness never approved", k.Occurrence, k.Target)
			continue
		}
		if c := claim[k]; approve[k.Occurrence] == 0 || c == 0 || approve[k.Occurrence] > c {
			v.Unapproved++
			v.problem("#%d → %s: sent without an approval recorded before its claim (approval audit %d, claim audit %d)", k.Occurrence, k.Target, approve[k.Occurrence], c)
		}
	}

	// Pauses. The pause and every claim are write transactions whose
	// audit rows' ids give their commit order, so no clock is needed:
	// no claim may commit between a pause and its resume, and every
	// request that arrived from the moment `heed pause` started until the
	// resume must have been claimed before the pause (it was under way, or
	// it had gone out before the pause committed). A resend of the keyed
	// target's key needs a retry claim, which has no audit row: with no
	// retry waiting when the pause came, a resend during it is a defect.
	// The request held open across the pause makes the check at the wire
	// exact too: the other targets of its occurrence are sent after it by
	// the same worker, so after the pause, and must never go.
	resumes := []int64{}
	for _, a := range f.Audit {
		if a.Action == "resume" {
			resumes = append(resumes, a.ID)
		}
	}
	for _, p := range e.Pauses {
		resumed := int64(0)
		for _, id := range resumes {
			if id > p.AuditID {
				resumed = id
				break
			}
		}
		for _, a := range f.Audit {
			if a.Action == "publish.claim" && a.ID > p.AuditID && (resumed == 0 || a.ID < resumed) {
				v.AfterPause++
				v.problem("pause %d (audit %d): #%d → %s was claimed (audit %d) while paused", p.N, p.AuditID, a.Occurrence, a.Target, a.ID)
			}
		}
		held := e.Posts[p.Held.Occurrence]
		if p.HoldExpired {
			held = planned{}
		}
		for _, a := range e.Arrivals {
			if a.Err != "" || a.At.Before(p.CLIStart) || (!p.ResumeStart.IsZero() && !a.At.Before(p.ResumeStart)) {
				continue
			}
			if !p.HoldExpired && a.Occurrence == p.Held.Occurrence && a.Target != p.Held.Target {
				continue // judged below
			}
			c := claim[dkey{a.Occurrence, a.Target}]
			switch {
			case a.Repeat && p.RetriesPending:
				v.UndecidedPause++
			case a.Repeat || c == 0 || c > p.AuditID:
				v.AfterPause++
				v.problem("pause %d (audit %d): request #%d (#%d → %s, claim audit %d, resent: %v) arrived %s after `heed pause` started",
					p.N, p.AuditID, a.Seq, a.Occurrence, a.Target, c, a.Repeat, a.At.Sub(p.CLIStart).Round(time.Millisecond))
			case a.At.After(p.CLIEnd):
				v.InFlightAtPause++
			default:
				v.DuringPauseCLI++
			}
		}
		for _, t := range held.Targets {
			if t == p.Held.Target {
				continue
			}
			for _, a := range byPair[dkey{p.Held.Occurrence, t}] {
				v.AfterPause++
				v.problem("pause %d: #%d → %s was sent (request #%d) after the pause although its first target's request #%d was held open until the pause had committed: the check at the wire did not stop it",
					p.N, p.Held.Occurrence, t, a.Seq, p.Held.Seq)
			}
		}
	}
	return v
}

// pauseNamed is the pause a hold's reason names ("… (chaos pause N) …"),
// or nil.
func pauseNamed(pauses []pauseRec, why string) *pauseRec {
	for i := range pauses {
		if strings.Contains(why, fmt.Sprintf("(chaos pause %d)", pauses[i].N)) {
			return &pauses[i]
		}
	}
	return nil
}

// arrivedBefore reports whether every request in arr arrived before the
// pause's command started.
func arrivedBefore(arr []arrival, p *pauseRec) bool {
	if p == nil {
		return false
	}
	for _, a := range arr {
		if !a.At.Before(p.CLIStart) {
			return false
		}
	}
	return true
}

// failed reports whether the verdict shows any defect.
func (v verdict) failed() bool { return len(v.Problems) > 0 }
