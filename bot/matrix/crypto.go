package matrix

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"go.mau.fi/util/exsync"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/crypto/olm"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/sqlstatestore"

	"github.com/heed-dev/heed/bot"
)

// End-to-end encryption. With pickle_key set, heed is a Matrix device with
// Olm/Megolm keys (mautrix-go's crypto on goolm, the pure-Go Olm: heed is
// built with -tags goolm and without cgo). Its account, Olm sessions,
// Megolm sessions, the device lists it tracks and the room state they need
// (members, encryption) live in heed's own database, in the tables of
// mautrix's SQL crypto and state stores (crypto_*, mx_*), reached through
// dbutil on the same *sql.DB as the rest of heed, in its dialect (SQLite
// or PostgreSQL).
// Pickled keys are encrypted with the pickle key.
//
// Everything heed sends into an encrypted room (cards, edits, replies) is
// encrypted by the client (mautrix.Client.Crypto); what it receives is
// decrypted before it is translated, and the annotations read back through
// the relations API are decrypted the same way.
//
// An event heed cannot decrypt (it lacks the Megolm session, or the sender
// withheld it) is not ignored: heed asks the sender's devices and its own
// for the key (m.room_key_request), again every keyRequestEvery, tries
// again after every sync, and until it can read the event the review rooms
// count as not heard (Deaf), so that publishing holds: a `pause` heed
// cannot read must never be one it silently missed. After decrypt_wait
// (default 15 minutes) it gives up holding for that event: it says so in
// the room, asking whoever sent it to repeat a command, and keeps trying
// the event for a day. The log names the sender, the device and the
// session, never the content.

// keyRequestEvery is how often a missing key is asked for again.
const keyRequestEvery = time.Minute

// keepTrying is how long an undecryptable event is tried again after heed
// stopped holding for it.
const keepTrying = 24 * time.Hour

// defaultDecryptWait is how long an undecryptable event holds publishing.
const defaultDecryptWait = 15 * time.Minute

// stateStore is mautrix's SQL state store, remembering the rooms it has
// found encrypted: the client asks before every send whether the room is
// encrypted, and a room never stops being encrypted.
type stateStore struct {
	*sqlstatestore.SQLStateStore
	encrypted sync.Map // id.RoomID → true
}

// IsEncrypted implements mautrix.StateStore.
func (s *stateStore) IsEncrypted(ctx context.Context, room id.RoomID) (bool, error) {
	if _, ok := s.encrypted.Load(room); ok {
		return true, nil
	}
	enc, err := s.SQLStateStore.IsEncrypted(ctx, room)
	if enc {
		s.encrypted.Store(room, true)
	}
	return enc, err
}

// dbHolder is what the state store offers when it is heed's store: its
// database, and the dialect dbutil is to speak there ("sqlite" or
// "postgres").
type dbHolder interface {
	DB() *sql.DB
	Dialect() string
}

// writeQueue is what heed's SQLite store also offers: f runs while no
// other write of this process does (sqlite.Store.Exclusive).
type writeQueue interface{ Exclusive(f func() error) error }

// e2ee is the adapter's encryption state.
type e2ee struct {
	a     *Adapter
	db    *dbutil.Database
	store *crypto.SQLCryptoStore
	state *stateStore
	mach  *crypto.OlmMachine
	wait  time.Duration // decrypt_wait

	// rooms is taken per room around encrypting and sharing the room's
	// session, before the write queue, so that an encrypt waiting in the
	// queue never waits for a share's requests.
	rooms *exsync.KeyedMutex[id.RoomID]

	mu      sync.Mutex
	pending map[id.EventID]*undecryptable
	// loaded is set once the pending events saved by an earlier run are read.
	loaded bool
}

// undecryptable is an event heed could not decrypt yet. It holds the event
// as received (ciphertext), never its content in the clear.
type undecryptable struct {
	Room      id.RoomID       `json:"room"`
	Event     id.EventID      `json:"event"`
	Sender    id.UserID       `json:"sender"`
	Device    id.DeviceID     `json:"device,omitempty"`
	SenderKey id.SenderKey    `json:"sender_key,omitempty"`
	Session   id.SessionID    `json:"session,omitempty"`
	Card      id.EventID      `json:"card,omitempty"` // read back as an annotation of this card
	Since     time.Time       `json:"since"`          // when heed first failed to decrypt it
	Asked     time.Time       `json:"asked"`          // when heed last asked for its key
	Told      bool            `json:"told"`           // the room was told heed gave up holding for it
	Why       string          `json:"why"`
	Raw       json.RawMessage `json:"raw"`
}

// zlog forwards mautrix's zerolog lines at warning level and above to the
// adapter's logger. mautrix logs ids and keys, never decrypted content.
type zlog struct{ log *slog.Logger }

func (z zlog) Write(p []byte) (int, error) {
	z.log.Warn("matrix crypto: " + strings.TrimSpace(string(p)))
	return len(p), nil
}

// cryptoEnabled reports whether heed is configured to take part in
// encrypted rooms.
func (a *Adapter) cryptoEnabled() bool { return a.cfg.PickleKey != "" }

// setupCrypto makes cli an encrypting client: on first use it opens the
// crypto and state stores in heed's database (creating or upgrading their
// tables), loads or creates the device's Olm account and makes sure its
// keys are on the homeserver. Later calls (a new login) move the machine
// to the new client.
func (a *Adapter) setupCrypto(ctx context.Context, cli *mautrix.Client) error {
	if !a.cryptoEnabled() {
		return nil
	}
	a.mu.Lock()
	c := a.e2e
	a.mu.Unlock()
	if c != nil && c.mach != nil && c.store.DeviceID == cli.DeviceID {
		c.mach.Client = cli
		cli.StateStore, cli.Crypto = c.state, c
		return nil
	}
	h, ok := a.state.(dbHolder)
	if !ok || h.DB() == nil {
		return fatalError{errors.New("matrix: encryption needs heed's database, and the adapter was given another state store")}
	}
	db, err := dbutil.NewWithDB(h.DB(), h.Dialect())
	if err != nil {
		return fatalError{fmt.Errorf("matrix: crypto store: %w", err)}
	}
	zl := zerolog.New(zlog{a.log}).Level(zerolog.WarnLevel)
	dl := dbutil.ZeroLogger(zl)
	// One account per user and device: a new device (the old one deleted)
	// starts with keys of its own.
	account := string(cli.UserID) + "/" + string(cli.DeviceID)
	store := crypto.NewSQLCryptoStore(db, dl, account, cli.DeviceID, []byte(a.cfg.PickleKey))
	state := &stateStore{SQLStateStore: sqlstatestore.NewSQLStateStore(db, dl, false)}
	if err := state.Upgrade(ctx); err != nil {
		return fmt.Errorf("matrix: upgrade the Matrix state tables in heed's database: %w", err)
	}
	if err := store.DB.Upgrade(ctx); err != nil {
		return fmt.Errorf("matrix: upgrade the crypto tables in heed's database: %w", err)
	}
	cli.StateStore = state
	mach := crypto.NewOlmMachine(cli, &zl, store, state)
	// Each decrypt would otherwise write the inbound session back (its
	// ratchet-safety bookkeeping), which only serves mautrix's options to
	// delete or ratchet received keys; heed uses neither. Replays are
	// still refused through the message index store.
	mach.DisableRatchetTracking = true
	if err := mach.Load(ctx); err != nil {
		if pickleError(err) {
			return fatalError{fmt.Errorf("matrix: cannot read heed's Olm account with this pickle_key (%w): the key must be the one heed first ran with", err)}
		}
		return fmt.Errorf("matrix: load the Olm account: %w", err)
	}
	if c == nil {
		c = &e2ee{a: a, rooms: exsync.NewKeyedMutex[id.RoomID](), pending: map[id.EventID]*undecryptable{}}
	}
	c.db, c.store, c.state, c.mach = db, store, state, mach
	c.wait = a.cfg.decryptWait()
	if err := c.ensureKeys(ctx, cli); err != nil {
		return err
	}
	cli.Crypto = c
	a.mu.Lock()
	a.e2e = c
	a.mu.Unlock()
	a.log.Info("matrix: end-to-end encryption ready", "user", cli.UserID, "device", cli.DeviceID,
		"fingerprint", mach.Fingerprint())
	return a.bootstrapCrossSigning(ctx, cli)
}

// ensureKeys makes sure the device's keys are on the homeserver, as
// mautrix's cryptohelper does: uploaded once, and the same after a restart.
func (c *e2ee) ensureKeys(ctx context.Context, cli *mautrix.Client) error {
	resp, err := cli.QueryKeys(ctx, &mautrix.ReqQueryKeys{DeviceKeys: map[id.UserID]mautrix.DeviceIDList{cli.UserID: {cli.DeviceID}}})
	if err != nil {
		return fmt.Errorf("matrix: read the device's keys from the homeserver: %w", err)
	}
	own := c.mach.OwnIdentity()
	shared := c.mach.GetAccount().Shared
	dev, ok := resp.DeviceKeys[cli.UserID][cli.DeviceID]
	switch {
	case !ok || len(dev.Keys) == 0:
		if shared {
			c.a.log.Warn("matrix: the homeserver lost this device's keys; uploading them again", "device", cli.DeviceID)
			c.mach.GetAccount().Shared = false
		}
		if err := c.mach.ShareKeys(ctx, -1); err != nil {
			return fmt.Errorf("matrix: upload the device's keys: %w", err)
		}
	case dev.Keys.GetEd25519(cli.DeviceID) != own.SigningKey && !shared:
		return fatalError{fmt.Errorf("matrix: device %s already has keys on the homeserver that heed's database does not hold (a lost database?): delete the device (Element: Settings → Sessions) or let heed log in as a new one", cli.DeviceID)}
	case dev.Keys.GetEd25519(cli.DeviceID) != own.SigningKey:
		return fatalError{fmt.Errorf("matrix: device %s has other keys on the homeserver than in heed's database", cli.DeviceID)}
	case !shared:
		// The device's own keys: an upload whose answer was lost went
		// through, one-time keys and all.
		acc := c.mach.GetAccount()
		acc.Internal.MarkKeysAsPublished()
		acc.Shared = true
		if err := c.store.PutAccount(ctx, acc); err != nil {
			return fmt.Errorf("matrix: save the Olm account: %w", err)
		}
	}
	return nil
}

// Encrypt implements mautrix.CryptoHelper: the client encrypts what heed
// sends into an encrypted room, sharing the room's Megolm session with the
// members' devices first when needed.
func (c *e2ee) Encrypt(ctx context.Context, room id.RoomID, typ event.Type, content any) (*event.EncryptedEventContent, error) {
	defer c.rooms.WithLock(room)()
	enc, err := c.encrypt(ctx, room, typ, content)
	if err == nil {
		return enc, nil
	}
	if !crypto.IsShareError(err) && !errors.Is(err, crypto.ErrSessionExpired) && !errors.Is(err, crypto.ErrSessionNotShared) {
		return nil, err
	}
	users, err := c.state.GetRoomJoinedOrInvitedMembers(ctx, room)
	if err != nil {
		return nil, fmt.Errorf("read the room's members: %w", err)
	}
	if err := c.mach.ShareGroupSession(ctx, room, users); err != nil {
		return nil, fmt.Errorf("share the room key: %w", err)
	}
	return c.encrypt(ctx, room, typ, content)
}

// encrypt encrypts with the room's current session, which it reads and
// writes back advanced. It makes no request, so it runs in heed's queue of
// writers (writeQueue): its write would otherwise meet the sync loop's and
// the engine's, a millisecond or more in SQLite's busy handler, just
// before the message is sent.
func (c *e2ee) encrypt(ctx context.Context, room id.RoomID, typ event.Type, content any) (enc *event.EncryptedEventContent, err error) {
	run := func() error {
		enc, err = c.mach.EncryptMegolmEvent(ctx, room, typ, content)
		return nil
	}
	if q, ok := c.a.state.(writeQueue); ok {
		_ = q.Exclusive(run)
	} else {
		_ = run()
	}
	return enc, err
}

// Decrypt implements mautrix.CryptoHelper.
func (c *e2ee) Decrypt(ctx context.Context, evt *event.Event) (*event.Event, error) {
	return c.mach.DecryptMegolmEvent(ctx, evt)
}

// WaitForSession implements mautrix.CryptoHelper.
func (c *e2ee) WaitForSession(ctx context.Context, room id.RoomID, key id.SenderKey, session id.SessionID, d time.Duration) bool {
	return c.mach.WaitForSession(ctx, room, key, session, d)
}

// RequestSession implements mautrix.CryptoHelper.
func (c *e2ee) RequestSession(ctx context.Context, room id.RoomID, key id.SenderKey, session id.SessionID, user id.UserID, device id.DeviceID) {
	_ = c.mach.SendRoomKeyRequest(ctx, room, key, session, "", map[id.UserID][]id.DeviceID{user: {device}})
}

// Init implements mautrix.CryptoHelper; setupCrypto does the work.
func (c *e2ee) Init(context.Context) error { return nil }

// syncCrypto hands a /sync response's to-device events (room keys, key
// requests), device list changes and key counts to the Olm machine, before
// the timeline is decrypted.
func (a *Adapter) syncCrypto(ctx context.Context, resp *mautrix.RespSync, since string) {
	if c := a.crypt(); c != nil {
		c.mach.ProcessSyncResponse(ctx, resp, since)
	}
}

func (a *Adapter) crypt() *e2ee {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.e2e
}

// followState records a state event in the crypto state store (members,
// encryption, history visibility), so that keys go to the right devices.
func (a *Adapter) followState(ctx context.Context, room id.RoomID, evt *event.Event) {
	c := a.crypt()
	if c == nil || evt.StateKey == nil {
		return
	}
	evt.RoomID = room
	if evt.Content.Parsed == nil {
		_ = evt.Content.ParseRaw(evt.Type)
	}
	mautrix.UpdateStateStore(ctx, c.state, evt)
	if evt.Type == event.StateMember {
		c.mach.HandleMemberEvent(ctx, evt)
	}
}

// readCryptoState records what readRoomState read in the crypto state
// store, and the room's members, so that a room heed already served
// before encryption was configured is encrypted to from the first card.
func (a *Adapter) readCryptoState(ctx context.Context, cli *mautrix.Client, room id.RoomID, enc *event.EncryptionEventContent) error {
	c := a.crypt()
	if c == nil {
		return nil
	}
	if enc != nil && enc.Algorithm != "" {
		if err := c.state.SetEncryptionEvent(ctx, room, enc); err != nil {
			return err
		}
	}
	return a.call(ctx, "read the room's members", func(ctx context.Context) error {
		_, err := cli.Members(ctx, room)
		return err
	})
}

// errUndecryptable is returned for an event heed could not decrypt; the
// event is pending (see e2ee).
var errUndecryptable = errors.New("matrix: the event cannot be decrypted yet")

// decrypt returns evt in the clear when it is encrypted, and evt itself
// otherwise. An event it cannot decrypt is kept as pending (the rooms are
// not heard until it is read or decrypt_wait has passed) and its key is
// asked for; it returns errUndecryptable then. A replayed Megolm message
// (a message index used by another event) is dropped with an error.
func (a *Adapter) decrypt(ctx context.Context, room id.RoomID, evt *event.Event, card id.EventID) (*event.Event, error) {
	if evt.Type.Type != event.EventEncrypted.Type {
		return evt, nil
	}
	c := a.crypt()
	if c == nil {
		// Without pickle_key an encrypted room is refused before its
		// events get here; an encrypted event in a plain room is not a
		// decision anyone can read.
		a.log.Warn("matrix: an encrypted event in a room heed does not decrypt (pickle_key is not set)", "room", room, "event", evt.ID, "sender", evt.Sender)
		return nil, errUndecryptable
	}
	evt.RoomID = room
	err := evt.Content.ParseRaw(evt.Type)
	var out *event.Event
	if err == nil {
		out, err = c.mach.DecryptMegolmEvent(ctx, evt)
	}
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, crypto.ErrDuplicateMessageIndex):
		a.log.Error("matrix: dropped an encrypted event that reuses another event's Megolm message index (a replay)", "room", room, "event", evt.ID, "sender", evt.Sender)
		return nil, err
	case evt.Sender == c.mach.Client.UserID || a.tr.bots[evt.Sender.String()]:
		// heed's own messages and other bots' never decide anything.
		a.log.Debug("matrix: cannot decrypt an event from heed itself or a bot; ignored", "room", room, "event", evt.ID, "sender", evt.Sender, "err", err)
		return nil, err
	}
	return nil, c.hold(ctx, evt, card, err)
}

// decryptRead decrypts an event read back on demand (the message a
// command replies to). Unlike decrypt, an event it cannot decrypt is not
// held: nobody's decision waits on it, and the command says so.
func (a *Adapter) decryptRead(ctx context.Context, room id.RoomID, evt *event.Event) (*event.Event, error) {
	c := a.crypt()
	if c == nil {
		return nil, errors.New("it is encrypted and heed does not decrypt here (pickle_key is not set)")
	}
	evt.RoomID = room
	if err := evt.Content.ParseRaw(evt.Type); err != nil {
		return nil, errors.New("its encrypted content is malformed")
	}
	out, err := c.mach.DecryptMegolmEvent(ctx, evt)
	if err != nil {
		return nil, fmt.Errorf("heed cannot decrypt it: %s", shortError(err))
	}
	return out, nil
}

// hold records evt as pending and asks for its key.
func (c *e2ee) hold(ctx context.Context, evt *event.Event, card id.EventID, why error) error {
	c.load(ctx)
	raw, err := json.Marshal(evt)
	if err != nil {
		return err
	}
	u := &undecryptable{Room: evt.RoomID, Event: evt.ID, Sender: evt.Sender, Card: card, Since: c.a.now(), Why: shortError(why), Raw: raw}
	if content, ok := evt.Content.Parsed.(*event.EncryptedEventContent); ok {
		//lint:ignore SA1019 deprecated in Matrix v1.3, yet clients still send it, and it names the device to look at in the log
		u.Device, u.SenderKey, u.Session = content.DeviceID, content.SenderKey, content.SessionID
	}
	c.mu.Lock()
	_, dup := c.pending[evt.ID]
	if !dup {
		c.pending[evt.ID] = u
	}
	c.mu.Unlock()
	if dup {
		return errUndecryptable
	}
	c.a.log.Warn("matrix: cannot decrypt an event; asking for its key, and the review rooms count as not heard until it is read",
		"room", u.Room, "event", u.Event, "sender", u.Sender, "device", u.Device, "session", u.Session, "err", u.Why)
	if keyRequestable(why) {
		c.askKey(ctx, u)
	}
	c.save(ctx)
	return errUndecryptable
}

// keyRequestable reports whether asking for a key can help with err.
func keyRequestable(err error) bool {
	return errors.Is(err, crypto.ErrNoSessionFound) || errors.Is(err, crypto.ErrGroupSessionWithheld) || errors.Is(err, olm.ErrUnknownMessageIndex)
}

// askKey sends a room key request for u's session to the sender's devices
// and to heed's own other devices.
func (c *e2ee) askKey(ctx context.Context, u *undecryptable) {
	if u.Session == "" {
		return
	}
	to := map[id.UserID][]id.DeviceID{u.Sender: {"*"}}
	if u.Device != "" {
		to[u.Sender] = []id.DeviceID{u.Device}
	}
	if self := c.mach.Client.UserID; self != u.Sender {
		to[self] = []id.DeviceID{"*"}
	}
	if err := c.mach.SendRoomKeyRequest(ctx, u.Room, u.SenderKey, u.Session, "", to); err != nil {
		c.a.log.Warn("matrix: could not ask for a room key; asking again later", "room", u.Room, "sender", u.Sender, "session", u.Session, "err", err)
		return
	}
	c.mu.Lock()
	u.Asked = c.a.now()
	c.mu.Unlock()
	c.a.log.Info("matrix: asked for a room key", "room", u.Room, "sender", u.Sender, "device", u.Device, "session", u.Session)
}

const pendingKey = "undecryptable"

// load reads the pending events an earlier run saved, once.
func (c *e2ee) load(ctx context.Context) {
	c.mu.Lock()
	if c.loaded {
		c.mu.Unlock()
		return
	}
	c.loaded = true
	c.mu.Unlock()
	raw, err := c.a.state.GetKV(ctx, c.a.key(c.mach.Client.UserID, pendingKey))
	if err != nil || raw == "" {
		if err != nil {
			c.a.log.Error("matrix: could not read the events heed could not decrypt before", "err", err)
		}
		return
	}
	var list []*undecryptable
	if err := json.Unmarshal([]byte(raw), &list); err != nil {
		c.a.log.Error("matrix: unreadable list of events heed could not decrypt", "err", err)
		return
	}
	c.mu.Lock()
	for _, u := range list {
		if _, ok := c.pending[u.Event]; !ok {
			c.pending[u.Event] = u
		}
	}
	c.mu.Unlock()
}

// save writes the pending events to heed's database, so that a restart
// goes on holding and trying.
func (c *e2ee) save(ctx context.Context) {
	c.mu.Lock()
	list := make([]*undecryptable, 0, len(c.pending))
	for _, u := range c.pending {
		list = append(list, u)
	}
	slices.SortFunc(list, func(x, y *undecryptable) int { return x.Since.Compare(y.Since) })
	b, err := json.Marshal(list)
	c.mu.Unlock()
	if err == nil {
		err = c.a.state.SetKV(ctx, c.a.key(c.mach.Client.UserID, pendingKey), string(b))
	}
	if err != nil {
		c.a.log.Error("matrix: could not save the events heed cannot decrypt", "err", err)
	}
}

// retryPending tries every pending event again (keys may have come with
// the last sync), hands those it can now read to h, asks again for keys
// not asked for lately, and gives up holding for events older than
// decrypt_wait, saying so in their room.
func (a *Adapter) retryPending(ctx context.Context, h bot.Handler) {
	c := a.crypt()
	if c == nil {
		return
	}
	c.load(ctx)
	c.mu.Lock()
	list := make([]*undecryptable, 0, len(c.pending))
	for _, u := range c.pending {
		list = append(list, u)
	}
	c.mu.Unlock()
	if len(list) == 0 {
		return
	}
	slices.SortFunc(list, func(x, y *undecryptable) int { return x.Since.Compare(y.Since) })
	a.mu.Lock()
	tr := a.tr
	a.mu.Unlock()
	now := a.now()
	changed := false
	for _, u := range list {
		c.mu.Lock()
		told, asked := u.Told, u.Asked
		c.mu.Unlock()
		var evt event.Event
		if err := json.Unmarshal(u.Raw, &evt); err != nil {
			c.drop(u.Event)
			changed = true
			continue
		}
		evt.RoomID = u.Room
		if err := evt.Content.ParseRaw(evt.Type); err == nil {
			if out, err := c.mach.DecryptMegolmEvent(ctx, &evt); err == nil {
				c.drop(u.Event)
				changed = true
				a.log.Info("matrix: decrypted an event once its key arrived", "room", u.Room, "event", u.Event, "sender", u.Sender, "session", u.Session,
					"after", now.Sub(u.Since).Round(time.Second))
				a.deliver(ctx, h, tr, u.Room, u.Card, out)
				continue
			} else if errors.Is(err, crypto.ErrDuplicateMessageIndex) {
				c.drop(u.Event)
				changed = true
				continue
			}
		}
		if now.Sub(u.Since) > keepTrying {
			a.log.Error("matrix: stopped trying to decrypt an event", "room", u.Room, "event", u.Event, "sender", u.Sender, "session", u.Session)
			c.drop(u.Event)
			changed = true
			continue
		}
		if !told && now.Sub(u.Since) >= c.wait {
			c.mu.Lock()
			u.Told = true
			c.mu.Unlock()
			changed = true
			a.tellUndecryptable(ctx, u)
		}
		if now.Sub(asked) >= keyRequestEvery {
			c.askKey(ctx, u)
			changed = true
		}
	}
	if changed {
		c.save(ctx)
	}
}

func (c *e2ee) drop(ev id.EventID) {
	c.mu.Lock()
	delete(c.pending, ev)
	c.mu.Unlock()
}

// deliver hands a decrypted event to h as the live sync would.
func (a *Adapter) deliver(ctx context.Context, h bot.Handler, tr translator, room id.RoomID, card id.EventID, evt *event.Event) {
	var ev bot.Event
	var ok bool
	if card != "" {
		ev, ok = tr.reactionEvent(room, card, evt)
	} else {
		ev, ok = tr.translate(room, evt)
	}
	if !ok || !a.seen.add(evt.ID) {
		return
	}
	if err := h.HandleEvent(ctx, ev); err != nil && ctx.Err() == nil {
		a.log.Warn("matrix: the engine could not handle an event", "room", room, "event", evt.ID, "kind", ev.Kind, "err", err)
	}
}

// tellUndecryptable says in the room that heed stopped holding for an
// event it cannot read, so that nobody's `pause` is silently lost.
func (a *Adapter) tellUndecryptable(ctx context.Context, u *undecryptable) {
	a.log.Error("matrix: still cannot decrypt an event after decrypt_wait; publishing no longer holds for it",
		"room", u.Room, "event", u.Event, "sender", u.Sender, "device", u.Device, "session", u.Session)
	cli, err := a.client()
	if err != nil {
		return
	}
	msg := fmt.Sprintf("⚠ heed cannot decrypt a message %s sent at %s (device %s): its key never reached heed. "+
		"If it was a command such as `pause`, please type it again. Publishing held while heed waited for the key.",
		u.Sender, u.Since.Format("15:04 MST"), orUnknown(string(u.Device)))
	if err := a.call(ctx, "tell the room about an undecryptable message", func(ctx context.Context) error {
		_, err := cli.SendMessageEvent(ctx, u.Room, event.EventMessage, replyContent("", msg))
		return err
	}); err != nil {
		a.log.Warn("matrix: could not tell the room about an undecryptable message", "room", u.Room, "err", err)
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// deafCrypto says why the review rooms cannot be heard because of events
// heed cannot decrypt, or "". It is stable while the same events are
// pending, since it becomes a card note.
func (a *Adapter) deafCrypto() string {
	c := a.crypt()
	if c == nil {
		return ""
	}
	now := a.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	var first *undecryptable
	n := 0
	for _, u := range c.pending {
		if now.Sub(u.Since) >= c.wait {
			continue
		}
		n++
		if first == nil || u.Since.Before(first.Since) {
			first = u
		}
	}
	if first == nil {
		return ""
	}
	s := fmt.Sprintf("heed cannot decrypt a message from %s in a review room since %s and has asked for its key", first.Sender, first.Since.Format("15:04:05 MST"))
	if n > 1 {
		s += fmt.Sprintf(" (%d messages)", n)
	}
	if a.name != "matrix" {
		s += " (chat " + a.name + ")"
	}
	return s
}

// Undecryptable lists the events heed cannot decrypt now, for status and
// tests: sender, device and session of each, never content.
func (a *Adapter) Undecryptable() []string {
	c := a.crypt()
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, u := range c.pending {
		out = append(out, fmt.Sprintf("%s %s from %s (device %s, session %s)", u.Room, u.Event, u.Sender, orUnknown(string(u.Device)), u.Session))
	}
	slices.Sort(out)
	return out
}

// PrepareDatabase creates, or brings up to date, the tables of heed's
// Matrix crypto and state stores (crypto_*, mx_*) in db, spoken to in
// dialect ("sqlite" or "postgres"), as the first start with encryption
// does. `heed migrate --to` makes them in the new database before it
// copies the old one's rows into them.
func PrepareDatabase(ctx context.Context, db *sql.DB, dialect string) error {
	d, err := dbutil.NewWithDB(db, dialect)
	if err != nil {
		return err
	}
	state := sqlstatestore.NewSQLStateStore(d, dbutil.NoopLogger, false)
	if err := state.Upgrade(ctx); err != nil {
		return fmt.Errorf("matrix: make the Matrix state tables: %w", err)
	}
	store := crypto.NewSQLCryptoStore(d, dbutil.NoopLogger, "", "", nil)
	if err := store.DB.Upgrade(ctx); err != nil {
		return fmt.Errorf("matrix: make the crypto tables: %w", err)
	}
	return nil
}
