package matrix

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/heed-dev/heed/sqlite"
)

// readOnlyState is heed's database as `heed config check` hands it to a
// room check: it reads, and any write is a test failure.
type readOnlyState struct {
	t  *testing.T
	st *sqlite.Store
}

func (r readOnlyState) GetKV(ctx context.Context, k string) (string, error) {
	return r.st.GetKV(ctx, k)
}
func (r readOnlyState) SetKV(_ context.Context, k, _ string) error {
	r.t.Errorf("a room check wrote %s", k)
	return nil
}
func (r readOnlyState) DB() *sql.DB { return r.st.DB() }

func (r readOnlyState) Dialect() string { return r.st.Dialect() }

// TestCheckRoomsReportsUndecryptable: the room check of an encrypted room
// heed serves says it can read it, with its device, and lists the events
// heed has not been able to decrypt so far (who sent them, from which
// device and session, since when), never their content. It writes
// nothing.
func TestCheckRoomsReportsUndecryptable(t *testing.T) {
	w := newEncryptedWorld(t)
	ev, session := w.alice.Crypto.SendWithheld(t, w.room, w.bot.ID, "pause key withheld")
	key := w.a.key(w.bot.ID, pendingKey)
	waitFor(t, "heed to keep the event it cannot decrypt", func() bool {
		v, _ := w.s.Store.GetKV(context.Background(), key)
		return strings.Contains(v, string(ev))
	})

	cfg := Config{Homeserver: w.srv.URL, UserID: string(w.bot.ID), Password: w.bot.Password,
		Rooms: []RoomConfig{{ID: string(w.room)}}, PickleKey: w.crypto.pickleKey, DecryptWait: w.crypto.decryptWait}
	a, err := New(cfg, nil, readOnlyState{t, w.s.Store}, WithClock(w.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	device := w.a.crypt().mach.Client.DeviceID
	asked, rooms := a.CheckRooms(t.Context())
	if want := w.srv.URL + " as " + string(w.bot.ID) + " (device " + string(device) + ")"; asked != want {
		t.Errorf("asked = %q, want %q", asked, want)
	}
	if len(rooms) != 1 {
		t.Fatalf("rooms: %+v", rooms)
	}
	r := rooms[0]
	if want := "encrypted (m.megolm.v1.aes-sha2); heed can read it: device " + string(device) + ", keys in heed's database"; r.Line != want || r.Problem {
		t.Errorf("line = %q (problem %v), want %q", r.Line, r.Problem, want)
	}
	want := "heed has not been able to decrypt " + string(ev) + " from " + string(w.alice.ID) + " (device " + string(w.alice.Client.DeviceID) +
		", session " + string(session) + ") since 2030-01-07 09:00 UTC; publishing holds for it until 10:00 UTC while heed asks for its key"
	if len(r.Notes) != 1 || r.Notes[0] != want {
		t.Errorf("notes = %q\nwant %q", r.Notes, want)
	}
	if strings.Contains(strings.Join(r.Notes, "\n"), "key withheld") {
		t.Errorf("the check shows the content of a message heed could not decrypt")
	}
}
