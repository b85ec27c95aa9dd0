package app

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"

	"golang.org/x/time/rate"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/dispatch"
	"github.com/heed-dev/heed/publish"
)

// Catalog builds every configured target. Publishers that print (the log
// target) write to stdout.
func (c *Config) Catalog(log *slog.Logger, stdout io.Writer) (*dispatch.Catalog, error) {
	var ts []publish.Target
	for _, name := range SortedNames(c.Targets) {
		t := maps.Clone(c.Targets[name])
		for _, k := range targetSafeguardKeys {
			delete(t, k) // the safeguards' keys, read by Safeguards
		}
		lim, err := limiter(name, t)
		if err != nil {
			return nil, err
		}
		account, err := accountURL(name, t)
		if err != nil {
			return nil, err
		}
		honours, err := honoursKey(name, t)
		if err != nil {
			return nil, err
		}
		p, err := publish.New(publish.Config{Name: name, Kind: KindOf(t), Decode: c.Decoder(t), Logger: log.With("target", name), Stdout: stdout})
		if err != nil {
			return nil, err
		}
		ts = append(ts, publish.Target{Name: name, Kind: KindOf(t), Publisher: p, Limiter: lim, AccountURL: account, HonoursKey: honours})
	}
	return dispatch.NewCatalog(ts...), nil
}

// honoursKey takes honours_idempotency_key out of a target's settings: the
// team's word that the remote end (its webhook receiver, its Mastodon
// instance) never posts twice for one Idempotency-Key.
func honoursKey(name string, t map[string]any) (bool, error) {
	v, ok := t["honours_idempotency_key"]
	delete(t, "honours_idempotency_key")
	if !ok {
		return false, nil
	}
	b, isBool := v.(bool)
	if !isBool {
		return false, fmt.Errorf("targets.%s: honours_idempotency_key: say true or false", name)
	}
	return b, nil
}

// accountURL takes account_url out of a target's settings: the account's
// page, shown when an outcome is unknown so a person knows where to check.
func accountURL(name string, t map[string]any) (string, error) {
	v, ok := t["account_url"]
	delete(t, "account_url")
	if !ok {
		return "", nil
	}
	s, _ := v.(string)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("targets.%s: account_url %q is not an http(s) URL", name, s)
	}
	return s, nil
}

// limiter takes the dispatcher's own keys out of a target's settings:
// rate_limit (publishes per second, e.g. 0.5) and burst (default 1).
func limiter(name string, t map[string]any) (*rate.Limiter, error) {
	rl, hasRate := t["rate_limit"]
	b, hasBurst := t["burst"]
	delete(t, "rate_limit")
	delete(t, "burst")
	if !hasRate {
		if hasBurst {
			return nil, fmt.Errorf("targets.%s: burst without rate_limit", name)
		}
		return nil, nil
	}
	per, ok := toFloat(rl)
	if !ok || per <= 0 {
		return nil, fmt.Errorf("targets.%s: rate_limit %v: give publishes per second as a positive number, e.g. 0.5", name, rl)
	}
	burst := 1
	if hasBurst {
		f, ok := toFloat(b)
		if !ok || f < 1 || f != float64(int(f)) {
			return nil, fmt.Errorf("targets.%s: burst %v: give a whole number of 1 or more", name, b)
		}
		burst = int(f)
	}
	return rate.NewLimiter(rate.Limit(per), burst), nil
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// roomPolicy returns the policy lookup for a CLI process: the rooms'
// configured policies, without a chat to ask about groups or power levels.
func (c *Config) roomPolicy(room string) approvals.Policy {
	for _, r := range c.Rooms {
		if r.Name == room {
			return c.RoomPolicy(r)
		}
	}
	return c.RoomPolicy(c.Rooms[0])
}
