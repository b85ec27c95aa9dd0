package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/publishtest"
)

const (
	testSecret = "whsec-test-0123456789abcdef"
	hookToken  = "hook-bearer-5e4d3c2b1a"
	// fixedTS is testNow in Unix seconds; the golden signatures below were
	// computed with openssl over "v1:1773478800:" + the golden body.
	fixedTS = "1773478800"
)

var testNow = time.Unix(1773478800, 0)

// decoder stands in for the configuration loader: strict YAML decoding of
// the target's mapping.
func decoder(src string) func(v any) error {
	return func(v any) error {
		return yaml.UnmarshalWithOptions([]byte(src), v, yaml.DisallowUnknownField())
	}
}

// receiver is a webhook receiver as the package doc tells people to write
// one: it verifies every signature and deduplicates on Idempotency-Key.
type receiver struct {
	publishtest.Recorder
	srv    *httptest.Server
	secret string
	// echoAuth makes 401 answers quote the Authorization header back, as a
	// careless receiver might.
	echoAuth bool

	mu        sync.Mutex
	badSigs   []string
	retracted []retractEvent
}

func newReceiver(t *testing.T, secret string) *receiver {
	rc := &receiver{secret: secret}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	// Cleanups run last-first: the server closes, then the check runs.
	t.Cleanup(func() {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for _, e := range rc.badSigs {
			t.Errorf("receiver rejected a request: %s", e)
		}
	})
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	rc.Called()
	w.Header().Set("Content-Type", "application/json")
	reply := func(status int, v any) {
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	body, err := VerifyRequest(rc.secret, r, time.Now(), 5*time.Minute)
	if err != nil {
		rc.mu.Lock()
		rc.badSigs = append(rc.badSigs, err.Error())
		rc.mu.Unlock()
		reply(http.StatusUnauthorized, map[string]string{"error": err.Error()})
		return
	}
	var ev struct {
		Event          string `json:"event"`
		Text           string `json:"text"`
		IdempotencyKey string `json:"idempotency_key"`
		retractEvent
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		reply(http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	ev.retractEvent.IdempotencyKey = ev.IdempotencyKey
	if got := r.Header.Get("Idempotency-Key"); got != ev.IdempotencyKey {
		reply(http.StatusBadRequest, map[string]string{"error": "Idempotency-Key header " + got + " differs from the body's " + ev.IdempotencyKey})
		return
	}
	if ev.Event == "retract" {
		rc.mu.Lock()
		rc.retracted = append(rc.retracted, ev.retractEvent)
		rc.mu.Unlock()
		reply(http.StatusOK, map[string]bool{"ok": true})
		return
	}
	f := rc.TakeFailure()
	switch f {
	case publishtest.Retryable:
		w.Header().Set("Retry-After", "7")
		reply(http.StatusTooManyRequests, map[string]string{"error": "slow down"})
		return
	case publishtest.Permanent:
		reply(http.StatusUnprocessableEntity, map[string]string{"error": publishtest.PermanentMessage})
		return
	case publishtest.Auth:
		msg := "not authorised"
		if rc.echoAuth {
			msg += ": " + r.Header.Get("Authorization")
		}
		reply(http.StatusUnauthorized, map[string]string{"error": msg})
		return
	}
	post, _ := rc.Record(publishtest.Post{Text: ev.Text, IdempotencyKey: ev.IdempotencyKey})
	if f == publishtest.TimeoutAfterSend {
		publishtest.Stall(r)
		return
	}
	reply(http.StatusOK, map[string]string{"id": "evt_" + post.RemoteID, "url": rc.srv.URL + "/posts/evt_" + post.RemoteID})
}

// Posts reports ids as the receiver answered them.
func (rc *receiver) Posts() []publishtest.Post {
	posts := rc.Recorder.Posts()
	for i := range posts {
		posts[i].RemoteID = "evt_" + posts[i].RemoteID
	}
	return posts
}

func newFromYAML(t *testing.T, src string, logs *publishtest.LogBuffer) *Publisher {
	t.Helper()
	p, err := publish.New(publish.Config{Name: "announce-hook", Kind: "webhook", Decode: decoder(src), Logger: logs.Logger()})
	if err != nil {
		t.Fatalf("publish.New: %v", err)
	}
	return p.(*Publisher)
}

func TestConformance(t *testing.T) {
	var logs publishtest.LogBuffer
	publishtest.Run(t, publishtest.Harness{
		New: func(t *testing.T) (publish.Publisher, publishtest.Backend) {
			rc := newReceiver(t, testSecret)
			return newFromYAML(t, "url: "+rc.srv.URL+"/hooks/heed\nsecret: "+testSecret+"\ntimeout: "+publishtest.ClientTimeout.String()+"\n", &logs), rc
		},
		Idempotent: true,
		Token:      testSecret,
		Logs:       logs.String,
	})
}

// The same suite with a bearer token in headers, against a receiver that
// quotes it back in its 401 answers: the token must still not leak.
func TestConformanceWithAuthorizationHeader(t *testing.T) {
	var logs publishtest.LogBuffer
	publishtest.Run(t, publishtest.Harness{
		New: func(t *testing.T) (publish.Publisher, publishtest.Backend) {
			rc := newReceiver(t, testSecret)
			rc.echoAuth = true
			src := "url: " + rc.srv.URL + "\nsecret: " + testSecret + "\ntimeout: " + publishtest.ClientTimeout.String() +
				"\nheaders:\n  Authorization: Bearer " + hookToken + "\n"
			return newFromYAML(t, src, &logs), rc
		},
		Idempotent: true,
		Token:      hookToken,
		Logs:       logs.String,
	})
}

func TestRegistered(t *testing.T) {
	if !slices.Contains(publish.Kinds(), "webhook") {
		t.Fatalf("publish.Kinds() = %v, want webhook among them", publish.Kinds())
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		says string
	}{
		{"missing url", "secret: " + testSecret, "url is required"},
		{"blank url", "url: '  '\nsecret: " + testSecret, "url is required"},
		{"ftp url", "url: ftp://files.example.com/drop/s3cr3tpath\nsecret: " + testSecret, `url must start with http:// or https://, not "ftp:"`},
		{"url without scheme", "url: hooks.example.com/heed\nsecret: " + testSecret, "url must start with http:// or https://"},
		{"url without host", "url: 'https:///heed'\nsecret: " + testSecret, "url has no host"},
		{"unparsable url", "url: 'http://[::1/s3cr3tpath'\nsecret: " + testSecret, "url is not a valid URL"},
		{"missing secret", "url: https://hooks.example.com/heed", "set secret: ${HEED_WEBHOOK_SECRET}"},
		{"secret from an empty variable", "url: https://hooks.example.com/heed\nsecret: ''", "set secret: ${HEED_WEBHOOK_SECRET}"},
		{"bad timeout", "url: https://hooks.example.com/heed\nsecret: " + testSecret + "\ntimeout: soon", `timeout "soon" is not a duration`},
		{"zero timeout", "url: https://hooks.example.com/heed\nsecret: " + testSecret + "\ntimeout: 0s", "must be more than zero"},
		{"reserved header", "url: https://hooks.example.com/heed\nsecret: " + testSecret + "\nheaders:\n  x-heed-signature: forged", "X-Heed-Signature is set by heed"},
		{"idempotency header", "url: https://hooks.example.com/heed\nsecret: " + testSecret + "\nheaders:\n  Idempotency-Key: fixed", "Idempotency-Key is set by heed"},
		{"bad header name", "url: https://hooks.example.com/heed\nsecret: " + testSecret + "\nheaders:\n  'X Bad': v", `"X Bad" is not a valid header name`},
		{"header value with a line break", "url: https://hooks.example.com/heed\nsecret: " + testSecret + "\nheaders:\n  X-Tenant: \"a\\r\\nX-Evil: 1\"", "contains a line break"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := publish.New(publish.Config{Name: "hook", Kind: "webhook", Decode: decoder(tc.yaml)})
			if err == nil {
				t.Fatal("publish.New succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
			for _, leak := range []string{testSecret, "s3cr3tpath"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error %q quotes %q", err, leak)
				}
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	var logs publishtest.LogBuffer
	p := newFromYAML(t, "url: https://hooks.example.com/heed\nsecret: "+testSecret, &logs)
	if p.client.Timeout != DefaultTimeout {
		t.Errorf("timeout = %v, want the default %v", p.client.Timeout, DefaultTimeout)
	}
	p = newFromYAML(t, "url: https://hooks.example.com/heed\nsecret: "+testSecret+"\ntimeout: 1m30s", &logs)
	if p.client.Timeout != 90*time.Second {
		t.Errorf("timeout = %v, want 1m30s", p.client.Timeout)
	}
}

// capture is a receiver that keeps the last request for inspection and
// answers with a fixed status and body.
type capture struct {
	mu     sync.Mutex
	header http.Header
	body   []byte
	status int
	answer string
}

func newCapture(t *testing.T, status int, answer string) (*capture, *httptest.Server) {
	c := &capture{status: status, answer: answer}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.header, c.body = r.Header.Clone(), b
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(c.status)
		io.WriteString(w, c.answer)
	}))
	t.Cleanup(srv.Close)
	return c, srv
}

func goldenRequest() publish.Request {
	return publish.Request{
		OccurrenceID: 42,
		Target:       "announce-hook",
		Text:         "v1.4 is out — café 🚀\n\"quoted\" <b>",
		Link:         "https://example.org/blog/v1.4",
		Media: []publish.Media{
			{Path: "/srv/img/banner.png", MIME: "image/png", Alt: "The v1.4 banner"},
			{Path: "https://cdn.example.org/a.png", Alt: "A chart"},
		},
		ScheduledAt:    time.Date(2026, 3, 14, 10, 0, 0, 0, time.FixedZone("CET", 3600)),
		IdempotencyKey: "heed-42-announce-hook-3f2a",
	}
}

func TestPublishSendsTheDocumentedSignedBody(t *testing.T) {
	c, srv := newCapture(t, http.StatusOK, `{"id":"evt_9","url":"https://hooks.example.com/posts/evt_9"}`)
	var logs publishtest.LogBuffer
	p := newFromYAML(t, "url: "+srv.URL+"/hooks/heed\nsecret: "+testSecret+"\nheaders:\n  X-Tenant: acme\n", &logs)
	p.now = func() time.Time { return testNow }

	res, err := p.Publish(context.Background(), goldenRequest())
	if err != nil {
		t.Fatal(err)
	}
	if want := (publish.Result{RemoteID: "evt_9", URL: "https://hooks.example.com/posts/evt_9"}); res != want {
		t.Errorf("Result = %+v, want %+v", res, want)
	}
	golden, err := os.ReadFile("testdata/publish.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.body, golden) {
		t.Errorf("body:\n%s\nwant:\n%s", c.body, golden)
	}
	for name, want := range map[string]string{
		"Content-Type":    "application/json",
		"Idempotency-Key": "heed-42-announce-hook-3f2a",
		HeaderTimestamp:   fixedTS,
		HeaderSignature:   "sha256=39155ff131e80663a3f420c512c43320081f93e15c5a5f8423765dc8563643a0",
		"X-Tenant":        "acme",
		"User-Agent":      "heed-webhook",
	} {
		if got := c.header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

func TestRetractSendsASignedRetraction(t *testing.T) {
	c, srv := newCapture(t, http.StatusOK, `{}`)
	var logs publishtest.LogBuffer
	p := newFromYAML(t, "url: "+srv.URL+"\nsecret: "+testSecret, &logs)
	p.now = func() time.Time { return testNow }

	err := p.Retract(context.Background(), "announce-hook", publish.Result{RemoteID: "evt_123", URL: "https://hooks.example.com/posts/evt_123"})
	if err != nil {
		t.Fatal(err)
	}
	golden, err := os.ReadFile("testdata/retract.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.body, golden) {
		t.Errorf("body:\n%s\nwant:\n%s", c.body, golden)
	}
	if got, want := c.header.Get(HeaderSignature), "sha256=b6441ff44cc903629cfdbe75a1de29d5355d2361b50458c86b39cd981032da66"; got != want {
		t.Errorf("%s = %q, want %q", HeaderSignature, got, want)
	}
	if got, want := c.header.Get("Idempotency-Key"), "retract-93c25ab7223c175d81bc94dabe10853d"; got != want {
		t.Errorf("Idempotency-Key = %q, want %q", got, want)
	}
}

func TestRetractAfterPublishReachesTheReceiver(t *testing.T) {
	rc := newReceiver(t, testSecret)
	var logs publishtest.LogBuffer
	p := newFromYAML(t, "url: "+rc.srv.URL+"\nsecret: "+testSecret, &logs)
	res, err := p.Publish(context.Background(), goldenRequest())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Retract(context.Background(), "announce-hook", res); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.retracted) != 1 || rc.retracted[0].RemoteID != res.RemoteID || rc.retracted[0].URL != res.URL {
		t.Errorf("receiver got retractions %+v, want one of %+v", rc.retracted, res)
	}
}

func TestRetractErrors(t *testing.T) {
	var logs publishtest.LogBuffer
	p := newFromYAML(t, "url: https://hooks.example.com/heed\nsecret: "+testSecret, &logs)
	err := p.Retract(context.Background(), "announce-hook", publish.Result{})
	if k, _ := publish.Classify(err); err == nil || k != publish.Permanent {
		t.Errorf("Retract of an empty result = %v, want a permanent error", err)
	}

	_, srv := newCapture(t, http.StatusNotFound, `{"error":"no post evt_404"}`)
	p = newFromYAML(t, "url: "+srv.URL+"\nsecret: "+testSecret, &logs)
	err = p.Retract(context.Background(), "announce-hook", publish.Result{RemoteID: "evt_404"})
	if k, _ := publish.Classify(err); err == nil || k != publish.Permanent || !strings.Contains(err.Error(), "no post evt_404") {
		t.Errorf("Retract answered 404 = %v, want a permanent error with the receiver's message", err)
	}
}

func TestResultFromTheReceiversAnswer(t *testing.T) {
	cases := []struct {
		name   string
		status int
		answer string
		want   publish.Result
	}{
		{"string id and url", 200, `{"id":"abc","url":"https://x.example/abc"}`, publish.Result{RemoteID: "abc", URL: "https://x.example/abc"}},
		{"numeric id", 201, `{"id":12345678901234567890}`, publish.Result{RemoteID: "12345678901234567890"}},
		{"no id falls back to the idempotency key", 200, `{"ok":true}`, publish.Result{RemoteID: "heed-42-announce-hook-3f2a"}},
		{"empty answer", 204, ``, publish.Result{RemoteID: "heed-42-announce-hook-3f2a"}},
		{"not JSON", 200, `thanks`, publish.Result{RemoteID: "heed-42-announce-hook-3f2a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newCapture(t, tc.status, tc.answer)
			var logs publishtest.LogBuffer
			p := newFromYAML(t, "url: "+srv.URL+"\nsecret: "+testSecret, &logs)
			res, err := p.Publish(context.Background(), goldenRequest())
			if err != nil {
				t.Fatal(err)
			}
			if res != tc.want {
				t.Errorf("Result = %+v, want %+v", res, tc.want)
			}
		})
	}
}

func TestURLPathNeverInErrorsOrLogs(t *testing.T) {
	// Chat-style webhook URLs carry their token in the path.
	_, srv := newCapture(t, http.StatusBadRequest, `{"message":"bad payload"}`)
	var logs publishtest.LogBuffer
	p := newFromYAML(t, "url: "+srv.URL+"/api/webhooks/123/pathtoken-abcdef\nsecret: "+testSecret, &logs)
	_, err := p.Publish(context.Background(), goldenRequest())
	if err == nil {
		t.Fatal("Publish succeeded, want the receiver's 400")
	}
	if !strings.Contains(err.Error(), "bad payload") {
		t.Errorf("error %q lacks the receiver's message", err)
	}
	for _, s := range []string{err.Error(), logs.String()} {
		if strings.Contains(s, "pathtoken") {
			t.Errorf("the URL path leaked: %s", s)
		}
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"event":"publish"}`)
	good := Sign(testSecret, fixedTS, body)
	cases := []struct {
		name   string
		secret string
		ts     string
		body   []byte
		sig    string
		want   bool
	}{
		{"valid", testSecret, fixedTS, body, good, true},
		{"uppercase hex is the same signature", testSecret, fixedTS, body, "sha256=" + strings.ToUpper(strings.TrimPrefix(good, "sha256=")), true},
		{"tampered body", testSecret, fixedTS, []byte(`{"event":"retract"}`), good, false},
		{"other timestamp", testSecret, "1773478801", body, good, false},
		{"other secret", "another-secret", fixedTS, body, good, false},
		{"no prefix", testSecret, fixedTS, body, strings.TrimPrefix(good, "sha256="), false},
		{"other algorithm", testSecret, fixedTS, body, "sha1=" + strings.TrimPrefix(good, "sha256="), false},
		{"not hex", testSecret, fixedTS, body, "sha256=zz", false},
		{"truncated", testSecret, fixedTS, body, good[:len(good)-2], false},
		{"empty signature", testSecret, fixedTS, body, "", false},
		{"empty secret", "", fixedTS, body, Sign("", fixedTS, body), false},
		{"empty timestamp", testSecret, "", body, Sign(testSecret, "", body), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Verify(tc.secret, tc.ts, tc.body, tc.sig); got != tc.want {
				t.Errorf("Verify = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestVerifyRequest(t *testing.T) {
	body := []byte(`{"event":"publish"}`)
	request := func(ts, sig string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader(body))
		if ts != "" {
			r.Header.Set(HeaderTimestamp, ts)
		}
		r.Header.Set(HeaderSignature, sig)
		return r
	}
	cases := []struct {
		name    string
		ts      string
		sig     string
		wantErr string
	}{
		{"valid", fixedTS, Sign(testSecret, fixedTS, body), ""},
		{"four minutes old", "1773478560", Sign(testSecret, "1773478560", body), ""},
		{"too old", "1773478400", Sign(testSecret, "1773478400", body), "away from now"},
		{"too far ahead", "1773479200", Sign(testSecret, "1773479200", body), "away from now"},
		{"missing timestamp", "", Sign(testSecret, fixedTS, body), "missing or malformed"},
		{"bad signature", fixedTS, Sign("wrong", fixedTS, body), "does not match"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := VerifyRequest(testSecret, request(tc.ts, tc.sig), testNow, 5*time.Minute)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, body) {
					t.Errorf("body = %q, want %q", got, body)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestTransportFailuresAreClassified(t *testing.T) {
	// A closed port: nothing was sent, so a retry is safe.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	var logs publishtest.LogBuffer
	p := newFromYAML(t, "url: "+url+"\nsecret: "+testSecret, &logs)
	_, err := p.Publish(context.Background(), goldenRequest())
	var pe *publish.Error
	if !errors.As(err, &pe) || pe.Kind != publish.Retryable {
		t.Errorf("Publish to a closed port = %v, want a retryable error", err)
	}
	if !strings.Contains(logs.String(), "webhook publish failed") {
		t.Errorf("the failure was not logged:\n%s", logs.String())
	}
}
