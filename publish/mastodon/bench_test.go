package mastodon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/heed-dev/heed/publish"
)

const benchText = "heed benchmark: approvals from your phone 🎉 https://example.org/heed/release"

// BenchmarkPublish measures what heed adds to one status post: heed's
// Publish (validation against the cached instance limit, JSON encoding,
// httpx's classification, decoding the answer, remembering the key) against
// a bare client doing the least any client must (encode, POST with the same
// headers, read the answer, decode the id). It runs against three servers:
//
//   - memory: the recorded answers served by an in-memory RoundTripper, no
//     network and no server, so heed and bare differ by heed's work alone;
//   - fake: the stateful fake over loopback HTTP;
//   - gotosocial: the real GoToSocial over loopback HTTP.
//
// All three in one run:
//
//	go test -run '^$' -bench BenchmarkPublish -benchmem ./publish/mastodon/
//
// Each pair runs interleaved, one heed publish and one bare post per
// iteration in alternating order, and reports heed-ns/op, bare-ns/op and
// their difference as overhead-ns/op: a real server slows down as it fills
// with statuses, so two sequential runs would not compare. ns/op, B/op and
// allocs/op are for the pair together; overhead-B/op and
// overhead-allocs/op are what one heed publish allocates beyond one bare
// post.
func BenchmarkPublish(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		p := newTestPublisher(b, "https://mastodon.example", "visibility: unlisted\n", nil)
		p.client.Transport = memoryServer(b)
		benchPair(b, p, &http.Client{Transport: memoryServer(b), Timeout: DefaultTimeout}, "https://mastodon.example", testToken)
	})
	b.Run("fake", func(b *testing.B) {
		fake := benchFake(b)
		p := newTestPublisher(b, fake.URL, "visibility: unlisted\n", nil)
		benchPair(b, p, &http.Client{Timeout: DefaultTimeout}, fake.URL, testToken)
	})
	srv := goToSocial(b)
	b.Run("gotosocial", func(b *testing.B) {
		p := srv.publisher(b, "visibility: unlisted\n")
		benchPair(b, p, &http.Client{Timeout: DefaultTimeout}, srv.URL, srv.Token)
	})
}

// benchFake is the fake without idempotency bookkeeping, whose lookup
// grows with every post and would slow later iterations.
func benchFake(b *testing.B) *fakeMastodon {
	fake := newFake(b, testToken)
	fake.set(func(f *fakeMastodon) { f.ignoreIdemKey = true })
	return fake
}

// run is the benchmark's unique prefix for idempotency keys: heed remembers
// keys, and a key reused across runs would skip the post.
var run int

func benchPair(b *testing.B, p *Publisher, client *http.Client, server, token string) {
	ctx := context.Background()
	// The instance limit is read once per publisher and cached; read it
	// before timing, as a running heed has.
	if _, err := p.Limit(ctx); err != nil {
		b.Fatal(err)
	}
	run++
	prefix := fmt.Sprintf("bench-%d-%d-", time.Now().UnixNano(), run)
	heed := func(i int) {
		req := publish.Request{Text: benchText, IdempotencyKey: prefix + "heed-" + strconv.Itoa(i)}
		if _, err := p.Publish(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	bare := func(i int) {
		if err := barePost(client, server, token, benchText, prefix+"bare-"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
	}

	// What heed allocates beyond the bare post, measured outside the timed
	// loop: the difference cancels what both share (the in-process fake's
	// own allocations, the transport's).
	const allocRuns = 50
	heedBytes, heedAllocs := allocated(allocRuns, func(i int) { heed(-1 - i) })
	bareBytes, bareAllocs := allocated(allocRuns, func(i int) { bare(-1 - i) })

	var heedTime, bareTime time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		first, second, t1, t2 := heed, bare, &heedTime, &bareTime
		if i%2 == 1 {
			first, second, t1, t2 = bare, heed, &bareTime, &heedTime
		}
		start := time.Now()
		first(i)
		mid := time.Now()
		second(i)
		*t1 += mid.Sub(start)
		*t2 += time.Since(mid)
	}
	n := float64(b.N)
	b.ReportMetric(float64(heedTime)/n, "heed-ns/op")
	b.ReportMetric(float64(bareTime)/n, "bare-ns/op")
	b.ReportMetric(float64(heedTime-bareTime)/n, "overhead-ns/op")
	b.ReportMetric(heedBytes-bareBytes, "overhead-B/op")
	b.ReportMetric(heedAllocs-bareAllocs, "overhead-allocs/op")
}

// allocated runs f n times and returns the bytes and allocations per run,
// process-wide.
func allocated(n int, f func(i int)) (bytesPerRun, allocsPerRun float64) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range n {
		f(i)
	}
	runtime.ReadMemStats(&after)
	return float64(after.TotalAlloc-before.TotalAlloc) / float64(n), float64(after.Mallocs-before.Mallocs) / float64(n)
}

// barePost is the least any client does to post a status.
func barePost(client *http.Client, server, token, text, key string) error {
	body, err := json.Marshal(statusBody{Status: text, Visibility: "unlisted"})
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, server+"/api/v1/statuses", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d, %v", resp.StatusCode, err)
	}
	var st statusAnswer
	if err := json.Unmarshal(answer, &st); err != nil || st.ID == "" {
		return fmt.Errorf("answer without an id: %v", err)
	}
	return nil
}

// memoryServer answers every request in memory with the recorded payloads:
// the instance for GETs, a status for POSTs.
func memoryServer(b *testing.B) http.RoundTripper {
	instance, err := os.ReadFile(filepath.Join("testdata", "instance_v2.json"))
	if err != nil {
		b.Fatal(err)
	}
	status, err := os.ReadFile(filepath.Join("testdata", "status.json"))
	if err != nil {
		b.Fatal(err)
	}
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		body := status
		if r.Method == http.MethodGet {
			body = instance
		}
		if r.Body != nil {
			_, _ = io.Copy(io.Discard, r.Body)
			r.Body.Close()
		}
		return &http.Response{
			StatusCode: http.StatusOK,
			Header:     http.Header{"Content-Type": {"application/json; charset=utf-8"}},
			Body:       io.NopCloser(bytes.NewReader(body)),
			Request:    r,
		}, nil
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
