package bot

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// StateStore keeps an adapter's own state across restarts (sync tokens,
// device ids) in heed's database.
type StateStore interface {
	GetKV(ctx context.Context, key string) (string, error)
	SetKV(ctx context.Context, key, value string) error
}

// AdapterConfig is what a chat adapter factory gets.
type AdapterConfig struct {
	Name string // the adapter's name in the configuration (default: its kind)
	Kind string // matrix, slack
	// Decode decodes the adapter's own settings (${ENV} already expanded)
	// into a struct of the factory's, rejecting unknown keys.
	Decode func(v any) error
	// RoomIDs are the review rooms configured for this adapter.
	RoomIDs []string
	State   StateStore
	// SharedListener says heed's own HTTP listener serves the adapter's
	// HTTP endpoint (HTTPEndpoint): the adapter must not listen itself.
	SharedListener bool
	// RateLimited, when set, is told of every wait the chat's rate limit
	// asks for (metrics).
	RateLimited func(wait time.Duration)
	Log         *slog.Logger
	Now         func() time.Time
}

// AdapterFactory builds a chat adapter.
type AdapterFactory func(cfg AdapterConfig) (Adapter, error)

var (
	adaptersMu sync.RWMutex
	adapters   = map[string]AdapterFactory{}
)

// RegisterAdapter makes a chat kind available to the configuration; each
// adapter package calls it from init.
func RegisterAdapter(kind string, f AdapterFactory) {
	adaptersMu.Lock()
	defer adaptersMu.Unlock()
	if _, dup := adapters[kind]; dup {
		panic("bot: adapter kind registered twice: " + kind)
	}
	adapters[kind] = f
}

// NewAdapter builds an adapter of a registered kind.
func NewAdapter(cfg AdapterConfig) (Adapter, error) {
	adaptersMu.RLock()
	f, ok := adapters[cfg.Kind]
	adaptersMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("chat %q: unknown kind %q (known: console, %v)", cfg.Name, cfg.Kind, AdapterKinds())
	}
	a, err := f(cfg)
	if err != nil {
		return nil, fmt.Errorf("chat %q (%s): %w", cfg.Name, cfg.Kind, err)
	}
	return a, nil
}

// AdapterKinds lists the registered chat kinds, sorted.
func AdapterKinds() []string {
	adaptersMu.RLock()
	defer adaptersMu.RUnlock()
	out := make([]string, 0, len(adapters))
	for k := range adapters {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
