package slack

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
)

// Reading the open cards' reactions back when heed starts.
//
// Reactions added or taken back while heed was stopped may never arrive
// as events: Slack gives up on a delivery after a few tries. As soon as
// Run starts, in Socket Mode and in events mode alike (without waiting for
// a socket or a first request), the adapter has the engine read every open
// card back (reactions.get and the card's button records) and record what
// it finds. Each card is read on the event worker, in line with the
// events queued there, so that a reaction taken back while its card is
// read is applied after the read, not before it. A card that cannot be
// read (an HTTP 500, a reactor Slack cannot look up just now) is tried
// again after a backoff of its own (1 s, doubling, at most a minute); a
// 429 is waited out by the Web API call itself, as long as Retry-After
// says, holding back later calls of that method only (and the events
// queued behind the card on the worker; pause and resume have their own
// lane). Until every open card was read back the adapter says it is deaf,
// so nothing is published on decisions that may have been taken back.

const (
	reconcileFirstWait = time.Second
	reconcileMaxWait   = time.Minute
)

// reconState is whether the open cards were read back since Run started.
type reconState struct {
	mu      sync.Mutex
	pending bool   // from New, and each Run, until every open card was read back
	err     string // why a card could not be read back, while one cannot
	changed chan struct{}
}

func (r *reconState) init() {
	r.changed = make(chan struct{})
	r.pending = true
}

func (r *reconState) set(pending bool, err string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending, r.err = pending, err
	close(r.changed)
	r.changed = make(chan struct{})
}

// deaf says why the chat counts as not heard while cards wait to be read
// back, or "". The text does not change with every retry: it becomes a
// card note.
func (r *reconState) deaf(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.pending {
		return ""
	}
	why := fmt.Sprintf("the %s chat is reading back the reactions on its open cards", name)
	if r.err != "" {
		why += " (" + r.err + ")"
	}
	return why
}

// ReconcilesOnStart implements bot.SelfReconciler: the adapter reads its
// open cards back itself when Run starts.
func (a *Adapter) ReconcilesOnStart() bool { return true }

// reconItem asks the event worker to read one card back.
type reconItem struct {
	rc   bot.CardReconciler
	card approvals.CardRef
	done chan error // buffered: the worker never waits on it
}

// runReconcile reads every open card back through h, trying each card
// that fails again after its own backoff, until all were read or ctx
// ends. Waits go through the adapter's sleep, so a test drives them.
func (a *Adapter) runReconcile(ctx context.Context, h bot.Handler) {
	rc, ok := h.(bot.CardReconciler)
	if !ok {
		a.recon.set(false, "")
		return
	}
	var cards []approvals.CardRef
	for backoff := reconcileFirstWait; ; backoff = min(2*backoff, reconcileMaxWait) {
		var err error
		if cards, err = rc.OpenCards(ctx, a.name); err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		a.recon.set(true, "cannot list the open cards: "+shortErr(err))
		a.log.Warn("cannot list the open cards to read them back; publishing holds until heed can", "err", err, "in", backoff)
		if a.sleep(ctx, backoff) != nil {
			return
		}
	}
	// Each card that fails waits its own backoff, counted on a clock of
	// the waits made here (elapsed), so that no wall clock is read.
	type retry struct {
		card  approvals.CardRef
		wait  time.Duration // the next backoff
		dueAt time.Duration // on the elapsed clock
	}
	var later []*retry
	var elapsed time.Duration
	due := make([]*retry, 0, len(cards))
	for _, c := range cards {
		due = append(due, &retry{card: c, wait: reconcileFirstWait})
	}
	failed := 0
	for len(due) > 0 || len(later) > 0 {
		for _, r := range due {
			err := a.reconcileOnWorker(ctx, rc, r.card)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				continue
			}
			failed++
			wait := r.wait
			if ra, limited := rateLimited(err); limited {
				wait = max(wait, ra)
			}
			r.dueAt, r.wait = elapsed+wait, min(2*r.wait, reconcileMaxWait)
			later = append(later, r)
			a.recon.set(true, fmt.Sprintf("card #%d: %s", r.card.Occurrence, shortErr(err)))
			a.log.Warn("could not read a card's reactions back; trying it again, and publishing holds until then",
				"occurrence", r.card.Occurrence, "card", r.card.Ref, "err", err, "in", wait)
		}
		due = due[:0]
		if len(later) == 0 {
			break
		}
		next := later[0].dueAt
		for _, r := range later[1:] {
			next = min(next, r.dueAt)
		}
		if next > elapsed {
			if a.sleep(ctx, next-elapsed) != nil {
				return
			}
			elapsed = next
		}
		rest := later[:0]
		for _, r := range later {
			if r.dueAt <= elapsed {
				due = append(due, r)
			} else {
				rest = append(rest, r)
			}
		}
		later = rest
	}
	a.recon.set(false, "")
	if len(cards) > 0 {
		a.log.Info("read the open cards' reactions back", "cards", len(cards), "failed_reads", failed)
	}
}

// reconcileOnWorker has the event worker read one card back, after every
// event queued before it, and waits for the outcome. The read is not
// counted on the lane: a read-back of the history (catchUp) waits for the
// messages queued before it, not for a card that waits out a 429, which
// would keep a new socket's envelopes (a pause among them) waiting.
func (a *Adapter) reconcileOnWorker(ctx context.Context, rc bot.CardReconciler, c approvals.CardRef) error {
	it := &reconItem{rc: rc, card: c, done: make(chan error, 1)}
	select {
	case a.queue <- inbound{recon: it}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-it.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// shortErr is an error's text, bounded for a card note.
func shortErr(err error) string { return approvals.Clip(err.Error(), 200) }
