package feeds

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/heed-dev/heed/internal/feedfetch"
)

// StatusKey is where the daemon keeps the feeds' health for `heed status`
// and the metrics.
const StatusKey = "feeds.status"

// KV is the store's key-value state.
type KV interface {
	GetKV(ctx context.Context, key string) (string, error)
	SetKV(ctx context.Context, key, value string) error
}

// Health is the feeds' health as last saved.
type Health struct {
	At    time.Time    `json:"at"`
	Feeds []FeedHealth `json:"feeds"`
}

// FeedHealth is one feed's health.
type FeedHealth = feedfetch.Status

// SaveStatus stores the feeds' health at now.
func (s *Source) SaveStatus(ctx context.Context, kv KV, now time.Time) error {
	h := Health{At: now, Feeds: s.Status()}
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return kv.SetKV(ctx, StatusKey, string(b))
}

// ReadStatus returns the saved health, if a daemon saved any.
func ReadStatus(ctx context.Context, kv interface {
	GetKV(ctx context.Context, key string) (string, error)
}) (Health, bool, error) {
	raw, err := kv.GetKV(ctx, StatusKey)
	if err != nil || raw == "" {
		return Health{}, false, err
	}
	var h Health
	if err := json.Unmarshal([]byte(raw), &h); err != nil {
		return Health{}, false, fmt.Errorf("read the feeds' status: %w", err)
	}
	return h, true, nil
}

// Lines describes the feeds for status output; failing feeds say why.
func (h Health) Lines(zone *time.Location) []string {
	var out []string
	for _, f := range h.Feeds {
		out = append(out, f.Line("feed", zone, "Its new items wait; publishing is not affected."))
	}
	return out
}
