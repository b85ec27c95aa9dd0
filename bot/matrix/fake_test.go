package matrix

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heed-dev/heed/bot"
)

// fakeHS is a small homeserver for the fast tier: just the client-server
// endpoints the adapter calls, answering in the spec's shapes. Tests script
// it through its fields; the real tier runs against Dendrite.
type fakeHS struct {
	*httptest.Server
	t *testing.T

	mu        sync.Mutex
	user      string
	token     string // the access token it accepts
	password  string
	logins    []map[string]any
	syncs     []string          // the "since" of every /sync
	syncQueue []json.RawMessage // answers to /sync, in order; then empty answers
	limitNext map[string]int    // path kind → how many 429s to answer first
	limitBody string            // the 429 body
	limitHdr  string            // Retry-After header on 429s
	joined    []string
	joins     []string
	sent      []sentEvent
	txns      map[string]string // txn → event id
	power     json.RawMessage
	encrypted map[string]bool
	relPages  map[string]json.RawMessage // "from" token → page
	wake      chan struct{}              // a sync answer was queued
	noJoin    bool                       // refuse joins (the invite was withdrawn)
	// syncFail makes /sync fail: "502" answers 502 Bad Gateway, "drop"
	// closes the connection without an answer.
	syncFail   string
	syncFailed int                        // how many /sync requests failed so
	msgPages   map[string]json.RawMessage // /messages: "from" token → page
	msgFail    int                        // how many /messages answer 502 first
	sendLose   int                        // how many sends are stored but answered 502 (the answer lost)
	relFail    int                        // how many relation reads answer 502 first
	// refuseEdits, when set, is the answer to every card edit (m.replace),
	// as "STATUS BODY"; editTries counts the edits sent.
	refuseEdits string
	editTries   int
	failThread  int // how many sends into a thread (m.thread) answer 502 first, unstored
}

type sentEvent struct {
	Room, Type, Txn string
	Content         map[string]any
	Size            int // the request body's length in bytes
}

func newFakeHS(t *testing.T) *fakeHS {
	f := &fakeHS{
		t: t, user: "@heed:heed.test", token: "syt_fake_token_1", password: "correct horse",
		limitNext: map[string]int{}, txns: map[string]string{}, encrypted: map[string]bool{},
		relPages: map[string]json.RawMessage{}, msgPages: map[string]json.RawMessage{}, wake: make(chan struct{}, 1),
		limitBody: `{"errcode":"M_LIMIT_EXCEEDED","error":"Too many requests","retry_after_ms":2000}`,
	}
	mux := http.NewServeMux()
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			ok := r.Header.Get("Authorization") == "Bearer "+f.token
			f.mu.Unlock()
			if !ok {
				writeJSON(w, 401, `{"errcode":"M_UNKNOWN_TOKEN","error":"Invalid access token"}`)
				return
			}
			h(w, r)
		}
	}
	limited := func(kind string, h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			n := f.limitNext[kind]
			if n > 0 {
				f.limitNext[kind] = n - 1
			}
			body, hdr := f.limitBody, f.limitHdr
			f.mu.Unlock()
			if n > 0 {
				if hdr != "" {
					w.Header().Set("Retry-After", hdr)
				}
				writeJSON(w, 429, body)
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("POST /_matrix/client/v3/login", func(w http.ResponseWriter, r *http.Request) {
		var req map[string]any
		json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.logins = append(f.logins, req)
		if req["password"] != f.password {
			writeJSON(w, 403, `{"errcode":"M_FORBIDDEN","error":"Invalid username or password"}`)
			return
		}
		dev, _ := req["device_id"].(string)
		if dev == "" {
			dev = "NEWDEVICE"
		}
		f.token = fmt.Sprintf("syt_fake_token_%d", len(f.logins)+1)
		writeJSON(w, 200, fmt.Sprintf(`{"user_id":%q,"access_token":%q,"device_id":%q}`, f.user, f.token, dev))
	})
	mux.HandleFunc("GET /_matrix/client/v3/account/whoami", auth(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, fmt.Sprintf(`{"user_id":%q,"device_id":"DEV1"}`, f.user))
	}))
	mux.HandleFunc("GET /_matrix/client/v3/profile/{user}/displayname", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"displayname":"Heed Bot"}`)
	})
	mux.HandleFunc("POST /_matrix/client/v3/user/{user}/filter", auth(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"filter_id":"f1"}`)
	}))
	mux.HandleFunc("GET /_matrix/client/v3/joined_rooms", auth(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		b, _ := json.Marshal(map[string]any{"joined_rooms": append([]string{}, f.joined...)})
		f.mu.Unlock()
		writeJSON(w, 200, string(b))
	}))
	mux.HandleFunc("POST /_matrix/client/v3/rooms/{room}/join", auth(limited("join", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		if f.noJoin {
			f.mu.Unlock()
			writeJSON(w, 403, `{"errcode":"M_FORBIDDEN","error":"You are not invited to this room."}`)
			return
		}
		f.joins = append(f.joins, r.PathValue("room"))
		f.joined = append(f.joined, r.PathValue("room"))
		f.mu.Unlock()
		writeJSON(w, 200, fmt.Sprintf(`{"room_id":%q}`, r.PathValue("room")))
	})))
	mux.HandleFunc("GET /_matrix/client/v3/rooms/{room}/state/{type}/", auth(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		switch r.PathValue("type") {
		case "m.room.power_levels":
			if f.power != nil {
				writeJSON(w, 200, string(f.power))
				return
			}
		case "m.room.encryption":
			if f.encrypted[r.PathValue("room")] {
				writeJSON(w, 200, `{"algorithm":"m.megolm.v1.aes-sha2"}`)
				return
			}
		}
		writeJSON(w, 404, `{"errcode":"M_NOT_FOUND","error":"Event not found."}`)
	}))
	mux.HandleFunc("PUT /_matrix/client/v3/rooms/{room}/send/{type}/{txn}", auth(limited("send", func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var c map[string]any
		json.Unmarshal(raw, &c)
		f.mu.Lock()
		defer f.mu.Unlock()
		if rel, _ := c["m.relates_to"].(map[string]any); rel["rel_type"] == "m.replace" {
			f.editTries++
			if f.refuseEdits != "" {
				status, body, _ := strings.Cut(f.refuseEdits, " ")
				code, _ := strconv.Atoi(status)
				writeJSON(w, code, body)
				return
			}
		}
		if rel, _ := c["m.relates_to"].(map[string]any); rel["rel_type"] == "m.thread" && f.failThread > 0 {
			f.failThread--
			writeJSON(w, 502, `<html>502 Bad Gateway</html>`)
			return
		}
		txn := r.PathValue("txn")
		if id, ok := f.txns[txn]; ok {
			writeJSON(w, 200, fmt.Sprintf(`{"event_id":%q}`, id))
			return
		}
		id := fmt.Sprintf("$ev%d:heed.test", len(f.sent)+1)
		f.txns[txn] = id
		f.sent = append(f.sent, sentEvent{Room: r.PathValue("room"), Type: r.PathValue("type"), Txn: txn, Content: c, Size: len(raw)})
		if f.sendLose > 0 {
			f.sendLose--
			writeJSON(w, 502, `<html>502 Bad Gateway</html>`)
			return
		}
		writeJSON(w, 200, fmt.Sprintf(`{"event_id":%q}`, id))
	})))
	mux.HandleFunc("GET /_matrix/client/v1/rooms/{room}/relations/{event}/m.annotation", auth(limited("relations", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		page, ok := f.relPages[r.URL.Query().Get("from")]
		fail := f.relFail > 0
		if fail {
			f.relFail--
		}
		f.mu.Unlock()
		if fail {
			writeJSON(w, 502, `<html>502 Bad Gateway</html>`)
			return
		}
		if !ok {
			writeJSON(w, 200, `{"chunk":[]}`)
			return
		}
		writeJSON(w, 200, string(page))
	})))
	mux.HandleFunc("GET /_matrix/client/v3/rooms/{room}/messages", auth(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		page, ok := f.msgPages[r.URL.Query().Get("from")]
		fail := f.msgFail > 0
		if fail {
			f.msgFail--
		}
		f.mu.Unlock()
		switch {
		case fail:
			writeJSON(w, 502, `<html>502 Bad Gateway</html>`)
		case !ok:
			writeJSON(w, 200, `{"chunk":[]}`)
		default:
			writeJSON(w, 200, string(page))
		}
	}))
	// failed answers a /sync as syncFail says, if it says to fail.
	failed := func(w http.ResponseWriter) bool {
		f.mu.Lock()
		how := f.syncFail
		if how != "" {
			f.syncFailed++
		}
		f.mu.Unlock()
		switch how {
		case "":
			return false
		case "drop":
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
		default:
			writeJSON(w, 502, `<html>502 Bad Gateway</html>`)
		}
		return true
	}
	mux.HandleFunc("GET /_matrix/client/v3/sync", auth(limited("sync", func(w http.ResponseWriter, r *http.Request) {
		if failed(w) {
			return
		}
		f.mu.Lock()
		f.syncs = append(f.syncs, r.URL.Query().Get("since"))
		var body json.RawMessage
		if len(f.syncQueue) > 0 {
			body, f.syncQueue = f.syncQueue[0], f.syncQueue[1:]
		}
		n := len(f.syncs)
		f.mu.Unlock()
		if body == nil && r.URL.Query().Get("timeout") != "0" {
			// A long poll with nothing queued waits for something to be
			// queued or for the client to give up, as a homeserver does.
			select {
			case <-r.Context().Done():
				return
			case <-f.wake:
			}
			if failed(w) {
				return
			}
			f.mu.Lock()
			if len(f.syncQueue) > 0 {
				body, f.syncQueue = f.syncQueue[0], f.syncQueue[1:]
			}
			f.mu.Unlock()
		}
		if body == nil {
			body = json.RawMessage(fmt.Sprintf(`{"next_batch":"s_empty_%d"}`, n))
		}
		writeJSON(w, 200, string(body))
	})))
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

func (f *fakeHS) sentEvents() []sentEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sentEvent(nil), f.sent...)
}

func (f *fakeHS) queueSync(bodies ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range bodies {
		f.syncQueue = append(f.syncQueue, json.RawMessage(b))
	}
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// failSync makes /sync fail as syncFail says ("" to answer again); a long
// poll under way fails too.
func (f *fakeHS) failSync(how string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncFail = how
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *fakeHS) syncFailures() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.syncFailed
}

func (f *fakeHS) since() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.syncs...)
}

// memState is a StateStore in memory.
type memState struct {
	mu sync.Mutex
	kv map[string]string
}

func newMemState() *memState { return &memState{kv: map[string]string{}} }

func (m *memState) GetKV(ctx context.Context, key string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.kv[key], nil
}

func (m *memState) SetKV(ctx context.Context, key, value string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.kv[key] = value
	return nil
}

// recorder is a bot.Handler that keeps what it is given.
type recorder struct {
	mu     sync.Mutex
	events []bot.Event
	ch     chan bot.Event
	// during runs inside HandleEvent, to look at the adapter's state at the
	// moment an event is handled.
	during func(bot.Event)
}

func newRecorder() *recorder { return &recorder{ch: make(chan bot.Event, 100)} }

func (r *recorder) HandleEvent(ctx context.Context, ev bot.Event) error {
	if r.during != nil {
		r.during(ev)
	}
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	r.ch <- ev
	return nil
}

func (r *recorder) got() []bot.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bot.Event(nil), r.events...)
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recordingSleep records the waits asked for and returns at once.
type recordingSleep struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *recordingSleep) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *recordingSleep) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}
