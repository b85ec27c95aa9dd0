package publishtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/httpx"
	"github.com/heed-dev/heed/publish/publishtest"
)

// refnet is a reference network, small enough to read in one sitting: it
// shows how a network package wires its fake and its publisher to the suite.
// POST /api/posts with a bearer token and {"text":...}; answers {"id","url"};
// errors are {"error":"..."}; texts are limited to refLimit characters.
const (
	refToken = "refnet-token-0123456789abcdef"
	refLimit = 100
)

type refBackend struct {
	publishtest.Recorder
	srv *httptest.Server
}

func newRefBackend(t *testing.T) *refBackend {
	b := &refBackend{}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *refBackend) serve(w http.ResponseWriter, r *http.Request) {
	b.Called()
	w.Header().Set("Content-Type", "application/json")
	fail := func(status int, msg string) {
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"error": msg})
	}
	if r.Method != http.MethodPost || r.URL.Path != "/api/posts" {
		fail(http.StatusNotFound, "no such endpoint")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+refToken {
		fail(http.StatusUnauthorized, "The access token is invalid")
		return
	}
	var in struct{ Text string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		fail(http.StatusBadRequest, err.Error())
		return
	}
	f := b.TakeFailure()
	switch f {
	case publishtest.Retryable:
		w.Header().Set("Retry-After", strconv.Itoa(publishtest.RetryAfterSeconds))
		fail(http.StatusTooManyRequests, "Too many requests")
		return
	case publishtest.Permanent:
		fail(http.StatusUnprocessableEntity, publishtest.PermanentMessage)
		return
	case publishtest.Auth:
		fail(http.StatusUnauthorized, "The access token is invalid")
		return
	}
	post, _ := b.Record(publishtest.Post{Text: in.Text, IdempotencyKey: r.Header.Get("Idempotency-Key")})
	if f == publishtest.TimeoutAfterSend {
		publishtest.Stall(r)
		return
	}
	json.NewEncoder(w).Encode(map[string]string{"id": post.RemoteID, "url": b.srv.URL + "/@heed/" + post.RemoteID})
}

// refPublisher is the publisher side. flaw, when set, breaks it in one way
// the suite must catch.
type refPublisher struct {
	base   string
	client *http.Client
	log    publish.Logger
	flaw   string
}

func (p *refPublisher) Validate(req publish.Request) []publish.Problem {
	if n := utf8.RuneCountInString(req.Text); n > refLimit {
		return []publish.Problem{{Message: fmt.Sprintf("%d/%d characters on refnet", n, refLimit)}}
	}
	return nil
}

func (p *refPublisher) Publish(ctx context.Context, req publish.Request) (publish.Result, error) {
	if p.flaw != "no-validation-in-publish" {
		if probs := p.Validate(req); len(probs) > 0 {
			return publish.Result{}, publish.PermanentError(errors.New(probs[0].Message))
		}
	}
	text := req.Text
	if p.flaw == "alters-text" {
		text = strings.ToUpper(text)
	}
	body, _ := json.Marshal(map[string]string{"text": text})
	hreq, err := http.NewRequest(http.MethodPost, p.base+"/api/posts", bytes.NewReader(body))
	if err != nil {
		return publish.Result{}, publish.PermanentError(err)
	}
	hreq.Header.Set("Authorization", "Bearer "+refToken)
	hreq.Header.Set("Content-Type", "application/json")
	if p.flaw != "no-idempotency-key" {
		hreq.Header.Set("Idempotency-Key", req.IdempotencyKey)
	}
	if p.flaw == "logs-token" {
		p.log.Info("publishing", "target", req.Target, "authorization", hreq.Header.Get("Authorization"))
	}
	_, respBody, err := httpx.Do(ctx, p.client, hreq, httpx.WithSecrets(refToken))
	if err != nil {
		p.log.Warn("publish failed", "target", req.Target, "error", err)
		return publish.Result{}, p.distort(err)
	}
	var out struct{ ID, URL string }
	if err := json.Unmarshal(respBody, &out); err != nil {
		return publish.Result{}, publish.AmbiguousError(fmt.Errorf("refnet answered with unreadable JSON: %w", err))
	}
	p.log.Info("published", "target", req.Target, "id", out.ID)
	return publish.Result{RemoteID: out.ID, URL: out.URL}, nil
}

// distort applies the flaws that concern error handling.
func (p *refPublisher) distort(err error) error {
	kind, after := publish.Classify(err)
	switch p.flaw {
	case "error-leaks-token":
		return &publish.Error{Kind: kind, RetryAfter: after, Err: fmt.Errorf("with token %s: %w", refToken, err)}
	case "429-permanent":
		if kind == publish.Retryable {
			return publish.PermanentError(err)
		}
	case "drops-retry-after":
		if kind == publish.Retryable {
			return publish.RetryableError(errors.Unwrap(err), 0)
		}
	case "timeout-retryable":
		if kind == publish.Ambiguous {
			return publish.RetryableError(errors.Unwrap(err), 0)
		}
	case "unclassified-errors":
		return errors.New(err.Error())
	case "auth-no-hint":
		var se *httpx.StatusError
		if errors.As(err, &se) && se.StatusCode == http.StatusUnauthorized {
			return publish.PermanentError(errors.New("refnet said 401"))
		}
	}
	return err
}

func refHarness(flaw string) publishtest.Harness {
	var logs publishtest.LogBuffer
	return publishtest.Harness{
		New: func(t *testing.T) (publish.Publisher, publishtest.Backend) {
			b := newRefBackend(t)
			return &refPublisher{
				base:   b.srv.URL,
				client: &http.Client{Timeout: publishtest.ClientTimeout},
				log:    logs.Logger(),
				flaw:   flaw,
			}, b
		},
		Idempotent:       true,
		Token:            refToken,
		Logs:             logs.String,
		OverLimitText:    strings.Repeat("é", refLimit+1),
		OverLimitProblem: fmt.Sprintf("%d/%d", refLimit+1, refLimit),
	}
}

func TestReferenceNetworkConforms(t *testing.T) {
	publishtest.Run(t, refHarness(""))
}

// TestProxyConforms runs the suite through a Proxy in front of a refnet
// backend that is never told to fail, as a real server would be.
func TestProxyConforms(t *testing.T) {
	var logs publishtest.LogBuffer
	h := refHarness("")
	h.Logs = logs.String
	h.New = func(t *testing.T) (publish.Publisher, publishtest.Backend) {
		upstream := newRefBackend(t)
		proxy := publishtest.NewProxy(t, upstream.srv.URL,
			func(r *http.Request) bool { return r.Method == http.MethodPost && r.URL.Path == "/api/posts" },
			upstream.Posts)
		return &refPublisher{
			base:   proxy.URL,
			client: &http.Client{Timeout: publishtest.ClientTimeout},
			log:    logs.Logger(),
		}, proxy
	}
	publishtest.Run(t, h)
}

const flawEnv = "HEED_PUBLISHTEST_FLAW"

// TestFlawed runs the suite against a deliberately broken publisher. It only
// runs as a child of TestSuiteCatchesFlaws, which expects it to fail.
func TestFlawed(t *testing.T) {
	flaw := os.Getenv(flawEnv)
	if flaw == "" {
		t.Skip("run by TestSuiteCatchesFlaws")
	}
	publishtest.Run(t, refHarness(flaw))
}

// TestSuiteCatchesFlaws shows the suite can fail: each flaw, run in a child
// test process, must fail the named subtest with the named complaint.
func TestSuiteCatchesFlaws(t *testing.T) {
	cases := []struct {
		flaw    string
		subtest string
		says    string
	}{
		{"alters-text", "Success", "backend holds text"},
		{"error-leaks-token", "RetryableThenSuccess", "the token appears in the error"},
		{"429-permanent", "RetryableThenSuccess", "kind = permanent, want retryable"},
		{"drops-retry-after", "RetryableThenSuccess", "RetryAfter = 0s, want the backend's Retry-After of 7s"},
		{"unclassified-errors", "Permanent", "is not a *publish.Error"},
		{"auth-no-hint", "Auth", "does not tell the user to refresh the token"},
		{"timeout-retryable", "AmbiguousTimeout", "kind = retryable, want ambiguous"},
		{"no-idempotency-key", "IdempotentRetry", "backend holds 2 posts, want 1"},
		{"no-validation-in-publish", "OverLimitRefused", "backend calls, want none"},
		{"logs-token", "TokenNeverLogged", "the token appears in the logs"},
	}
	for _, tc := range cases {
		t.Run(tc.flaw, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestFlawed$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), flawEnv+"="+tc.flaw)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("child test with flaw %q did not fail (err %v):\n%s", tc.flaw, err, out)
			}
			if want := "--- FAIL: TestFlawed/" + tc.subtest + " "; !bytes.Contains(out, []byte(want)) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
			if !bytes.Contains(out, []byte(tc.says)) {
				t.Errorf("output lacks %q:\n%s", tc.says, out)
			}
		})
	}
}

func TestRecorderDeduplicatesOnKey(t *testing.T) {
	var r publishtest.Recorder
	a, dup := r.Record(publishtest.Post{Text: "one", IdempotencyKey: "k"})
	if dup || a.RemoteID != "1" {
		t.Fatalf("first Record = %+v, %v", a, dup)
	}
	b, dup := r.Record(publishtest.Post{Text: "one again", IdempotencyKey: "k"})
	if !dup || b != a {
		t.Fatalf("second Record = %+v, %v; want %+v, true", b, dup, a)
	}
	c, dup := r.Record(publishtest.Post{Text: "no key"})
	d, dup2 := r.Record(publishtest.Post{Text: "no key"})
	if dup || dup2 || c.RemoteID == d.RemoteID {
		t.Fatalf("posts without a key were merged: %+v %+v", c, d)
	}
	if n := len(r.Posts()); n != 3 {
		t.Fatalf("Posts holds %d, want 3", n)
	}
	r.FailNext(publishtest.Auth)
	if f := r.TakeFailure(); f != publishtest.Auth {
		t.Fatalf("TakeFailure = %v, want Auth", f)
	}
	if f := r.TakeFailure(); f != 0 {
		t.Fatalf("second TakeFailure = %v, want none: a failure fires once", f)
	}
}

func TestServeKeepsExchanges(t *testing.T) {
	var r publishtest.Recorder
	srv := httptest.NewServer(r.Serve(func(w http.ResponseWriter, req *http.Request, body []byte) {
		if req.URL.Path == "/quiet" {
			return
		}
		if string(body) != "a=1&b=two" {
			t.Errorf("handler got body %q", body)
		}
		w.Header().Set("X-Id", "7")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"id":"7"}`))
	}))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/posts/urn%3Ali%3A1?x=y", "application/x-www-form-urlencoded", strings.NewReader("a=1&b=two"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := http.Get(srv.URL + "/quiet"); err != nil {
		t.Fatal(err)
	}
	ex := r.Exchanges()
	if len(ex) != 2 || r.Calls() != 2 {
		t.Fatalf("%d exchanges, %d calls; want 2 of each", len(ex), r.Calls())
	}
	e := ex[0]
	if e.Method != http.MethodPost || e.Path != "/posts/urn%3Ali%3A1" || e.Query.Get("x") != "y" {
		t.Errorf("request %s %s %v", e.Method, e.Path, e.Query)
	}
	if e.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || e.Form().Get("b") != "two" {
		t.Errorf("header %v, form %v", e.Header, e.Form())
	}
	if e.Status != http.StatusCreated || string(e.Response) != `{"id":"7"}` || e.ResponseHeader.Get("X-Id") != "7" {
		t.Errorf("answer %d %s %v", e.Status, e.Response, e.ResponseHeader)
	}
	if ex[1].Status != http.StatusOK || len(ex[1].Response) != 0 {
		t.Errorf("an answer with no status kept %d %q, want 200 and no body", ex[1].Status, ex[1].Response)
	}
}
