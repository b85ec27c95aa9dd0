package slackfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// sockState is the Socket Mode side of the fake; guarded by Fake.mu.
type sockState struct {
	tickets map[string]bool
	refuse  bool
	deaf    bool
	cur     *sock
	all     []*sock
	conns   int
	acks    map[string]json.RawMessage
	ackList []string
	pongs   int
}

func (s *sockState) init() {
	s.tickets = map[string]bool{}
	s.acks = map[string]json.RawMessage{}
}

func (f *Fake) closeSockets() {
	f.mu.Lock()
	all := append([]*sock(nil), f.sock.all...)
	f.mu.Unlock()
	for _, c := range all {
		_ = c.conn.Close()
	}
}

// sock is one Socket Mode websocket connection.
type sock struct {
	conn *websocket.Conn
	wmu  sync.Mutex
	done chan struct{}
}

func (s *sock) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return s.conn.WriteMessage(websocket.TextMessage, b)
}

func (s *sock) ping() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.conn.WriteControl(websocket.PingMessage, []byte("fake"), time.Now().Add(5*time.Second))
}

func (f *Fake) serveSocket(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	f.mu.Lock()
	ok := f.sock.tickets[ticket]
	delete(f.sock.tickets, ticket)
	refused := f.sock.refuse
	f.mu.Unlock()
	if !ok {
		http.Error(w, "invalid or used ticket", http.StatusUnauthorized)
		return
	}
	if refused {
		http.Error(w, "socket mode unavailable", http.StatusServiceUnavailable)
		return
	}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s := &sock{conn: conn, done: make(chan struct{})}
	conn.SetPongHandler(func(string) error {
		f.mu.Lock()
		f.sock.pongs++
		f.notifyLocked()
		f.mu.Unlock()
		return nil
	})
	f.mu.Lock()
	n := f.sock.conns + 1
	f.mu.Unlock()
	// The hello frame, in the shape Slack sends (corpus: socketmode hello).
	hello := map[string]any{"type": "hello", "num_connections": 1,
		"debug_info":      map[string]any{"host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060},
		"connection_info": map[string]any{"app_id": f.opt.AppID}}
	if err := s.write(hello); err != nil {
		_ = conn.Close()
		return
	}
	f.mu.Lock()
	f.sock.cur = s
	f.sock.all = append(f.sock.all, s)
	f.sock.conns = n
	f.notifyLocked()
	f.mu.Unlock()
	go f.readSocket(s)
	if f.opt.PingInterval > 0 {
		go f.pingSocket(s)
	}
}

func (f *Fake) readSocket(s *sock) {
	defer func() {
		// No delivery may pick this socket once it is done.
		f.mu.Lock()
		if f.sock.cur == s {
			f.sock.cur = nil
		}
		f.mu.Unlock()
		close(s.done)
		_ = s.conn.Close()
		f.mu.Lock()
		f.notifyLocked()
		f.mu.Unlock()
	}()
	for {
		_, b, err := s.conn.ReadMessage()
		if err != nil {
			return
		}
		var ack struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(b, &ack) != nil || ack.EnvelopeID == "" {
			continue
		}
		if ack.Payload == nil {
			ack.Payload = json.RawMessage("null")
		}
		f.mu.Lock()
		if _, dup := f.sock.acks[ack.EnvelopeID]; !dup {
			f.sock.ackList = append(f.sock.ackList, ack.EnvelopeID)
		}
		f.sock.acks[ack.EnvelopeID] = ack.Payload
		f.notifyLocked()
		f.mu.Unlock()
	}
}

func (f *Fake) pingSocket(s *sock) {
	t := time.NewTicker(f.opt.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			f.mu.Lock()
			deaf := f.sock.deaf
			f.mu.Unlock()
			if !deaf {
				_ = s.ping()
			}
		}
	}
}

// Push sends one raw Socket Mode frame on the current connection.
func (f *Fake) Push(frame any) error {
	f.mu.Lock()
	s := f.sock.cur
	f.mu.Unlock()
	if s == nil {
		return fmt.Errorf("slackfake: no socket connected")
	}
	return s.write(frame)
}

// Connections is how many Socket Mode connections have been opened so far.
func (f *Fake) Connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sock.conns
}

// Connected reports whether a Socket Mode connection is open now.
func (f *Fake) Connected() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sock.cur != nil
}

// WaitConnections waits until at least n connections have been opened and
// one is open now.
func (f *Fake) WaitConnections(tb testing.TB, n int) {
	tb.Helper()
	if !f.waitFor(func() bool { return f.sock.conns >= n && f.sock.cur != nil }) {
		tb.Fatalf("slackfake: waited %v for socket connection #%d (have %d)", f.opt.Wait, n, f.Connections())
	}
}

// WaitDisconnected waits until no socket is open, as after the app stops.
func (f *Fake) WaitDisconnected(tb testing.TB) {
	tb.Helper()
	if !f.waitFor(func() bool { return f.sock.cur == nil }) {
		tb.Fatalf("slackfake: a socket is still open after %v", f.opt.Wait)
	}
}

// Drop cuts the current socket without a close frame, as a network failure
// would, and waits until the fake has seen it go.
func (f *Fake) Drop(tb testing.TB) {
	tb.Helper()
	f.mu.Lock()
	s := f.sock.cur
	f.sock.cur = nil
	f.notifyLocked()
	f.mu.Unlock()
	if s == nil {
		tb.Fatalf("slackfake: Drop with no socket connected")
	}
	_ = s.conn.UnderlyingConn().Close()
	select {
	case <-s.done:
	case <-time.After(f.opt.Wait):
		tb.Fatalf("slackfake: dropped socket did not close within %v", f.opt.Wait)
	}
}

// Disconnect sends a disconnect frame (reason "refresh_requested",
// "warning", "link_disabled") and waits until the app has closed the socket.
func (f *Fake) Disconnect(tb testing.TB, reason string) {
	tb.Helper()
	f.mu.Lock()
	s := f.sock.cur
	f.mu.Unlock()
	if s == nil {
		tb.Fatalf("slackfake: Disconnect with no socket connected")
	}
	err := s.write(map[string]any{"type": "disconnect", "reason": reason,
		"debug_info": map[string]any{"host": "wss-111.slack.com"}})
	if err != nil {
		tb.Fatalf("slackfake: disconnect frame: %v", err)
	}
	select {
	case <-s.done:
	case <-time.After(f.opt.Wait):
		tb.Fatalf("slackfake: app did not close the socket within %v after disconnect", f.opt.Wait)
	}
}

// RefuseSockets makes new websocket connections fail (503) while on, so a
// dropped app cannot reconnect until it is turned off again.
func (f *Fake) RefuseSockets(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sock.refuse = on
}

// Deafen stops the fake from sending anything on the socket (no pings, no
// envelopes) while it stays open: a deaf socket. It returns once the app
// has read every frame sent before, proven by a final ping's pong.
func (f *Fake) Deafen(tb testing.TB, on bool) {
	tb.Helper()
	f.mu.Lock()
	f.sock.deaf = on
	s := f.sock.cur
	pongs := f.sock.pongs
	f.notifyLocked()
	f.mu.Unlock()
	if !on || s == nil {
		return
	}
	if err := s.ping(); err != nil {
		tb.Fatalf("slackfake: ping: %v", err)
	}
	if !f.waitFor(func() bool { return f.sock.pongs > pongs }) {
		tb.Fatalf("slackfake: no pong within %v", f.opt.Wait)
	}
}

// AwaitAck waits for the app to acknowledge an envelope and returns the
// ack's payload ("null" when it had none).
func (f *Fake) AwaitAck(tb testing.TB, envelopeID string) json.RawMessage {
	tb.Helper()
	var p json.RawMessage
	if !f.waitFor(func() bool {
		var ok bool
		p, ok = f.sock.acks[envelopeID]
		return ok
	}) {
		tb.Fatalf("slackfake: envelope %s not acknowledged within %v", envelopeID, f.opt.Wait)
	}
	return p
}

// Acks lists acknowledged envelope ids in the order the acks arrived.
func (f *Fake) Acks() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.sock.ackList...)
}
