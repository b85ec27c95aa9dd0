package dispatch_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/dispatch"
	"github.com/heed-dev/heed/internal/heedtest"
	"github.com/heed-dev/heed/publish"
)

func approvedPost(t *testing.T, s *heedtest.Stack, text string, targets ...string) approvals.Post {
	t.Helper()
	p := s.Add(text, 10*time.Minute, targets...)
	s.Cycle()
	if err := s.Chat.React("alice", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	s.WantState(p.ID, approvals.StateApproved)
	return p
}

// TestDeafListenerHoldsPublishing: an approved occurrence whose time comes
// while the review room cannot be heard is held at once, with the reason
// on its card: a pause typed then could not have reached heed. It goes out
// only after a fresh decision, once the chat is heard again; while the
// chat is deaf, even that decision waits.
func TestDeafListenerHoldsPublishing(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	p := approvedPost(t, s, "due while deaf")
	if _, err := s.Service.Reviews.Delay(s.Ctx, p.ID, 0, "x", "t"); err == nil {
		t.Fatal("a zero delay was accepted")
	}
	s.Chat.SetDeaf(true)
	s.Clock.Advance(10 * time.Minute) // due; the chat has been silent for 10 min
	st := s.Cycle()
	if st.Held != 1 || st.Claimed != 0 || len(s.Rec.Requests()) != 0 {
		t.Fatalf("while deaf: %+v, %d published", st, len(s.Rec.Requests()))
	}
	s.WantState(p.ID, approvals.StateHeld)
	if note := s.View(p.ID).Note; !strings.Contains(note, "has not been heard from") || !strings.Contains(note, "a pause could not have been heard") {
		t.Fatalf("the note does not say why: %q", note)
	}
	if !strings.Contains(s.Chat.CardText(p.ID), "a pause could not have been heard") {
		t.Fatalf("card does not say why:\n%s", s.Chat.CardText(p.ID))
	}
	card, _ := s.Chat.Card(p.ID)
	s.Clock.Advance(30 * time.Second)
	s.Cycle()
	if again, _ := s.Chat.Card(p.ID); again.Edits != card.Edits {
		t.Fatalf("a held card was edited again with nothing new (%d → %d edits)", card.Edits, again.Edits)
	}

	// Heard again: nothing goes out by itself; a fresh decision publishes it.
	s.Chat.SetDeaf(false)
	s.Cycle()
	if n := len(s.Rec.Requests()); n != 0 {
		t.Fatalf("published without a fresh decision: %d", n)
	}
	if err := s.Chat.Unreact("alice", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	if err := s.Chat.React("alice", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	s.Cycle()
	s.WantState(p.ID, approvals.StatePublished)
	if got := s.Rec.Texts(); len(got) != 1 || got[0] != "due while deaf" {
		t.Fatalf("published %q", got)
	}
}

// TestLateIsLate: after heed could not publish for longer than late_grace
// (it was stopped, say), an approved post whose time passed is held, not
// sent late; within late_grace it still goes out.
func TestLateIsLate(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	s.Dispatcher.LateGrace = 5 * time.Second
	late := approvedPost(t, s, "a minute late")
	s.Clock.Advance(10*time.Minute + time.Minute)
	s.Cycle()
	s.WantState(late.ID, approvals.StateHeld)
	if note := s.View(late.ID).Note; !strings.Contains(note, "late_grace") {
		t.Fatalf("note %q", note)
	}
	ok := approvedPost(t, s, "three seconds late")
	s.Clock.Advance(10*time.Minute + 3*time.Second)
	s.Cycle()
	s.WantState(ok.ID, approvals.StatePublished)
	if got := s.Rec.Texts(); len(got) != 1 || got[0] != "three seconds late" {
		t.Fatalf("published %q", got)
	}
}

func TestRetriesThenFailed(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	s.Dispatcher.MaxAttempts = 3
	p := approvedPost(t, s, "retry me")
	s.Rec.FailNext(heedtest.ErrRateLimited, heedtest.ErrRateLimited, heedtest.ErrRateLimited)
	s.Clock.Advance(10 * time.Minute)
	for range 3 {
		s.Cycle()
		s.Clock.Advance(20 * time.Minute)
	}
	s.Cycle()
	s.WantState(p.ID, approvals.StateFailed)
	if v := s.View(p.ID); v.Deliveries[0].Attempts != 3 || !strings.Contains(v.Note, "gave up after 3 attempts: retryable: 429") {
		t.Fatalf("deliveries %+v note %q", v.Deliveries, v.Note)
	}
	if n := s.Chat.RepliesContaining("heed will retry"); n != 2 {
		t.Fatalf("%d retry replies, want 2", n)
	}
}

func TestPermanentErrorFails(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	p := approvedPost(t, s, "refused")
	s.Rec.FailNext(heedtest.ErrRefused)
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	s.WantState(p.ID, approvals.StateFailed)
	if !strings.Contains(s.Chat.LastReply(), "failed: permanent: 422 text refused") {
		t.Fatalf("reply: %q", s.Chat.LastReply())
	}
}

func TestTargetPauseHoldsOnlyThatTarget(t *testing.T) {
	other := heedtest.NewRecorder()
	s := heedtest.New(t, heedtest.Options{Targets: []publish.Target{{Name: "other", Kind: "recorder", Publisher: other}}})
	p := approvedPost(t, s, "two targets", "rec", "other")
	if err := s.Chat.Say("dave", "pause other instance is down"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.Chat.LastReply(), "Paused publishing to other") {
		t.Fatalf("receipt: %q", s.Chat.LastReply())
	}
	// The receipt counts what goes to that target only.
	s.Add("to rec alone", 20*time.Minute, "rec")
	if err := s.Chat.Say("dave", "pause other again"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.Chat.LastReply(), " 1 upcoming occurrence(s) now held back") {
		t.Fatalf("a pause of one target counts posts to others: %q", s.Chat.LastReply())
	}
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	if len(s.Rec.Requests()) != 1 || len(other.Requests()) != 0 {
		t.Fatalf("rec %d, other %d; want 1 and 0", len(s.Rec.Requests()), len(other.Requests()))
	}
	s.WantState(p.ID, approvals.StateHeld)
	for _, d := range s.View(p.ID).Deliveries {
		if d.Target == "other" && (d.State != approvals.DeliveryHeld || d.Attempts != 0) {
			t.Fatalf("other: %s after %d attempt(s); want held by the claim, never attempted", d.State, d.Attempts)
		}
	}
	// After resume, a fresh approval sends only what did not go out.
	_ = s.Chat.Say("alice", "resume other")
	if err := s.Chat.React("bob", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	s.Cycle()
	if len(s.Rec.Requests()) != 1 || len(other.Requests()) != 1 {
		t.Fatalf("after re-approval: rec %d, other %d; want 1 and 1", len(s.Rec.Requests()), len(other.Requests()))
	}
	s.WantState(p.ID, approvals.StatePublished)
}

func TestMissedWithoutApproval(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	p := s.Add("nobody looked", 10*time.Minute)
	s.Cycle()
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	s.WantState(p.ID, approvals.StateMissed)
	if !strings.Contains(s.Chat.CardText(p.ID), "missed: its time came without approval (0 of 1)") {
		t.Fatalf("card:\n%s", s.Chat.CardText(p.ID))
	}
}

func TestRecurringPostNeedsApprovalPerOccurrence(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	s.Service.Window = 36 * time.Hour
	p, err := s.Service.Posts.AddPost(s.Ctx, approvals.NewPost{Text: "daily", Targets: []string{"rec"}, Author: "author",
		Schedule: approvals.Schedule{Cron: "0 10 * * *", TZ: "UTC"}}, "author", "t")
	if err != nil {
		t.Fatal(err)
	}
	s.Cycle()
	occs, _ := s.Service.Reviews.Occurrences(s.Ctx, p.ID, 10)
	if len(occs) != 2 {
		t.Fatalf("%d occurrences in a 36 h window of a daily post, want 2", len(occs))
	}
	if err := s.Chat.React("alice", occs[0].ID, "✅"); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(time.Hour) // 10:00, the first one's time
	s.Cycle()
	s.Clock.Advance(24 * time.Hour)
	s.Cycle()
	s.WantState(occs[0].ID, approvals.StatePublished)
	s.WantState(occs[1].ID, approvals.StateMissed)
	if got := len(s.Rec.Requests()); got != 1 {
		t.Fatalf("published %d, want 1", got)
	}
}

func TestTargetRateLimitSpacesCalls(t *testing.T) {
	limited := heedtest.NewRecorder()
	s := heedtest.New(t, heedtest.Options{Targets: []publish.Target{{Name: "slow", Kind: "recorder", Publisher: limited,
		Limiter: rate.NewLimiter(rate.Every(time.Hour), 1)}}})
	approvedPost(t, s, "first", "slow")
	approvedPost(t, s, "second", "slow")
	s.Clock.Advance(10 * time.Minute)
	// The limiter allows one call now and the next in an hour: the second
	// waits until this cycle's context ends, and is then retried later
	// rather than sent.
	ctx, cancel := context.WithTimeout(s.Ctx, 300*time.Millisecond)
	defer cancel()
	st, err := s.Dispatcher.RunOnce(ctx, s.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st.Published != 1 || st.Retry != 1 || len(limited.Requests()) != 1 {
		t.Fatalf("stats %+v, %d sent; want 1 published and 1 retry", st, len(limited.Requests()))
	}
}

func TestUnknownOutcomeLinksTheAccount(t *testing.T) {
	acct := heedtest.NewRecorder()
	s := heedtest.New(t, heedtest.Options{Targets: []publish.Target{{Name: "x-main", Kind: "recorder", Publisher: acct,
		AccountURL: "https://x.example/heedproject"}}})
	p := approvedPost(t, s, "no idempotency key on this network", "x-main")
	acct.FailNext(heedtest.ErrTimeout)
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	s.WantState(p.ID, approvals.StateUnknown)
	if !strings.Contains(s.Chat.CardText(p.ID), "check x-main at https://x.example/heedproject") {
		t.Fatalf("card does not link the account:\n%s", s.Chat.CardText(p.ID))
	}
	if s.Chat.RepliesContaining("Check https://x.example/heedproject, then `resolve") != 1 {
		t.Fatalf("no thread reply links the account: %q", s.Chat.Replies)
	}
	s.Clock.Advance(time.Hour)
	s.Cycle()
	if n := len(acct.Requests()); n != 0 {
		t.Fatalf("an unknown outcome was retried: %d", n)
	}
}

// TestEditingOneVariantVoidsOnlyItsTarget: a decision covers each target's
// payload; editing the text for one target leaves the approval standing
// for the others, and a fresh approval covers the edited one.
func TestEditingOneVariantVoidsOnlyItsTarget(t *testing.T) {
	other := heedtest.NewRecorder()
	s := heedtest.New(t, heedtest.Options{Targets: []publish.Target{{Name: "other", Kind: "recorder", Publisher: other}}})
	p, err := s.Service.Posts.AddPost(s.Ctx, approvals.NewPost{Text: "shared text", Variants: map[string]string{"other": "other's text"},
		Targets: []string{"rec", "other"}, Author: "author", Schedule: approvals.Schedule{At: s.Clock.Now().Add(10 * time.Minute), TZ: "UTC"}}, "author", "t")
	if err != nil {
		t.Fatal(err)
	}
	s.Cycle()
	if err := s.Chat.React("alice", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	s.WantState(p.ID, approvals.StateApproved)
	if _, err := s.Service.Posts.EditPost(s.Ctx, p.ID, approvals.PostEdit{Variants: map[string]string{"other": "other's text, fixed"}}, "author", "t"); err != nil {
		t.Fatal(err)
	}
	v := s.View(p.ID)
	if v.State != approvals.StateInReview || v.Verdict.PerTarget["rec"] != 1 || v.Verdict.PerTarget["other"] != 0 {
		t.Fatalf("after editing other's variant: %s, per target %v; want rec still approved by alice, other not", v.State, v.Verdict.PerTarget)
	}
	if err := s.Chat.React("bob", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	if got := s.Rec.Texts(); len(got) != 1 || got[0] != "shared text" {
		t.Fatalf("rec published %q", got)
	}
	if got := other.Texts(); len(got) != 1 || got[0] != "other's text, fixed" {
		t.Fatalf("other published %q", got)
	}
}

// TestEachErrorKindGivesItsOutcome: each kind of publish error is counted
// and recorded as its own outcome, and an error nobody classified is
// ambiguous.
func TestEachErrorKindGivesItsOutcome(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		count func(dispatch.Stats) int
		want  approvals.DeliveryState
	}{
		{"success", nil, func(st dispatch.Stats) int { return st.Published }, approvals.DeliveryPublished},
		{"retryable", heedtest.ErrRateLimited, func(st dispatch.Stats) int { return st.Retry }, approvals.DeliveryRetry},
		{"permanent", heedtest.ErrRefused, func(st dispatch.Stats) int { return st.Failed }, approvals.DeliveryFailed},
		{"ambiguous", heedtest.ErrTimeout, func(st dispatch.Stats) int { return st.Unknown }, approvals.DeliveryUnknown},
		{"unclassified", errors.New("connection reset"), func(st dispatch.Stats) int { return st.Unknown }, approvals.DeliveryUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := heedtest.New(t, heedtest.Options{})
			p := approvedPost(t, s, tc.name)
			if tc.err != nil {
				s.Rec.FailNext(tc.err)
			}
			s.Clock.Advance(10 * time.Minute)
			st := s.Cycle()
			if st.Claimed != 1 || tc.count(st) != 1 {
				t.Fatalf("stats %+v", st)
			}
			if d := s.View(p.ID).Deliveries; len(d) != 1 || d[0].State != tc.want {
				t.Fatalf("deliveries %+v, want one %s", d, tc.want)
			}
		})
	}
}

// TestStopLetsSendsFinish: a publish call under way when the dispatcher is
// stopped finishes and its outcome is recorded (published, not unknown);
// a claim still waiting for its target's rate limit is given back unsent,
// to be retried, and nothing new is claimed.
func TestStopLetsSendsFinish(t *testing.T) {
	slow := heedtest.NewRecorder()
	s := heedtest.New(t, heedtest.Options{Targets: []publish.Target{{Name: "slow", Kind: "recorder", Publisher: slow,
		Limiter: rate.NewLimiter(rate.Every(time.Hour), 1)}}})
	s.Dispatcher.Workers = 2
	under := approvedPost(t, s, "under way at the stop", "rec")
	first := approvedPost(t, s, "takes the rate limit's one token", "slow")
	waiting := approvedPost(t, s, "waits for the rate limit", "slow")
	ctx, stop := context.WithCancel(s.Ctx)
	var once sync.Once
	s.Rec.Before = func(publish.Request) { once.Do(stop) } // the stop arrives mid-call
	s.Clock.Advance(10 * time.Minute)
	if _, err := s.Dispatcher.RunOnce(ctx, s.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	s.WantState(under.ID, approvals.StatePublished)
	for _, p := range []approvals.Post{first, waiting} {
		for _, d := range s.View(p.ID).Deliveries {
			if d.State == approvals.DeliveryUnknown || d.State == approvals.DeliveryPublishing {
				t.Errorf("#%d: %s after the stop (%s)", p.ID, d.State, d.Error)
			}
		}
	}
}

// TestAKeyHonouringTargetRetriesInsteadOfUnknown: for a target whose
// remote end honours the idempotency key, an ambiguous send, and a send cut
// off by a crash, are sent again with the same key, not left unknown; the
// same failure on any other target is unknown.
func TestAKeyHonouringTargetRetriesInsteadOfUnknown(t *testing.T) {
	keyed := heedtest.NewRecorder()
	s := heedtest.New(t, heedtest.Options{Targets: []publish.Target{{Name: "keyed", Kind: "recorder", Publisher: keyed, HonoursKey: true}}})
	var keys []string
	keyed.Before = func(r publish.Request) { keys = append(keys, r.IdempotencyKey) }
	p := approvedPost(t, s, "timed out once", "keyed")
	plain := approvedPost(t, s, "timed out on a plain target", "rec")
	keyed.FailNext(heedtest.ErrTimeout)
	s.Rec.FailNext(heedtest.ErrTimeout)
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	s.WantState(plain.ID, approvals.StateUnknown)
	if d := s.View(p.ID).Deliveries[0]; d.State != approvals.DeliveryRetry {
		t.Fatalf("keyed delivery after a timeout: %s, want retry", d.State)
	}
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	s.WantState(p.ID, approvals.StatePublished)
	if len(keys) != 2 || keys[0] != keys[1] {
		t.Fatalf("keys across attempts: %q", keys)
	}

	// A crash mid-send: recovered as a retry for the keyed target only.
	both := approvedPost(t, s, "crashed mid-send", "keyed", "rec")
	s.Clock.Advance(10 * time.Minute)
	res, err := s.Service.Deliveries.Settle(s.Ctx, both.ID, s.Clock.Now(), approvals.SettleOptions{Runner: "crashed"})
	if err != nil || len(res.Claims) != 2 {
		t.Fatalf("settle: %+v %v", res, err)
	}
	if n, err := s.Service.Deliveries.RecoverCrashed(s.Ctx, s.Catalog.HonoursKey); n != 2 || err != nil {
		t.Fatalf("recover: %d %v", n, err)
	}
	for _, d := range s.View(both.ID).Deliveries {
		want := approvals.DeliveryUnknown
		if d.Target == "keyed" {
			want = approvals.DeliveryRetry
		}
		if d.State != want {
			t.Errorf("%s after the crash: %s, want %s", d.Target, d.State, want)
		}
	}
}
