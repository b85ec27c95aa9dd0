package api_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/heed-dev/heed/app"
	"github.com/heed-dev/heed/internal/heedtest"
)

// BenchmarkAPICreatePost: POST /api/v1/posts over loopback, one client
// after another, on heed's listener handler (app.System.HTTP) served by a
// real TCP listener, with the store on a real SQLite file counting its
// statements. It reports the latency's p50 and p99, requests per second,
// and the statements and write transactions of one request.
func BenchmarkAPICreatePost(b *testing.B) {
	s := heedtest.New(b, heedtest.Options{CountSQL: true})
	srv := httptest.NewServer(s.System.HTTP(app.HTTPOptions{}))
	b.Cleanup(srv.Close)
	_, secret, err := s.Service.Tokens.CreateToken(s.Ctx, "dave", "admin", "cli")
	if err != nil {
		b.Fatal(err)
	}
	at := s.Clock.Now().Add(24 * time.Hour).Format(time.RFC3339)
	client := srv.Client()
	send := func(i int) {
		body := fmt.Sprintf(`{"text":"post %d","targets":["rec"],"at":%q}`, i, at)
		req, _ := http.NewRequest("POST", srv.URL+"/api/v1/posts", bytes.NewReader([]byte(body)))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			b.Fatalf("create: %d", resp.StatusCode)
		}
	}
	send(-1) // the connection, and the token's last use, before timing
	took := make([]time.Duration, 0, b.N)
	before := heedtest.SQLCount.Now()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		send(i)
		took = append(took, time.Since(t0))
	}
	wall := time.Since(start)
	b.StopTimer()
	c := heedtest.SQLCount.Now().Sub(before)
	slices.Sort(took)
	n := len(took)
	b.ReportMetric(float64(took[n/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[min(n-1, n*99/100)].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(n)/wall.Seconds(), "req/s")
	b.ReportMetric(float64(c.Statements)/float64(n), "stmts/req")
	b.ReportMetric(float64(c.WriteTx)/float64(n), "write-tx/req")
}
