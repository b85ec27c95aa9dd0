package matrixpub

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/heed-dev/heed/internal/httpwait"
	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/httpx"
)

// End-to-end encryption. In a room whose state holds m.room.encryption,
// an announcement goes out as an m.room.encrypted event (Megolm), never in
// the clear. The target has no sync loop, so each encrypted publish reads
// what it needs fresh:
//
//  1. the room's joined members (/joined_members);
//  2. their devices (/keys/query), so that a device added since the last
//     announcement is known;
//  3. a new Megolm session for the room, shared with every one of those
//     devices over Olm (one-time keys claimed for devices heed has no Olm
//     session with yet, then a to-device send);
//  4. the announcement encrypted with it, and sent.
//
// A new Megolm session each time is deliberate. mautrix's
// ShareGroupSession does nothing while the room's outbound session is
// shared and unexpired, so a reused session would never reach a member
// who joined, or a device added, since it was made; and one that was
// shared with a member who has left would open the next announcements to
// them. Announcements are rare, so a session per announcement costs one
// to-device message per device.
//
// The device's Olm account, its Olm sessions with the members' devices and
// the room's outbound Megolm session live in heed's own database (the
// crypto_* tables of mautrix's SQL crypto store, through dbutil on heed's
// *sql.DB), pickled with pickle_key, under an account id of their own
// ("announce:" + user/device), so that they sit beside the Matrix chat's.
// The members' device lists are read at each publish and kept in memory:
// the crypto_device table is the chat's, whose key rotation relies on
// seeing a device appear there from its own sync.
//
// A failure before the send (reading the members, their keys, sharing the
// session, encrypting) leaves nothing in the room: it is retryable, or
// permanent when the homeserver refused for good, never ambiguous. The
// send itself is classified as a plain one is.

// accountPrefix keeps the target's crypto account apart from the chat's
// (which is user/device) in the shared tables.
const accountPrefix = "announce:"

// minPickleKey is the shortest pickle_key accepted.
const minPickleKey = 32

// UseDatabase gives the target heed's database, where it keeps its
// encryption keys. heed's wiring calls it once the store is open; nothing
// is written until the target first publishes into an encrypted room.
func (p *Publisher) UseDatabase(db *sql.DB) {
	p.mu.Lock()
	p.db = db
	p.mu.Unlock()
}

// device is one Matrix device's encryption state. The targets that post
// with one device's token into one database share it, so that one Olm
// session is never advanced by two machines.
type device struct {
	turn  chan struct{} // held for one encrypted publish: share, then encrypt
	mach  *crypto.OlmMachine
	rooms *roomState
	// pickle is the pickle_key the device was opened with.
	pickle string
}

type deviceKey struct {
	db     *sql.DB
	user   id.UserID
	device id.DeviceID
}

var devices = struct {
	sync.Mutex
	m map[deviceKey]*device
}{m: map[deviceKey]*device{}}

// encrypt encrypts content for room (whose m.room.encryption is enc) after
// sharing a new Megolm session with the devices of its joined members.
func (p *Publisher) encrypt(ctx context.Context, enc *event.EncryptionEventContent, content map[string]any) (*event.EncryptedEventContent, error) {
	p.mu.Lock()
	db := p.db
	p.mu.Unlock()
	switch {
	case p.pickle == "":
		return nil, publish.PermanentError(fmt.Errorf("matrix target %s: room %s is encrypted and this target has no pickle_key: "+
			"set pickle_key: ${HEED_MATRIX_ANNOUNCE_PICKLE_KEY} (at least %d characters, for example `openssl rand -hex 32`) so that heed encrypts; "+
			"heed never posts into an encrypted room in the clear, and sent nothing", p.name, p.room, minPickleKey))
	case db == nil:
		return nil, publish.PermanentError(fmt.Errorf("matrix target %s: room %s is encrypted, and the target was given no database to keep its keys in; sent nothing", p.name, p.room))
	}
	d, err := p.device(ctx, db)
	if err != nil {
		return nil, err
	}
	select {
	case d.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, publish.RetryableError(fmt.Errorf("matrix target %s: stopped while waiting to encrypt: %w", p.name, ctx.Err()), 0)
	}
	defer func() { <-d.turn }()
	if d.mach == nil {
		if err := p.open(ctx, db, d); err != nil {
			return nil, err
		}
	}
	room := id.RoomID(p.room)
	members, err := d.mach.Client.JoinedMembers(ctx, room)
	if err != nil {
		return nil, p.notSent("read the room's members", err)
	}
	users := make([]id.UserID, 0, len(members.Joined))
	for u := range members.Joined {
		users = append(users, u)
	}
	d.rooms.set(room, enc)
	if _, err := d.mach.FetchKeys(ctx, users, true); err != nil {
		return nil, p.notSent("read the members' devices", err)
	}
	if err := d.mach.CryptoStore.RemoveOutboundGroupSession(ctx, room); err != nil {
		return nil, p.notSent("start a new room key", err)
	}
	if err := d.mach.ShareGroupSession(ctx, room, users); err != nil {
		return nil, p.notSent("share the room key with the members' devices", err)
	}
	out, err := d.mach.EncryptMegolmEvent(ctx, room, event.EventMessage, content)
	if err != nil {
		return nil, p.notSent("encrypt the announcement", err)
	}
	return out, nil
}

// device returns the encryption state of the device behind the target's
// token, asking the homeserver once which device that is.
func (p *Publisher) device(ctx context.Context, db *sql.DB) (*device, error) {
	p.mu.Lock()
	who := p.who
	p.mu.Unlock()
	if who == nil {
		cli, err := p.matrixClient("", "")
		if err != nil {
			return nil, err
		}
		resp, err := cli.Whoami(ctx)
		if err != nil {
			return nil, p.notSent("ask the homeserver which account and device the access token is", err)
		}
		if resp.DeviceID == "" {
			return nil, publish.PermanentError(fmt.Errorf("matrix target %s: the access token of %s names no device, and encryption needs one: use a token from a login of its own", p.name, resp.UserID))
		}
		p.mu.Lock()
		p.who = resp
		p.mu.Unlock()
		who = resp
	}
	k := deviceKey{db: db, user: who.UserID, device: who.DeviceID}
	devices.Lock()
	defer devices.Unlock()
	d, ok := devices.m[k]
	if !ok {
		d = &device{turn: make(chan struct{}, 1), rooms: &roomState{enc: map[id.RoomID]*event.EncryptionEventContent{}}, pickle: p.pickle}
		devices.m[k] = d
	}
	if d.pickle != p.pickle {
		return nil, publish.PermanentError(fmt.Errorf("matrix target %s: another matrix target posts as device %s of %s with another pickle_key: targets that share an access token must share its pickle_key", p.name, who.DeviceID, who.UserID))
	}
	return d, nil
}

// matrixClient is a client of the homeserver with the target's token and
// HTTP client. mautrix never retries a request itself here: what to retry
// is the dispatcher's decision.
func (p *Publisher) matrixClient(user id.UserID, dev id.DeviceID) (*mautrix.Client, error) {
	cli, err := mautrix.NewClient(p.base, user, p.token)
	if err != nil {
		return nil, publish.PermanentError(fmt.Errorf("matrix target %s: %s", p.name, httpx.Redact(err.Error(), p.token)))
	}
	cli.DeviceID = dev
	cli.Client = p.client
	cli.DefaultHTTPRetries = 0
	return cli, nil
}

// open (with d's turn held) opens the device's crypto store in heed's
// database, creating or upgrading its tables, loads or creates the Olm
// account and makes sure its keys are on the homeserver.
func (p *Publisher) open(ctx context.Context, db *sql.DB, d *device) error {
	p.mu.Lock()
	who := p.who
	p.mu.Unlock()
	cli, err := p.matrixClient(who.UserID, who.DeviceID)
	if err != nil {
		return err
	}
	zl := zerolog.New(zlog{p}).Level(zerolog.WarnLevel)
	dbx, err := dbutil.NewWithDB(db, "sqlite")
	if err != nil {
		return publish.PermanentError(fmt.Errorf("matrix target %s: crypto store: %w", p.name, err))
	}
	account := accountPrefix + string(who.UserID) + "/" + string(who.DeviceID)
	sqlStore := crypto.NewSQLCryptoStore(dbx, dbutil.ZeroLogger(zl), account, who.DeviceID, []byte(p.pickle))
	if err := sqlStore.DB.Upgrade(ctx); err != nil {
		return p.notSent("create or upgrade the crypto tables in heed's database", err)
	}
	store := &cryptoStore{SQLCryptoStore: sqlStore, lists: crypto.NewMemoryStore(nil)}
	mach := crypto.NewOlmMachine(cli, &zl, store, d.rooms)
	// The target reads no room key back: it keeps no inbound copy of the
	// sessions it makes.
	mach.DontStoreOutboundKeys = true
	if err := mach.Load(ctx); err != nil {
		if strings.Contains(err.Error(), "pickle") || strings.Contains(err.Error(), "decrypt") {
			return publish.PermanentError(fmt.Errorf("matrix target %s: cannot read its Olm account with this pickle_key (%v): the key must be the one the target first encrypted with", p.name, err))
		}
		return p.notSent("load the Olm account", err)
	}
	if err := p.ensureKeys(ctx, mach); err != nil {
		return err
	}
	d.mach = mach
	p.log.Info("matrix target: end-to-end encryption ready", "target", p.name, "user", who.UserID, "device", who.DeviceID, "fingerprint", mach.Fingerprint())
	return nil
}

// ensureKeys makes sure the device's keys are on the homeserver: uploaded
// on first use, and the same ones later.
func (p *Publisher) ensureKeys(ctx context.Context, mach *crypto.OlmMachine) error {
	cli := mach.Client
	resp, err := cli.QueryKeys(ctx, &mautrix.ReqQueryKeys{DeviceKeys: map[id.UserID]mautrix.DeviceIDList{cli.UserID: {cli.DeviceID}}})
	if err != nil {
		return p.notSent("read the device's keys from the homeserver", err)
	}
	acc := mach.GetAccount()
	dev, ok := resp.DeviceKeys[cli.UserID][cli.DeviceID]
	switch {
	case !ok || len(dev.Keys) == 0:
		if acc.Shared {
			p.log.Warn("matrix target: the homeserver lost this device's keys; uploading them again", "target", p.name, "device", cli.DeviceID)
			acc.Shared = false
		}
		if err := mach.ShareKeys(ctx, -1); err != nil {
			return p.notSent("upload the device's keys", err)
		}
	case dev.Keys.GetEd25519(cli.DeviceID) != mach.OwnIdentity().SigningKey && !acc.Shared:
		return publish.PermanentError(fmt.Errorf("matrix target %s: device %s of %s already has encryption keys that heed's database does not hold for this target: "+
			"the target needs a device of its own (not the Matrix chat's, not one a person uses): give it the access token of a login of its own", p.name, cli.DeviceID, cli.UserID))
	case dev.Keys.GetEd25519(cli.DeviceID) != mach.OwnIdentity().SigningKey:
		return publish.PermanentError(fmt.Errorf("matrix target %s: device %s has other keys on the homeserver than in heed's database", p.name, cli.DeviceID))
	case !acc.Shared:
		// The device's own keys: an upload whose answer was lost went
		// through, one-time keys and all.
		acc.Internal.MarkKeysAsPublished()
		acc.Shared = true
		if err := mach.CryptoStore.PutAccount(ctx, acc); err != nil {
			return p.notSent("save the Olm account", err)
		}
	}
	return nil
}

// notSent classifies a failure before the announcement was sent: nothing
// is in the room, so it is never ambiguous. The homeserver's refusals are
// permanent, except those that say to come back (429, 5xx).
func (p *Publisher) notSent(what string, err error) error {
	msg := fmt.Errorf("matrix target %s: %s (nothing was sent): %s", p.name, what, httpx.Redact(err.Error(), p.token))
	var he mautrix.HTTPError
	if errors.As(err, &he) && he.Response != nil {
		switch code := he.Response.StatusCode; {
		case code == 429 || code >= 500 || code == 408 || code == 425:
			after := httpwait.RetryAfter(he.Response.Header, time.Now())
			if ms, ok := retryAfterMS(he.RespError); ok && after == 0 {
				after = ms
			}
			return publish.RetryableError(msg, after)
		case code == 401:
			return publish.PermanentError(fmt.Errorf("%w (the homeserver refused the access token: refresh the token in this target's configuration)", msg))
		case code == 403:
			return publish.PermanentError(fmt.Errorf("%w (the account must be joined to %s)", msg, p.room))
		default:
			return publish.PermanentError(msg)
		}
	}
	return publish.RetryableError(msg, 0)
}

func retryAfterMS(e *mautrix.RespError) (time.Duration, bool) {
	if e == nil {
		return 0, false
	}
	ms, ok := e.ExtraData["retry_after_ms"].(float64)
	if !ok || ms <= 0 {
		return 0, false
	}
	return time.Duration(ms) * time.Millisecond, true
}

// zlog forwards mautrix's zerolog lines at warning level and above to the
// target's logger. mautrix logs ids and keys, never the content.
type zlog struct{ p *Publisher }

func (z zlog) Write(b []byte) (int, error) {
	z.p.log.Warn("matrix target crypto: "+httpx.Redact(strings.TrimSpace(string(b)), z.p.token), "target", z.p.name)
	return len(b), nil
}

// roomState is the room state the Olm machine asks for: the encryption
// settings read at each publish.
type roomState struct {
	mu  sync.Mutex
	enc map[id.RoomID]*event.EncryptionEventContent
}

var _ crypto.StateStore = (*roomState)(nil)

func (r *roomState) set(room id.RoomID, enc *event.EncryptionEventContent) {
	r.mu.Lock()
	r.enc[room] = enc
	r.mu.Unlock()
}

func (r *roomState) IsEncrypted(_ context.Context, room id.RoomID) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.enc[room] != nil, nil
}

func (r *roomState) GetEncryptionEvent(_ context.Context, room id.RoomID) (*event.EncryptionEventContent, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.enc[room], nil
}

func (r *roomState) GetHistoryVisibility(context.Context, id.RoomID) (*event.HistoryVisibilityEventContent, error) {
	return nil, nil
}

// FindSharedRooms is asked when a member's devices change, to drop the
// rooms' outbound sessions; the target makes a new one for every
// announcement anyway.
func (r *roomState) FindSharedRooms(context.Context, id.UserID) ([]id.RoomID, error) { return nil, nil }

// cryptoStore is mautrix's SQL crypto store with the members' device lists
// and cross-signing keys kept in memory: they are read again at every
// publish, and the tables that would hold them are the Matrix chat's.
type cryptoStore struct {
	*crypto.SQLCryptoStore
	lists *crypto.MemoryStore
}

var _ crypto.Store = (*cryptoStore)(nil)

func (s *cryptoStore) GetDevices(ctx context.Context, u id.UserID) (map[id.DeviceID]*id.Device, error) {
	return s.lists.GetDevices(ctx, u)
}

func (s *cryptoStore) GetDevice(ctx context.Context, u id.UserID, d id.DeviceID) (*id.Device, error) {
	return s.lists.GetDevice(ctx, u, d)
}

func (s *cryptoStore) PutDevice(ctx context.Context, u id.UserID, d *id.Device) error {
	return s.lists.PutDevice(ctx, u, d)
}

func (s *cryptoStore) PutDevices(ctx context.Context, u id.UserID, ds map[id.DeviceID]*id.Device) error {
	return s.lists.PutDevices(ctx, u, ds)
}

func (s *cryptoStore) FindDeviceByKey(ctx context.Context, u id.UserID, k id.IdentityKey) (*id.Device, error) {
	return s.lists.FindDeviceByKey(ctx, u, k)
}

func (s *cryptoStore) FilterTrackedUsers(ctx context.Context, us []id.UserID) ([]id.UserID, error) {
	return s.lists.FilterTrackedUsers(ctx, us)
}

func (s *cryptoStore) MarkTrackedUsersOutdated(ctx context.Context, us []id.UserID) error {
	return s.lists.MarkTrackedUsersOutdated(ctx, us)
}

func (s *cryptoStore) GetOutdatedTrackedUsers(ctx context.Context) ([]id.UserID, error) {
	return s.lists.GetOutdatedTrackedUsers(ctx)
}

func (s *cryptoStore) PutCrossSigningKey(ctx context.Context, u id.UserID, usage id.CrossSigningUsage, k id.Ed25519) error {
	return s.lists.PutCrossSigningKey(ctx, u, usage, k)
}

func (s *cryptoStore) GetCrossSigningKeys(ctx context.Context, u id.UserID) (map[id.CrossSigningUsage]id.CrossSigningKey, error) {
	return s.lists.GetCrossSigningKeys(ctx, u)
}

func (s *cryptoStore) ResetMasterKeyTOFU(ctx context.Context, u id.UserID, k id.Ed25519) error {
	return s.lists.ResetMasterKeyTOFU(ctx, u, k)
}

func (s *cryptoStore) PutSignature(ctx context.Context, su id.UserID, sk id.Ed25519, by id.UserID, byKey id.Ed25519, sig string) error {
	return s.lists.PutSignature(ctx, su, sk, by, byKey, sig)
}

func (s *cryptoStore) IsKeySignedBy(ctx context.Context, u id.UserID, k id.Ed25519, by id.UserID, byKey id.Ed25519) (bool, error) {
	return s.lists.IsKeySignedBy(ctx, u, k, by, byKey)
}

func (s *cryptoStore) DropSignaturesByKey(ctx context.Context, u id.UserID, k id.Ed25519) (int64, error) {
	return s.lists.DropSignaturesByKey(ctx, u, k)
}

func (s *cryptoStore) GetSignaturesForKeyBy(ctx context.Context, u id.UserID, k id.Ed25519, by id.UserID) (map[id.Ed25519]string, error) {
	return s.lists.GetSignaturesForKeyBy(ctx, u, k, by)
}
