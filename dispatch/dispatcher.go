// Package dispatch publishes approved occurrences at their time through
// the publish contract, claiming each occurrence × target in the store.
package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/media"
	"github.com/heed-dev/heed/publish"
)

// Dispatcher publishes approved occurrences at their time. It keeps no
// schedule of its own: each cycle asks the store what is due, and between
// cycles it sleeps until the store's next due time or until woken.
type Dispatcher struct {
	Deliveries approvals.DeliveryService // what is due, the claims and their outcomes
	Targets    *Catalog
	// Media is the media store the images of a payload are read from, by
	// their SHA-256, and checked against it; never the file a person
	// named.
	Media  *media.Store
	Runner string // the lease holder's name, recorded on claims
	// Liveness says why the chat cannot be heard ("" when it can). While it
	// is deaf, nothing is claimed: a bot that cannot hear pause must not post.
	Liveness    func(now time.Time) string
	LateGrace   time.Duration // how late after its time an occurrence may still go out (default 10m); later, it is held
	MaxAttempts int           // per target, for retryable errors (default 5)
	Workers     int           // publishes under way at once (default 32)
	Timeout     time.Duration // per publish call (default 60s)
	// StopGrace is how long a publish call under way may still take once
	// the dispatcher is stopped (default 30s): it finishes and its outcome
	// is recorded, rather than being cut off into an unknown outcome.
	// Nothing new is claimed after the stop, and a claim still waiting for
	// its target's rate limit is given back unsent.
	StopGrace time.Duration
	Batch     int // due occurrences settled per cycle (default 1000)
	// Notify is told every outcome, so the chat can reply in the card's thread.
	Notify func(ctx context.Context, c approvals.Claim, out approvals.Outcome)
	Log    *slog.Logger
	Now    func() time.Time

	// Observer, when set, is told what each cycle did (metrics).
	Observer Observer

	wake      chan struct{}
	once      sync.Once
	lastCycle atomic.Int64 // unix nanoseconds of the last cycle that completed
}

// Observer is told what the dispatcher does, for metrics. Its methods must
// return at once.
type Observer interface {
	// Claimed: a delivery was claimed lag after its occurrence's time.
	Claimed(target string, lag time.Duration)
	// Published: a publish call to target took took and ended in kind.
	Published(target string, took time.Duration, kind approvals.OutcomeKind)
	// RateLimited: target answered that it is rate limited (HTTP 429) and
	// asked for a wait of wait before the next attempt.
	RateLimited(target string, wait time.Duration)
}

// LastCycle is when the last dispatch cycle that could read and write the
// store completed; zero before the first.
func (d *Dispatcher) LastCycle() time.Time {
	n := d.lastCycle.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func (d *Dispatcher) init() {
	d.once.Do(func() {
		d.wake = make(chan struct{}, 1)
		if d.LateGrace == 0 {
			d.LateGrace = 10 * time.Minute
		}
		if d.MaxAttempts == 0 {
			d.MaxAttempts = 5
		}
		if d.Workers == 0 {
			d.Workers = 32
		}
		if d.Timeout == 0 {
			d.Timeout = 60 * time.Second
		}
		if d.StopGrace == 0 {
			d.StopGrace = 30 * time.Second
		}
		if d.Batch == 0 {
			d.Batch = 1000
		}
		if d.Log == nil {
			d.Log = slog.Default()
		}
		if d.Now == nil {
			d.Now = time.Now
		}
	})
}

// Wake makes a sleeping Run cycle at once.
func (d *Dispatcher) Wake() {
	d.init()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Stats counts what one cycle did.
type Stats struct {
	Claimed, Published, Retry, Failed, Unknown, Held, Missed int
}

// RunOnce runs one dispatch cycle at `now`: settles every due occurrence,
// claims due retries, publishes the claims and records the outcomes. Tests
// drive time through it.
func (d *Dispatcher) RunOnce(ctx context.Context, now time.Time) (Stats, error) {
	d.init()
	deaf := ""
	if d.Liveness != nil {
		deaf = d.Liveness(now)
	}
	opt := approvals.SettleOptions{Runner: d.Runner, Deaf: deaf, LateGrace: d.LateGrace}
	ids, err := d.Deliveries.Due(ctx, now, d.Batch)
	if err != nil {
		return Stats{}, err
	}
	retries, err := d.Deliveries.RetriesDue(ctx, now, d.Batch)
	if err != nil {
		return Stats{}, err
	}
	// Each worker claims one occurrence (or retry), publishes it and
	// records the outcome before it takes the next. A claim is made just
	// before its send, never a batch ahead of it, so after a pause nothing
	// claimed earlier is still waiting to start.
	type job struct {
		id    int64
		retry *approvals.DeliveryRef
	}
	jobs := make(chan job)
	var (
		mu      sync.Mutex
		st      Stats
		wg      sync.WaitGroup
		blocked error // the store cannot be written: the cycle fails, and Run backs off
	)
	add := func(f func(*Stats)) { mu.Lock(); f(&st); mu.Unlock() }
	failed := func(what string, id int64, err error) {
		if approvals.ErrorCode(err) == approvals.EUNAVAILABLE {
			mu.Lock()
			if blocked == nil {
				blocked = err
			}
			mu.Unlock()
			return
		}
		d.Log.Error(what, "occurrence", id, "err", err)
	}
	for w := 0; w < min(d.Workers, len(ids)+len(retries)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if ctx.Err() != nil {
					continue // stopped: nothing new is claimed
				}
				if j.retry != nil {
					c, ok, err := d.Deliveries.ClaimRetry(ctx, *j.retry, now, opt)
					if err != nil {
						failed("claim retry", j.retry.Occurrence, err)
					} else if ok {
						d.send(ctx, c, add)
					}
					continue
				}
				res, err := d.Deliveries.Settle(ctx, j.id, now, opt)
				if err != nil {
					failed("settle", j.id, err)
					continue
				}
				d.settled(j.id, res, add)
				for _, c := range res.Claims {
					d.send(ctx, c, add)
				}
			}
		}()
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		jobs <- job{id: id}
	}
	for i := range retries {
		if ctx.Err() != nil {
			break
		}
		jobs <- job{retry: &retries[i]}
	}
	close(jobs)
	wg.Wait()
	if blocked == nil {
		d.lastCycle.Store(d.Now().UnixNano())
	}
	return st, blocked
}

// settled counts and logs what Settle decided.
func (d *Dispatcher) settled(id int64, res approvals.SettleResult, add func(func(*Stats))) {
	switch res.Outcome {
	case approvals.OutcomeHeld:
		add(func(st *Stats) { st.Held++ })
		d.Log.Warn("held", "occurrence", id, "why", res.Note)
	case approvals.OutcomeMissed:
		add(func(st *Stats) { st.Missed++ })
		d.Log.Warn("missed", "occurrence", id, "why", res.Note)
	}
}

// send publishes one claim and records its outcome.
func (d *Dispatcher) send(ctx context.Context, c approvals.Claim, add func(func(*Stats))) {
	if d.Observer != nil {
		d.Observer.Claimed(c.Target, max(d.Now().Sub(c.Payload.At), 0))
	}
	out := d.publish(ctx, c)
	add(func(st *Stats) {
		st.Claimed++
		switch out.Kind {
		case approvals.OutcomeOK:
			st.Published++
		case approvals.OutcomeWithheld:
			st.Held++
		case approvals.OutcomeRetryable:
			st.Retry++
		case approvals.OutcomePermanent:
			st.Failed++
		default:
			st.Unknown++
		}
	})
	// The outcome is recorded even when the dispatcher is stopping: an
	// outcome not recorded becomes an unknown one at the next start.
	rctx := context.WithoutCancel(ctx)
	if err := d.Deliveries.RecordPublish(rctx, c, out, d.Now()); err != nil {
		d.Log.Error("record publish", "occurrence", c.Occurrence, "target", c.Target, "err", err)
		return
	}
	if d.Notify != nil {
		d.Notify(rctx, c, out)
	}
}

func (d *Dispatcher) publish(ctx context.Context, c approvals.Claim) approvals.Outcome {
	t, ok := d.Targets.Get(c.Target)
	if !ok {
		return approvals.Outcome{Kind: approvals.OutcomePermanent, Err: "target " + c.Target + " is no longer configured"}
	}
	req := publish.Request{
		OccurrenceID: c.Occurrence, Target: c.Target, Text: c.Payload.Text, Link: c.Payload.Link,
		ScheduledAt: c.Payload.At, IdempotencyKey: c.Key,
	}
	if t.Limiter != nil {
		// Waiting happens before anything is sent, so a cancel here is a
		// plain retry later.
		if err := t.Limiter.Wait(ctx); err != nil {
			return approvals.Outcome{Kind: approvals.OutcomeRetryable, Err: "stopped while waiting for the rate limit", NextAttempt: d.Now().Add(retryDelay(c.Attempt))}
		}
	}
	// Checked again at the wire: a pause, a withdrawn approval or a deaf
	// chat that came while this claim waited (for the rate limit, for the
	// targets before it) stops it here, before anything is written.
	if d.Liveness != nil {
		if deaf := d.Liveness(d.Now()); deaf != "" {
			return approvals.Outcome{Kind: approvals.OutcomeWithheld, Err: deaf + " just before sending"}
		}
	}
	why, err := d.Deliveries.Recheck(ctx, c)
	if err != nil {
		return approvals.Outcome{Kind: approvals.OutcomeRetryable, Err: "could not check for a pause just before sending: " + err.Error(),
			NextAttempt: d.Now().Add(retryDelay(c.Attempt))}
	}
	if why != "" {
		d.Log.Warn("withheld at the wire", "occurrence", c.Occurrence, "target", c.Target, "why", why)
		return approvals.Outcome{Kind: approvals.OutcomeWithheld, Err: why}
	}
	// The images are read last, at the wire, from the media store only.
	for i, m := range c.Payload.Media {
		pm, err := d.stored(i, m)
		if err != nil {
			d.Log.Error("not sent: an image cannot be read from the media store", "occurrence", c.Occurrence, "target", c.Target, "err", err)
			return approvals.Outcome{Kind: approvals.OutcomePermanent, Err: err.Error()}
		}
		req.Media = append(req.Media, pm)
	}
	// A call under way outlives a stop by StopGrace at most.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.Timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(d.StopGrace, cancel)
		context.AfterFunc(pctx, func() { t.Stop() })
	})
	defer stop()
	start := time.Now()
	res, err := t.Publisher.Publish(pctx, req)
	took := time.Since(start)
	if err == nil {
		if d.Observer != nil {
			d.Observer.Published(c.Target, took, approvals.OutcomeOK)
		}
		d.Log.Info("published", "occurrence", c.Occurrence, "target", c.Target, "url", res.URL, "remote_id", res.RemoteID)
		return approvals.Outcome{Kind: approvals.OutcomeOK, RemoteID: res.RemoteID, URL: res.URL}
	}
	kind, after := publish.Classify(err)
	if kind == publish.Ambiguous && t.HonoursKey {
		// The remote end never posts twice for one key: sending again with
		// the same key settles what a person would otherwise have to check.
		kind = publish.Retryable
	}
	out := approvals.Outcome{Kind: outcomeKind(kind), Err: err.Error()}
	if d.Observer != nil {
		d.Observer.Published(c.Target, took, out.Kind)
		if kind == publish.Retryable && after > 0 {
			d.Observer.RateLimited(c.Target, after)
		}
	}
	if kind == publish.Retryable {
		if c.Attempt < d.MaxAttempts {
			out.NextAttempt = d.Now().Add(max(after, retryDelay(c.Attempt)))
		} else {
			out.Kind, out.Err = approvals.OutcomePermanent, fmt.Sprintf("gave up after %d attempts: %v", c.Attempt, err)
		}
	}
	d.Log.Warn("publish failed", "occurrence", c.Occurrence, "target", c.Target, "kind", out.Kind, "attempt", c.Attempt, "err", err)
	return out
}

// stored is image i of a payload as a publisher gets it: the bytes of the
// media store's copy, checked against the SHA-256 the approval covers. An
// image that has no copy (attached before heed kept them), or whose copy is
// missing or changed, fails the send for good: heed never falls back to
// the file a person named, which may hold anything by now.
func (d *Dispatcher) stored(i int, m approvals.Media) (publish.Media, error) {
	what := fmt.Sprintf("image %d (%s)", i+1, m.Name())
	if m.SHA256 == "" {
		return publish.Media{}, fmt.Errorf("%s has no copy in heed's media store (it was attached before heed kept them); nothing was sent: edit the post to add the image again", what)
	}
	if d.Media == nil {
		return publish.Media{}, fmt.Errorf("%s: no media store is configured; nothing was sent", what)
	}
	data, err := d.Media.Read(m.SHA256)
	if err != nil {
		return publish.Media{}, fmt.Errorf("%s, sha256 %.12s: %w; nothing was sent: edit the post to add the image again", what, m.SHA256, err)
	}
	return publish.Media{Path: d.Media.Path(m.SHA256), Name: m.Name(), MIME: m.Type, Alt: m.Alt, SHA256: m.SHA256, Data: data}, nil
}

// outcomeKind is the outcome a classified publish error gives. A kind it
// does not know is ambiguous.
func outcomeKind(k publish.ErrorKind) approvals.OutcomeKind {
	switch k {
	case publish.Retryable:
		return approvals.OutcomeRetryable
	case publish.Permanent:
		return approvals.OutcomePermanent
	}
	return approvals.OutcomeAmbiguous
}

// retryDelay is the backoff before attempt+1: exponential from 10 s, capped
// at 10 min, with jitter.
func retryDelay(attempt int) time.Duration {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     10 * time.Second,
		RandomizationFactor: 0.2,
		Multiplier:          2,
		MaxInterval:         10 * time.Minute,
	}
	b.Reset()
	var d time.Duration
	for i := 0; i < attempt; i++ {
		d = b.NextBackOff()
	}
	return d
}

// Run cycles until ctx is done: it sleeps until the store's next due time,
// a wake-up, or `poll` (which bounds how long a change made by another
// process, such as the CLI, can go unnoticed).
func (d *Dispatcher) Run(ctx context.Context, poll time.Duration) error {
	d.init()
	var failing time.Duration // the backoff while cycles fail
	var lastErr string
	for {
		_, err := d.RunOnce(ctx, d.Now())
		switch {
		case err == nil || ctx.Err() != nil:
			if failing > 0 {
				d.Log.Info("dispatch cycles succeed again")
			}
			failing, lastErr = 0, ""
		default:
			// A store that cannot be read or written (a full disk) fails
			// every cycle alike: back off, and log each new error once.
			failing = min(max(2*failing, poll), 30*time.Second)
			if msg := err.Error(); msg != lastErr {
				d.Log.Error("dispatch cycle failed; retrying with backoff", "err", err, "next_in", failing)
				lastErr = msg
			}
		}
		wait := max(poll, failing)
		deaf := d.Liveness != nil && d.Liveness(d.Now()) != ""
		// While deaf nothing can go out (retries wait too): sleep until
		// woken or the poll, rather than spin on work that is overdue.
		if next, ok, err := d.Deliveries.NextWake(ctx); err == nil && ok && !deaf && failing == 0 {
			if until := time.Until(next); until < wait {
				wait = max(until, 0)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-d.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// Catalog holds the configured targets. It implements approvals.TargetCatalog.
type Catalog struct {
	targets map[string]publish.Target
	media   *media.Store // where validation finds a payload's images; see SetMedia
}

// SetMedia names the media store whose copies of images validation looks
// at. Without one, a payload's images are validated as named.
func (c *Catalog) SetMedia(m *media.Store) { c.media = m }

var _ approvals.TargetCatalog = (*Catalog)(nil)

// NewCatalog returns a catalog of the given targets.
func NewCatalog(ts ...publish.Target) *Catalog {
	c := &Catalog{targets: map[string]publish.Target{}}
	for _, t := range ts {
		c.targets[t.Name] = t
	}
	return c
}

// Get returns a target by name.
func (c *Catalog) Get(name string) (publish.Target, bool) {
	t, ok := c.targets[name]
	return t, ok
}

// HonoursKey reports whether a target's remote end honours the idempotency
// key (publish.Target.HonoursKey).
func (c *Catalog) HonoursKey(name string) bool { return c.targets[name].HonoursKey }

// Known reports whether a target is configured.
func (c *Catalog) Known(name string) bool { _, ok := c.targets[name]; return ok }

// Names lists the configured targets, sorted.
func (c *Catalog) Names() []string {
	out := make([]string, 0, len(c.targets))
	for n := range c.targets {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// AccountURL returns where a person checks what a target published, or "".
func (c *Catalog) AccountURL(name string) string { return c.targets[name].AccountURL }

// Kind returns a target's publisher kind.
func (c *Catalog) Kind(name string) string { return c.targets[name].Kind }

// Problems says what stops p from going out: an image with no copy in the
// media store (approvals.MediaProblems), and what the target's publisher,
// if it can validate, would refuse in it. A copy that goes missing later
// is caught when it is sent (Dispatcher.stored).
func (c *Catalog) Problems(p approvals.Payload) []string {
	t, ok := c.targets[p.Target]
	if !ok {
		return []string{"target " + p.Target + " is not configured"}
	}
	out := approvals.MediaProblems(p)
	v, ok := t.Publisher.(publish.Validator)
	if !ok {
		return out
	}
	for _, pr := range v.Validate(c.requestFor(p)) {
		out = append(out, pr.Message)
	}
	return out
}

// CanRetract reports whether a target's publisher can delete what it
// published.
func (c *Catalog) CanRetract(target string) bool {
	t, ok := c.targets[target]
	if !ok {
		return false
	}
	_, ok = t.Publisher.(publish.Retractor)
	return ok
}

// Retract deletes a published post through its target's publisher, with
// the remote id and URL the publish recorded.
func (c *Catalog) Retract(ctx context.Context, target, remoteID, url string) error {
	t, ok := c.targets[target]
	if !ok {
		return publish.PermanentError(fmt.Errorf("target %s is no longer configured", target))
	}
	r, ok := t.Publisher.(publish.Retractor)
	if !ok {
		return publish.PermanentError(fmt.Errorf("%s (%s) cannot delete posts", target, t.Kind))
	}
	return r.Retract(ctx, target, publish.Result{RemoteID: remoteID, URL: url})
}

// Preview returns exactly what the target will send for p.
func (c *Catalog) Preview(p approvals.Payload) string {
	if pv, ok := c.targets[p.Target].Publisher.(publish.Previewer); ok {
		return pv.Preview(c.requestFor(p))
	}
	return p.Text
}

// requestFor is p as a publisher's Validate and Preview see it: its images
// as the media store keeps them, without their bytes.
func (c *Catalog) requestFor(p approvals.Payload) publish.Request {
	req := publish.Request{Target: p.Target, Text: p.Text, Link: p.Link, ScheduledAt: p.At}
	for _, m := range p.Media {
		pm := publish.Media{Path: m.Path, Name: m.Name(), MIME: m.Type, Alt: m.Alt, SHA256: m.SHA256}
		if c.media != nil && m.SHA256 != "" {
			pm.Path = c.media.Path(m.SHA256)
		}
		req.Media = append(req.Media, pm)
	}
	return req
}
