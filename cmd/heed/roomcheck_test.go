package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/heed-dev/heed/bot/matrix/matrixtest"
	"github.com/heed-dev/heed/sqlite"
)

// TestMain starts the shared Dendrite (matrixtest), on the throwaway
// PostgreSQL the PostgreSQL tests use too (pgtest), and stops both at the end.
func TestMain(m *testing.M) { os.Exit(matrixtest.Main(m)) }

// roomCheckWorld is a Matrix bot account on Dendrite with review rooms
// of every kind, and the configuration of a heed that serves them.
type roomCheckWorld struct {
	t                        *testing.T
	srv                      *matrixtest.Server
	bot, admin               *matrixtest.User
	dir, db                  string
	plain, secret, outside   id.RoomID
	pickleKey                string
	watch                    *matrixtest.Watcher
	homeserver               string
	extraRooms               string // more rooms: entries
	accessToken, noPickleKey bool
}

func newRoomCheckWorld(t *testing.T) *roomCheckWorld {
	t.Helper()
	srv := matrixtest.Shared(t)
	w := &roomCheckWorld{t: t, srv: srv, dir: t.TempDir(), pickleKey: matrixtest.Random(32)}
	w.db = filepath.Join(w.dir, "heed.db")
	w.bot = srv.Register(t, "heed")
	w.admin = srv.Register(t, "admin")
	w.watch = w.admin.Watch(t)
	w.plain = w.admin.CreateRoom(t, false, w.bot)
	w.secret = w.admin.CreateEncryptedRoom(t, false, w.bot)
	w.outside = w.admin.CreateRoom(t, false) // heed is never invited
	t.Setenv("HEED_TEST_MATRIX_PASSWORD", w.bot.Password)
	t.Setenv("HEED_TEST_PICKLE_KEY", w.pickleKey)
	t.Setenv("HEED_TEST_ACCESS_TOKEN", w.bot.Client.AccessToken)
	w.homeserver = srv.URL
	return w
}

// config writes heed's configuration as the world says and returns its path.
func (w *roomCheckWorld) config() string {
	w.t.Helper()
	login := "    user_id: \"" + string(w.bot.ID) + "\"\n    password: ${HEED_TEST_MATRIX_PASSWORD}\n"
	if w.accessToken {
		login = "    access_token: ${HEED_TEST_ACCESS_TOKEN}\n"
	}
	if !w.noPickleKey {
		login += "    pickle_key: ${HEED_TEST_PICKLE_KEY}\n"
	}
	room := func(name string, r id.RoomID) string {
		return fmt.Sprintf("  - name: %s\n    chat: team\n    id: %q\n    approvers: [%q]\n", name, r, w.admin.ID)
	}
	src := "database: " + w.db + "\nlog:\n  level: error\nchats:\n  team:\n    kind: matrix\n    homeserver: " + w.homeserver + "\n" + login +
		"rooms:\n" + room("plain", w.plain) + room("secret", w.secret) + room("outside", w.outside) + w.extraRooms
	return writeFile(w.t, w.dir, "heed.yaml", src)
}

// runOnce runs heed until it has joined the rooms it is invited to, then
// stops it: its device, keys and token are then in its database.
func (w *roomCheckWorld) runOnce() {
	t := w.t
	t.Helper()
	var out bytes.Buffer
	a := &app{in: strings.NewReader(""), out: &out, errOut: &out}
	root := newRoot(a)
	root.SetArgs([]string{"run", "--config", w.config()})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.execute(ctx, root) }()
	for _, room := range []id.RoomID{w.plain, w.secret} {
		w.watch.Wait(t, "heed to join "+string(room), 90*time.Second, func(e *event.Event) bool {
			return e.RoomID == room && e.Type == event.StateMember && e.GetStateKey() == string(w.bot.ID) &&
				e.Content.Raw["membership"] == string(event.MembershipJoin)
		})
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("heed run: %v\n%s", err, out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("heed run did not stop within 60 s")
	}
}

// check runs `heed config check` with args and returns each room's line
// by room name, the whole output and the error.
func (w *roomCheckWorld) check(args ...string) (map[string]string, string, error) {
	w.t.Helper()
	out, err := heed(w.t, "", append([]string{"--config", w.config(), "config", "check"}, args...)...)
	lines := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, "room "); ok {
			if name, line, ok := strings.Cut(rest, "): "); ok {
				name, _, _ = strings.Cut(name, " (")
				lines[name] = line
			}
		}
	}
	if strings.Contains(out, w.bot.Client.AccessToken) || (err != nil && strings.Contains(err.Error(), w.bot.Client.AccessToken)) {
		w.t.Errorf("config check showed an access token:\n%s", out)
	}
	return lines, out, err
}

// files snapshots the database's files: their names and, but for the
// -shm index, their bytes.
func (w *roomCheckWorld) files() map[string]string {
	w.t.Helper()
	snap := map[string]string{}
	matches, _ := filepath.Glob(w.db + "*")
	for _, p := range matches {
		if strings.HasSuffix(p, "-media") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			w.t.Fatal(err)
		}
		if strings.HasSuffix(p, "-shm") {
			b = nil
		}
		snap[filepath.Base(p)] = string(b)
	}
	return snap
}

func (w *roomCheckWorld) unchanged(before map[string]string, what string) {
	w.t.Helper()
	after := w.files()
	if len(after) != len(before) {
		w.t.Errorf("%s changed the database's files: %v before, %v after", what, keys(before), keys(after))
		return
	}
	for name, b := range before {
		if after[name] != b {
			w.t.Errorf("%s changed %s", what, name)
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// device is the device heed logged in as, from its database.
func (w *roomCheckWorld) device() string {
	w.t.Helper()
	st, err := sqlite.OpenReadOnly(w.t.Context(), w.db)
	if err != nil {
		w.t.Fatal(err)
	}
	defer st.Close()
	d, err := st.GetKV(w.t.Context(), "matrix/team/"+string(w.bot.ID)+"/device_id")
	if err != nil || d == "" {
		w.t.Fatalf("heed's device id: %q, %v", d, err)
	}
	return d
}

func wantLine(t *testing.T, lines map[string]string, room, want string) {
	t.Helper()
	if got := lines[room]; got != want {
		t.Errorf("room %s:\n got %q\nwant %q", room, got, want)
	}
}

const megolm = "encrypted (m.megolm.v1.aes-sha2)"

// TestConfigCheckMatrixRooms: `heed config check` asks the homeserver about
// every Matrix review room and says in a line whether it is encrypted and
// whether heed can read it, or why it could not tell; it reads heed's
// database read-only and never creates it, and exits 1 while a room needs
// attention.
func TestConfigCheckMatrixRooms(t *testing.T) {
	w := newRoomCheckWorld(t)

	// Before heed ever ran: no token to ask with, and no database made.
	lines, out, err := w.check()
	if err != nil {
		t.Fatalf("config check before heed ran: %v\n%s", err, out)
	}
	wantLine(t, lines, "secret", "not checked: heed logs in with its password when it runs and keeps its access token in its database, which holds none yet: check again after heed has run once")
	if _, err := os.Stat(w.db); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("config check created the database: %v", err)
	}

	w.runOnce()
	dev := w.device()
	before := w.files()

	lines, out, err = w.check()
	wantLine(t, lines, "plain", "not encrypted")
	wantLine(t, lines, "secret", megolm+"; heed can read it: device "+dev+", keys in heed's database")
	wantLine(t, lines, "outside", "cannot check: heed ("+string(w.bot.ID)+") is neither in the room nor invited: invite it (heed joins a review room when invited), or correct the room id")
	if err == nil || !strings.Contains(userMessage(err), "1 review room(s) cannot be read or could not be checked") {
		t.Errorf("config check with a room heed is not in: err = %v", err)
	}
	if !strings.Contains(out, "chat team: "+w.srv.URL+" as "+string(w.bot.ID)+" (device "+dev+")") ||
		!strings.Contains(out, "with "+w.db+" opened read-only") {
		t.Errorf("config check does not say whom it asked and how:\n%s", out)
	}
	w.unchanged(before, "config check")

	// --offline asks nobody.
	if lines, out, err := w.check("--offline"); err != nil || len(lines) != 0 || !strings.Contains(out, "review rooms: not asked whether heed can read them (--offline)") {
		t.Errorf("config check --offline: %v\n%s", err, out)
	}

	// Encrypted rooms heed cannot read: no pickle_key, another pickle_key.
	w.noPickleKey = true
	lines, _, err = w.check()
	wantLine(t, lines, "secret", megolm+", but heed cannot read it: set pickle_key (${HEED_MATRIX_PICKLE_KEY}, at least 32 characters, "+
		"for example `openssl rand -hex 32`) to turn on encryption; without it heed refuses to run")
	wantLine(t, lines, "plain", "not encrypted")
	if err == nil || !strings.Contains(userMessage(err), "2 review room(s)") {
		t.Errorf("config check without pickle_key: err = %v", err)
	}
	w.noPickleKey = false
	t.Setenv("HEED_TEST_PICKLE_KEY", matrixtest.Random(32))
	lines, _, _ = w.check()
	wantLine(t, lines, "secret", megolm+", but heed cannot read it: pickle_key does not open the keys of device "+dev+" in heed's database: it must be the key heed first ran with")
	t.Setenv("HEED_TEST_PICKLE_KEY", w.pickleKey)

	// A room heed is invited to, and not yet in: the invite tells.
	invited := w.admin.CreateEncryptedRoom(t, false, w.bot)
	w.bot.WaitInvited(t, invited, 30*time.Second)
	w.extraRooms = fmt.Sprintf("  - name: invited\n    chat: team\n    id: %q\n    approvers: [%q]\n", invited, w.admin.ID)
	lines, _, _ = w.check()
	wantLine(t, lines, "invited", "heed ("+string(w.bot.ID)+") is invited and joins when it runs; the invite says: "+megolm+"; heed can read it: device "+dev+", keys in heed's database")
	w.extraRooms = ""

	// With an access token of a device heed's database holds no keys of.
	w.accessToken = true
	lines, _, _ = w.check()
	wantLine(t, lines, "secret", megolm+"; heed can read it once it runs: pickle_key is set, and heed makes the keys of device "+
		string(w.bot.Client.DeviceID)+" in its database at start")
	// That device gets keys elsewhere (another client, or a database lost):
	// heed would refuse them.
	w.bot.EnableCrypto(t)
	lines, _, _ = w.check()
	wantLine(t, lines, "secret", megolm+", but heed cannot read it: device "+string(w.bot.Client.DeviceID)+
		" already has keys on the homeserver that heed's database does not hold (a lost database?): delete the device (Element: Settings → Sessions) or let heed log in as a new one")
	w.accessToken = false
	w.unchanged(before, "config check")

	// A homeserver that is not there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	w.homeserver = closed
	lines, _, err = w.check()
	for _, room := range []string{"plain", "secret", "outside"} {
		if l := lines[room]; !strings.HasPrefix(l, "cannot check: the homeserver "+closed+" could not be reached (") ||
			!strings.HasSuffix(l, "): check homeserver in the configuration, and that the homeserver is up") {
			t.Errorf("room %s on a closed port: %q", room, l)
		}
	}
	if err == nil || !strings.Contains(userMessage(err), "3 review room(s)") {
		t.Errorf("config check with the homeserver away: err = %v", err)
	}
	w.unchanged(before, "config check")
}

// TestConfigCheckMatrixTimeout: a homeserver that takes connections and
// never answers does not hang the check: it gives up after --timeout.
func TestConfigCheckMatrixTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var held []net.Conn // taken, never answered
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	dir := t.TempDir()
	t.Setenv("HEED_TEST_ACCESS_TOKEN", "syt_never_shown_"+matrixtest.Random(8))
	cfg := writeFile(t, dir, "heed.yaml", `database: `+filepath.Join(dir, "heed.db")+`
chats:
  team:
    kind: matrix
    homeserver: http://`+ln.Addr().String()+`
    access_token: ${HEED_TEST_ACCESS_TOKEN}
rooms:
  - name: review
    id: "!abc:example.org"
    approvers: ["@alice:example.org"]
`)
	start := time.Now()
	out, err := heed(t, "", "--config", cfg, "config", "check", "--timeout", "500ms")
	took := time.Since(start)
	want := "room review (team !abc:example.org): cannot check: the homeserver http://" + ln.Addr().String() + " did not answer in time: check homeserver in the configuration, and that the homeserver is up"
	if !strings.Contains(out, want) || err == nil {
		t.Errorf("config check of a silent homeserver: %v\n%s\nwant %q", err, out, want)
	}
	if took > 20*time.Second {
		t.Errorf("config check took %v with --timeout 500ms", took)
	}
	if strings.Contains(out, os.Getenv("HEED_TEST_ACCESS_TOKEN")) {
		t.Errorf("config check showed the access token:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "heed.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("config check created the database: %v", err)
	}
}
