package heedtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/heed-dev/heed/publish"
)

// Recorder is a publisher that records what it was asked to publish. It
// dedupes on the idempotency key, as networks with keys do, and can be told
// to fail.
type Recorder struct {
	mu    sync.Mutex
	reqs  []publish.Request
	byKey map[string]bool
	fail  []error
	// Before, when set, runs inside Publish before anything is recorded:
	// tests use it to act in the middle of a publish (a pause, a crash).
	Before func(req publish.Request)
	// Limit, when set, makes Validate refuse texts longer than it (bytes).
	Limit       int
	validations int

	retracted   []publish.Result
	failRetract []error
}

var (
	_ publish.Publisher = (*Recorder)(nil)
	_ publish.Validator = (*Recorder)(nil)
	_ publish.Retractor = (*Recorder)(nil)
)

// Retract records a retraction, unless told to fail (FailNextRetract).
// Like a network, it refuses to delete what it never published.
func (r *Recorder) Retract(ctx context.Context, target string, res publish.Result) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.failRetract) > 0 {
		err := r.failRetract[0]
		r.failRetract = r.failRetract[1:]
		if err != nil {
			return err
		}
	}
	if !r.byKey[res.RemoteID] {
		return publish.PermanentError(fmt.Errorf("404: no post %s", res.RemoteID))
	}
	delete(r.byKey, res.RemoteID)
	r.retracted = append(r.retracted, res)
	return nil
}

// FailNextRetract makes the next Retract calls fail with errs, in order.
func (r *Recorder) FailNextRetract(errs ...error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failRetract = append(r.failRetract, errs...)
}

// Retracted returns what was retracted, in order.
func (r *Recorder) Retracted() []publish.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]publish.Result(nil), r.retracted...)
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder { return &Recorder{byKey: map[string]bool{}} }

// FailNext makes the next calls fail with errs, in order.
func (r *Recorder) FailNext(errs ...error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = append(r.fail, errs...)
}

// Publish records req unless its idempotency key was seen.
func (r *Recorder) Publish(ctx context.Context, req publish.Request) (publish.Result, error) {
	if r.Before != nil {
		r.Before(req)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.fail) > 0 {
		err := r.fail[0]
		r.fail = r.fail[1:]
		if err != nil {
			return publish.Result{}, err
		}
	}
	if !r.byKey[req.IdempotencyKey] {
		r.byKey[req.IdempotencyKey] = true
		r.reqs = append(r.reqs, req)
	}
	return publish.Result{RemoteID: req.IdempotencyKey, URL: fmt.Sprintf("https://rec.example/%d/%s", req.OccurrenceID, req.Target)}, nil
}

// Validate refuses texts over Limit.
func (r *Recorder) Validate(req publish.Request) []publish.Problem {
	r.mu.Lock()
	r.validations++
	r.mu.Unlock()
	if r.Limit > 0 && len(req.Text) > r.Limit {
		return []publish.Problem{{Message: fmt.Sprintf("%d/%d characters on rec", len(req.Text), r.Limit)}}
	}
	return nil
}

// Requests returns what was published, in order.
func (r *Recorder) Requests() []publish.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]publish.Request(nil), r.reqs...)
}

// Texts returns the published texts, in order.
func (r *Recorder) Texts() []string {
	var out []string
	for _, q := range r.Requests() {
		out = append(out, q.Text)
	}
	return out
}

// Common failures for FailNext.
var (
	ErrRateLimited = publish.RetryableError(errors.New("429 too many requests"), 30*time.Second)
	ErrRefused     = publish.PermanentError(errors.New("422 text refused"))
	ErrTimeout     = publish.AmbiguousError(errors.New("timeout after the request was sent"))
)

// Validations counts the calls to Validate.
func (r *Recorder) Validations() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.validations
}
