package matrix

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot/matrix/matrixtest"
	"github.com/heed-dev/heed/internal/heedtest"
)

// Encrypted review rooms, against Dendrite. The people's clients are
// mautrix-go's crypto on goolm (matrixtest.Crypto); heed keeps its crypto
// state in its own database.

func newEncryptedWorld(t *testing.T) *world {
	t.Helper()
	return newWorldWith(t, matrixtest.Shared(t), worldOptions{crypto: &cryptoOptions{encrypted: true}})
}

// reactEncrypted sends an encrypted reaction, as Element does in an
// encrypted room.
func (w *world) reactEncrypted(u *matrixtest.User, card id.EventID, key string) id.EventID {
	w.t.Helper()
	return u.Crypto.SendEncrypted(w.t, w.room, event.EventReaction, &event.ReactionEventContent{
		RelatesTo: event.RelatesTo{Type: event.RelAnnotation, EventID: card, Key: key}})
}

// wasEncrypted reports whether the watcher received e encrypted (and
// decrypted it).
func wasEncrypted(e *event.Event) bool { return e.Mautrix.WasEncrypted }

// 1. The bot joins an encrypted room on invite and posts an encrypted card,
// which a person's client decrypts and reads.
func TestE2EEncryptedCard(t *testing.T) {
	w := newEncryptedWorld(t)
	_, card := w.card("Encrypted release notes", time.Hour)
	s := w.watch.Wait(t, "the card", realWait, func(e *event.Event) bool { return e.ID == card })
	if !wasEncrypted(s.Event) {
		t.Fatalf("the card in an encrypted room was sent in the clear: %v", s.Event.Content.Raw)
	}
	if w.watch.Undecryptable() != 0 {
		t.Errorf("eve's client could not decrypt %d events", w.watch.Undecryptable())
	}
}

// 2. An encrypted ✅ approves the card, and a person's client sees the
// encrypted edit; an unencrypted ✅ counts too; redacting it withdraws it.
func TestE2EEncryptedReactions(t *testing.T) {
	w := newEncryptedWorld(t)
	occ, card := w.card("Encrypted announcement", time.Hour)
	w.reactEncrypted(w.alice, card, "✅")
	s := w.watch.Wait(t, "an encrypted edit showing alice's approval", realWait, func(e *event.Event) bool {
		return isEditOf(e, card) && strings.Contains(newBody(e), "approved by "+string(w.alice.ID))
	})
	if !wasEncrypted(s.Event) {
		t.Errorf("the edit was sent in the clear")
	}
	w.s.WantState(occ, approvals.StateApproved)

	occ2, card2 := w.card("Second encrypted announcement", time.Hour)
	r := w.react(w.carol, card2, "✅") // some clients send reactions in the clear
	w.waitEdit(card2, "approved by "+string(w.carol.ID))
	w.s.WantState(occ2, approvals.StateApproved)
	w.redact(w.carol, r)
	w.waitEdit(card2, "no approvals yet (0/1)")
	w.s.WantState(occ2, approvals.StateInReview)
}

// 3. An encrypted `pause` from a plain member gives an encrypted receipt;
// a power-level change is followed as in a plain room.
func TestE2EEncryptedPause(t *testing.T) {
	w := newEncryptedWorld(t)
	w.say(w.eve, "pause encrypted breaking news")
	receipt := w.waitBotSays("⏸ Paused all publishing. By " + string(w.eve.ID) + ", reason: encrypted breaking news")
	if !wasEncrypted(receipt) {
		t.Errorf("the receipt was sent in the clear")
	}
	if ps, _ := w.s.Service.Pauses.ActivePauses(context.Background()); len(ps) != 1 {
		t.Fatalf("pauses in force: %+v", ps)
	}
	occ, card := w.card("Power levels in an encrypted room", time.Hour)
	w.reactEncrypted(w.eve, card, "✅")
	w.waitEdit(card, "not an approver (power level 0, needs 50)")
	w.admin.SetPowerLevel(t, w.room, w.eve.ID, 50)
	w.waitEdit(card, "approved by "+string(w.eve.ID))
	w.s.WantState(occ, approvals.StateApproved)
}

// 4. heed is restarted; alice reacts while it is down. After the restart
// the reaction counts once, heed is the same device, and new messages
// still decrypt both ways.
func TestE2EEncryptedRestart(t *testing.T) { encryptedRestart(t, newEncryptedWorld(t)) }

// TestE2EEncryptedRestartOnPostgres is TestE2EEncryptedRestart with
// heed's database, its crypto state included, in PostgreSQL.
func TestE2EEncryptedRestartOnPostgres(t *testing.T) {
	encryptedRestart(t, newWorldWith(t, matrixtest.Shared(t), worldOptions{crypto: &cryptoOptions{encrypted: true}, postgres: true}))
}

func encryptedRestart(t *testing.T, w *world) {
	occ, card := w.card("Encrypted restart", time.Hour)
	device := w.a.crypt().mach.Client.DeviceID
	w.stop()
	db := w.s.DBPath
	w.reactEncrypted(w.alice, card, "✅")
	w.start(db)
	w.waitEdit(card, "approved by "+string(w.alice.ID))
	if again := w.a.crypt().mach.Client.DeviceID; again != device {
		t.Errorf("heed came back as device %s, not %s", again, device)
	}
	w.say(w.eve, "status")
	if s := w.waitBotSays("Not paused"); !wasEncrypted(s) {
		t.Errorf("the status answer after the restart was sent in the clear")
	}
	w.s.WantState(occ, approvals.StateApproved)
	if n := w.audit(occ, "decision.approve"); n != 1 {
		t.Errorf("alice's ✅ was recorded %d times, want once", n)
	}
	// A room key can reach heed a sync after the message it opens (to-device
	// and timeline are separate streams); meanwhile the event is pending.
	waitFor(t, "nothing left undecrypted", func() bool { return len(w.a.Undecryptable()) == 0 })
	var accounts int
	if err := w.s.Store.DB().QueryRow("SELECT count(*) FROM crypto_account").Scan(&accounts); err != nil || accounts != 1 {
		t.Errorf("heed's Olm accounts in its own database: %d, %v; want 1", accounts, err)
	}
}

// 5. A message sent with a Megolm session heed never received makes the
// room not heard: heed asks the sender for the key, and an approved post
// due meanwhile is held, not published, with the reason on its card. Once
// the key arrives, heed reads the message (a `pause`, which it then
// obeys) and the room is heard again.
func TestE2EWithheldKeyHolds(t *testing.T) {
	w := newEncryptedWorld(t)
	aliceSees := w.alice.Watch(t) // alice's client answers key requests
	_ = aliceSees
	occ, card := w.card("Due while a message cannot be read", 5*time.Minute)
	w.reactEncrypted(w.alice, card, "✅")
	w.waitEdit(card, "approved by "+string(w.alice.ID))

	ev, session := w.alice.Crypto.SendWithheld(t, w.room, w.bot.ID, "pause key withheld")
	waitFor(t, "heed to count the room as not heard", func() bool { return strings.Contains(w.a.Deaf(), "cannot decrypt") })
	if why := w.a.Deaf(); !strings.Contains(why, string(w.alice.ID)) {
		t.Errorf("Deaf() = %q, want it to name the sender", why)
	}
	waitFor(t, "heed's key request to reach alice", func() bool {
		for _, r := range w.alice.Crypto.Requests() {
			if r.From == w.bot.ID && r.Session == session {
				return true
			}
		}
		return false
	})
	logs := w.logs.String()
	if !strings.Contains(logs, "cannot decrypt an event") || !strings.Contains(logs, string(session)) || !strings.Contains(logs, string(ev)) {
		t.Errorf("the log does not name the event and its session:\n%s", logs)
	}
	if strings.Contains(logs, "key withheld") {
		t.Errorf("the log shows the content of a message heed could not decrypt")
	}

	w.advance(5 * time.Minute)
	st := w.s.Cycle()
	if st.Claimed != 0 || len(w.s.Rec.Texts()) != 0 {
		t.Fatalf("with an undecryptable message: %+v, published %q; want nothing claimed", st, w.s.Rec.Texts())
	}
	w.waitEdit(card, "cannot decrypt a message from "+string(w.alice.ID))
	w.advance(11 * time.Minute) // past late_grace
	w.s.Cycle()
	w.s.WantState(occ, approvals.StateHeld)
	if len(w.s.Rec.Texts()) != 0 {
		t.Fatalf("published %q while a message could not be read", w.s.Rec.Texts())
	}

	if n := w.alice.Crypto.Release(t, session); n == 0 {
		t.Fatal("no key request to answer")
	}
	w.waitBotSays("⏸ Paused all publishing. By " + string(w.alice.ID) + ", reason: key withheld")
	waitFor(t, "the room to be heard again", func() bool { return w.a.Deaf() == "" })
	if len(w.a.Undecryptable()) != 0 {
		t.Errorf("still pending: %v", w.a.Undecryptable())
	}
}

// 6. A plain room is switched to encrypted while heed runs: heed follows,
// with no restart.
func TestE2ERoomBecomesEncrypted(t *testing.T) {
	w := newWorldWith(t, matrixtest.Shared(t), worldOptions{crypto: &cryptoOptions{}})
	occ, card := w.card("Before encryption", time.Hour)
	w.react(w.alice, card, "✅")
	w.waitEdit(card, "approved by "+string(w.alice.ID))

	w.admin.EncryptRoom(t, w.room)
	for _, u := range []*matrixtest.User{w.admin, w.alice, w.carol, w.eve} {
		u.Crypto.Learn(t, w.room)
	}
	w.say(w.eve, "status")
	if s := w.waitBotSays("Not paused"); !wasEncrypted(s) {
		t.Errorf("the answer after the room was encrypted was sent in the clear")
	}
	occ2, card2 := w.card("After encryption", time.Hour)
	w.reactEncrypted(w.carol, card2, "✅")
	if s := w.watch.Wait(t, "an encrypted edit", realWait, func(e *event.Event) bool {
		return isEditOf(e, card2) && strings.Contains(newBody(e), "approved by "+string(w.carol.ID))
	}); !wasEncrypted(s.Event) {
		t.Errorf("the edit after the room was encrypted was sent in the clear")
	}
	w.s.WantState(occ, approvals.StateApproved)
	w.s.WantState(occ2, approvals.StateApproved)
}

// An event heed cannot decrypt holds publishing for decrypt_wait at most:
// then heed says so in the room, asking for a command to be typed again,
// and the room is heard; if the key comes later, the event still counts.
func TestE2EUndecryptableHoldIsBounded(t *testing.T) {
	w := newWorldWith(t, matrixtest.Shared(t), worldOptions{crypto: &cryptoOptions{encrypted: true, decryptWait: "10m"}})
	_, session := w.eve.Crypto.SendWithheld(t, w.room, w.bot.ID, "pause late key")
	waitFor(t, "heed to count the room as not heard", func() bool { return strings.Contains(w.a.Deaf(), "cannot decrypt") })
	w.advance(9 * time.Minute)
	if w.a.Deaf() == "" {
		t.Fatalf("the room counts as heard before decrypt_wait has passed")
	}
	w.advance(2 * time.Minute)
	w.waitBotSays("heed cannot decrypt a message " + string(w.eve.ID))
	waitFor(t, "the room to be heard after decrypt_wait", func() bool { return w.a.Deaf() == "" })

	waitFor(t, "heed's key request", func() bool { return len(w.eve.Crypto.Requests()) > 0 })
	w.eve.Crypto.Release(t, session)
	w.waitBotSays("⏸ Paused all publishing. By " + string(w.eve.ID) + ", reason: late key")
}

// heed sets up cross-signing on its first start and prints the recovery
// key once; another member's client sees heed's device as signed by its
// owner. A new device (the database lost) signs itself with recovery_key.
func TestE2ECrossSigning(t *testing.T) {
	w := newEncryptedWorld(t)
	printed := w.crypto.recoveryOut.String()
	key := recoveryKeyIn(printed)
	if key == "" {
		t.Fatalf("heed printed no recovery key:\n%s", printed)
	}
	if strings.Contains(w.logs.String(), key) {
		t.Errorf("the recovery key is in the log")
	}
	first := w.a.crypt().mach.Client.DeviceID
	w.wantSigned(first)

	w.stop()
	w.start(w.s.DBPath)
	if again := w.crypto.recoveryOut.String(); again != printed {
		t.Errorf("the recovery key was printed again after a restart")
	}

	// The database is lost: a new heed logs in as a new device.
	w.stop()
	w.crypto.recoveryKey = key
	w.start("")
	second := w.a.crypt().mach.Client.DeviceID
	if second == first {
		t.Fatalf("a new database reused device %s", first)
	}
	w.wantSigned(second)
	if !strings.Contains(w.logs.String(), "signed this device with the account's cross-signing key") {
		t.Errorf("the new device did not sign itself with recovery_key:\n%s", w.logs)
	}
}

// recoveryKeyIn finds the recovery key in heed's notice: the indented line.
func recoveryKeyIn(s string) string {
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "    ") && strings.TrimSpace(line) != "" {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// wantSigned checks that eve's client sees heed's device as signed by
// heed's self-signing key (Element: verified by its owner).
func (w *world) wantSigned(device id.DeviceID) {
	w.t.Helper()
	mach := w.eve.Crypto.Mach
	devs, err := mach.FetchKeys(context.Background(), []id.UserID{w.bot.ID}, true)
	if err != nil {
		w.t.Fatal(err)
	}
	dev := devs[w.bot.ID][device]
	if dev == nil {
		w.t.Fatalf("eve does not see heed's device %s (%v)", device, devs)
	}
	trust, err := mach.ResolveTrustContext(context.Background(), dev)
	if err != nil {
		w.t.Fatal(err)
	}
	if trust < id.TrustStateCrossSignedTOFU {
		w.t.Errorf("eve's client sees heed's device %s as %s, want signed by its owner (cross-signed)", device, trust)
	}
}

// An image on a card in an encrypted room is an encrypted attachment: the
// homeserver's media repository holds only ciphertext, and a member's
// client decrypts it back to the post's bytes.
func TestE2EEncryptedImage(t *testing.T) {
	w := newEncryptedWorld(t)
	path := filepath.Join(t.TempDir(), "cat.png")
	if err := os.WriteFile(path, catPNG, 0o644); err != nil {
		t.Fatal(err)
	}
	p := w.s.AddWithImages("Encrypted office cat", time.Hour, approvals.Media{Path: path, Alt: "a cat on a mat"})
	w.s.Cycle()
	ref, ok, err := w.s.Service.Reviews.Card(context.Background(), p.ID, "matrix", string(w.room))
	if err != nil || !ok {
		t.Fatalf("card of #%d: %v %v", p.ID, ok, err)
	}
	img := w.watch.Wait(t, "the image in the card's thread", realWait, func(e *event.Event) bool { return isThreadImage(e, id.EventID(ref.Ref)) }).Event
	if !wasEncrypted(img) || img.Content.Raw["url"] != nil {
		t.Fatalf("the image event in an encrypted room: encrypted %v, plain url %v", wasEncrypted(img), img.Content.Raw["url"])
	}
	var file event.EncryptedFileInfo
	raw, _ := json.Marshal(img.Content.Raw["file"])
	if err := json.Unmarshal(raw, &file); err != nil || file.URL == "" {
		t.Fatalf("the image has no encrypted file: %s (%v)", raw, err)
	}
	uri, err := file.URL.Parse()
	if err != nil {
		t.Fatal(err)
	}
	stored, err := w.eve.Client.DownloadBytes(context.Background(), uri)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored, catPNG[:16]) {
		t.Fatalf("the media repository holds the image in the clear")
	}
	plain := bytes.Clone(stored)
	if err := file.DecryptInPlace(plain); err != nil || !bytes.Equal(plain, catPNG) {
		t.Fatalf("the image decrypts to %d bytes (%v), want the post's %d", len(plain), err, len(catPNG))
	}
}

// What heed does in its database for one encrypted reaction and the edit
// it sends. Its own messages coming back through /sync are neither
// decrypted nor handled (they never decide anything), so no message index
// is recorded for them; a decrypt does not write the Megolm session back;
// whether the room is encrypted is not read again for each message sent;
// and the write of the room's session after encrypting runs in the store's
// queue of writers, not against heed's other writes in SQLite's busy
// handler.
func TestE2EEncryptedReactionWork(t *testing.T) {
	w := newWorldWith(t, matrixtest.Shared(t), worldOptions{countSQL: true, crypto: &cryptoOptions{encrypted: true}})
	// A first reaction brings alice's session to heed.
	_, first := w.card("Brings alice's session", time.Hour)
	w.reactEncrypted(w.alice, first, "✅")
	w.waitEdit(first, "approved by "+string(w.alice.ID))

	_, card := w.card("Counted", time.Hour)
	var mu sync.Mutex
	var statements []string
	var unqueued []string
	stop := heedtest.ObserveSQL(w.s.DBPath, func(q string, _ time.Duration) {
		q = strings.Join(strings.Fields(q), " ")
		mu.Lock()
		defer mu.Unlock()
		statements = append(statements, q)
		if strings.HasPrefix(q, "UPDATE crypto_megolm_outbound_session") && w.ref.queued.Load() == 0 {
			unqueued = append(unqueued, q)
		}
	})
	defer stop()
	reaction := w.reactEncrypted(w.alice, card, "✅")
	edit := w.watch.Wait(t, "the edit", realWait, func(e *event.Event) bool {
		return isEditOf(e, card) && strings.Contains(newBody(e), "approved by "+string(w.alice.ID))
	}).Event.ID
	// heed has handled the sync that brought its own edit back once it
	// records the edit as the room's last event.
	last := w.a.key(w.bot.ID, "last_event/"+string(w.room))
	waitFor(t, "heed to handle its own edit coming back", func() bool {
		v, err := w.s.Store.GetKV(context.Background(), last)
		return err == nil && v == string(edit)
	})
	stop()

	indexed := map[id.EventID]bool{}
	rows, err := w.s.Store.DB().Query(`SELECT event_id FROM crypto_message_index`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var ev id.EventID
		if err := rows.Scan(&ev); err != nil {
			t.Fatal(err)
		}
		indexed[ev] = true
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if !indexed[reaction] {
		t.Errorf("no message index recorded for alice's reaction %s: was it decrypted?", reaction)
	}
	for _, own := range []id.EventID{first, card, edit} {
		if indexed[own] {
			t.Errorf("heed decrypted its own message %s coming back through /sync", own)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	encrypted := 0
	for _, q := range statements {
		switch {
		case strings.Contains(q, "crypto_megolm_inbound_session") && !strings.HasPrefix(q, "SELECT"):
			t.Errorf("a decrypt wrote the inbound session back: %s", q)
		case strings.Contains(q, "FROM mx_room_state"):
			t.Errorf("the room's encryption state was read again to send: %s", q)
		case strings.HasPrefix(q, "UPDATE crypto_megolm_outbound_session"):
			encrypted++
		}
	}
	if encrypted != 1 {
		t.Errorf("heed wrote the room's outbound session %d times for one edit, want once", encrypted)
	}
	if len(unqueued) != 0 {
		t.Errorf("the outbound session was written outside the store's queue of writers %d times", len(unqueued))
	}
}
