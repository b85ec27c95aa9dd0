package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// arrival is one request the receiver got: which occurrence × target, the
// idempotency key heed sent, and when it arrived (stamped as the handler
// starts, before the body is read).
type arrival struct {
	Seq        int       `json:"seq"`
	Target     string    `json:"target"`
	Occurrence int64     `json:"occurrence"`
	Key        string    `json:"key"`
	At         time.Time `json:"at"`
	// Repeat: the keyed target had already seen this key. A receiver that
	// honours the key answers it as the first time and posts nothing new.
	Repeat bool `json:"repeat,omitempty"`
	// Held: the receiver held this request open until the harness let it
	// go (an in-flight request across a SIGTERM or a pause).
	Held bool `json:"held,omitempty"`
	// Dropped: with -drop, the receiver took this request (it counts as
	// posted) and then cut the connection without answering, as a
	// receiver that crashes mid-request does.
	Dropped bool   `json:"dropped,omitempty"`
	Err     string `json:"error,omitempty"` // a bad signature or body: answered 400, never posted
}

// hold is one armed hold: the next request that is the first of its
// occurrence is held until release is closed.
type hold struct {
	got     chan arrival
	release chan struct{}
	expired atomic.Bool // the receiver answered on its own, before release
}

// receiver is the webhook end both targets post to, on 127.0.0.1. It
// verifies heed's signature with publish/webhook's own verifier, records
// every request, answers after a random delay (so that a kill finds
// requests in flight), and for the keyed target answers a repeated
// Idempotency-Key exactly as the first time.
type receiver struct {
	secret   string
	keyed    string // the target that honours the idempotency key
	maxDelay time.Duration
	drop     float64 // share of requests answered by cutting the connection

	mu       sync.Mutex
	rng      *rand.Rand
	arrivals []arrival
	ids      map[string]string // keyed target: key → the id answered first
	seenOcc  map[int64]bool
	armed    *hold
	out      io.Writer // one JSON line per arrival

	srv  *http.Server
	addr string
}

func newReceiver(secret, keyed string, maxDelay time.Duration, drop float64, seed uint64, out io.Writer) (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{secret: secret, keyed: keyed, maxDelay: maxDelay, drop: drop, rng: rand.New(rand.NewPCG(seed, 16)),
		ids: map[string]string{}, seenOcc: map[int64]bool{}, out: out, addr: ln.Addr().String()}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 30 * time.Second}
	go r.srv.Serve(ln)
	return r, nil
}

// URL is where target posts.
func (r *receiver) URL(target string) string { return "http://" + r.addr + "/" + target }

func (r *receiver) close() { r.srv.Close() }

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	target := strings.TrimPrefix(req.URL.Path, "/")
	body, err := verify(r.secret, http.MaxBytesReader(w, req.Body, 1<<20), req.Header, at)
	var ev struct {
		Event          string `json:"event"`
		OccurrenceID   int64  `json:"occurrence_id"`
		Target         string `json:"target"`
		IdempotencyKey string `json:"idempotency_key"`
	}
	key := req.Header.Get("Idempotency-Key")
	switch {
	case err != nil:
	case json.Unmarshal(body, &ev) != nil:
		err = fmt.Errorf("body is not the webhook's JSON")
	case ev.Event != "publish":
		err = fmt.Errorf("event %q, not publish", ev.Event)
	case ev.Target != target:
		err = fmt.Errorf("body names target %q, posted to /%s", ev.Target, target)
	case key == "" || key != ev.IdempotencyKey:
		err = fmt.Errorf("Idempotency-Key header %q differs from the body's %q", key, ev.IdempotencyKey)
	}

	r.mu.Lock()
	a := arrival{Seq: len(r.arrivals) + 1, Target: target, Occurrence: ev.OccurrenceID, Key: key, At: at}
	var h *hold
	var id string
	if err != nil {
		a.Err = err.Error()
	} else {
		id = fmt.Sprintf("%s-%d", target, a.Seq)
		if target == r.keyed {
			if first, ok := r.ids[key]; ok {
				a.Repeat, id = true, first
			} else {
				r.ids[key] = id
			}
		}
		if r.armed != nil && !r.seenOcc[a.Occurrence] {
			h, r.armed = r.armed, nil
			a.Held = true
		}
		r.seenOcc[a.Occurrence] = true
	}
	delay := time.Duration(r.rng.Int64N(int64(r.maxDelay) + 1))
	a.Dropped = err == nil && h == nil && r.drop > 0 && r.rng.Float64() < r.drop
	r.arrivals = append(r.arrivals, a)
	line, _ := json.Marshal(a)
	fmt.Fprintf(r.out, "%s\n", line)
	r.mu.Unlock()

	if err != nil {
		http.Error(w, `{"error":"`+strings.ReplaceAll(err.Error(), `"`, `'`)+`"}`, http.StatusBadRequest)
		return
	}
	if h != nil {
		h.got <- a
		select {
		case <-h.release:
		case <-time.After(50 * time.Second): // never wedge heed; below the targets' 60 s timeout
			h.expired.Store(true)
		}
	}
	time.Sleep(delay)
	if a.Dropped {
		if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
			c.Close()
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":%q,"url":"http://%s/posts/%s"}`, id, r.addr, id)
}

// arm holds the next request that is the first of its occurrence, and
// returns the hold: receive from got to learn it arrived, close release
// to answer it.
func (r *receiver) arm() *hold {
	h := &hold{got: make(chan arrival, 1), release: make(chan struct{})}
	r.mu.Lock()
	r.armed = h
	r.mu.Unlock()
	return h
}

// disarm forgets an armed hold that caught nothing.
func (r *receiver) disarm(h *hold) {
	r.mu.Lock()
	if r.armed == h {
		r.armed = nil
	}
	r.mu.Unlock()
}

// snapshot copies the arrivals so far.
func (r *receiver) snapshot() []arrival {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]arrival(nil), r.arrivals...)
}

// verify checks a request's signature as the webhook target documents it
// (README, "Webhook"): X-Heed-Signature is "sha256=" and the hex HMAC-SHA256,
// keyed with the secret, of "v1:" + X-Heed-Timestamp + ":" + the raw body,
// and the timestamp is within five minutes. The harness checks heed's wire
// format on its own rather than with heed's verifier, and a network
// package is for the wiring to import (internal/architecture).
func verify(secret string, body io.Reader, h http.Header, now time.Time) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	ts := h.Get("X-Heed-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("missing or malformed X-Heed-Timestamp %q", ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return nil, fmt.Errorf("X-Heed-Timestamp is %s away from now", d.Round(time.Second))
	}
	got, err := hex.DecodeString(strings.TrimPrefix(h.Get("X-Heed-Signature"), "sha256="))
	if err != nil || !strings.HasPrefix(h.Get("X-Heed-Signature"), "sha256=") {
		return nil, fmt.Errorf("malformed X-Heed-Signature")
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v1:" + ts + ":"))
	m.Write(buf.Bytes())
	if !hmac.Equal(got, m.Sum(nil)) {
		return nil, fmt.Errorf("X-Heed-Signature does not match the body")
	}
	return buf.Bytes(), nil
}
