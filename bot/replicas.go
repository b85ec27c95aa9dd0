package bot

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/heed-dev/heed/approvals"
)

// Several heed replicas may share one database (PostgreSQL). Every
// replica dispatches; one at a time holds each chat's connection, and
// only the holder connects to that chat, renders its cards and sends its
// replies. The holder keeps a lease on the chat in the database and
// renews it with what its connection last heard; the other replicas'
// deaf guards read that record. A holder that cannot renew in time stops
// (its Run returns an error) before its lease lapses; another replica
// takes the chat over once it has.

// ChatLeases is the database's record of who holds each chat.
// sqlite.Store implements it.
type ChatLeases interface {
	// TakeChat gives replica the chat's lease until now+ttl if nobody
	// holds a live one, and reports whether it did.
	TakeChat(ctx context.Context, chat, replica string, now time.Time, ttl time.Duration) (bool, error)
	// RenewChat extends replica's live lease to now+ttl and records the
	// connection's last sign of life and why it cannot hear ("" when it
	// can). False: replica no longer holds a live lease.
	RenewChat(ctx context.Context, chat, replica string, now time.Time, ttl time.Duration, alive time.Time, deaf string) (bool, error)
	// ReleaseChat lets replica's lease lapse at once.
	ReleaseChat(ctx context.Context, chat, replica string) error
	// ChatHolder is the chat's lease record; false when none.
	ChatHolder(ctx context.Context, chat string) (approvals.ChatHolder, bool, error)
}

// TripwireLease names the news tripwire's poller among the leases: one
// replica polls the feeds.
const TripwireLease = "tripwire"

// DefaultLease is how long a chat's lease lasts unless renewed: a dead
// holder's chat is taken over within 1¼ of it.
const DefaultLease = 7 * time.Second

// ErrLostChat is returned (wrapped) by Run when this replica failed to
// renew a chat's lease in time, or another replica holds it.
var ErrLostChat = fmt.Errorf("lost a chat's lease")

// leases is what this replica holds.
type leases struct {
	mu    sync.Mutex
	until map[string]time.Time // chat → when this replica stops serving it unless renewed
	extra []string             // leases held for something other than an adapter (the tripwire)
}

func (e *Engine) replicated() bool { return e.Leases != nil }

func (e *Engine) leaseTTL() time.Duration {
	if e.Lease > 0 {
		return e.Lease
	}
	return DefaultLease
}

// RenewEvery is how often a replica renews its leases and tries to take
// the chats nobody holds.
func (e *Engine) RenewEvery() time.Duration { return e.leaseTTL() / 4 }

// serveFor is how long after a renewal this replica serves the chat:
// a quarter of the lease short of its expiry, so that it has stopped
// before another replica may take the chat.
func (e *Engine) serveFor() time.Duration { return e.leaseTTL() - e.leaseTTL()/4 }

// Holds reports whether this engine serves the chat (or the tripwire)
// now: always when it is the only heed on its database, else while its
// lease on it stands.
func (e *Engine) Holds(chat string) bool {
	if !e.replicated() {
		return true
	}
	e.held.mu.Lock()
	defer e.held.mu.Unlock()
	until, ok := e.held.until[chat]
	return ok && e.Now().Before(until)
}

// Held lists the chats (and the tripwire) this engine holds, sorted.
func (e *Engine) Held() []string {
	var out []string
	for _, name := range e.leaseNames() {
		if e.Holds(name) {
			out = append(out, name)
		}
	}
	return out
}

// holdsAny reports whether this engine serves any chat.
func (e *Engine) holdsAny() bool {
	return slices.ContainsFunc(e.Adapters, func(a Adapter) bool { return e.Holds(a.Name()) })
}

// leaseTripwire makes this replica take part in holding the tripwire's
// lease.
func (e *Engine) leaseTripwire() {
	e.held.mu.Lock()
	defer e.held.mu.Unlock()
	if !slices.Contains(e.held.extra, TripwireLease) {
		e.held.extra = append(e.held.extra, TripwireLease)
	}
}

func (e *Engine) leaseNames() []string {
	names := make([]string, 0, len(e.Adapters)+1)
	for _, a := range e.Adapters {
		names = append(names, a.Name())
	}
	e.held.mu.Lock()
	names = append(names, e.held.extra...)
	e.held.mu.Unlock()
	return names
}

// health is what a held chat's connection says of itself.
func (e *Engine) health(name string) (alive time.Time, deaf string) {
	a := e.adapter(name)
	if a == nil {
		return e.Now(), "" // the tripwire: its feeds' health is in its status
	}
	if h, ok := a.(Hearing); ok {
		deaf = h.Deaf()
	}
	return a.Alive(), deaf
}

// HoldCycle renews the leases this replica holds, recording what each
// connection heard, and takes those nobody holds; it returns the chats it
// took. It fails (ErrLostChat) when a lease it held was not renewed in
// time or another replica has it: the replica must then stop serving.
// Run calls it every RenewEvery; tests drive it.
func (e *Engine) HoldCycle(ctx context.Context) (taken []string, err error) {
	if err := e.init(); err != nil {
		return nil, err
	}
	if !e.replicated() {
		return nil, nil
	}
	ttl := e.leaseTTL()
	for _, name := range e.leaseNames() {
		now := e.Now()
		e.held.mu.Lock()
		until, mine := e.held.until[name]
		e.held.mu.Unlock()
		if mine {
			if !now.Before(until) {
				return taken, fmt.Errorf("%w: the %s lease was not renewed in time", ErrLostChat, name)
			}
			alive, deaf := e.health(name)
			ok, err := e.Leases.RenewChat(ctx, name, e.Replica, now, ttl, alive, deaf)
			if err != nil {
				if ctx.Err() != nil {
					return taken, ctx.Err()
				}
				e.Log.Warn("could not renew a chat's lease; trying again", "chat", name, "serving_until", until, "err", err)
				continue
			}
			if !ok {
				return taken, fmt.Errorf("%w: another heed replica holds %s", ErrLostChat, name)
			}
			e.setHeld(name, now.Add(e.serveFor()))
			continue
		}
		if name == TripwireLease && !e.Holds(e.Rooms[0].Adapter) {
			continue // its alerts go to the review rooms: polled by the first room's holder
		}
		ok, err := e.Leases.TakeChat(ctx, name, e.Replica, now, ttl)
		if err != nil {
			if ctx.Err() != nil {
				return taken, ctx.Err()
			}
			e.Log.Warn("could not try to take a chat's lease", "chat", name, "err", err)
			continue
		}
		if ok {
			e.setHeld(name, now.Add(e.serveFor()))
			e.Log.Info("holding a chat", "chat", name, "replica", e.Replica)
			taken = append(taken, name)
		}
	}
	return taken, nil
}

func (e *Engine) setHeld(name string, until time.Time) {
	e.held.mu.Lock()
	defer e.held.mu.Unlock()
	if e.held.until == nil {
		e.held.until = map[string]time.Time{}
	}
	e.held.until[name] = until
}

// ReleaseAll lets every lease this replica holds lapse at once, for a
// stop: another replica takes the chats at its next try.
func (e *Engine) ReleaseAll(ctx context.Context) {
	if !e.replicated() {
		return
	}
	e.held.mu.Lock()
	names := make([]string, 0, len(e.held.until))
	for name := range e.held.until {
		names = append(names, name)
	}
	e.held.until = nil
	e.held.mu.Unlock()
	for _, name := range names {
		if err := e.Leases.ReleaseChat(ctx, name, e.Replica); err != nil {
			e.Log.Warn("could not release a chat's lease; it lapses by itself", "chat", name, "err", err)
		}
	}
}

// heardElsewhere is the deaf guard for a chat this replica does not
// hold: what its holder last recorded in the database, or deaf when no
// replica holds a live lease on it.
func (e *Engine) heardElsewhere(ctx context.Context, a Adapter, now time.Time) string {
	h, ok, err := e.Leases.ChatHolder(ctx, a.Name())
	switch {
	case err != nil:
		return fmt.Sprintf("cannot read which heed replica holds the %s chat", a.Name())
	case !ok:
		return fmt.Sprintf("no heed replica has connected to the %s chat yet", a.Name())
	case !now.Before(h.Expires):
		// No running time in the text: it becomes a card note.
		return fmt.Sprintf("no heed replica holds the %s chat (its holder %s stopped renewing its lease)", a.Name(), h.Replica)
	case now.Sub(h.Renewed) > 2*e.RenewEvery():
		// It missed a renewal: it may have died. What it last heard no
		// longer counts, before its lease lapses.
		return fmt.Sprintf("the heed replica holding the %s chat (%s) stopped renewing its hold", a.Name(), h.Replica)
	case h.Deaf != "":
		return h.Deaf
	case h.Alive.IsZero():
		return fmt.Sprintf("the %s chat has not connected yet", a.Name())
	case now.Sub(h.Alive) > e.DeafAfter:
		return fmt.Sprintf("the %s chat has not been heard from since %s", a.Name(), h.Alive.In(e.Zone).Format("15:04:05 MST"))
	}
	return ""
}
