package matrixtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Crypto is a person's end-to-end encrypting client, as Element would be:
// mautrix-go's Olm machine (goolm, pure Go) with in-memory stores. Once a
// user has it (EnableCrypto), their client encrypts what it sends into
// encrypted rooms, and their Watcher decrypts what it sees.
//
// For the tests of what heed cannot decrypt, a person can send with a
// Megolm session they withhold from someone (SendWithheld) and answer key
// requests only when told (Release).
type Crypto struct {
	u     *User
	Mach  *crypto.OlmMachine
	State *mautrix.MemoryStateStore

	// machMu serialises the use of Mach by the test and the watcher's
	// sync loop: mautrix's in-memory crypto store is not safe for
	// concurrent use (a data race between FetchKeys and a decrypt).
	machMu   sync.Mutex
	mu       sync.Mutex
	withheld map[id.SessionID]bool
	requests []KeyRequest
}

// KeyRequest is a room key request a person's client received.
type KeyRequest struct {
	From    id.UserID
	Device  id.DeviceID
	Room    id.RoomID
	Session id.SessionID
	content event.RoomKeyRequestEventContent
}

var _ mautrix.CryptoHelper = (*Crypto)(nil)

// EnableCrypto gives u an encrypting client and uploads its device keys.
// Call it before Watch, so the watcher decrypts.
func (u *User) EnableCrypto(t testing.TB) *Crypto {
	t.Helper()
	ctx := context.Background()
	state := mautrix.NewMemoryStateStore().(*mautrix.MemoryStateStore)
	u.Client.StateStore = state
	mach := crypto.NewOlmMachine(u.Client, nil, crypto.NewMemoryStore(nil), state)
	if err := mach.Load(ctx); err != nil {
		t.Fatalf("%s: load the Olm account: %v", u.ID, err)
	}
	if err := mach.ShareKeys(ctx, -1); err != nil {
		t.Fatalf("%s: upload device keys: %v", u.ID, err)
	}
	c := &Crypto{u: u, Mach: mach, State: state, withheld: map[id.SessionID]bool{}}
	mach.AllowKeyShare = c.allowKeyShare
	u.Client.Crypto = c
	u.Crypto = c
	return c
}

// allowKeyShare answers key requests for sessions this client created,
// except withheld ones, whose requests it records and leaves unanswered,
// as a client that is offline would.
func (c *Crypto) allowKeyShare(ctx context.Context, dev *id.Device, info event.RequestedKeyInfo) *crypto.KeyShareRejection {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests = append(c.requests, KeyRequest{From: dev.UserID, Device: dev.DeviceID, Room: info.RoomID, Session: info.SessionID,
		content: event.RoomKeyRequestEventContent{Body: info, Action: event.KeyRequestActionRequest, RequestingDeviceID: dev.DeviceID, RequestID: "release-" + Random(4)}})
	if c.withheld[info.SessionID] {
		return &crypto.KeyShareRejectNoResponse
	}
	return nil // the session was made here: answer whoever is in the room
}

// Requests returns the key requests received so far.
func (c *Crypto) Requests() []KeyRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.requests)
}

// Encrypt implements mautrix.CryptoHelper: share the room's session with
// every member's devices when needed, then encrypt.
func (c *Crypto) Encrypt(ctx context.Context, room id.RoomID, typ event.Type, content any) (*event.EncryptedEventContent, error) {
	c.machMu.Lock()
	defer c.machMu.Unlock()
	enc, err := c.Mach.EncryptMegolmEvent(ctx, room, typ, content)
	if err == nil {
		return enc, nil
	}
	if !crypto.IsShareError(err) && !errors.Is(err, crypto.ErrSessionExpired) && !errors.Is(err, crypto.ErrSessionNotShared) {
		return nil, err
	}
	if err := c.share(ctx, room, ""); err != nil {
		return nil, err
	}
	return c.Mach.EncryptMegolmEvent(ctx, room, typ, content)
}

// share (with machMu held) shares a room session with the joined and invited members' devices,
// but not with except's. It reads the member list and the devices fresh,
// so that a device that just appeared is not missed.
func (c *Crypto) share(ctx context.Context, room id.RoomID, except id.UserID) error {
	resp, err := c.u.Client.JoinedMembers(ctx, room)
	if err != nil {
		return fmt.Errorf("members of %s: %w", room, err)
	}
	var users []id.UserID
	for u := range resp.Joined {
		if u != except {
			users = append(users, u)
		}
	}
	if _, err := c.Mach.FetchKeys(ctx, users, true); err != nil {
		return fmt.Errorf("fetch device keys: %w", err)
	}
	return c.Mach.ShareGroupSession(ctx, room, users)
}

// Decrypt implements mautrix.CryptoHelper.
func (c *Crypto) Decrypt(ctx context.Context, evt *event.Event) (*event.Event, error) {
	c.machMu.Lock()
	defer c.machMu.Unlock()
	return c.Mach.DecryptMegolmEvent(ctx, evt)
}

// WaitForSession implements mautrix.CryptoHelper.
func (c *Crypto) WaitForSession(ctx context.Context, room id.RoomID, key id.SenderKey, s id.SessionID, d time.Duration) bool {
	return c.Mach.WaitForSession(ctx, room, key, s, d)
}

// RequestSession implements mautrix.CryptoHelper.
func (c *Crypto) RequestSession(ctx context.Context, room id.RoomID, key id.SenderKey, s id.SessionID, user id.UserID, dev id.DeviceID) {
	_ = c.Mach.SendRoomKeyRequest(ctx, room, key, s, "", map[id.UserID][]id.DeviceID{user: {dev}})
}

// Init implements mautrix.CryptoHelper.
func (c *Crypto) Init(context.Context) error { return nil }

// SendWithheld sends text as an encrypted m.text with a new Megolm session
// that everyone in the room but withhold receives, and returns the event
// id and the session. The room's session is replaced afterwards, so later
// messages are readable by all.
func (c *Crypto) SendWithheld(t testing.TB, room id.RoomID, withhold id.UserID, text string) (id.EventID, id.SessionID) {
	t.Helper()
	ctx := context.Background()
	c.machMu.Lock()
	defer c.machMu.Unlock()
	if err := c.Mach.CryptoStore.RemoveOutboundGroupSession(ctx, room); err != nil {
		t.Fatal(err)
	}
	if err := c.share(ctx, room, withhold); err != nil {
		t.Fatalf("share a session withheld from %s: %v", withhold, err)
	}
	sess, err := c.Mach.CryptoStore.GetOutboundGroupSession(ctx, room)
	if err != nil || sess == nil {
		t.Fatalf("the new outbound session: %v", err)
	}
	c.mu.Lock()
	c.withheld[sess.ID()] = true
	c.mu.Unlock()
	enc, err := c.Mach.EncryptMegolmEvent(ctx, room, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText, Body: text})
	if err != nil {
		t.Fatalf("encrypt with the withheld session: %v", err)
	}
	resp, err := c.u.Client.SendMessageEvent(ctx, room, event.EventEncrypted, enc)
	if err != nil {
		t.Fatalf("send the withheld message: %v", err)
	}
	if err := c.Mach.CryptoStore.RemoveOutboundGroupSession(ctx, room); err != nil {
		t.Fatal(err)
	}
	return resp.EventID, sess.ID()
}

// Release stops withholding session and answers the key requests for it
// received so far, as a client that comes back online does.
func (c *Crypto) Release(t testing.TB, session id.SessionID) int {
	t.Helper()
	c.mu.Lock()
	delete(c.withheld, session)
	var answer []KeyRequest
	for _, r := range c.requests {
		if r.Session == session {
			answer = append(answer, r)
		}
	}
	c.mu.Unlock()
	c.machMu.Lock()
	defer c.machMu.Unlock()
	for _, r := range answer {
		content := r.content
		c.Mach.HandleRoomKeyRequest(context.Background(), r.From, &content)
	}
	return len(answer)
}

// EncryptRoom turns on encryption in room (m.room.encryption, Megolm).
func (u *User) EncryptRoom(t testing.TB, room id.RoomID) {
	t.Helper()
	serverRetry(t, "enable encryption", func() error {
		_, err := u.Client.SendStateEvent(context.Background(), room, event.StateEncryption, "",
			&event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1})
		return err
	})
}

// follow hands a sync response to the person's Olm machine and state
// store, and returns the timeline events of each joined room with the
// encrypted ones decrypted where the person can.
func (c *Crypto) follow(ctx context.Context, resp *mautrix.RespSync, since string) {
	c.machMu.Lock()
	defer c.machMu.Unlock()
	c.Mach.ProcessSyncResponse(ctx, resp, since)
	for room, jr := range resp.Rooms.Join {
		for _, evts := range [][]*event.Event{jr.State.Events, jr.Timeline.Events} {
			for _, evt := range evts {
				if evt.StateKey == nil {
					continue
				}
				evt.RoomID = room
				_ = evt.Content.ParseRaw(evt.Type)
				mautrix.UpdateStateStore(ctx, c.State, evt)
				if evt.Type == event.StateMember {
					c.Mach.HandleMemberEvent(ctx, evt)
				}
			}
		}
		for i, evt := range jr.Timeline.Events {
			if evt.Type != event.EventEncrypted {
				continue
			}
			evt.RoomID = room
			if err := evt.Content.ParseRaw(evt.Type); err != nil {
				continue
			}
			if dec, err := c.Mach.DecryptMegolmEvent(ctx, evt); err == nil {
				jr.Timeline.Events[i] = dec
			}
		}
	}
}

// CreateEncryptedRoom creates a private room with encryption on from the
// start, as Element does, and invites the users; they are joined when join
// is true.
func (u *User) CreateEncryptedRoom(t testing.TB, join bool, invite ...*User) id.RoomID {
	t.Helper()
	ctx := context.Background()
	var ids []id.UserID
	for _, o := range invite {
		ids = append(ids, o.ID)
	}
	var resp *mautrix.RespCreateRoom
	serverRetry(t, "create encrypted room", func() (err error) {
		resp, err = u.Client.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: "heed review " + Random(2), Invite: ids,
			InitialState: []*event.Event{{Type: event.StateEncryption, Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}}}}})
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

// Learn reads room's encryption state into the person's state store, as
// their client's sync would, so that what they send next is encrypted.
func (c *Crypto) Learn(t testing.TB, room id.RoomID) {
	t.Helper()
	var enc event.EncryptionEventContent
	if err := c.u.Client.StateEvent(context.Background(), room, event.StateEncryption, "", &enc); err != nil {
		t.Fatalf("%s reads the encryption of %s: %v", c.u.ID, room, err)
	}
	if err := c.State.SetEncryptionEvent(context.Background(), room, &enc); err != nil {
		t.Fatal(err)
	}
}

// SendEncrypted sends content of type typ encrypted, whatever the type
// (mautrix's client never encrypts reactions by itself; Element does).
func (c *Crypto) SendEncrypted(t testing.TB, room id.RoomID, typ event.Type, content any) id.EventID {
	t.Helper()
	ctx := context.Background()
	enc, err := c.Encrypt(ctx, room, typ, content)
	if err != nil {
		t.Fatalf("%s encrypts a %s: %v", c.u.ID, typ.Type, err)
	}
	resp, err := c.u.Client.SendMessageEvent(ctx, room, event.EventEncrypted, enc)
	if err != nil {
		t.Fatalf("%s sends an encrypted %s: %v", c.u.ID, typ.Type, err)
	}
	return resp.EventID
}

// Undecryptable counts the events the watcher saw and could not decrypt.
func (w *Watcher) Undecryptable() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, s := range w.seen {
		if s.Event.Type == event.EventEncrypted {
			n++
		}
	}
	return n
}
