package httpwait

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

func TestRetryAfter(t *testing.T) {
	cases := []struct {
		name    string
		headers map[string]string
		want    time.Duration
	}{
		{"none", nil, 0},
		{"seconds", map[string]string{"Retry-After": "120"}, 2 * time.Minute},
		{"fractional seconds", map[string]string{"Retry-After": "1.5"}, 1500 * time.Millisecond},
		{"HTTP date", map[string]string{"Retry-After": "Sat, 14 Mar 2026 09:01:00 GMT"}, time.Minute},
		{"HTTP date in the past", map[string]string{"Retry-After": "Sat, 14 Mar 2026 08:00:00 GMT"}, 0},
		{"garbage Retry-After falls through to the reset header", map[string]string{"Retry-After": "soon", "x-rate-limit-reset": strconv.FormatInt(testNow.Unix()+30, 10)}, 30 * time.Second},
		{"negative seconds are ignored", map[string]string{"Retry-After": "-5"}, 0},
		{"X epoch", map[string]string{"x-rate-limit-reset": strconv.FormatInt(testNow.Unix()+900, 10)}, 15 * time.Minute},
		{"Mastodon ISO time", map[string]string{"X-RateLimit-Reset": "2026-03-14T09:05:00.000Z"}, 5 * time.Minute},
		{"IETF draft delta seconds", map[string]string{"RateLimit-Reset": "42"}, 42 * time.Second},
		{"Bluesky epoch", map[string]string{"ratelimit-reset": strconv.FormatInt(testNow.Unix()+60, 10)}, time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.headers {
				h.Set(k, v)
			}
			if got := RetryAfter(h, testNow); got != tc.want {
				t.Errorf("RetryAfter = %v, want %v", got, tc.want)
			}
		})
	}
}
