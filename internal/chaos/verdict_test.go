package main

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/publish/webhook"
)

// world builds the evidence of a small run: occurrence 1 → keyed, plain,
// approved (audit 10) and claimed (audit 20, 21) before a pause (audit 30).
type world struct {
	e evidence
	t time.Time
}

func newWorld() *world {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	w := &world{t: t0, e: evidence{
		Keyed: keyedTarget, Plain: plainTarget,
		Posts: map[int64]planned{1: {ID: 1, Key: "chaos-1", At: t0, Targets: []string{keyedTarget, plainTarget}}},
		Facts: facts{
			Occurrences: map[int64]occurrence{1: {ID: 1, At: t0, State: "published"}},
			Deliveries: map[dkey]delivery{
				{1, keyedTarget}: {Occurrence: 1, Target: keyedTarget, State: "published", Key: "k1"},
				{1, plainTarget}: {Occurrence: 1, Target: plainTarget, State: "published", Key: "p1"},
			},
			Audit: []auditRow{
				{ID: 10, Action: "decision.approve", Occurrence: 1},
				{ID: 19, Action: "state.publishing", Occurrence: 1},
				{ID: 20, Action: "publish.claim", Occurrence: 1, Target: keyedTarget},
				{ID: 21, Action: "publish.claim", Occurrence: 1, Target: plainTarget},
			},
		},
	}}
	w.arrive(keyedTarget, 1, "k1", 100*time.Millisecond)
	w.arrive(plainTarget, 1, "p1", 200*time.Millisecond)
	return w
}

func (w *world) arrive(target string, occ int64, key string, after time.Duration) *arrival {
	w.e.Arrivals = append(w.e.Arrivals, arrival{Seq: len(w.e.Arrivals) + 1, Target: target, Occurrence: occ, Key: key, At: w.t.Add(after)})
	return &w.e.Arrivals[len(w.e.Arrivals)-1]
}

func mustPass(t *testing.T, v verdict) {
	t.Helper()
	if v.failed() {
		t.Fatalf("problems, want none:\n%s", strings.Join(v.Problems, "\n"))
	}
}

func mustFail(t *testing.T, v verdict, want string) {
	t.Helper()
	for _, p := range v.Problems {
		if strings.Contains(p, want) {
			return
		}
	}
	t.Fatalf("no problem says %q; problems:\n%s", want, strings.Join(v.Problems, "\n"))
}

func TestCleanRunPasses(t *testing.T) {
	v := judge(newWorld().e)
	mustPass(t, v)
	if v.Published != 2 || v.Requests != 2 || v.Deliveries != 2 {
		t.Errorf("published %d, requests %d, deliveries %d; want 2, 2, 2", v.Published, v.Requests, v.Deliveries)
	}
}

func TestPlainPostedTwiceIsADuplicate(t *testing.T) {
	w := newWorld()
	w.arrive(plainTarget, 1, "p1", time.Second)
	v := judge(w.e)
	if v.Duplicates != 1 {
		t.Errorf("duplicates %d, want 1", v.Duplicates)
	}
	mustFail(t, v, "posted 2 times")
}

func TestKeyedResendIsOnePost(t *testing.T) {
	w := newWorld()
	w.arrive(keyedTarget, 1, "k1", time.Second).Repeat = true
	v := judge(w.e)
	mustPass(t, v)
	if v.Resends != 1 || v.Duplicates != 0 {
		t.Errorf("resends %d, duplicates %d; want 1, 0", v.Resends, v.Duplicates)
	}
	w.arrive(keyedTarget, 1, "k2", 2*time.Second)
	mustFail(t, judge(w.e), "posted 2 times")
}

func TestApprovedDueNeverSettledIsLost(t *testing.T) {
	w := newWorld()
	w.e.Arrivals = nil
	w.e.Facts.Deliveries = map[dkey]delivery{}
	w.e.Facts.Occurrences[1] = occurrence{ID: 1, At: w.t, State: "approved"}
	w.e.Facts.Audit = w.e.Facts.Audit[:1]
	v := judge(w.e)
	if v.Lost != 2 {
		t.Errorf("lost %d, want 2", v.Lost)
	}
	mustFail(t, v, "never settled")
}

func TestPublishedButNeverArrivedIsLost(t *testing.T) {
	w := newWorld()
	w.e.Arrivals = w.e.Arrivals[:1]
	v := judge(w.e)
	if v.Lost != 1 {
		t.Errorf("lost %d, want 1", v.Lost)
	}
	mustFail(t, v, "never got it")
}

func TestUnknownCountsAndOnlyKeyedFails(t *testing.T) {
	w := newWorld()
	w.e.Facts.Deliveries[dkey{1, plainTarget}] = delivery{Occurrence: 1, Target: plainTarget, State: "unknown", Error: "heed stopped while publishing"}
	v := judge(w.e)
	mustPass(t, v)
	if v.Unknown != 1 || v.UnknownArrived != 1 {
		t.Errorf("unknown %d (arrived %d), want 1 (1)", v.Unknown, v.UnknownArrived)
	}
	w.e.Facts.Deliveries[dkey{1, keyedTarget}] = delivery{Occurrence: 1, Target: keyedTarget, State: "unknown"}
	mustFail(t, judge(w.e), "honours the idempotency key")
}

func TestMissedAfterItsApprovalIsLost(t *testing.T) {
	w := newWorld()
	w.e.Arrivals = nil
	w.e.Facts.Deliveries = map[dkey]delivery{}
	w.e.Facts.Occurrences[1] = occurrence{ID: 1, At: w.t, State: "missed", Note: "missed: its time came without approval (0 of 1)"}
	w.e.Facts.Audit = []auditRow{{ID: 10, Action: "decision.approve", Occurrence: 1}, {ID: 11, Action: "state.missed", Occurrence: 1}}
	mustFail(t, judge(w.e), "yet missed")

	// Approved only after it was settled as missed: the harness was late.
	w.e.Facts.Audit = []auditRow{{ID: 11, Action: "state.missed", Occurrence: 1}, {ID: 12, Action: "decision.approve", Occurrence: 1}}
	v := judge(w.e)
	mustPass(t, v)
	if v.LateApproval != 2 {
		t.Errorf("late approvals %d, want 2", v.LateApproval)
	}
}

func TestHeldByAPauseMustNotArrive(t *testing.T) {
	w := newWorld()
	w.e.Facts.Deliveries[dkey{1, plainTarget}] = delivery{Occurrence: 1, Target: plainTarget, State: "held", Error: "paused by bob (chaos) just before sending"}
	v := judge(w.e)
	if v.HeldArrived != 1 || v.HeldWire != 1 {
		t.Errorf("held and arrived %d, withheld at the wire %d; want 1, 1", v.HeldArrived, v.HeldWire)
	}
	mustFail(t, v, "held, yet the receiver got it")

	w.e.Arrivals = w.e.Arrivals[:1]
	mustPass(t, judge(w.e))
}

// TestHeldResendOfAKeyThatArrived: a send to the keyed target cut short
// by a crash is sent again with its key; when a pause holds that resend,
// the post is out once (its key reached the receiver before the pause)
// and the hold is no defect. The same hold with the request arriving
// after the pause began, on the plain target, or for another reason, is.
func TestHeldResendOfAKeyThatArrived(t *testing.T) {
	w := newWorld()
	w.pause(arrival{})
	w.e.Pauses[0].HoldExpired = true
	w.e.Facts.Deliveries[dkey{1, keyedTarget}] = delivery{Occurrence: 1, Target: keyedTarget, State: "held", Error: "held: paused by bob (chaos pause 1) before a retry"}
	v := judge(w.e)
	mustPass(t, v)
	if v.HeldResend != 1 || v.HeldArrived != 0 {
		t.Errorf("held resends %d, held and arrived %d; want 1, 0", v.HeldResend, v.HeldArrived)
	}

	late := newWorld()
	late.pause(arrival{})
	late.e.Pauses[0].HoldExpired = true
	late.e.Arrivals[0].At = late.t.Add(1500 * time.Millisecond) // after `heed pause` started
	late.e.Facts.Deliveries[dkey{1, keyedTarget}] = w.e.Facts.Deliveries[dkey{1, keyedTarget}]
	mustFail(t, judge(late.e), "held, yet the receiver got it")

	plain := newWorld()
	plain.pause(arrival{})
	plain.e.Pauses[0].HoldExpired = true
	plain.e.Facts.Deliveries[dkey{1, plainTarget}] = delivery{Occurrence: 1, Target: plainTarget, State: "held", Error: "held: paused by bob (chaos pause 1) before a retry"}
	mustFail(t, judge(plain.e), "held, yet the receiver got it")

	other := newWorld()
	other.pause(arrival{})
	other.e.Pauses[0].HoldExpired = true
	other.e.Facts.Deliveries[dkey{1, keyedTarget}] = delivery{Occurrence: 1, Target: keyedTarget, State: "held", Error: "paused by bob (chaos pause 1) just before sending"}
	mustFail(t, judge(other.e), "held, yet the receiver got it")
}

func TestSendWithoutApproval(t *testing.T) {
	w := newWorld()
	w.e.Facts.Audit = w.e.Facts.Audit[1:] // no approval recorded
	mustFail(t, judge(w.e), "without an approval")
	w = newWorld()
	w.arrive(plainTarget, 7, "x", time.Second)
	mustFail(t, judge(w.e), "never approved")
}

// A pause whose command ran from +1s to +2s and committed as audit 30.
func (w *world) pause(held arrival) {
	w.e.Pauses = append(w.e.Pauses, pauseRec{N: 1, AuditID: 30, CLIStart: w.t.Add(time.Second), CLIEnd: w.t.Add(2 * time.Second), ResumeStart: w.t.Add(10 * time.Second), Held: held})
}

func TestPauseJudgesRequestsByTheirClaim(t *testing.T) {
	// Occurrence 2's keyed request was held open across the pause; its
	// plain target is withheld at the wire.
	w := newWorld()
	w.e.Posts[2] = planned{ID: 2, Key: "chaos-2", At: w.t, Targets: []string{keyedTarget, plainTarget}}
	w.e.Facts.Occurrences[2] = occurrence{ID: 2, At: w.t, State: "held"}
	w.e.Facts.Deliveries[dkey{2, keyedTarget}] = delivery{Occurrence: 2, Target: keyedTarget, State: "published", Key: "k2"}
	w.e.Facts.Deliveries[dkey{2, plainTarget}] = delivery{Occurrence: 2, Target: plainTarget, State: "held", Error: "paused by bob (chaos) just before sending"}
	w.e.Facts.Audit = append(w.e.Facts.Audit,
		auditRow{ID: 22, Action: "decision.approve", Occurrence: 2}, auditRow{ID: 23, Action: "state.publishing", Occurrence: 2},
		auditRow{ID: 24, Action: "publish.claim", Occurrence: 2, Target: keyedTarget}, auditRow{ID: 25, Action: "publish.claim", Occurrence: 2, Target: plainTarget})
	held := w.arrive(keyedTarget, 2, "k2", 500*time.Millisecond)
	held.Held = true
	w.pause(*held)
	// Occurrence 1's plain request was claimed before the pause and
	// arrives after `heed pause` returned: it was under way.
	w.e.Arrivals[1].At = w.t.Add(3 * time.Second)
	v := judge(w.e)
	mustPass(t, v)
	if v.InFlightAtPause != 1 || v.HeldWire != 1 {
		t.Errorf("in flight at the pause %d, withheld at the wire %d; want 1, 1", v.InFlightAtPause, v.HeldWire)
	}

	// Claimed after the pause committed: a defect, however early it came.
	w.e.Facts.Audit[3].ID = 31
	mustFail(t, judge(w.e), "claimed (audit 31) while paused")
	w.e.Arrivals[1].At = w.t.Add(1500 * time.Millisecond)
	mustFail(t, judge(w.e), "arrived 500ms after `heed pause` started")
	w.e.Facts.Audit[3].ID = 21

	// While `heed pause` ran, claimed before it: under way, or gone out
	// before the commit.
	if v := judge(w.e); v.DuringPauseCLI != 1 || v.failed() {
		t.Errorf("during the pause command %d, problems %v; want 1 and none", v.DuringPauseCLI, v.Problems)
	}

	// A resend during the pause needs a retry claim made while paused,
	// unless retries were waiting when it came.
	w.arrive(keyedTarget, 1, "k1", 4*time.Second).Repeat = true
	mustFail(t, judge(w.e), "resent: true")
	w.e.Pauses[0].RetriesPending = true
	if v := judge(w.e); v.UndecidedPause != 1 || v.failed() {
		t.Errorf("undecided %d, problems %v; want 1 and none", v.UndecidedPause, v.Problems)
	}

	// The held request's other target went out: the check at the wire
	// failed, however early it arrived.
	w.arrive(plainTarget, 2, "p2", 11*time.Second)
	mustFail(t, judge(w.e), "the check at the wire did not stop it")
}

// The receiver's own verifier accepts what heed's webhook signer signs,
// and nothing else.
func TestVerifyAgreesWithHeedsSigner(t *testing.T) {
	now := time.Unix(1_773_478_800, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	body := []byte(`{"event":"publish","occurrence_id":1}`)
	h := http.Header{}
	h.Set("X-Heed-Timestamp", ts)
	h.Set("X-Heed-Signature", webhook.Sign(secret, ts, body))
	if got, err := verify(secret, bytes.NewReader(body), h, now); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("verify: %v, body %q", err, got)
	}
	if _, err := verify(secret, bytes.NewReader(append(body, ' ')), h, now); err == nil {
		t.Error("a changed body passed")
	}
	if _, err := verify("other", bytes.NewReader(body), h, now); err == nil {
		t.Error("another secret passed")
	}
	if _, err := verify(secret, bytes.NewReader(body), h, now.Add(6*time.Minute)); err == nil {
		t.Error("a stale timestamp passed")
	}
}
