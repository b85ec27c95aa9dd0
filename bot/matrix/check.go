package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/heed-dev/heed/bot"
)

// The room check of `heed config check`: for each review room, whether it
// is end-to-end encrypted and whether heed can read it. It asks the
// homeserver with the token heed would use (access_token, or the one heed
// keeps in its database after a password login; it never logs in, which
// would make a device or replace heed's token), and reads heed's
// database through the state store it was given, which only reads. Every
// request it makes reads: whoami, the joined rooms, a room's
// m.room.encryption, the device's keys (/keys/query) and, for a room heed
// is not in, a /sync without a token, filtered to the review rooms, to see
// an invite.

var _ bot.RoomChecker = (*Adapter)(nil)

// CheckRooms implements bot.RoomChecker.
func (a *Adapter) CheckRooms(ctx context.Context) (string, []bot.RoomCheck) {
	rooms := a.servedRooms()
	all := func(line string, problem bool) []bot.RoomCheck {
		out := make([]bot.RoomCheck, len(rooms))
		for i, r := range rooms {
			out[i] = bot.RoomCheck{Room: string(r), Line: line, Problem: problem}
		}
		return out
	}
	hs := a.cfg.homeserver()
	user, token := id.UserID(a.cfg.UserID), a.cfg.AccessToken
	if token == "" {
		stored, err := a.state.GetKV(ctx, a.key(user, "access_token"))
		if err != nil {
			return hs, all("cannot check: heed's database could not be read ("+shortError(err)+")", true)
		}
		if stored == "" {
			return hs + " as " + string(user), all("not checked: heed logs in with its password when it runs and keeps its access token in its database, "+
				"which holds none yet: check again after heed has run once", false)
		}
		token = stored
	}
	cli, err := a.newClient(user, token)
	if err != nil {
		return hs, all("cannot check: "+shortError(err), true)
	}
	who, err := cli.Whoami(ctx)
	switch {
	case err == nil:
	case isAuthError(err) && a.cfg.AccessToken != "":
		return hs, all("cannot check: the homeserver refused access_token ("+shortError(err)+"): make a new token for the bot account", true)
	case isAuthError(err):
		return hs + " as " + string(user), all("not checked: the homeserver no longer accepts the access token heed keeps in its database ("+shortError(err)+"); "+
			"heed logs in again with its password when it runs: check again after that", false)
	default:
		return hs, all("cannot check: "+unreachable(hs, err), true)
	}
	if a.cfg.UserID != "" && who.UserID != user {
		return hs, all(fmt.Sprintf("cannot check: access_token belongs to %s, not to user_id %s: give the bot's own token", who.UserID, user), true)
	}
	cli.UserID, cli.DeviceID = who.UserID, who.DeviceID
	asked := fmt.Sprintf("%s as %s (device %s)", hs, who.UserID, who.DeviceID)

	var joined *mautrix.RespJoinedRooms
	if joined, err = cli.JoinedRooms(ctx); err != nil {
		return asked, all("cannot check: list the rooms heed is in: "+unreachable(hs, err), true)
	}
	pending, pendErr := a.pendingByRoom(ctx, who.UserID)
	var device *deviceCheck // read once, for the first encrypted room
	var invites map[id.RoomID]*event.EncryptionEventContent
	var invitesErr error
	invitesRead := false
	out := make([]bot.RoomCheck, 0, len(rooms))
	for _, room := range rooms {
		rc := bot.RoomCheck{Room: string(room)}
		var enc *event.EncryptionEventContent
		prefix := ""
		if slices.Contains(joined.JoinedRooms, room) {
			var content event.EncryptionEventContent
			err := cli.StateEvent(ctx, room, event.StateEncryption, "", &content)
			switch {
			case errors.Is(err, mautrix.MNotFound):
			case err != nil:
				rc.Line, rc.Problem = "cannot check: read the room's encryption state: "+unreachable(hs, err), true
				out = append(out, rc)
				continue
			case content.Algorithm != "":
				enc = &content
			}
		} else {
			if !invitesRead {
				invites, invitesErr = a.invitedTo(ctx, cli, rooms, joined.JoinedRooms)
				invitesRead = true
			}
			inv, invited := invites[room]
			switch {
			case invitesErr != nil:
				rc.Line, rc.Problem = fmt.Sprintf("cannot check: heed (%s) is not in the room, and whether it is invited could not be read: %s", who.UserID, unreachable(hs, invitesErr)), true
			case !invited:
				rc.Line, rc.Problem = fmt.Sprintf("cannot check: heed (%s) is neither in the room nor invited: invite it (heed joins a review room when invited), or correct the room id", who.UserID), true
			case inv == nil:
				rc.Line = fmt.Sprintf("heed (%s) is invited and joins when it runs; the invite does not say whether the room is encrypted: check again once heed has joined", who.UserID)
			default:
				enc, prefix = inv, fmt.Sprintf("heed (%s) is invited and joins when it runs; the invite says: ", who.UserID)
			}
			if rc.Line != "" {
				out = append(out, rc)
				continue
			}
		}
		switch {
		case enc == nil:
			rc.Line = prefix + "not encrypted"
		default:
			if device == nil {
				device = a.checkDevice(ctx, cli)
			}
			rc.Line, rc.Problem = fmt.Sprintf("%sencrypted (%s)%s", prefix, enc.Algorithm, device.line), device.problem
		}
		if pendErr != nil {
			rc.Notes = append(rc.Notes, "the events heed could not decrypt could not be read from its database: "+shortError(pendErr))
		}
		rc.Notes = append(rc.Notes, pending[room]...)
		out = append(out, rc)
	}
	return asked, out
}

// unreachable says why a request to the homeserver failed, and what to
// check when it is the network.
func unreachable(hs string, err error) string {
	var he mautrix.HTTPError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "the homeserver " + hs + " did not answer in time: check homeserver in the configuration, and that the homeserver is up"
	case errors.As(err, &he) && he.Response != nil:
		return shortError(err)
	}
	return "the homeserver " + hs + " could not be reached (" + shortError(err) + "): check homeserver in the configuration, and that the homeserver is up"
}

// invitedTo reads which of rooms heed is invited to, with the room's
// encryption as the invite's stripped state tells it (nil if it does not),
// through a /sync without a token (so no token of heed's is moved),
// filtered to the review rooms heed is not in, that waits for nothing.
func (a *Adapter) invitedTo(ctx context.Context, cli *mautrix.Client, rooms, joined []id.RoomID) (map[id.RoomID]*event.EncryptionEventContent, error) {
	var ask []id.RoomID
	for _, r := range rooms {
		if !slices.Contains(joined, r) {
			ask = append(ask, r)
		}
	}
	none := &mautrix.FilterPart{NotTypes: []event.Type{{Type: "*"}}}
	filter, err := json.Marshal(&mautrix.Filter{
		AccountData: none,
		Presence:    none,
		Room: &mautrix.RoomFilter{
			Rooms:       ask,
			AccountData: none,
			Ephemeral:   none,
			State:       &mautrix.FilterPart{Types: []event.Type{event.StateEncryption}},
			Timeline:    &mautrix.FilterPart{Limit: 1, Types: []event.Type{event.StateEncryption}},
		},
	})
	if err != nil {
		return nil, err
	}
	resp, err := cli.FullSyncRequest(ctx, mautrix.ReqSync{FilterID: string(filter), SetPresence: event.PresenceOffline, Client: a.http})
	if err != nil {
		return nil, err
	}
	out := map[id.RoomID]*event.EncryptionEventContent{}
	for room, inv := range resp.Rooms.Invite {
		if !slices.Contains(ask, room) {
			continue
		}
		out[room] = nil
		for _, evt := range inv.State.Events {
			if evt.Type.Type != event.StateEncryption.Type || evt.StateKey == nil || *evt.StateKey != "" {
				continue
			}
			var enc event.EncryptionEventContent
			if json.Unmarshal(evt.Content.VeryRaw, &enc) == nil && enc.Algorithm != "" {
				out[room] = &enc
			}
		}
	}
	return out, nil
}

// deviceCheck is whether heed can read an encrypted room, the same for
// every room: line follows "encrypted (algorithm)".
type deviceCheck struct {
	line    string
	problem bool
}

// checkDevice says whether heed holds the keys of its device, as heed run
// would find at start (setupCrypto, ensureKeys): pickle_key set, the
// device's Olm account in heed's database opened with it, and the same
// keys on the homeserver.
func (a *Adapter) checkDevice(ctx context.Context, cli *mautrix.Client) *deviceCheck {
	dev := cli.DeviceID
	if !a.cryptoEnabled() {
		return &deviceCheck{", but heed cannot read it: set pickle_key (${HEED_MATRIX_PICKLE_KEY}, at least 32 characters, " +
			"for example `openssl rand -hex 32`) to turn on encryption; without it heed refuses to run", true}
	}
	account, err := a.storedAccount(ctx, cli)
	switch {
	case errors.Is(err, errWrongPickleKey):
		return &deviceCheck{fmt.Sprintf(", but heed cannot read it: pickle_key does not open the keys of device %s in heed's database: "+
			"it must be the key heed first ran with", dev), true}
	case err != nil:
		return &deviceCheck{", but whether heed can read it could not be checked: heed's database could not be read (" + shortError(err) + ")", true}
	}
	resp, err := cli.QueryKeys(ctx, &mautrix.ReqQueryKeys{DeviceKeys: map[id.UserID]mautrix.DeviceIDList{cli.UserID: {dev}}})
	if err != nil {
		return &deviceCheck{fmt.Sprintf(", but whether heed can read it could not be checked: read device %s's keys: %s", dev, unreachable(a.cfg.homeserver(), err)), true}
	}
	keys, onServer := resp.DeviceKeys[cli.UserID][dev]
	onServer = onServer && len(keys.Keys) > 0
	switch {
	case account == nil && !onServer:
		return &deviceCheck{fmt.Sprintf("; heed can read it once it runs: pickle_key is set, and heed makes the keys of device %s in its database at start", dev), false}
	case onServer && (account == nil || !account.Shared):
		return &deviceCheck{fmt.Sprintf(", but heed cannot read it: device %s already has keys on the homeserver that heed's database does not hold (a lost database?): "+
			"delete the device (Element: Settings → Sessions) or let heed log in as a new one", dev), true}
	case !onServer:
		return &deviceCheck{fmt.Sprintf("; heed can read it: device %s, keys in heed's database (the homeserver has lost them; heed uploads them again when it runs)", dev), false}
	case string(keys.Keys.GetEd25519(dev)) != string(account.SigningKey()):
		return &deviceCheck{fmt.Sprintf(", but heed cannot read it: device %s has other keys on the homeserver than in heed's database: "+
			"delete the device (Element: Settings → Sessions) or let heed log in as a new one", dev), true}
	}
	return &deviceCheck{fmt.Sprintf("; heed can read it: device %s, keys in heed's database", dev), false}
}

// errWrongPickleKey: the Olm account in heed's database does not open with
// pickle_key.
var errWrongPickleKey = errors.New("matrix: pickle_key does not open heed's Olm account")

// storedAccount reads the device's Olm account from heed's database, nil
// when there is none (no database, no crypto tables yet, or no account for
// this device), through the state store's database handle. It only reads:
// no table is created or upgraded.
func (a *Adapter) storedAccount(ctx context.Context, cli *mautrix.Client) (*crypto.OlmAccount, error) {
	h, ok := a.state.(dbHolder)
	if !ok || h.DB() == nil {
		return nil, nil
	}
	db, err := dbutil.NewWithDB(h.DB(), h.Dialect())
	if err != nil {
		return nil, err
	}
	if ok, err := db.TableExists(ctx, "crypto_account"); err != nil || !ok {
		return nil, err
	}
	store := crypto.NewSQLCryptoStore(db, dbutil.NoopLogger, string(cli.UserID)+"/"+string(cli.DeviceID), cli.DeviceID, []byte(a.cfg.PickleKey))
	account, err := store.GetAccount(ctx)
	if err != nil && pickleError(err) {
		return nil, errWrongPickleKey
	}
	return account, err
}

// pickleError reports whether err is what opening a pickle with the wrong
// key gives.
func pickleError(err error) bool {
	return strings.Contains(err.Error(), "pickle") || strings.Contains(err.Error(), "decrypt")
}

// pendingByRoom reads the events heed has not been able to decrypt so far
// (kept by e2ee.save) and says each in a line, per room: who sent it,
// from which device and session, since when, and whether it still holds
// publishing. Never its content.
func (a *Adapter) pendingByRoom(ctx context.Context, user id.UserID) (map[id.RoomID][]string, error) {
	raw, err := a.state.GetKV(ctx, a.key(user, pendingKey))
	if err != nil || raw == "" {
		return nil, err
	}
	var list []*undecryptable
	if err := json.Unmarshal([]byte(raw), &list); err != nil {
		return nil, fmt.Errorf("unreadable list: %w", err)
	}
	slices.SortFunc(list, func(x, y *undecryptable) int { return x.Since.Compare(y.Since) })
	wait, now := a.cfg.decryptWait(), a.now()
	out := map[id.RoomID][]string{}
	for _, u := range list {
		s := fmt.Sprintf("heed has not been able to decrypt %s from %s (device %s, session %s) since %s", u.Event, u.Sender,
			orUnknown(string(u.Device)), orUnknown(string(u.Session)), u.Since.UTC().Format("2006-01-02 15:04 MST"))
		switch until := u.Since.Add(wait); {
		case u.Told:
			s += "; heed said so in the room, and publishing no longer holds for it"
		case now.Before(until):
			s += "; publishing holds for it until " + until.UTC().Format("15:04 MST") + " while heed asks for its key"
		default:
			s += "; publishing no longer holds for it"
		}
		out[u.Room] = append(out[u.Room], s)
	}
	return out, nil
}
