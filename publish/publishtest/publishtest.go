// Package publishtest is the conformance suite every heed publisher runs.
// One call, Run, checks the behaviour the dispatcher relies on: what a
// publish returns, how each failure is classified, that retries with the
// same idempotency key post once, that over-limit text is refused before any
// network call, and that the token never reaches a log or an error.
//
// # Using it from a network package
//
// Write a fake of the network (an httptest server answering in the shapes of
// the network's documentation) that satisfies Backend; embedding a Recorder
// gives it Posts, Calls and FailNext. Then:
//
//	func TestConformance(t *testing.T) {
//		var logs publishtest.LogBuffer
//		publishtest.Run(t, publishtest.Harness{
//			New: func(t *testing.T) (publish.Publisher, publishtest.Backend) {
//				fake := newFakeNetwork(t, token) // httptest server + Recorder
//				p := newPublisher(fake.URL, token, publishtest.ClientTimeout, logs.Logger())
//				return p, fake
//			},
//			Idempotent:       true, // the network takes an idempotency key
//			Token:            token,
//			Logs:             logs.String,
//			OverLimitText:    strings.Repeat("a", 501),
//			OverLimitProblem: "501/500",
//		})
//	}
//
// New is called once per subtest and must return a fresh publisher and a
// fresh backend. Build the publisher through the package's own factory where
// possible (publish.New with a Config), so the suite covers the configured
// path, and give it:
//
//   - a request timeout of ClientTimeout (the suite has no other way to make
//     a stalled request end quickly, and it never sleeps);
//   - a logger writing to the harness's Logs (LogBuffer.Logger does this);
//   - the harness's Token as its credential.
//
// Against a real server, NewProxy gives a Backend that passes requests
// through and injects the failures.
//
// # What the fake must do
//
// The fake records every post the network would show, with the text as the
// network would show it (undo any wire escaping), counts every request it
// receives of any kind (sessions, instance info, uploads included), and on
// FailNext makes the next post-creating request fail once, as follows:
//
//   - Retryable: HTTP 429 with "Retry-After: 7" (RetryAfterSeconds). Nothing
//     is recorded.
//   - Permanent: HTTP 422 whose body is the network's error shape carrying
//     PermanentMessage. Nothing is recorded.
//   - Auth: HTTP 401 in the network's error shape. Nothing is recorded.
//   - TimeoutAfterSend: record the post (with its idempotency key, so a
//     retry finds it), then stall until the client gives up: block on the
//     request's context (Stall does this). Never sleep.
//
// If the network takes an idempotency key (Harness.Idempotent), the fake
// answers a second request with a known key with the post it already holds
// (Recorder.Record does the bookkeeping).
//
// # What the suite expects of the publisher
//
//   - Success: a Result with a RemoteID, a URL or both (a RemoteID must match
//     the backend's id for the post); the backend holds exactly the request's
//     text, or the publisher's Preview of it if it is a publish.Previewer;
//     Validate, if implemented, finds no problem with the ordinary text.
//   - Every error is a *publish.Error of the right kind. httpx.Do classifies
//     HTTP answers this way; a publisher over a client library classifies
//     with publish.RetryableError, PermanentError and AmbiguousError.
//   - A Retryable error carries RetryAfter from the network's Retry-After.
//   - A Permanent error passes on PermanentMessage; an Auth one says
//     "refresh the token".
//   - With OverLimitText: Validate reports OverLimitProblem, and Publish
//     refuses with a Permanent error stating it, without any backend call.
//   - The Token never appears in a Result, an error's text or Logs, in any
//     escaping httpx.Redact knows.
//
// The requests come from Request; their texts include non-ASCII characters
// and an emoji. publishtest_test.go holds a complete reference network (fake
// and publisher) that passes, and flawed variants the suite must catch.
//
// # Subtests
//
// Success, RetryableThenSuccess, Permanent, Auth, AmbiguousTimeout,
// IdempotentRetry, IdempotentRetryAfterTimeout, OverLimitRefused and
// TokenNeverLogged. The idempotency and over-limit subtests are skipped, with
// the reason, when the harness does not enable them. Run a single one with
// go test -run 'TestConformance/Auth'.
package publishtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/httpx"
)

const (
	// RetryAfterSeconds is the Retry-After a fake sends with a Retryable
	// failure; the suite expects the publish.Error to carry exactly this wait.
	RetryAfterSeconds = 7
	// RetryAfter is RetryAfterSeconds as a duration.
	RetryAfter = RetryAfterSeconds * time.Second
	// PermanentMessage is the network's own message in a Permanent failure;
	// the suite expects the error to pass it on.
	PermanentMessage = "publishtest: the network refused this text"
	// ClientTimeout is the request timeout to give the publisher under test.
	// It bounds how long the TimeoutAfterSend cases take.
	ClientTimeout = 500 * time.Millisecond
)

// safety bounds every call the suite makes, so a publisher that ignores its
// timeout fails the suite instead of hanging it.
const safety = 30 * time.Second

// Failure is a failure a Backend can be told to produce once.
type Failure int

const (
	// Retryable: HTTP 429 with Retry-After: RetryAfterSeconds.
	Retryable Failure = iota + 1
	// Permanent: HTTP 422 carrying PermanentMessage.
	Permanent
	// Auth: HTTP 401.
	Auth
	// TimeoutAfterSend: the post is recorded, then the answer never comes.
	TimeoutAfterSend
)

func (f Failure) String() string {
	switch f {
	case Retryable:
		return "Retryable"
	case Permanent:
		return "Permanent"
	case Auth:
		return "Auth"
	case TimeoutAfterSend:
		return "TimeoutAfterSend"
	}
	return fmt.Sprintf("Failure(%d)", int(f))
}

// Post is one post a Backend holds.
type Post struct {
	// Text is the text as the network shows it.
	Text string
	// RemoteID is the id the backend gave the post.
	RemoteID string
	// IdempotencyKey is the key the post was created with, if any.
	IdempotencyKey string
}

// Backend is the network side of a harness: a fake, or a proxy in front of a
// real server.
type Backend interface {
	// Posts returns the posts the backend holds, oldest first.
	Posts() []Post
	// Calls returns how many requests of any kind the backend received.
	Calls() int
	// FailNext makes the next post-creating request fail once with f.
	FailNext(f Failure)
}

// Harness is what a network package hands to Run.
type Harness struct {
	// New returns a fresh publisher wired to a fresh backend. It is called
	// once per subtest; register cleanups on its t.
	New func(t *testing.T) (publish.Publisher, Backend)
	// Idempotent is true if publishing the same request twice (same
	// IdempotencyKey) yields one post.
	Idempotent bool
	// Token is the credential the publisher uses. Required: the suite checks
	// that it never appears in a log, an error or a result.
	Token string
	// Logs returns everything the publishers built by New have logged so far.
	// Required.
	Logs func() string
	// OverLimitText is a text over the network's limit. When set, the
	// publisher must implement publish.Validator.
	OverLimitText string
	// OverLimitProblem is the exact count that Validate's problem and
	// Publish's error must contain for OverLimitText, e.g. "501/500".
	// Required with OverLimitText.
	OverLimitProblem string
}

// Run runs the conformance suite against h.
func Run(t *testing.T, h Harness) {
	t.Helper()
	switch {
	case h.New == nil:
		t.Fatal("publishtest: Harness.New is required")
	case h.Token == "":
		t.Fatal("publishtest: Harness.Token is required: the publisher's credential, so the suite can check it never leaks")
	case h.Logs == nil:
		t.Fatal("publishtest: Harness.Logs is required: give the publisher a logger writing to a publishtest.LogBuffer and pass its String method")
	case h.OverLimitText != "" && h.OverLimitProblem == "":
		t.Fatal(`publishtest: Harness.OverLimitProblem is required with OverLimitText: the exact count Validate reports, e.g. "501/500"`)
	}
	s := &suite{h: h}
	t.Run("Success", s.success)
	t.Run("RetryableThenSuccess", s.retryableThenSuccess)
	t.Run("Permanent", s.permanent)
	t.Run("Auth", s.auth)
	t.Run("AmbiguousTimeout", s.ambiguousTimeout)
	t.Run("IdempotentRetry", s.idempotentRetry)
	t.Run("IdempotentRetryAfterTimeout", s.idempotentRetryAfterTimeout)
	t.Run("OverLimitRefused", s.overLimitRefused)
	t.Run("TokenNeverLogged", s.tokenNeverLogged)
}

type suite struct {
	h Harness
}

// Request returns the request the suite publishes in the named subtest. A
// network package can use it to exercise its publisher the same way.
func Request(subtest string) publish.Request {
	key := "publishtest-" + strings.ToLower(subtest)
	return publish.Request{
		OccurrenceID:   42,
		Target:         "publishtest",
		Text:           "publishtest " + subtest + ": café ✓ 🚀",
		ScheduledAt:    time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC),
		IdempotencyKey: key,
	}
}

// publish calls p with the safety deadline and checks that whatever comes
// back is clean of the token.
func (s *suite) publish(t *testing.T, p publish.Publisher, req publish.Request) (publish.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	res, err := p.Publish(ctx, req)
	if ctx.Err() != nil {
		t.Fatalf("Publish ran into the suite's %v safety deadline: give the publisher a request timeout of publishtest.ClientTimeout", safety)
	}
	s.noToken(t, "result", fmt.Sprintf("%+v", res))
	if err != nil {
		s.noToken(t, "error", err.Error())
		s.noToken(t, "error", fmt.Sprintf("%+v", err))
	}
	return res, err
}

// noToken fails t if s carries the token in any escaping Redact knows.
func (s *suite) noToken(t *testing.T, what, text string) {
	t.Helper()
	if httpx.Redact(text, s.h.Token) != text {
		t.Errorf("the token appears in the %s: %s", what, httpx.Redact(text, s.h.Token))
	}
}

// wantKind fails t unless err is a *publish.Error of kind k.
func wantKind(t *testing.T, err error, k publish.ErrorKind) *publish.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("Publish succeeded, want a %v error", k)
	}
	var pe *publish.Error
	if !errors.As(err, &pe) {
		t.Fatalf("Publish error %q is not a *publish.Error: classify it (httpx.Do does)", err)
	}
	if pe.Kind != k {
		t.Fatalf("Publish error kind = %v, want %v: %v", pe.Kind, k, err)
	}
	return pe
}

func wantPosts(t *testing.T, b Backend, n int) []Post {
	t.Helper()
	posts := b.Posts()
	if len(posts) != n {
		t.Fatalf("backend holds %d posts, want %d: %+v", len(posts), n, posts)
	}
	return posts
}

// expectedText is what the network should show for req: the publisher's
// preview if it transforms text, else the text itself.
func expectedText(p publish.Publisher, req publish.Request) string {
	if pv, ok := p.(publish.Previewer); ok {
		return pv.Preview(req)
	}
	return req.Text
}

func wantResult(t *testing.T, res publish.Result) {
	t.Helper()
	if res.RemoteID == "" && res.URL == "" {
		t.Errorf("Result is empty: want a RemoteID, a URL or both")
	}
}

func (s *suite) success(t *testing.T) {
	p, b := s.h.New(t)
	req := Request("Success")
	if v, ok := p.(publish.Validator); ok {
		if probs := v.Validate(req); len(probs) > 0 {
			t.Fatalf("Validate of an ordinary text: %v", probs)
		}
	}
	res, err := s.publish(t, p, req)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	wantResult(t, res)
	post := wantPosts(t, b, 1)[0]
	if want := expectedText(p, req); post.Text != want {
		t.Errorf("backend holds text %q, want exactly %q", post.Text, want)
	}
	if res.RemoteID != "" && post.RemoteID != "" && res.RemoteID != post.RemoteID {
		t.Errorf("Result.RemoteID = %q, but the backend gave the post id %q", res.RemoteID, post.RemoteID)
	}
}

func (s *suite) retryableThenSuccess(t *testing.T) {
	p, b := s.h.New(t)
	req := Request("RetryableThenSuccess")
	b.FailNext(Retryable)
	_, err := s.publish(t, p, req)
	pe := wantKind(t, err, publish.Retryable)
	if pe.RetryAfter != RetryAfter {
		t.Errorf("RetryAfter = %v, want the backend's Retry-After of %v", pe.RetryAfter, RetryAfter)
	}
	wantPosts(t, b, 0)

	res, err := s.publish(t, p, req)
	if err != nil {
		t.Fatalf("Publish after the retryable error: %v", err)
	}
	wantResult(t, res)
	wantPosts(t, b, 1)
}

func (s *suite) permanent(t *testing.T) {
	p, b := s.h.New(t)
	b.FailNext(Permanent)
	_, err := s.publish(t, p, Request("Permanent"))
	wantKind(t, err, publish.Permanent)
	if !strings.Contains(err.Error(), PermanentMessage) {
		t.Errorf("error %q does not pass on the network's message %q", err, PermanentMessage)
	}
	wantPosts(t, b, 0)
}

func (s *suite) auth(t *testing.T) {
	p, b := s.h.New(t)
	b.FailNext(Auth)
	_, err := s.publish(t, p, Request("Auth"))
	wantKind(t, err, publish.Permanent)
	if !strings.Contains(strings.ToLower(err.Error()), "refresh the token") {
		t.Errorf("error %q does not tell the user to refresh the token", err)
	}
	wantPosts(t, b, 0)
}

func (s *suite) ambiguousTimeout(t *testing.T) {
	p, b := s.h.New(t)
	b.FailNext(TimeoutAfterSend)
	_, err := s.publish(t, p, Request("AmbiguousTimeout"))
	wantKind(t, err, publish.Ambiguous)
	// The fake recorded the post before stalling: this is the case where the
	// network acted and heed cannot know it.
	wantPosts(t, b, 1)
}

func (s *suite) idempotentRetry(t *testing.T) {
	if !s.h.Idempotent {
		t.Skip("Harness.Idempotent is false: the network takes no idempotency key")
	}
	p, b := s.h.New(t)
	req := Request("IdempotentRetry")
	first, err := s.publish(t, p, req)
	if err != nil {
		t.Fatalf("first Publish: %v", err)
	}
	second, err := s.publish(t, p, req)
	if err != nil {
		t.Fatalf("second Publish with the same key: %v", err)
	}
	wantPosts(t, b, 1)
	if first != second {
		t.Errorf("second Publish returned %+v, want the first's %+v", second, first)
	}
}

func (s *suite) idempotentRetryAfterTimeout(t *testing.T) {
	if !s.h.Idempotent {
		t.Skip("Harness.Idempotent is false: the network takes no idempotency key")
	}
	p, b := s.h.New(t)
	req := Request("IdempotentRetryAfterTimeout")
	b.FailNext(TimeoutAfterSend)
	_, err := s.publish(t, p, req)
	wantKind(t, err, publish.Ambiguous)
	res, err := s.publish(t, p, req)
	if err != nil {
		t.Fatalf("Publish with the same key after the timeout: %v", err)
	}
	post := wantPosts(t, b, 1)[0]
	wantResult(t, res)
	if res.RemoteID != "" && post.RemoteID != "" && res.RemoteID != post.RemoteID {
		t.Errorf("Result.RemoteID = %q, want the id of the post made before the timeout, %q", res.RemoteID, post.RemoteID)
	}
}

func (s *suite) overLimitRefused(t *testing.T) {
	if s.h.OverLimitText == "" {
		t.Skip("Harness.OverLimitText is empty: the network has no length limit to test")
	}
	p, b := s.h.New(t)
	v, ok := p.(publish.Validator)
	if !ok {
		t.Fatalf("%T does not implement publish.Validator, but the harness names an over-limit text", p)
	}
	req := Request("OverLimitRefused")
	req.Text = s.h.OverLimitText

	probs := v.Validate(req)
	if len(probs) == 0 {
		t.Fatalf("Validate found no problem with a text over the limit")
	}
	var found bool
	for _, pr := range probs {
		found = found || strings.Contains(pr.Message, s.h.OverLimitProblem)
	}
	if !found {
		t.Errorf("Validate = %v, want a problem stating %q", probs, s.h.OverLimitProblem)
	}

	// Validate may have warmed a cache (an instance's limit); Publish itself
	// must not reach the network.
	before := b.Calls()
	_, err := s.publish(t, p, req)
	if after := b.Calls(); after != before {
		t.Errorf("Publish of an over-limit text made %d backend calls, want none", after-before)
	}
	wantKind(t, err, publish.Permanent)
	if !strings.Contains(err.Error(), s.h.OverLimitProblem) {
		t.Errorf("error %q does not state %q", err, s.h.OverLimitProblem)
	}
	wantPosts(t, b, 0)
}

func (s *suite) tokenNeverLogged(t *testing.T) {
	// One more failing publish of each kind, so the logs hold failures, then
	// everything the publishers logged in this run is checked.
	for _, f := range []Failure{Auth, Permanent, Retryable} {
		p, b := s.h.New(t)
		b.FailNext(f)
		if _, err := s.publish(t, p, Request("TokenNeverLogged")); err == nil {
			t.Errorf("Publish after FailNext(%v) succeeded", f)
		}
	}
	s.noToken(t, "logs", s.h.Logs())
}
