package mastodon

// The REAL tier: heed's publisher against a real GoToSocial (v0.19.2),
// built and started by scripts/gotosocial.sh. With HEED_GTS_URL and
// HEED_GTS_TOKEN set, the tests use that server instead. A server that
// cannot be built or started fails the tests: this tier runs in CI and is
// never skipped.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heed-dev/heed/publish"
)

// realServer is the GoToSocial the tier publishes to.
type realServer struct {
	URL, Token, User string
	// How it came up, for the test log: "from HEED_GTS_URL" or the
	// measured build and start times.
	Origin string
}

var (
	realOnce sync.Once
	real     *realServer
	realErr  error
	// realDir is the state directory of a server these tests started, to
	// be stopped when they end.
	realDir string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if realDir != "" {
		if out, err := exec.Command("bash", scriptPath(), "stop", realDir).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping GoToSocial: %v\n%s", err, out)
			if code == 0 {
				code = 1
			}
		} else {
			os.RemoveAll(realDir)
		}
	}
	os.Exit(code)
}

func scriptPath() string {
	p, err := filepath.Abs(filepath.Join("..", "..", "scripts", "gotosocial.sh"))
	if err != nil {
		panic(err)
	}
	return p
}

// goToSocial returns the real server, building and starting it on first
// use. It fails tb, with the script's output, if that is not possible.
func goToSocial(tb testing.TB) *realServer {
	tb.Helper()
	realOnce.Do(func() { real, realErr = bringUpGoToSocial() })
	if realErr != nil {
		tb.Fatalf("the real GoToSocial is not available, so the REAL tier cannot run: %v", realErr)
	}
	tb.Logf("GoToSocial at %s (%s)", real.URL, real.Origin)
	return real
}

func bringUpGoToSocial() (*realServer, error) {
	if u, tok := os.Getenv("HEED_GTS_URL"), os.Getenv("HEED_GTS_TOKEN"); u != "" || tok != "" {
		if u == "" || tok == "" {
			return nil, fmt.Errorf("set both HEED_GTS_URL and HEED_GTS_TOKEN, or neither to have the tests start a server")
		}
		return &realServer{URL: u, Token: tok, User: os.Getenv("HEED_GTS_USER"), Origin: "from HEED_GTS_URL"}, nil
	}
	script := scriptPath()
	run := func(args ...string) (time.Duration, error) {
		start := time.Now()
		cmd := exec.Command("bash", append([]string{script}, args...)...)
		// The server goes down with this test binary even if it crashes
		// before TestMain can stop it.
		cmd.Env = append(os.Environ(), "HEED_GTS_WATCH_PID="+strconv.Itoa(os.Getpid()))
		out, err := cmd.CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("scripts/gotosocial.sh %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return time.Since(start), nil
	}
	buildTime, err := run("build")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "heed-gotosocial-")
	if err != nil {
		return nil, err
	}
	startTime, err := run("start", dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	realDir = dir
	env, err := readEnv(filepath.Join(dir, "env"))
	if err != nil {
		return nil, err
	}
	s := &realServer{URL: env["HEED_GTS_URL"], Token: env["HEED_GTS_TOKEN"], User: env["HEED_GTS_USER"],
		Origin: fmt.Sprintf("started by scripts/gotosocial.sh: build %v, start %v", buildTime.Round(time.Millisecond), startTime.Round(time.Millisecond))}
	if s.URL == "" || s.Token == "" {
		return nil, fmt.Errorf("%s/env lacks HEED_GTS_URL or HEED_GTS_TOKEN", dir)
	}
	return s, nil
}

func readEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env, sc.Err()
}

// api calls the server directly, outside heed, to check what it holds.
func (s *realServer) api(t testing.TB, method, path string, body io.Reader, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return resp.StatusCode
}

func (s *realServer) publisher(t testing.TB, extra string) *Publisher {
	t.Helper()
	p, err := publish.New(publish.Config{Name: "gotosocial", Kind: "mastodon",
		Decode: decoder("server: " + s.URL + "\naccess_token: " + s.Token + "\n" + extra)})
	if err != nil {
		t.Fatal(err)
	}
	return p.(*Publisher)
}

// realStatus is what the tier reads back of a status.
type realStatus struct {
	ID         string `json:"id"`
	URL        string `json:"url"`
	Visibility string `json:"visibility"`
	Language   string `json:"language"`
	Content    string `json:"content"`
	Media      []struct {
		Description string `json:"description"`
	} `json:"media_attachments"`
}

// countStatuses counts the account's statuses whose content holds marker.
func (s *realServer) countStatuses(t testing.TB, marker string) int {
	t.Helper()
	var me struct {
		ID string `json:"id"`
	}
	if code := s.api(t, "GET", "/api/v1/accounts/verify_credentials", nil, &me); code != 200 {
		t.Fatalf("verify_credentials: HTTP %d", code)
	}
	var sts []realStatus
	if code := s.api(t, "GET", "/api/v1/accounts/"+me.ID+"/statuses?limit=40", nil, &sts); code != 200 {
		t.Fatalf("account statuses: HTTP %d", code)
	}
	n := 0
	for _, st := range sts {
		if strings.Contains(st.Content, marker) {
			n++
		}
	}
	return n
}

func TestGoToSocial(t *testing.T) {
	srv := goToSocial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := srv.publisher(t, "visibility: unlisted\nlanguage: en\n")
	marker := fmt.Sprintf("heedreal%d", time.Now().UnixNano())

	t.Run("InstanceLimit", func(t *testing.T) {
		var inst struct {
			Configuration struct {
				Statuses struct {
					MaxCharacters int `json:"max_characters"`
				} `json:"statuses"`
			} `json:"configuration"`
		}
		if code := srv.api(t, "GET", "/api/v2/instance", nil, &inst); code != 200 {
			t.Fatalf("GET /api/v2/instance: HTTP %d", code)
		}
		got, err := p.Limit(ctx)
		if err != nil {
			t.Fatalf("Limit: %v", err)
		}
		if want := inst.Configuration.Statuses.MaxCharacters; got != want || got == DefaultLimit {
			t.Errorf("Limit = %d, want the instance's own %d (not the fallback %d)", got, want, DefaultLimit)
		}
		if sw := p.inst.software; sw != "GoToSocial" {
			t.Errorf("software = %q, want GoToSocial", sw)
		}
	})

	t.Run("PublishRetryReadBack", func(t *testing.T) {
		req := publish.Request{
			OccurrenceID:   1,
			Target:         "gotosocial",
			Text:           "heed real tier " + marker + ": café ✓ 🚀 👩‍👩‍👧",
			Link:           "https://example.org/heed/release",
			ScheduledAt:    time.Now().UTC().Truncate(time.Minute),
			IdempotencyKey: "heed-real-" + marker,
		}
		if probs := p.Validate(req); len(probs) > 0 {
			t.Fatalf("Validate: %v", probs)
		}
		first, err := p.Publish(ctx, req)
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
		if first.RemoteID == "" || !strings.HasPrefix(first.URL, srv.URL) {
			t.Errorf("Result = %+v, want the status id and a URL on %s", first, srv.URL)
		}
		retry, err := p.Publish(ctx, req)
		if err != nil {
			t.Fatalf("retried Publish: %v", err)
		}
		if retry != first {
			t.Errorf("retried Publish = %+v, want the first status %+v", retry, first)
		}
		if n := srv.countStatuses(t, marker); n != 1 {
			t.Errorf("the account holds %d statuses with the marker, want 1", n)
		}

		var src struct {
			Text string `json:"text"`
		}
		if code := srv.api(t, "GET", "/api/v1/statuses/"+first.RemoteID+"/source", nil, &src); code != 200 {
			t.Fatalf("GET status source: HTTP %d", code)
		}
		if want := p.Preview(req); src.Text != want {
			t.Errorf("the server holds text %q, want exactly the preview %q", src.Text, want)
		}
		var st realStatus
		if code := srv.api(t, "GET", "/api/v1/statuses/"+first.RemoteID, nil, &st); code != 200 {
			t.Fatalf("GET status: HTTP %d", code)
		}
		if st.Visibility != "unlisted" || st.Language != "en" || st.URL != first.URL {
			t.Errorf("status visibility %q, language %q, url %q; want unlisted, en, %q", st.Visibility, st.Language, st.URL, first.URL)
		}

		if err := p.Retract(ctx, "gotosocial", first); err != nil {
			t.Fatalf("Retract: %v", err)
		}
		// GoToSocial deletes in a background worker: poll, with a deadline.
		deadline := time.Now().Add(15 * time.Second)
		code := 0
		for {
			if code = srv.api(t, "GET", "/api/v1/statuses/"+first.RemoteID, nil, nil); code == http.StatusNotFound || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if code != http.StatusNotFound {
			t.Errorf("GET the retracted status 15s later: HTTP %d, want 404", code)
		}
		if err := p.Retract(ctx, "gotosocial", first); err != nil {
			t.Errorf("second Retract: %v, want nil for a status already gone", err)
		}
	})

	// What the server does with a repeated Idempotency-Key when heed does
	// not hold it back: this is why the publisher remembers its keys.
	t.Run("ServerIdempotency", func(t *testing.T) {
		key := "heed-raw-" + marker
		post := func() string {
			req, _ := http.NewRequest("POST", srv.URL+"/api/v1/statuses",
				strings.NewReader(`{"status":"raw `+marker+`","visibility":"unlisted"}`))
			req.Header.Set("Authorization", "Bearer "+srv.Token)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var st realStatus
			if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != 200 {
				t.Fatalf("raw POST: HTTP %d, %v", resp.StatusCode, err)
			}
			return st.ID
		}
		a, b := post(), post()
		if a == b {
			t.Logf("the server honours Idempotency-Key (one status, %s)", a)
		} else {
			t.Logf("the server ignores Idempotency-Key: two statuses (%s, %s); heed's memory of its keys is what prevents a double post", a, b)
		}
	})

	t.Run("Image", func(t *testing.T) {
		req := publish.Request{
			Text:           "heed real tier image " + marker,
			IdempotencyKey: "heed-real-image-" + marker,
			Media:          []publish.Media{{Path: writePNG(t), Alt: "A gradient from blue to pink"}},
		}
		res, err := p.Publish(ctx, req)
		if err != nil {
			t.Fatalf("Publish with an image: %v", err)
		}
		var st realStatus
		if code := srv.api(t, "GET", "/api/v1/statuses/"+res.RemoteID, nil, &st); code != 200 {
			t.Fatalf("GET status: HTTP %d", code)
		}
		if len(st.Media) != 1 || st.Media[0].Description != req.Media[0].Alt {
			t.Errorf("status media = %+v, want one attachment described %q", st.Media, req.Media[0].Alt)
		}
		req.Media[0].Alt = ""
		if probs := p.Validate(req); len(probs) != 1 || !strings.Contains(probs[0].Message, "no alt text") {
			t.Errorf("Validate of an image without alt: %v", probs)
		}
	})

	// heed's count must agree with the server's at the limit: what heed
	// passes the server takes, and what heed refuses the server refuses.
	t.Run("CountAgreesAtLimit", func(t *testing.T) {
		limit, err := p.Limit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// A URL (counted in full here), a ZWJ family (5 code points), the marker.
		head := marker + " https://example.org/" + strings.Repeat("p", 40) + " 👩‍👩‍👧 "
		fill := limit - p.inst.count(head)
		atLimit := head + strings.Repeat("a", fill)
		over := atLimit + "b"

		if probs := p.Validate(publish.Request{Text: atLimit}); len(probs) != 0 {
			t.Errorf("Validate at the limit: %v", probs)
		}
		probs := p.Validate(publish.Request{Text: over})
		wantProb := fmt.Sprintf("%d/%d characters on GoToSocial", limit+1, limit)
		if len(probs) != 1 || probs[0].Message != wantProb {
			t.Errorf("Validate over the limit = %v, want %q", probs, wantProb)
		}
		body := func(text string) io.Reader {
			b, _ := json.Marshal(map[string]string{"status": text, "visibility": "unlisted"})
			return strings.NewReader(string(b))
		}
		if code := srv.api(t, "POST", "/api/v1/statuses", body(atLimit), nil); code != 200 {
			t.Errorf("the server refused a text heed counts at the limit: HTTP %d", code)
		}
		if code := srv.api(t, "POST", "/api/v1/statuses", body(over), nil); code < 400 || code >= 500 {
			t.Errorf("the server took a text heed counts over the limit: HTTP %d", code)
		}
	})

	t.Run("BadToken", func(t *testing.T) {
		bad := "not-" + srv.Token
		q, err := publish.New(publish.Config{Name: "gotosocial", Kind: "mastodon",
			Decode: decoder("server: " + srv.URL + "\naccess_token: " + bad + "\n")})
		if err != nil {
			t.Fatal(err)
		}
		_, err = q.Publish(ctx, publish.Request{Text: "never posted " + marker, IdempotencyKey: "heed-real-bad-" + marker})
		if kind, _ := publish.Classify(err); kind != publish.Permanent || !strings.Contains(err.Error(), "refresh the token") {
			t.Errorf("Publish with a bad token: %v (kind %v), want permanent, telling to refresh the token", err, kind)
		}
		if err != nil && (strings.Contains(err.Error(), bad) || strings.Contains(err.Error(), srv.Token)) {
			t.Error("the token is in the error")
		}
	})
}
