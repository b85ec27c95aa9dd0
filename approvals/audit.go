package approvals

import (
	"context"
	"time"
)

// AuditEntry is one line of the append-only audit log: who did what, when,
// and where.
type AuditEntry struct {
	ID    int64     `json:"id"`
	At    time.Time `json:"at"`
	Actor string    `json:"actor"` // as shown: a chat display name ("@alice"), a CLI name, "heed"
	// Identity is the identity the actor used: a chat user id (U0ALICE,
	// @alice:example.org) or a CLI name; empty for heed's own actions.
	Identity string `json:"identity,omitempty"`
	// Person is whom the configuration's people say Identity belongs to;
	// empty when it is nobody's.
	Person     string `json:"person,omitempty"`
	Action     string `json:"action"` // post.add, decision.approve, pause, publish.ok, ...
	PostID     int64  `json:"post_id,omitempty"`
	Occurrence int64  `json:"occurrence,omitempty"`
	Target     string `json:"target,omitempty"`
	Place      string `json:"place,omitempty"` // where: "console", "slack:C0123", "cli"
	Detail     string `json:"detail,omitempty"`
}

// Acting is who a domain call acts for. The edges that know it (the chat
// engine for an event, the CLI for a command) put it in the call's
// context; the store records Identity and Person on the audit entries the
// call writes under Name, and on no other (heed's own, say).
type Acting struct {
	Name     string // the actor as the call names it: a chat display name, a CLI name
	Identity string // the identity used: a chat user id, a CLI name
	Person   string // the person Identity belongs to, or ""
}

type actingKey struct{}

// WithActing returns ctx acting for a.
func WithActing(ctx context.Context, a Acting) context.Context {
	return context.WithValue(ctx, actingKey{}, a)
}

// ActingIn returns whom ctx acts for, if anyone.
func ActingIn(ctx context.Context) (Acting, bool) {
	a, ok := ctx.Value(actingKey{}).(Acting)
	return a, ok
}

// Attribute fills the entry's identity and person from ctx when the entry
// is written under the acting name and has none of its own.
func (e *AuditEntry) Attribute(ctx context.Context) {
	if e.Identity != "" {
		return
	}
	if a, ok := ActingIn(ctx); ok && a.Name != "" && a.Name == e.Actor {
		e.Identity, e.Person = a.Identity, a.Person
	}
}

// AuditQuery picks audit entries: by person (the person, the actor as
// shown or the identity used), by kind (an action, or its first part:
// "pause" picks pause and pause.*), and from/to (at or after From, before
// To); zero fields pick everything. Limit bounds how many, newest first.
type AuditQuery struct {
	Person   string
	Kind     string
	From, To time.Time
	Limit    int
}
