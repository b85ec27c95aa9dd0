// Package matrixtest runs heed's Matrix tests against a real homeserver:
// Dendrite, built and started by scripts/dendrite.sh on 127.0.0.1 with a
// throwaway configuration. Tests register random users through the
// shared-secret registration endpoint and get logged-in mautrix clients.
//
// Wire it into a test binary with
//
//	func TestMain(m *testing.M) { os.Exit(matrixtest.Main(m)) }
//
// Shared(t) then starts one homeserver for the whole binary on first use
// (or uses HEED_DENDRITE_URL and HEED_DENDRITE_SECRET when both are set),
// and Main stops it when the tests are done. Start(t) gives a test a
// homeserver of its own, which it may stop and start again; Proxy(t) puts
// a proxy the test can cut between heed and a homeserver.
//
// If Dendrite cannot be built or started, the tests that need it fail with
// the script's message. They never skip: a Matrix tier that did not run
// must not look like one that passed.
package matrixtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/synapseadmin"

	"github.com/heed-dev/heed/internal/pgtest"
)

// Server is a running homeserver.
type Server struct {
	URL    string
	Secret string // the shared registration secret
	// Dir holds the server's state when this process started it; it is
	// empty for a server named by the environment.
	Dir string
}

var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Main runs the tests, then stops the shared homeserver if this binary
// started one, and then the PostgreSQL cluster it kept its state in (and
// that the binary's own PostgreSQL tests use: pgtest). Call it from
// TestMain.
func Main(m *testing.M) int {
	return pgtest.MainWith(m, func(m *testing.M) int {
		code := m.Run()
		if shared.srv != nil && shared.srv.Dir != "" {
			if out, err := script(nil, "stop", shared.srv.Dir); err != nil {
				fmt.Fprintf(os.Stderr, "matrixtest: stopping Dendrite: %v\n%s", err, out)
			}
			os.RemoveAll(shared.srv.Dir)
		}
		return code
	})
}

// Shared returns the homeserver shared by every test in the binary.
func Shared(t testing.TB) *Server {
	t.Helper()
	external := os.Getenv("HEED_DENDRITE_URL") != "" && os.Getenv("HEED_DENDRITE_SECRET") != ""
	var pg *pgtest.Cluster
	if !external {
		pg = pgtest.Shared(t) // Dendrite keeps its state in PostgreSQL
	}
	shared.once.Do(func() {
		if external {
			shared.srv = &Server{URL: os.Getenv("HEED_DENDRITE_URL"), Secret: os.Getenv("HEED_DENDRITE_SECRET")}
			return
		}
		shared.srv, shared.err = startOn(pg)
	})
	if shared.err != nil {
		t.Fatalf("matrixtest: the Dendrite homeserver could not be built or started, so this Matrix test cannot run: %v", shared.err)
	}
	if shared.srv.Dir != "" && !shared.srv.canRegister() {
		// Dendrite v0.15.2 on SQLite can get into a state in which every
		// registration fails ("a.DB.SetDisplayName: sql: no rows in result
		// set"). A homeserver this binary started is replaced by a fresh
		// one before the test makes any user on it.
		t.Logf("matrixtest: the shared Dendrite can no longer register users; starting a fresh one")
		old := shared.srv
		if out, err := script(nil, "stop", old.Dir); err != nil {
			t.Logf("stopping the old Dendrite: %v\n%s", err, out)
		}
		os.RemoveAll(old.Dir)
		var err error
		if shared.srv, err = startOn(pg); err != nil {
			t.Fatalf("matrixtest: a fresh Dendrite could not be started: %v", err)
		}
	}
	return shared.srv
}

// canRegister reports whether the server still registers users, trying a
// throwaway one up to three times.
func (s *Server) canRegister() bool {
	anon, err := mautrix.NewClient(s.URL, "", "")
	if err != nil {
		return false
	}
	admin := synapseadmin.Client{Client: anon}
	for range 3 {
		registerMu.Lock()
		_, err = admin.SharedSecretRegister(context.Background(), s.Secret, synapseadmin.ReqSharedSecretRegister{Username: "probe-" + Random(4), Password: Random(12)})
		registerMu.Unlock()
		if err == nil {
			return true
		}
	}
	return false
}

// Start starts a homeserver for this test alone; it is stopped when the
// test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	dir := t.TempDir()
	s, err := start(dir, pgtest.URL(t))
	if err != nil {
		t.Fatalf("matrixtest: the Dendrite homeserver could not be built or started, so this Matrix test cannot run: %v", err)
	}
	t.Cleanup(func() {
		if out, err := script(nil, "stop", dir); err != nil {
			t.Errorf("stopping Dendrite: %v\n%s", err, out)
		}
	})
	return s
}

// Stop stops a homeserver this process started; its data stays.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if s.Dir == "" {
		t.Fatal("matrixtest: cannot stop a homeserver named by HEED_DENDRITE_URL")
	}
	if out, err := script(nil, "stop", s.Dir); err != nil {
		t.Fatalf("stopping Dendrite: %v\n%s", err, out)
	}
}

// Restart starts a stopped homeserver again, on the same port with the
// same data.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if s.Dir == "" {
		t.Fatal("matrixtest: cannot start a homeserver named by HEED_DENDRITE_URL")
	}
	again, err := start(s.Dir, "") // configured already: its database is in its config
	if err != nil {
		t.Fatalf("restarting Dendrite: %v", err)
	}
	if again.URL != s.URL {
		t.Fatalf("Dendrite came back at %s, not %s", again.URL, s.URL)
	}
}

// startOn starts a homeserver in a new directory, with its state in a new
// database on the cluster pg. The directory and the database go when the
// test binary ends (Main, and pgtest's clean-up).
func startOn(pg *pgtest.Cluster) (*Server, error) {
	dir, err := os.MkdirTemp("", "heed-dendrite-")
	if err != nil {
		return nil, err
	}
	db, _, err := pg.CreateDatabase(context.Background())
	if err != nil {
		return nil, fmt.Errorf("a database for Dendrite: %w", err)
	}
	return start(dir, db)
}

// start runs `scripts/dendrite.sh start dir` and reads dir/env. db is the
// PostgreSQL database a new server keeps its state in.
func start(dir, db string) (*Server, error) {
	out, err := script([]string{"HEED_DENDRITE_DB=" + db}, "start", dir)
	if err != nil {
		return nil, fmt.Errorf("scripts/dendrite.sh start: %v\n%s", err, out)
	}
	env, err := readEnv(filepath.Join(dir, "env"))
	if err != nil {
		return nil, err
	}
	s := &Server{URL: env["HEED_DENDRITE_URL"], Secret: env["HEED_DENDRITE_SECRET"], Dir: dir}
	if s.URL == "" || s.Secret == "" {
		return nil, fmt.Errorf("%s/env lacks HEED_DENDRITE_URL or HEED_DENDRITE_SECRET", dir)
	}
	return s, nil
}

// script runs scripts/dendrite.sh with a bound on a cold build.
func script(env []string, args ...string) ([]byte, error) {
	path, err := scriptPath()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{path}, args...)...)
	// The script stops the server if this test binary dies without Main's
	// clean-up (a timeout panic, a kill).
	cmd.Env = append(append(os.Environ(), "HEED_DENDRITE_WATCH_PID="+strconv.Itoa(os.Getpid())), env...)
	return cmd.CombinedOutput()
}

// scriptPath finds scripts/dendrite.sh above the working directory (go test
// runs in the package directory).
func scriptPath() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "scripts", "dendrite.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("scripts/dendrite.sh not found above the working directory")
		}
		dir = parent
	}
}

func readEnv(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env, sc.Err()
}

// User is a registered account with a logged-in client.
type User struct {
	ID       id.UserID
	Password string
	Client   *mautrix.Client
	// Crypto is the user's encrypting client once EnableCrypto made one.
	Crypto *Crypto
}

// Random returns a random lowercase hex string of n bytes.
func Random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// registerMu keeps a test binary's registrations from overlapping.
var registerMu sync.Mutex

// Register creates a user named prefix plus a random suffix through the
// shared-secret registration endpoint (/_synapse/admin/v1/register, the
// HMAC-SHA1 nonce flow) and returns it logged in.
func (s *Server) Register(t testing.TB, prefix string) *User {
	t.Helper()
	anon, err := mautrix.NewClient(s.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	admin := synapseadmin.Client{Client: anon}
	pw := Random(12)
	var resp *mautrix.RespRegister
	// Registrations are made one at a time, and one that fails with HTTP
	// 500 (or M_USER_IN_USE, below) is tried again under a new name:
	// Dendrite v0.15.2 on SQLite can create the account and then fail to
	// set its display name ("a.DB.SetDisplayName: sql: no rows in result
	// set") under load, which leaves that name taken.
	for attempt := 1; ; attempt++ {
		name := prefix + "-" + Random(4)
		registerMu.Lock()
		resp, err = admin.SharedSecretRegister(context.Background(), s.Secret, synapseadmin.ReqSharedSecretRegister{Username: name, Password: pw})
		registerMu.Unlock()
		if err == nil {
			break
		}
		var httpErr mautrix.HTTPError
		retry := errors.As(err, &httpErr) && httpErr.Response != nil && httpErr.Response.StatusCode == 500
		// The client may itself have sent the request again after such a
		// 500, and then hears that its own first try took the name.
		retry = retry || errors.Is(err, mautrix.MUserInUse)
		if attempt == 5 || !retry {
			t.Fatalf("register %s through the shared-secret endpoint (attempt %d): %v", name, attempt, err)
		}
		t.Logf("register %s: %v; trying again under another name", name, err)
	}
	cli, err := mautrix.NewClient(s.URL, resp.UserID, resp.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	cli.DeviceID = resp.DeviceID
	return &User{ID: resp.UserID, Password: pw, Client: cli}
}

// CreateRoom creates a private, unencrypted room and invites the users;
// they are joined when join is true.
func (u *User) CreateRoom(t testing.TB, join bool, invite ...*User) id.RoomID {
	t.Helper()
	ctx := context.Background()
	var ids []id.UserID
	for _, o := range invite {
		ids = append(ids, o.ID)
	}
	var resp *mautrix.RespCreateRoom
	serverRetry(t, "create room", func() (err error) {
		resp, err = u.Client.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: "heed review " + Random(2), Invite: ids})
		return err
	})
	if join {
		for _, o := range invite {
			serverRetry(t, string(o.ID)+" join", func() error {
				_, err := o.Client.JoinRoomByID(ctx, resp.RoomID)
				return err
			})
		}
	}
	return resp.RoomID
}

// serverRetry runs a test's own setup call, trying it again (up to 8 times,
// backing off from 100 ms to 6.4 s) when the homeserver answers HTTP 500:
// Dendrite on SQLite does so now and then under load, while another
// writer holds its database, and five immediate tries have all met the
// same busy spell. It fails the test on any other error, or after the
// eighth 500. heed's own calls are never retried here.
func serverRetry(t testing.TB, what string, call func() error) {
	t.Helper()
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := call()
		if err == nil {
			return
		}
		var httpErr mautrix.HTTPError
		if attempt == 8 || !errors.As(err, &httpErr) || httpErr.Response == nil || httpErr.Response.StatusCode != 500 {
			t.Fatalf("%s (attempt %d): %v", what, attempt, err)
		}
		t.Logf("%s: %v; trying again in %v", what, err, backoff)
		time.Sleep(backoff) // a back-off before a retry, not a wait for an event
		backoff *= 2
	}
}

// SetPowerLevel sets user's power level in room.
func (u *User) SetPowerLevel(t testing.TB, room id.RoomID, user id.UserID, level int) {
	t.Helper()
	ctx := context.Background()
	var pl event.PowerLevelsEventContent
	if err := u.Client.StateEvent(ctx, room, event.StatePowerLevels, "", &pl); err != nil {
		t.Fatalf("read power levels: %v", err)
	}
	pl.SetUserLevel(user, level)
	if _, err := u.Client.SendStateEvent(ctx, room, event.StatePowerLevels, "", &pl); err != nil {
		t.Fatalf("set power level: %v", err)
	}
}

// Seen is an event a Watcher received, and when.
type Seen struct {
	Event *event.Event
	At    time.Time
}

// Watcher follows a user's /sync and keeps every room timeline event.
type Watcher struct {
	mu     sync.Mutex
	seen   []Seen
	notify chan struct{}
	ready  chan struct{}
	err    error
}

// TimelineOnly is a sync filter for room timelines alone: no presence,
// typing or receipts, which would wake a long poll for nothing.
func TimelineOnly() *mautrix.Filter {
	none := &mautrix.FilterPart{NotTypes: []event.Type{{Type: "*"}}}
	return &mautrix.Filter{AccountData: none, Presence: none,
		Room: &mautrix.RoomFilter{AccountData: none, Ephemeral: none}}
}

// Watch starts following u's /sync until the test ends. It returns once
// the first sync is done, so events sent after Watch returns are seen.
func (u *User) Watch(t testing.TB) *Watcher {
	t.Helper()
	w := &Watcher{notify: make(chan struct{}, 1), ready: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	filter, err := u.Client.CreateFilter(ctx, TimelineOnly())
	if err != nil {
		t.Fatalf("create a sync filter for %s: %v", u.ID, err)
	}
	go func() {
		defer close(done)
		since := ""
		for ctx.Err() == nil {
			timeout := 30000
			if since == "" {
				timeout = 0
			}
			resp, err := u.Client.FullSyncRequest(ctx, mautrix.ReqSync{Timeout: timeout, Since: since, FilterID: filter.FilterID})
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
				select {
				case <-ctx.Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			if u.Crypto != nil {
				u.Crypto.follow(ctx, resp, since)
			}
			now := time.Now()
			w.mu.Lock()
			for room, jr := range resp.Rooms.Join {
				for _, evt := range jr.Timeline.Events {
					evt.RoomID = room
					w.seen = append(w.seen, Seen{Event: evt, At: now})
				}
			}
			if u.Crypto != nil {
				// A room key can come a sync after the message it opens.
				u.Crypto.machMu.Lock()
				for i, s := range w.seen {
					if s.Event.Type == event.EventEncrypted {
						if dec, err := u.Crypto.Mach.DecryptMegolmEvent(ctx, s.Event); err == nil {
							w.seen[i].Event = dec
						}
					}
				}
				u.Crypto.machMu.Unlock()
			}
			w.mu.Unlock()
			select {
			case w.notify <- struct{}{}:
			default:
			}
			if since == "" {
				close(w.ready)
			}
			since = resp.NextBatch
		}
	}()
	select {
	case <-w.ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("the first /sync of %s did not return within 30 s", u.ID)
	}
	return w
}

// Wait returns the first event (in order of arrival) that matches pred,
// waiting for it up to the deadline. Encrypted events are matched once
// decrypted.
func (w *Watcher) Wait(t testing.TB, what string, timeout time.Duration, pred func(*event.Event) bool) Seen {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		for _, s := range w.seen {
			// An event still encrypted is one whose room key has not
			// reached this client yet (it may come a sync later): it is
			// looked at once it is decrypted, never before.
			if s.Event.Type == event.EventEncrypted {
				continue
			}
			if pred(s.Event) {
				w.mu.Unlock()
				return s
			}
		}
		err := w.err
		w.mu.Unlock()
		select {
		case <-w.notify:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s (last sync error: %v)", timeout, what, err)
		}
	}
}

// Events returns what the watcher has seen so far.
func (w *Watcher) Events() []Seen {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Seen(nil), w.seen...)
}

// Proxy forwards TCP connections to a homeserver and can cut them: put
// between heed and the homeserver, it takes heed off the network while the
// people in the room, who reach the homeserver directly, carry on.
type Proxy struct {
	URL    string // the homeserver's base URL through the proxy
	target string
	ln     net.Listener

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]bool
}

// Proxy starts a proxy to s; it stops when the test ends.
func (s *Server) Proxy(t testing.TB) *Proxy {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatalf("matrixtest: homeserver URL %q: %v", s.URL, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("matrixtest: proxy: %v", err)
	}
	p := &Proxy{URL: u.Scheme + "://" + ln.Addr().String(), target: u.Host, ln: ln, conns: map[net.Conn]bool{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		p.Cut(t)
	})
	return p
}

// Cut resets every connection through the proxy, and each new one at once,
// until Restore. The proxy keeps its port meanwhile, so nothing else can
// take it.
func (p *Proxy) Cut(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		reset(c)
	}
}

// Restore lets connections through again.
func (p *Proxy) Restore(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// reset closes c with a TCP reset, as a host that refuses it does.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

func (p *Proxy) pipe(c net.Conn) {
	p.mu.Lock()
	cut := p.cut
	p.mu.Unlock()
	if cut {
		reset(c)
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		reset(c)
		return
	}
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		reset(c)
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	var wg sync.WaitGroup
	half := func(dst, src net.Conn) {
		defer wg.Done()
		io.Copy(dst, src)
		dst.Close()
		src.Close()
	}
	wg.Add(2)
	go half(up, c)
	go half(c, up)
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// WaitInvited waits until u's own /sync shows its invite to room: the
// homeserver records an invite before its sync shows it, and a check of
// the invite made in between would find none. Each /sync waits on the
// server for news (a long poll) until timeout.
func (u *User) WaitInvited(t testing.TB, room id.RoomID, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	since := ""
	for {
		resp, err := u.Client.FullSyncRequest(ctx, mautrix.ReqSync{Since: since, Timeout: 2000, SetPresence: event.PresenceOffline})
		if err != nil {
			select { // a server error: ask again shortly
			case <-ctx.Done():
				t.Fatalf("%s was not shown its invite to %s within %s: %v", u.ID, room, timeout, err)
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		if _, ok := resp.Rooms.Invite[room]; ok {
			return
		}
		since = resp.NextBatch
	}
}
