package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
)

// fatalError is a failure that retrying cannot fix: refused credentials, an
// encrypted review room. Run returns it.
type fatalError struct{ error }

func (e fatalError) Unwrap() error { return e.error }

func isFatal(err error) bool {
	var f fatalError
	return errors.As(err, &f)
}

func isAuthError(err error) bool {
	var he mautrix.HTTPError
	if errors.As(err, &he) && he.Response != nil &&
		(he.Response.StatusCode == http.StatusUnauthorized || he.Response.StatusCode == http.StatusForbidden) {
		return true
	}
	return errors.Is(err, mautrix.MUnknownToken) || errors.Is(err, mautrix.MMissingToken) || errors.Is(err, mautrix.MForbidden)
}

// key names an entry of the adapter's state, per adapter and account, so a
// changed account starts afresh instead of using another's sync token.
func (a *Adapter) key(user id.UserID, what string) string {
	return "matrix/" + a.name + "/" + string(user) + "/" + what
}

// Run logs in, reads the review rooms' state and then syncs until ctx is
// done. Network failures and rate limits are waited out inside; it returns
// only for refused credentials or an encrypted review room.
func (a *Adapter) Run(ctx context.Context, h bot.Handler) error {
	// Compared with the homeserver's timestamps, so the wall clock, not an
	// injected one.
	a.startedMS = time.Now().UnixMilli()
	err := a.retry(ctx, "log in", a.connect)
	if err == nil {
		err = a.retry(ctx, "read the review rooms", a.prepareRooms)
	}
	if err == nil {
		err = a.syncLoop(ctx, h)
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// retry runs f until it succeeds, fails fatally or ctx ends, waiting as a
// rate limit asks or backing off.
func (a *Adapter) retry(ctx context.Context, op string, f func(context.Context) error) error {
	for n := 1; ; n++ {
		err := f(ctx)
		if err == nil || isFatal(err) || ctx.Err() != nil {
			return err
		}
		wait, limited := rateLimited(err)
		if !limited || wait <= 0 {
			wait = backoff(n)
		}
		a.log.Warn("matrix: "+op+" failed; retrying", "err", err, "retry_in", wait)
		if err := a.sleep(ctx, min(wait, maxWait)); err != nil {
			return err
		}
	}
}

func (a *Adapter) newClient(user id.UserID, token string) (*mautrix.Client, error) {
	cli, err := mautrix.NewClient(a.cfg.homeserver(), user, token)
	if err != nil {
		return nil, fatalError{fmt.Errorf("matrix: homeserver: %w", err)}
	}
	cli.Client = a.http
	cli.UserAgent = "heed"
	// heed waits out rate limits itself (retry_after_ms included), and
	// never retries a send blindly.
	cli.DefaultHTTPRetries = 0
	cli.IgnoreRateLimit = true
	return cli, nil
}

// connect logs in: with the configured access token, or with the stored
// token of the configured user, or with its password, keeping the device id
// so that restarts reuse one device.
func (a *Adapter) connect(ctx context.Context) error {
	if a.cfg.AccessToken != "" {
		cli, err := a.newClient(id.UserID(a.cfg.UserID), a.cfg.AccessToken)
		if err != nil {
			return err
		}
		who, err := cli.Whoami(ctx)
		if err != nil {
			if isAuthError(err) {
				return fatalError{fmt.Errorf("matrix: the homeserver refused access_token (%w): make a new token for the bot account", err)}
			}
			return err
		}
		if a.cfg.UserID != "" && who.UserID != id.UserID(a.cfg.UserID) {
			return fatalError{fmt.Errorf("matrix: access_token belongs to %s, not to user_id %s", who.UserID, a.cfg.UserID)}
		}
		cli.UserID, cli.DeviceID = who.UserID, who.DeviceID
		return a.connected(ctx, cli)
	}
	user := id.UserID(a.cfg.UserID)
	token, err := a.state.GetKV(ctx, a.key(user, "access_token"))
	if err != nil {
		return err
	}
	device, err := a.state.GetKV(ctx, a.key(user, "device_id"))
	if err != nil {
		return err
	}
	if token != "" {
		cli, err := a.newClient(user, token)
		if err != nil {
			return err
		}
		who, err := cli.Whoami(ctx)
		switch {
		case err == nil && who.UserID == user:
			cli.DeviceID = who.DeviceID
			return a.connected(ctx, cli)
		case err != nil && !isAuthError(err):
			return err
		}
		a.log.Info("matrix: the stored access token is no longer valid; logging in again", "user", user)
	}
	cli, err := a.newClient(user, "")
	if err != nil {
		return err
	}
	resp, err := cli.Login(ctx, &mautrix.ReqLogin{
		Type:                     mautrix.AuthTypePassword,
		Identifier:               mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: string(user)},
		Password:                 a.cfg.Password,
		DeviceID:                 id.DeviceID(device),
		InitialDeviceDisplayName: "heed",
		StoreCredentials:         true,
	})
	if err != nil {
		if isAuthError(err) {
			return fatalError{fmt.Errorf("matrix: the homeserver refused the login of %s (%w): check user_id and password", user, err)}
		}
		return err
	}
	if err := a.state.SetKV(ctx, a.key(user, "device_id"), string(resp.DeviceID)); err != nil {
		return err
	}
	if err := a.state.SetKV(ctx, a.key(user, "access_token"), resp.AccessToken); err != nil {
		return err
	}
	a.log.Info("matrix: logged in", "user", resp.UserID, "device", resp.DeviceID)
	return a.connected(ctx, cli)
}

func (a *Adapter) connected(ctx context.Context, cli *mautrix.Client) error {
	if err := a.setupCrypto(ctx, cli); err != nil {
		return err
	}
	var name string
	if p, err := cli.GetOwnDisplayName(ctx); err == nil {
		name = p.DisplayName
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cli = cli
	a.tr.self = cli.UserID
	a.tr.displayName = name
	return nil
}

// servedRooms lists the review rooms in a fixed order.
func (a *Adapter) servedRooms() []id.RoomID {
	out := make([]id.RoomID, 0, len(a.rooms))
	for r := range a.rooms {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// prepareRooms joins the review rooms heed can join, and reads their power
// levels and whether they are encrypted. A room heed is not in and cannot
// join yet is joined when the bot is invited.
func (a *Adapter) prepareRooms(ctx context.Context) error {
	cli, err := a.client()
	if err != nil {
		return err
	}
	var joined *mautrix.RespJoinedRooms
	if err := a.call(ctx, "list joined rooms", func(ctx context.Context) (err error) {
		joined, err = cli.JoinedRooms(ctx)
		return err
	}); err != nil {
		return err
	}
	for _, room := range a.servedRooms() {
		if !slices.Contains(joined.JoinedRooms, room) {
			if err := a.call(ctx, "join", func(ctx context.Context) error { _, err := cli.JoinRoomByID(ctx, room); return err }); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				a.log.Warn("matrix: not in a review room and cannot join it: invite the bot", "room", room, "bot", cli.UserID, "err", err)
				continue
			}
			a.log.Info("matrix: joined review room", "room", room)
		}
		if err := a.readRoomState(ctx, cli, room); err != nil {
			return err
		}
	}
	return nil
}

// readRoomState reads a room's power levels and encryption state, and
// refuses the room if it is encrypted.
func (a *Adapter) readRoomState(ctx context.Context, cli *mautrix.Client, room id.RoomID) error {
	var pl event.PowerLevelsEventContent
	err := a.call(ctx, "read power levels", func(ctx context.Context) error {
		return cli.StateEvent(ctx, room, event.StatePowerLevels, "", &pl)
	})
	switch {
	case err == nil:
		a.mu.Lock()
		a.power[room], a.powerAt[room] = &pl, a.now().UTC()
		a.mu.Unlock()
	case !errors.Is(err, mautrix.MNotFound):
		return err
	}
	var create *event.Event
	err = a.call(ctx, "read the room's creation", func(ctx context.Context) (err error) {
		create, err = cli.FullStateEvent(ctx, room, event.StateCreate, "")
		return err
	})
	switch {
	case err == nil:
		a.noteCreators(room, create)
	case !errors.Is(err, mautrix.MNotFound):
		return err
	}
	var enc event.EncryptionEventContent
	err = a.call(ctx, "read encryption state", func(ctx context.Context) error {
		return cli.StateEvent(ctx, room, event.StateEncryption, "", &enc)
	})
	switch {
	case err == nil && enc.Algorithm != "":
		a.mu.Lock()
		a.encrypted[room] = true
		a.mu.Unlock()
	case err != nil && !errors.Is(err, mautrix.MNotFound):
		return err
	}
	if err := a.readCryptoState(ctx, cli, room, &enc); err != nil {
		return err
	}
	return a.refuseIfEncrypted(ctx, room)
}

// refuseIfEncrypted says in the room why heed will not serve it, once, and
// returns the fatal error that stops the adapter.
func (a *Adapter) refuseIfEncrypted(ctx context.Context, room id.RoomID) error {
	a.mu.Lock()
	enc, told := a.encrypted[room], a.refused[room]
	a.refused[room] = enc
	cli := a.cli
	a.mu.Unlock()
	if !enc || a.cryptoEnabled() {
		return nil
	}
	if !told && cli != nil {
		msg := "heed will not serve this room: it is end-to-end encrypted, and heed's encryption is not set up (pickle_key). " +
			"Cards, reactions and `pause` here could go unseen, so heed has stopped. " +
			"Set pickle_key in heed's configuration (see the README, \"Encrypted rooms\") and start heed again."
		if err := a.call(ctx, "notify encrypted room", func(ctx context.Context) error {
			_, err := cli.SendMessageEvent(ctx, room, event.EventMessage, replyContent("", msg))
			return err
		}); err != nil {
			a.log.Warn("matrix: could not tell the encrypted room why heed refuses it", "room", room, "err", err)
		}
	}
	return fatalError{fmt.Errorf("matrix: review room %s is end-to-end encrypted and pickle_key is not set, so heed cannot read it and refuses to run: set pickle_key (${HEED_MATRIX_PICKLE_KEY}) to turn on encryption", room)}
}

// applyState follows the state heed cares about: power levels (who may
// approve) and encryption.
func (a *Adapter) applyState(room id.RoomID, evt *event.Event) {
	if evt.StateKey == nil || *evt.StateKey != "" {
		return
	}
	switch evt.Type.Type {
	case event.StateCreate.Type:
		a.noteCreators(room, evt)
	case event.StatePowerLevels.Type:
		var pl event.PowerLevelsEventContent
		if err := json.Unmarshal(evt.Content.VeryRaw, &pl); err != nil {
			a.log.Warn("matrix: unreadable power levels", "room", room, "event", evt.ID, "err", err)
			return
		}
		a.mu.Lock()
		a.power[room], a.powerAt[room] = &pl, time.UnixMilli(evt.Timestamp).UTC()
		a.mu.Unlock()
	case event.StateEncryption.Type:
		var enc event.EncryptionEventContent
		if json.Unmarshal(evt.Content.VeryRaw, &enc) == nil && enc.Algorithm != "" {
			a.mu.Lock()
			a.encrypted[room] = true
			a.mu.Unlock()
		}
	}
}

func (a *Adapter) filter() *mautrix.Filter {
	none := &mautrix.FilterPart{NotTypes: []event.Type{{Type: "*"}}}
	return &mautrix.Filter{
		AccountData: none,
		Presence:    none,
		Room: &mautrix.RoomFilter{
			AccountData: none,
			Ephemeral:   none,
			Timeline:    &mautrix.FilterPart{Limit: a.timelineLimit},
		},
	}
}

// syncLoop long-polls /sync. The token is saved only after a response has
// been handled, so a crash replays rather than loses; replays are dropped
// by event id here and in the engine. The first sync of an account handles
// invites and state, and of the timeline only what happened since Run
// started: history from before heed was set up is not a decision.
//
// A failed /sync makes the adapter deaf at once (Deaf). After a gap (the
// start, a failed /sync, a limited timeline) the review rooms count as
// heard again only once the backlog is handled: the batch, the events read
// back through /messages, and the open cards' reactions read back.
func (a *Adapter) syncLoop(ctx context.Context, h bot.Handler) error {
	cli, err := a.client()
	if err != nil {
		return err
	}
	var since, filterID string
	if err := a.retry(ctx, "read the sync token", func(ctx context.Context) (err error) {
		since, err = a.state.GetKV(ctx, a.key(cli.UserID, "next_batch"))
		return err
	}); err != nil {
		return err
	}
	if err := a.retry(ctx, "create the sync filter", func(ctx context.Context) error {
		resp, err := cli.CreateFilter(ctx, a.filter())
		if err == nil {
			filterID = resp.FilterID
		}
		return err
	}); err != nil {
		return err
	}
	failures := 1  // the first request returns at once
	behind := true // a gap to catch up on before the rooms count as heard
	for {
		timeout := a.syncTimeout
		if failures > 0 || since == "" || behind {
			timeout = 0
		}
		resp, err := cli.FullSyncRequest(ctx, mautrix.ReqSync{Timeout: int(timeout.Milliseconds()), Since: since, FilterID: filterID, Client: a.syncHTTP})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			behind = true
			if isAuthError(err) {
				if a.cfg.Password == "" {
					return fatalError{fmt.Errorf("matrix: the homeserver no longer accepts access_token (%w): make a new token for the bot account", err)}
				}
				a.cannotHear("the Matrix homeserver has refused heed's access token", err)
				a.mu.Lock()
				a.cli = nil
				a.mu.Unlock()
				if err := a.retry(ctx, "log in again", a.connect); err != nil {
					return err
				}
				if cli, err = a.client(); err != nil {
					return err
				}
				continue
			}
			a.cannotHear("the Matrix homeserver could not be reached", err)
			wait, limited := rateLimited(err)
			if !limited || wait <= 0 {
				wait = backoff(failures)
			}
			failures++
			a.log.Warn("matrix: /sync failed; the review rooms cannot be heard, so publishing holds until they are", "err", err, "retry_in", wait)
			if err := a.sleep(ctx, min(wait, maxWait)); err != nil {
				return nil
			}
			continue
		}
		if failures > 1 {
			a.log.Info("matrix: /sync works again; handling what was missed")
		}
		failures = 0
		if a.limited(resp, since) {
			behind = true
			a.cannotHear("heed has been reading back events a Matrix /sync left out", nil)
		}
		if err := a.process(ctx, h, cli, resp, since); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if isFatal(err) {
				return err
			}
			// Not saving the token means the same batch comes again.
			failures, behind = 1, true
			a.cannotHear("heed could not handle what the Matrix homeserver sent", err)
			a.log.Warn("matrix: handling a sync response failed; it will be fetched again", "err", err)
			if err := a.sleep(ctx, backoff(1)); err != nil {
				return nil
			}
			continue
		}
		if err := a.state.SetKV(ctx, a.key(cli.UserID, "next_batch"), resp.NextBatch); err != nil {
			// Carry on from memory; after a restart the events since the
			// last saved token come again and are dropped as duplicates.
			a.log.Error("matrix: could not save the sync token", "err", err)
		}
		since = resp.NextBatch
		if behind {
			if err := a.reconcile(ctx, h); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				a.cannotHear("heed could not read the open cards' reactions back from the Matrix homeserver", err)
				a.log.Warn("matrix: reading the open cards' reactions back failed; the review rooms count as heard once it succeeds", "err", err)
				if err := a.sleep(ctx, backoff(1)); err != nil {
					return nil
				}
				continue
			}
			behind = false
		}
		a.heard()
		a.retryFullTexts(ctx)
	}
}

// limited reports whether a review room's timeline in resp left events
// out that fillGap reads back.
func (a *Adapter) limited(resp *mautrix.RespSync, since string) bool {
	if since == "" {
		return false
	}
	for room, jr := range resp.Rooms.Join {
		if _, ok := a.rooms[room]; ok && jr.Timeline.Limited && jr.Timeline.PrevBatch != "" {
			return true
		}
	}
	return false
}

// reconciler is the engine's side of reading cards back, where the handler
// offers it (bot.Engine does).
type reconciler interface {
	Reconcile(ctx context.Context, adapter string) error
}

// reconcile has the handler read every open card's reactions back, and
// fails if a read failed for a reason that may pass (the network, the
// homeserver), since the engine only logs those.
func (a *Adapter) reconcile(ctx context.Context, h bot.Handler) error {
	r, ok := h.(reconciler)
	if !ok {
		return nil
	}
	before := a.readFailures.Load()
	if err := r.Reconcile(ctx, a.name); err != nil {
		return err
	}
	if n := a.readFailures.Load() - before; n > 0 {
		return fmt.Errorf("matrix: the reactions of %d card(s) could not be read", n)
	}
	return nil
}

// heard records that the review rooms are heard: Alive moves, then Deaf
// clears.
func (a *Adapter) heard() {
	a.alive.Store(a.now().UnixNano())
	a.mu.Lock()
	a.deaf = ""
	a.mu.Unlock()
}

// cannotHear makes the adapter deaf at once. The first reason of an outage
// stays until the rooms are heard again, so that the text (which becomes a
// card note) does not change with each retry.
func (a *Adapter) cannotHear(what string, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.deaf != "" {
		return
	}
	if a.name != "matrix" {
		what += " (chat " + a.name + ")"
	}
	a.deaf = what + " since " + a.now().Format("15:04:05 MST")
	if err != nil {
		a.deaf += " (" + shortError(err) + ")"
	}
}

// shortError is err without the request URL that mautrix and net/http wrap
// around it, clipped.
func shortError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return approvals.Clip(strings.TrimSpace(err.Error()), 200)
}

// transient reports whether err may pass by itself: the network, a 5xx, a
// rate limit.
func transient(err error) bool {
	var he mautrix.HTTPError
	if errors.As(err, &he) && he.Response != nil {
		c := he.Response.StatusCode
		return c >= 500 || c == http.StatusTooManyRequests || c == http.StatusRequestTimeout
	}
	return !errors.Is(err, context.Canceled)
}

func sortedKeys[V any](m map[id.RoomID]V) []id.RoomID {
	out := make([]id.RoomID, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// process handles one /sync response: invites to review rooms are
// accepted, state is followed, and timeline events become bot.Events.
func (a *Adapter) process(ctx context.Context, h bot.Handler, cli *mautrix.Client, resp *mautrix.RespSync, since string) error {
	first := since == ""
	last := map[id.RoomID]id.EventID{}
	// Room keys and key requests come as to-device events: before the
	// timeline is decrypted, and before the events heed could not read
	// are tried again.
	a.syncCrypto(ctx, resp, since)
	a.retryPending(ctx, h)
	for _, room := range sortedKeys(resp.Rooms.Invite) {
		if _, ok := a.rooms[room]; !ok {
			a.log.Info("matrix: ignoring an invite to a room that is not a review room", "room", room)
			continue
		}
		// A failed join must not stall the sync: the invite stays pending
		// and is tried again at the next start.
		if err := a.call(ctx, "join", func(ctx context.Context) error { _, err := cli.JoinRoomByID(ctx, room); return err }); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			a.log.Error("matrix: could not join a review room it was invited to", "room", room, "err", err)
			continue
		}
		a.log.Info("matrix: joined review room on invite", "room", room)
		// The room's state also arrives with the next sync; reading it now
		// only makes power levels known sooner.
		if err := a.readRoomState(ctx, cli, room); err != nil {
			if isFatal(err) || ctx.Err() != nil {
				return err
			}
			a.log.Warn("matrix: could not read a review room's state yet", "room", room, "err", err)
		}
	}
	for _, room := range sortedKeys(resp.Rooms.Leave) {
		if _, ok := a.rooms[room]; ok {
			a.log.Error("matrix: heed is no longer in a review room (left, kicked or banned): invite it again", "room", room)
		}
	}
	a.mu.Lock()
	tr := a.tr
	a.mu.Unlock()
	for _, room := range sortedKeys(resp.Rooms.Join) {
		if _, ok := a.rooms[room]; !ok {
			continue // events from rooms that are not review rooms mean nothing
		}
		jr := resp.Rooms.Join[room]
		for _, evt := range jr.State.Events {
			a.applyState(room, evt)
			a.followState(ctx, room, evt)
		}
		if err := a.refuseIfEncrypted(ctx, room); err != nil {
			return err
		}
		events := jr.Timeline.Events
		if !first && jr.Timeline.Limited && jr.Timeline.PrevBatch != "" {
			missed, err := a.fillGap(ctx, cli, room, jr.Timeline.PrevBatch, since)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if transient(err) {
					// The batch comes again, and the gap is read again.
					return fmt.Errorf("matrix: read the events a limited sync left out in %s: %w", room, err)
				}
				// Reactions in the gap are still reconciled; a command in
				// it is lost, which the log says.
				a.log.Error("matrix: could not read the events a limited sync left out; messages in the gap are skipped", "room", room, "err", err)
			}
			events = append(missed, events...)
		}
		for _, evt := range events {
			evt.RoomID = room
			last[room] = evt.ID
			if evt.StateKey != nil {
				a.applyState(room, evt)
				a.followState(ctx, room, evt)
				if err := a.refuseIfEncrypted(ctx, room); err != nil {
					return err
				}
				if evt.Type == event.StatePowerLevels && !first && a.seen.add(evt.ID) {
					// Who may approve changed: reactions already on cards
					// are weighed again.
					if err := h.HandleEvent(ctx, bot.Event{ID: evt.ID.String(), Kind: bot.PolicyChanged, Adapter: a.name, Room: room.String(),
						At: time.UnixMilli(evt.Timestamp)}); err != nil && ctx.Err() == nil {
						a.log.Warn("matrix: the engine could not weigh reactions again after a power-level change", "room", room, "err", err)
					}
				}
				continue
			}
			if first && evt.Timestamp < a.startedMS {
				continue
			}
			if a.seen.has(evt.ID) {
				continue
			}
			if evt.Sender == cli.UserID && evt.Unsigned.TransactionID != "" {
				// heed's own message, sent by this very login (the
				// homeserver gives the transaction id back only to the
				// sender): it never decides anything, so it is neither
				// decrypted nor handled.
				continue
			}
			evt, err := a.decrypt(ctx, room, evt, "")
			if err != nil {
				continue // pending until its key arrives, or dropped (logged)
			}
			ev, ok := tr.translate(room, evt)
			if !ok || !a.seen.add(evt.ID) {
				continue
			}
			if err := h.HandleEvent(ctx, ev); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				a.log.Warn("matrix: the engine could not handle an event", "room", room, "event", evt.ID, "kind", ev.Kind, "err", err)
			}
		}
	}
	// Where each room's handled timeline ends, so a later gap is read back
	// exactly up to here.
	for _, room := range sortedKeys(last) {
		if err := a.state.SetKV(ctx, a.key(cli.UserID, "last_event/"+string(room)), string(last[room])); err != nil {
			return err
		}
	}
	return nil
}

// fillGap reads the events a limited /sync timeline left out: backwards
// from the timeline's start (from) towards the previous sync token (to),
// stopping at the last event heed handled in the room (Dendrite's `to` is
// inclusive of it), at most maxGapPages pages, returned oldest first.
func (a *Adapter) fillGap(ctx context.Context, cli *mautrix.Client, room id.RoomID, from, to string) ([]*event.Event, error) {
	const maxGapPages = 50
	last, err := a.state.GetKV(ctx, a.key(cli.UserID, "last_event/"+string(room)))
	if err != nil {
		return nil, err
	}
	var got []*event.Event
	done := func() []*event.Event {
		slices.Reverse(got)
		a.log.Info("matrix: read events a limited sync left out", "room", room, "count", len(got))
		return got
	}
	for page := 0; page < maxGapPages; page++ {
		var resp *mautrix.RespMessages
		err := a.call(ctx, "read missed events", func(ctx context.Context) (err error) {
			resp, err = cli.Messages(ctx, room, from, to, mautrix.DirectionBackward, nil, 100)
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, evt := range resp.Chunk {
			if last != "" && evt.ID == id.EventID(last) {
				return done(), nil
			}
			got = append(got, evt)
		}
		if resp.End == "" || len(resp.Chunk) == 0 || resp.End == from {
			return done(), nil
		}
		from = resp.End
	}
	slices.Reverse(got)
	a.log.Warn("matrix: a gap in the timeline is larger than heed reads back; older events in it are skipped (reactions are reconciled on start)",
		"room", room, "read", len(got))
	return got, nil
}

// noteCreators records a room's creators from its create event when the
// room is of version 12 or later, where they rank above every power level
// (the sender and any additional_creators).
func (a *Adapter) noteCreators(room id.RoomID, evt *event.Event) {
	if evt == nil {
		return
	}
	var c struct {
		RoomVersion        string   `json:"room_version"`
		AdditionalCreators []string `json:"additional_creators"`
	}
	raw := evt.Content.VeryRaw
	if len(raw) == 0 {
		raw, _ = json.Marshal(evt.Content.Raw)
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return
	}
	if v, err := strconv.Atoi(c.RoomVersion); err != nil || v < 12 {
		return
	}
	creators := append([]string{string(evt.Sender)}, c.AdditionalCreators...)
	a.mu.Lock()
	a.creators[room] = creators
	a.mu.Unlock()
}
