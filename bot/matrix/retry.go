package matrix

import (
	"context"
	"errors"
	"net/http"
	"time"

	"maunium.net/go/mautrix"

	"github.com/heed-dev/heed/internal/httpwait"
)

const (
	// maxRateLimitWaits bounds how often one call waits out a 429 before it
	// gives up and lets the caller retry later.
	maxRateLimitWaits = 8
	// maxWait caps any single wait, whatever the server asks for.
	maxWait = 5 * time.Minute
)

// rateLimited reports whether err is a 429 M_LIMIT_EXCEEDED and how long the
// homeserver asked to wait: retry_after_ms from the body, else the
// Retry-After header (which newer servers send instead), else 0.
func rateLimited(err error) (time.Duration, bool) {
	var he mautrix.HTTPError
	if !errors.As(err, &he) {
		return 0, false
	}
	limited := he.Response != nil && he.Response.StatusCode == http.StatusTooManyRequests
	if he.RespError != nil && he.RespError.ErrCode == mautrix.MLimitExceeded.ErrCode {
		limited = true
	}
	if !limited {
		return 0, false
	}
	if he.RespError != nil {
		if ms, ok := he.RespError.ExtraData["retry_after_ms"].(float64); ok && ms > 0 {
			return time.Duration(ms) * time.Millisecond, true
		}
	}
	if he.Response != nil {
		return httpwait.RetryAfter(he.Response.Header, time.Now()), true
	}
	return 0, true
}

// backoff is the wait before attempt n (1-based) when the server named
// none: 1 s doubling, up to 30 s.
func backoff(n int) time.Duration {
	d := time.Second
	for i := 1; i < n && d < 30*time.Second; i++ {
		d *= 2
	}
	return min(d, 30*time.Second)
}

// call runs f, waiting out rate limits as the homeserver asks. Other errors
// return at once: the engine retries card work on its next cycle, and sends
// carry a transaction id, so a repeat of the same call cannot post twice.
func (a *Adapter) call(ctx context.Context, op string, f func(context.Context) error) error {
	for n := 1; ; n++ {
		err := f(ctx)
		wait, limited := rateLimited(err)
		if !limited || n >= maxRateLimitWaits {
			return err
		}
		if wait <= 0 {
			wait = backoff(n)
		}
		wait = min(wait, maxWait)
		a.log.Warn("rate limited by the homeserver; waiting as asked", "op", op, "wait", wait)
		if err := a.sleep(ctx, wait); err != nil {
			return err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
