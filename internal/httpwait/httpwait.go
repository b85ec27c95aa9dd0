// Package httpwait reads how long a server asked a client to wait before
// trying again: heed's one Retry-After parser, shared by the network
// publishers, the chat adapters and the feed fetcher.
package httpwait

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// epochThreshold tells an absolute reset time (Unix seconds) from a relative
// one: no network asks for a wait of 30 years.
const epochThreshold = 1_000_000_000

// RetryAfter returns how long the network asked to wait, or 0 if it did not
// say. Retry-After wins (delta seconds or an HTTP date); otherwise the first
// rate-limit reset header present is used:
//
//	x-rate-limit-reset   X (Unix seconds)
//	X-RateLimit-Reset    Mastodon (an ISO 8601 time), others (Unix seconds)
//	ratelimit-reset      Bluesky (Unix seconds), IETF draft (delta seconds)
//
// Absolute times are measured from now. A time already past gives 0.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if d, ok := seconds(v); ok {
			return d
		}
		if t, err := http.ParseTime(v); err == nil {
			return until(t, now)
		}
	}
	for _, name := range []string{"X-Rate-Limit-Reset", "X-RateLimit-Reset", "RateLimit-Reset"} {
		v := strings.TrimSpace(h.Get(name))
		if v == "" {
			continue
		}
		if n, err := strconv.ParseFloat(v, 64); err == nil && n >= epochThreshold {
			sec, frac := math.Modf(n)
			return until(time.Unix(int64(sec), int64(frac*1e9)), now)
		}
		if d, ok := seconds(v); ok {
			return d
		}
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return until(t, now)
		}
	}
	return 0
}

// seconds parses a non-negative number of seconds, fractions allowed.
func seconds(v string) (time.Duration, bool) {
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || n < 0 || math.IsInf(n, 0) || math.IsNaN(n) || n > epochThreshold {
		return 0, false
	}
	return time.Duration(n * float64(time.Second)), true
}

func until(t, now time.Time) time.Duration {
	if d := t.Sub(now); d > 0 {
		return d
	}
	return 0
}
