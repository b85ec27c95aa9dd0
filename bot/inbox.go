package bot

import (
	"context"

	"github.com/heed-dev/heed/approvals"
)

// A chat whose requests come in over HTTP (Slack's Events API) may have
// them reach any replica behind a load balancer, not only the one that
// holds the chat. A replica that does not hold it verifies each request
// and keeps it in the database, once per key, for the holder, which
// handles it as if it had received it; the holder alone acts on chat
// events, so cards are still posted and edited by one replica. A pause is
// the exception: the replica that received it records it at once, before
// it answers, as `heed pause` would, so that no claim starts after it.

// Inbox keeps the requests that reached a replica not holding their chat.
// sqlite.Store implements it.
type Inbox interface {
	// KeepRequest stores a verified request once per chat and key; false
	// when one with that key is stored already (a retry).
	KeepRequest(ctx context.Context, r approvals.ChatRequest) (bool, error)
	// KeptRequests lists up to n stored requests of chat, oldest first.
	KeptRequests(ctx context.Context, chat string, n int) ([]approvals.ChatRequest, error)
	// DropRequest deletes a stored request once its holder handled it.
	DropRequest(ctx context.Context, chat, key string) error
}

// Relay is what the engine gives an adapter whose chat's requests may
// reach any replica: the inbox, and the engine itself as the handler of
// what must not wait for the holder (a pause).
type Relay interface {
	Handler
	Inbox
}

// Relayed is implemented by adapters whose chat's requests may reach a
// replica that does not hold the chat (Slack in events mode). The wiring
// hands them the engine's Relay when heed runs as one of several replicas.
type Relayed interface {
	UseRelay(r Relay)
}

// relay is the engine and the database's inbox.
type relay struct {
	*Engine
	Inbox
}

// Relay is the engine's Relay over inbox.
func (e *Engine) Relay(inbox Inbox) Relay { return relay{Engine: e, Inbox: inbox} }
