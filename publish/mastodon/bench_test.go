package mastodon

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/heed-dev/heed/publish"
)

// BenchmarkPublish measures what heed adds to one status post: heed's
// Publish (validation against the cached instance limit, JSON encoding,
// httpx's classification, decoding the answer, remembering the key) against
// a bare client doing the least any client must (encode, POST with the same
// headers, read the answer, decode the id). Both run against the fake and
// against the real GoToSocial, in one run:
//
//	go test -run '^$' -bench BenchmarkPublish -benchmem ./publish/mastodon/
//
// The difference between heed and bare on the same server is heed's
// overhead; the server's own time is in both.
func BenchmarkPublish(b *testing.B) {
	const text = "heed benchmark: approvals from your phone 🎉 https://example.org/heed/release"

	// In memory: the same answers without a network or a server, so the
	// difference is heed's work alone, free of network noise.
	b.Run("memory/heed", func(b *testing.B) {
		p := newTestPublisher(b, "https://mastodon.example", "visibility: unlisted\n", nil)
		p.client.Transport = memoryServer(b)
		benchHeed(b, p, text)
	})
	b.Run("memory/bare", func(b *testing.B) {
		benchBareClient(b, &http.Client{Transport: memoryServer(b)}, "https://mastodon.example", testToken, text)
	})
	b.Run("fake/heed", func(b *testing.B) {
		benchHeed(b, newTestPublisher(b, benchFake(b).URL, "visibility: unlisted\n", nil), text)
	})
	b.Run("fake/bare", func(b *testing.B) {
		benchBare(b, benchFake(b).URL, testToken, text)
	})

	srv := goToSocial(b)
	b.Run("gotosocial/heed", func(b *testing.B) {
		benchHeed(b, srv.publisher(b, "visibility: unlisted\n"), text)
	})
	b.Run("gotosocial/bare", func(b *testing.B) {
		benchBare(b, srv.URL, srv.Token, text)
	})
}

// benchFake is the fake without idempotency bookkeeping, whose lookup
// grows with every post and would slow later iterations.
func benchFake(b *testing.B) *fakeMastodon {
	fake := newFake(b, testToken)
	fake.set(func(f *fakeMastodon) { f.ignoreIdemKey = true })
	return fake
}

func benchHeed(b *testing.B, p *Publisher, text string) {
	ctx := context.Background()
	// The instance limit is read once per publisher and cached; read it
	// before timing, as a running heed has.
	if _, err := p.Limit(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		req := publish.Request{Text: text, IdempotencyKey: "bench-heed-" + strconv.Itoa(i)}
		if _, err := p.Publish(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func benchBare(b *testing.B, server, token, text string) {
	benchBareClient(b, &http.Client{Timeout: DefaultTimeout}, server, token, text)
}

func benchBareClient(b *testing.B, client *http.Client, server, token, text string) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		body, err := json.Marshal(statusBody{Status: text, Visibility: "unlisted"})
		if err != nil {
			b.Fatal(err)
		}
		req, err := http.NewRequest(http.MethodPost, server+"/api/v1/statuses", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "bench-bare-"+strconv.Itoa(i))
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		answer, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("HTTP %d, %v", resp.StatusCode, err)
		}
		var st statusAnswer
		if err := json.Unmarshal(answer, &st); err != nil || st.ID == "" {
			b.Fatalf("answer without an id: %v", err)
		}
	}
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
