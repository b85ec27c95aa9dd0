package matrixpub

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/publishtest"
)

const testToken = "syt_aGVlZA_matrixpub_secret_token_42"

func decoder(src string) func(v any) error {
	return func(v any) error { return yaml.UnmarshalWithOptions([]byte(src), v, yaml.DisallowUnknownField()) }
}

func newPublisher(t testing.TB, homeserver, token, room, extra string, logs *publishtest.LogBuffer) *Publisher {
	t.Helper()
	src := fmt.Sprintf("homeserver: %s\naccess_token: %s\nroom: %q\n%s", homeserver, token, room, extra)
	cfg := publish.Config{Name: "announce", Kind: "matrix", Decode: decoder(src)}
	if logs != nil {
		cfg.Logger = logs.Logger()
	}
	p, err := publish.New(cfg)
	if err != nil {
		t.Fatalf("publish.New: %v", err)
	}
	return p.(*Publisher)
}

// fakeRoom is a homeserver with one room, answering PUT /send and /redact
// in the spec's shapes; a repeated transaction id returns the first event,
// as homeservers do.
type fakeRoom struct {
	publishtest.Recorder
	*httptest.Server
	mu       sync.Mutex
	contents []map[string]any
	redacted []string
	limitMS  int // answer the next send with 429 and only retry_after_ms
	forbid   bool
	// encryption is the room's m.room.encryption content, answered to
	// the state read ("" for none: 404 M_NOT_FOUND); stateStatus, when
	// set, answers the state read with that status instead.
	encryption  string
	stateStatus int
	stateReads  int
}

func newFakeRoom(t *testing.T, token string) *fakeRoom {
	f := &fakeRoom{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_matrix/client/v3/rooms/{room}/state/m.room.encryption/", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		enc, status := f.encryption, f.stateStatus
		f.stateReads++
		f.mu.Unlock()
		switch {
		case status == 403:
			writeJSON(w, status, `{"errcode":"M_FORBIDDEN","error":"user not in room"}`)
		case status == 404:
			writeJSON(w, status, `not found`)
		case status != 0:
			writeJSON(w, status, `{"errcode":"M_UNKNOWN","error":"state unavailable"}`)
		case enc == "":
			writeJSON(w, 404, `{"errcode":"M_NOT_FOUND","error":"Event not found"}`)
		default:
			writeJSON(w, 200, enc)
		}
	})
	mux.HandleFunc("PUT /_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}", func(w http.ResponseWriter, r *http.Request) {
		f.Called()
		if r.Header.Get("Authorization") != "Bearer "+token {
			writeJSON(w, 401, `{"errcode":"M_UNKNOWN_TOKEN","error":"Unknown access token"}`)
			return
		}
		f.mu.Lock()
		limit, forbid := f.limitMS, f.forbid
		f.limitMS = 0
		f.mu.Unlock()
		if limit > 0 {
			writeJSON(w, 429, fmt.Sprintf(`{"errcode":"M_LIMIT_EXCEEDED","error":"Too many requests","retry_after_ms":%d}`, limit))
			return
		}
		if forbid {
			writeJSON(w, 403, `{"errcode":"M_FORBIDDEN","error":"User @announce:heed.test not in room !news:heed.test"}`)
			return
		}
		switch f.TakeFailure() {
		case publishtest.Retryable:
			w.Header().Set("Retry-After", strconv.Itoa(publishtest.RetryAfterSeconds))
			writeJSON(w, 429, `{"errcode":"M_LIMIT_EXCEEDED","error":"Too many requests"}`)
			return
		case publishtest.Permanent:
			writeJSON(w, 400, fmt.Sprintf(`{"errcode":"M_BAD_JSON","error":%q}`, publishtest.PermanentMessage))
			return
		case publishtest.Auth:
			writeJSON(w, 401, `{"errcode":"M_UNKNOWN_TOKEN","error":"Unknown access token"}`)
			return
		case publishtest.TimeoutAfterSend:
			f.record(r)
			publishtest.Stall(r)
			return
		}
		post := f.record(r)
		writeJSON(w, 200, fmt.Sprintf(`{"event_id":%q}`, post.RemoteID))
	})
	mux.HandleFunc("PUT /_matrix/client/v3/rooms/{room}/redact/{event}/{txn}", func(w http.ResponseWriter, r *http.Request) {
		f.Called()
		f.mu.Lock()
		f.redacted = append(f.redacted, r.PathValue("event"))
		f.mu.Unlock()
		writeJSON(w, 200, `{"event_id":"$redaction:heed.test"}`)
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeRoom) record(r *http.Request) publishtest.Post {
	var c map[string]any
	json.NewDecoder(r.Body).Decode(&c)
	txn := r.PathValue("txn")
	body, _ := c["body"].(string)
	post, dup := f.Record(publishtest.Post{Text: body, IdempotencyKey: txn, RemoteID: "$" + txn + ":heed.test"})
	if !dup {
		f.mu.Lock()
		f.contents = append(f.contents, c)
		f.mu.Unlock()
	}
	return post
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

func TestConformance(t *testing.T) {
	var logs publishtest.LogBuffer
	publishtest.Run(t, publishtest.Harness{
		New: func(t *testing.T) (publish.Publisher, publishtest.Backend) {
			f := newFakeRoom(t, testToken)
			return newPublisher(t, f.URL, testToken, "!news:heed.test", "timeout: "+publishtest.ClientTimeout.String(), &logs), f
		},
		Idempotent:       true,
		Token:            testToken,
		Logs:             logs.String,
		OverLimitText:    strings.Repeat("a", MaxTextBytes+1),
		OverLimitProblem: fmt.Sprintf("%d/%d", MaxTextBytes+1, MaxTextBytes),
	})
}

func TestMessageContent(t *testing.T) {
	f := newFakeRoom(t, testToken)
	p := newPublisher(t, f.URL, testToken, "!news:heed.test", "", nil)
	req := publishtest.Request("Content")
	req.Text = "heed 2.0 <is> out & ready\nnotes: https://example.org/notes"
	req.Link = "https://example.org/download"
	res, err := p.Publish(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	c := f.contents[0]
	wantBody := req.Text + "\n\nhttps://example.org/download"
	if c["msgtype"] != "m.text" || c["body"] != wantBody {
		t.Errorf("content %v", c)
	}
	wantHTML := `heed 2.0 &lt;is&gt; out &amp; ready<br>notes: <a href="https://example.org/notes">https://example.org/notes</a><br><br><a href="https://example.org/download">https://example.org/download</a>`
	if c["format"] != "org.matrix.custom.html" || c["formatted_body"] != wantHTML {
		t.Errorf("formatted_body = %v\nwant %s", c["formatted_body"], wantHTML)
	}
	txn := TxnID(req.IdempotencyKey)
	if res.RemoteID != "$"+txn+":heed.test" || res.URL != "https://matrix.to/#/!news:heed.test/"+res.RemoteID {
		t.Errorf("result %+v", res)
	}
	// A plain one-line text needs no HTML.
	req2 := publishtest.Request("Plain")
	if _, err := p.Publish(context.Background(), req2); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.contents[1]["formatted_body"]; ok {
		t.Errorf("a plain text got an HTML body: %v", f.contents[1])
	}
}

func TestRetryAfterMSOnly(t *testing.T) {
	f := newFakeRoom(t, testToken)
	f.limitMS = 2500
	p := newPublisher(t, f.URL, testToken, "!news:heed.test", "", nil)
	_, err := p.Publish(context.Background(), publishtest.Request("Limit"))
	kind, after := publish.Classify(err)
	if kind != publish.Retryable || after != 2500*time.Millisecond {
		t.Errorf("Classify = %v %v, want retryable after 2.5s from retry_after_ms", kind, after)
	}
}

func TestForbiddenSaysWhy(t *testing.T) {
	f := newFakeRoom(t, testToken)
	f.forbid = true
	p := newPublisher(t, f.URL, testToken, "!news:heed.test", "", nil)
	_, err := p.Publish(context.Background(), publishtest.Request("Forbidden"))
	if kind, _ := publish.Classify(err); kind != publish.Permanent || !strings.Contains(err.Error(), "must be joined to !news:heed.test") ||
		!strings.Contains(err.Error(), "not in room") {
		t.Errorf("err = %v", err)
	}
}

func TestRetract(t *testing.T) {
	f := newFakeRoom(t, testToken)
	p := newPublisher(t, f.URL, testToken, "!news:heed.test", "", nil)
	if err := p.Retract(context.Background(), "announce", publish.Result{RemoteID: "$ev1:heed.test"}); err != nil {
		t.Fatal(err)
	}
	if len(f.redacted) != 1 || f.redacted[0] != "$ev1:heed.test" {
		t.Errorf("redacted %v", f.redacted)
	}
	if err := p.Retract(context.Background(), "announce", publish.Result{}); err == nil {
		t.Errorf("retract without an event id succeeded")
	}
}

func TestConfigErrors(t *testing.T) {
	for src, want := range map[string]string{
		"homeserver: matrix.org\naccess_token: x\nroom: '!a:b'":                       "homeserver must be",
		"homeserver: https://m.org\nroom: '!a:b'":                                     "access_token is required",
		"homeserver: https://m.org\naccess_token: x\nroom: '#news:m.org'":             "not a room id",
		"homeserver: https://m.org\naccess_token: x\nroom: '!a:b'\nmsgtype: m.x":      "msgtype",
		"homeserver: https://m.org\naccess_token: x\nroom: '!a:b'\ntimeout: soon":     "timeout",
		"homeserver: https://m.org\naccess_token: x\nroom: '!a:b'\nextra: 1":          "extra",
		"homeserver: https://m.org\naccess_token: x\nroom: '!a:b'\npickle_key: short": "pickle_key must be at least 32 characters",
	} {
		_, err := publish.New(publish.Config{Name: "announce", Kind: "matrix", Decode: decoder(src)})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", src, err, want)
		}
	}
}

const testPickleKey = "pickle_key: 0123456789abcdef0123456789abcdef"

// publishes reports how many announcements reached the fake room.
func (f *fakeRoom) publishes() int { return f.Calls() }

// An encrypted room and no pickle_key: a permanent error that says what to
// set, and nothing sent, in the clear or otherwise.
func TestEncryptedRoomWithoutPickleKeySendsNothing(t *testing.T) {
	f := newFakeRoom(t, testToken)
	f.encryption = `{"algorithm":"m.megolm.v1.aes-sha2"}`
	p := newPublisher(t, f.URL, testToken, "!news:heed.test", "", nil)
	_, err := p.Publish(context.Background(), publishtest.Request("NoPickleKey"))
	if kind, _ := publish.Classify(err); kind != publish.Permanent || !strings.Contains(err.Error(), "set pickle_key") ||
		!strings.Contains(err.Error(), "sent nothing") {
		t.Errorf("err = %v, want a permanent error saying to set pickle_key", err)
	}
	if n := f.publishes(); n != 0 {
		t.Errorf("%d messages reached the room, want none", n)
	}
}

// With pickle_key but no database handed over by heed's wiring, nothing is
// sent either.
func TestEncryptedRoomWithoutDatabaseSendsNothing(t *testing.T) {
	f := newFakeRoom(t, testToken)
	f.encryption = `{"algorithm":"m.megolm.v1.aes-sha2"}`
	p := newPublisher(t, f.URL, testToken, "!news:heed.test", testPickleKey, nil)
	_, err := p.Publish(context.Background(), publishtest.Request("NoDatabase"))
	if kind, _ := publish.Classify(err); kind != publish.Permanent || !strings.Contains(err.Error(), "no database") {
		t.Errorf("err = %v, want a permanent error naming the missing database", err)
	}
	if n := f.publishes(); n != 0 {
		t.Errorf("%d messages reached the room, want none", n)
	}
}

// A room once seen encrypted is never posted to in the clear, even when the
// homeserver later answers that it holds no encryption state.
func TestRoomSeenEncryptedStaysEncrypted(t *testing.T) {
	f := newFakeRoom(t, testToken)
	f.encryption = `{"algorithm":"m.megolm.v1.aes-sha2"}`
	p := newPublisher(t, f.URL, testToken, "!news:heed.test", "", nil)
	if _, err := p.Publish(context.Background(), publishtest.Request("Seen")); err == nil {
		t.Fatal("published into an encrypted room without pickle_key")
	}
	f.mu.Lock()
	f.encryption = ""
	f.mu.Unlock()
	_, err := p.Publish(context.Background(), publishtest.Request("Seen"))
	if kind, _ := publish.Classify(err); kind != publish.Permanent || !strings.Contains(err.Error(), "set pickle_key") {
		t.Errorf("err = %v, want the room still taken as encrypted", err)
	}
	if n := f.publishes(); n != 0 {
		t.Errorf("%d messages reached the room, want none", n)
	}
}

// What heed cannot tell about the room's encryption is never taken for a
// plain room: an unreadable state, a 404 that is not Matrix's M_NOT_FOUND,
// an algorithm heed does not know.
func TestUnknownEncryptionSendsNothing(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		encryption string
		kind       publish.ErrorKind
		says       string
	}{
		{name: "server error", status: 500, kind: publish.Retryable, says: "HTTP 500"},
		{name: "not joined", status: 403, kind: publish.Permanent, says: "must be joined"},
		{name: "not Matrix", status: 404, kind: publish.Permanent, says: "HTTP 404"},
		{name: "unknown algorithm", encryption: `{"algorithm":"org.example.rot13"}`, kind: publish.Permanent, says: `"org.example.rot13"`},
		{name: "no algorithm", encryption: `{}`, kind: publish.Permanent, says: "cannot encrypt with"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeRoom(t, testToken)
			f.stateStatus, f.encryption = tc.status, tc.encryption
			p := newPublisher(t, f.URL, testToken, "!news:heed.test", testPickleKey, nil)
			_, err := p.Publish(context.Background(), publishtest.Request("Unknown"))
			if kind, _ := publish.Classify(err); err == nil || kind != tc.kind || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("err = %v, want %v saying %q", err, tc.kind, tc.says)
			}
			if n := f.publishes(); n != 0 {
				t.Errorf("%d messages reached the room, want none", n)
			}
		})
	}
}

// The room's encryption is read at every publish: a room may turn it on at
// any time.
func TestEncryptionIsReadAtEachPublish(t *testing.T) {
	f := newFakeRoom(t, testToken)
	p := newPublisher(t, f.URL, testToken, "!news:heed.test", "", nil)
	for i := range 2 {
		if _, err := p.Publish(context.Background(), publishtest.Request(fmt.Sprintf("Each%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if f.stateReads != 2 {
		t.Errorf("the room's encryption was read %d times for 2 publishes", f.stateReads)
	}
}
