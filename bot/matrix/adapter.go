// Package matrix is heed's Matrix adapter, on mautrix-go. It posts review
// cards as m.notice messages with HTML, edits them in place (m.replace),
// answers in the card's thread (m.thread), and turns reactions
// (m.annotation), their redactions and typed messages into bot.Events. It
// reads a card's reactions back through the relations API for
// reconciliation, and knows approvers from explicit user ids and from
// power levels in the room. It keeps its device, access token and sync
// token in heed's database, so a restart neither replays nor misses events.
//
// With pickle_key set, heed takes part in end-to-end encrypted review rooms
// (crypto.go): it encrypts what it sends and decrypts what it reads, and an
// event it cannot decrypt makes the rooms count as not heard while it asks
// for the key. Without pickle_key an encrypted review room is refused, at
// start-up and with a message in the room.
package matrix

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
)

// Adapter is the Matrix chat adapter.
type Adapter struct {
	name  string
	cfg   Config
	rooms map[id.RoomID]RoomConfig // every room served, with its settings
	state bot.StateStore
	log   *slog.Logger
	now   func() time.Time
	sleep func(context.Context, time.Duration) error
	// http is for every request but /sync; syncHTTP allows for the long poll.
	http, syncHTTP *http.Client
	syncTimeout    time.Duration
	timelineLimit  int

	mu        sync.Mutex
	cli       *mautrix.Client // nil until logged in
	tr        translator
	power     map[id.RoomID]*event.PowerLevelsEventContent
	powerAt   map[id.RoomID]time.Time // when the power levels were read
	creators  map[id.RoomID][]string  // room version 12 and later: the creators, above every power level
	encrypted map[id.RoomID]bool
	refused   map[id.RoomID]bool
	lastCard  map[id.EventID]string // the content last sent per card, so unchanged edits are skipped
	unsent    map[string]string     // reply → its transaction id, for replies whose send failed
	deaf      string                // why the review rooms cannot be heard now, or ""
	seen      *seenSet
	alive     atomic.Int64 // unix nanoseconds of the last /sync handled with its backlog
	startedMS int64        // wall clock at Run, in ms, for the first sync
	// readFailures counts reaction reads that failed for a reason that may
	// pass, so that a reconciliation that missed a card is known.
	readFailures atomic.Int64
	// pendingFull are the full texts of clipped cards whose posting failed
	// after the card was posted; the sync loop tries them again.
	pendingFull map[id.EventID]fullTextJob
	// e2e is the encryption state once set up (pickle_key set), else nil.
	e2e *e2ee
	// recoveryOut is where a new recovery key is printed, once.
	recoveryOut io.Writer
}

var (
	_ bot.Adapter        = (*Adapter)(nil)
	_ bot.Reconciler     = (*Adapter)(nil)
	_ bot.ApproverSource = (*Adapter)(nil)
	_ bot.Hearing        = (*Adapter)(nil)
	_ bot.MessageReader  = (*Adapter)(nil)
)

// Option adjusts an Adapter, mostly for tests.
type Option func(*Adapter)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(a *Adapter) { a.log = l } }

// WithClock sets the clock behind Alive.
func WithClock(now func() time.Time) Option { return func(a *Adapter) { a.now = now } }

// WithSleep replaces the wait between retries (rate limits, reconnects).
func WithSleep(f func(context.Context, time.Duration) error) Option {
	return func(a *Adapter) { a.sleep = f }
}

// WithHTTPClient sets the HTTP client for everything but the /sync long poll.
func WithHTTPClient(c *http.Client) Option { return func(a *Adapter) { a.http = c } }

// WithSyncTimeout sets how long one /sync long poll waits for events
// (default 30 s). Alive advances at least this often while the homeserver
// answers.
func WithSyncTimeout(d time.Duration) Option { return func(a *Adapter) { a.syncTimeout = d } }

// WithTimelineLimit sets how many events one /sync returns per room before
// it reports a gap, which the adapter then fills through /messages
// (default 100).
func WithTimelineLimit(n int) Option { return func(a *Adapter) { a.timelineLimit = n } }

// WithName sets the adapter's name (default "matrix").
func WithName(name string) Option { return func(a *Adapter) { a.name = name } }

func init() {
	bot.RegisterAdapter("matrix", func(ac bot.AdapterConfig) (bot.Adapter, error) {
		var cfg Config
		if ac.Decode != nil {
			if err := ac.Decode(&cfg); err != nil {
				return nil, err
			}
		}
		opts := []Option{WithName(ac.Name)}
		if ac.Log != nil {
			opts = append(opts, WithLogger(ac.Log))
		}
		if ac.Now != nil {
			opts = append(opts, WithClock(ac.Now))
		}
		return New(cfg, ac.RoomIDs, ac.State, opts...)
	})
}

// New builds the adapter. roomIDs are the review rooms heed's configuration
// names for this chat; rooms in cfg.Rooms are served too. state keeps the
// device, access token and sync token; it is required.
func New(cfg Config, roomIDs []string, state bot.StateStore, opts ...Option) (*Adapter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if state == nil {
		return nil, errors.New("matrix: a state store is required to keep the sync token")
	}
	a := &Adapter{
		name:          "matrix",
		cfg:           cfg,
		rooms:         map[id.RoomID]RoomConfig{},
		state:         state,
		log:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		now:           time.Now,
		sleep:         sleepCtx,
		syncTimeout:   30 * time.Second,
		timelineLimit: 100,
		power:         map[id.RoomID]*event.PowerLevelsEventContent{},
		powerAt:       map[id.RoomID]time.Time{},
		creators:      map[id.RoomID][]string{},
		encrypted:     map[id.RoomID]bool{},
		refused:       map[id.RoomID]bool{},
		lastCard:      map[id.EventID]string{},
		unsent:        map[string]string{},
		seen:          newSeenSet(10000),
		recoveryOut:   os.Stderr,
	}
	for _, o := range opts {
		o(a)
	}
	if a.name == "" {
		a.name = "matrix"
	}
	if a.http == nil {
		a.http = &http.Client{Timeout: 30 * time.Second}
	}
	a.syncHTTP = &http.Client{Transport: a.http.Transport, Timeout: a.syncTimeout + 30*time.Second}
	for _, r := range roomIDs {
		if !roomIDRe.MatchString(r) {
			return nil, fmt.Errorf("matrix: review room %q is not a room id (!abc:server; in Element: room settings → Advanced)", r)
		}
		a.rooms[id.RoomID(r)] = RoomConfig{ID: r}
	}
	for _, r := range cfg.Rooms {
		a.rooms[id.RoomID(r.ID)] = r
	}
	if len(a.rooms) == 0 {
		return nil, errors.New("matrix: no review room: name at least one room id")
	}
	bots := map[string]bool{}
	for _, b := range cfg.Bots {
		bots[b] = true
	}
	a.tr = translator{adapter: a.name, bots: bots}
	return a, nil
}

// Name is the adapter's name in the configuration.
func (a *Adapter) Name() string { return a.name }

// Alive is when the last /sync response was handled, with whatever a gap
// before it left to read back: the only proof that heed still hears the
// review rooms.
func (a *Adapter) Alive() time.Time {
	n := a.alive.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Deaf implements bot.Hearing: why the review rooms cannot be heard now (a
// failed /sync, a backlog not yet handled), or "".
func (a *Adapter) Deaf() string {
	a.mu.Lock()
	deaf := a.deaf
	a.mu.Unlock()
	if deaf != "" {
		return deaf
	}
	// An event heed cannot decrypt may be a `pause`.
	return a.deafCrypto()
}

// UserID is the bot's user id once it has logged in.
func (a *Adapter) UserID() id.UserID {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tr.self
}

var errNotConnected = errors.New("matrix: not logged in yet")

func (a *Adapter) client() (*mautrix.Client, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cli == nil {
		return nil, errNotConnected
	}
	return a.cli, nil
}

func (a *Adapter) served(room string) (id.RoomID, error) {
	r := id.RoomID(room)
	if _, ok := a.rooms[r]; !ok {
		return "", fmt.Errorf("matrix: %s is not a configured review room", room)
	}
	return r, nil
}

// PostCard posts a new card. Its transaction id is derived from the room
// and the occurrence, so if the engine posts the same card again after an
// answer was lost, the homeserver returns the first event instead of
// posting a second card.
func (a *Adapter) PostCard(ctx context.Context, room string, c bot.Card) (bot.MessageRef, error) {
	cli, err := a.client()
	if err != nil {
		return "", err
	}
	roomID, err := a.served(room)
	if err != nil {
		return "", err
	}
	content, full := fitCard(c)
	sum := sha256.Sum256([]byte(room + "\x00" + strconv.FormatInt(c.Number, 10) + "\x00" +
		strconv.FormatInt(c.PostID, 10) + "\x00" + strconv.FormatInt(c.At.Unix(), 10) + "\x00" + c.Version))
	txn := "heed-card-" + hex.EncodeToString(sum[:12])
	var resp *mautrix.RespSendEvent
	err = a.call(ctx, "post card", func(ctx context.Context) (err error) {
		resp, err = cli.SendMessageEvent(ctx, roomID, event.EventMessage, content, mautrix.ReqSendEvent{TransactionID: txn})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("matrix: post card #%d: %w", c.Number, err)
	}
	a.remember(resp.EventID, content)
	if len(full) > 0 {
		// The card is up: its posting succeeded whatever happens to the
		// full text, which is tried again after the next sync.
		if err := a.postFullText(ctx, cli, roomID, resp.EventID, c.Number, full); err != nil {
			a.log.Warn("matrix: could not post the full text of a clipped card in its thread; trying again after the next sync", "card", resp.EventID, "err", err)
			a.pendFullText(resp.EventID, fullTextJob{room: roomID, number: c.Number, full: full})
		}
	}
	return bot.MessageRef(resp.EventID), nil
}

// UpdateCard edits the card in place with an m.replace edit. An edit that
// would show exactly what the card already shows is not sent. A card
// whose text is clipped has its full text in its thread, posted once per
// text. An edit or full text the homeserver refuses for good (too large,
// forbidden) returns a bot.PermanentError.
func (a *Adapter) UpdateCard(ctx context.Context, room string, ref bot.MessageRef, c bot.Card) error {
	cli, err := a.client()
	if err != nil {
		return err
	}
	roomID, err := a.served(room)
	if err != nil {
		return err
	}
	content, full := fitCard(c)
	evID := id.EventID(ref)
	a.mu.Lock()
	same := a.lastCard[evID] == contentKey(content)
	a.mu.Unlock()
	if !same {
		txn := cli.TxnID() // one id across rate-limit retries of this edit
		err = a.call(ctx, "edit card", func(ctx context.Context) error {
			_, err := cli.SendMessageEvent(ctx, roomID, event.EventMessage, editContent(evID, content), mautrix.ReqSendEvent{TransactionID: txn})
			return err
		})
		if err != nil {
			err = fmt.Errorf("matrix: edit card #%d: %w", c.Number, err)
			if permanent(err) {
				return bot.Permanent(err)
			}
			return err
		}
		a.remember(evID, content)
	}
	if len(full) > 0 {
		if err := a.postFullText(ctx, cli, roomID, evID, c.Number, full); err != nil {
			if permanent(err) {
				return bot.Permanent(err)
			}
			return err
		}
	}
	return nil
}

func contentKey(c *event.MessageEventContent) string { return c.Body + "\x00" + c.FormattedBody }

func (a *Adapter) remember(ref id.EventID, c *event.MessageEventContent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.lastCard) > 5000 {
		clear(a.lastCard) // only an optimisation: forgetting costs one redundant edit
	}
	a.lastCard[ref] = contentKey(c)
}

// Reply posts text in the thread of thread, or in the room. A reply sent
// again after its send failed keeps its transaction id, so if the first
// send reached the homeserver and only its answer was lost, the reply is
// not posted twice.
func (a *Adapter) Reply(ctx context.Context, room string, thread bot.MessageRef, text string) error {
	cli, err := a.client()
	if err != nil {
		return err
	}
	roomID, err := a.served(room)
	if err != nil {
		return err
	}
	key := room + "\x00" + string(thread) + "\x00" + text
	a.mu.Lock()
	txn, again := a.unsent[key]
	a.mu.Unlock()
	if !again {
		txn = cli.TxnID()
	}
	err = a.call(ctx, "reply", func(ctx context.Context) error {
		_, err := cli.SendMessageEvent(ctx, roomID, event.EventMessage, replyContent(id.EventID(thread), text), mautrix.ReqSendEvent{TransactionID: txn})
		return err
	})
	a.mu.Lock()
	if err == nil {
		delete(a.unsent, key)
	} else {
		if len(a.unsent) > 1000 {
			clear(a.unsent) // only a guard against doubles: forgetting costs at most one
		}
		a.unsent[key] = txn
	}
	a.mu.Unlock()
	if err != nil {
		return fmt.Errorf("matrix: reply: %w", err)
	}
	return nil
}

// CardReactions reads the card's current reactions through the relations
// API (/relations/{card}/m.annotation), following every page. Redacted
// reactions are gone from it, so what it returns is what counts now.
func (a *Adapter) CardReactions(ctx context.Context, room string, ref bot.MessageRef) ([]bot.Event, error) {
	cli, err := a.client()
	if err != nil {
		return nil, err
	}
	roomID, err := a.served(room)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	tr := a.tr
	a.mu.Unlock()
	card := id.EventID(ref)
	var out []bot.Event
	from := ""
	for page := 0; ; page++ {
		if page == 1000 {
			return nil, fmt.Errorf("matrix: card %s has more reaction pages than heed reads", card)
		}
		var resp *mautrix.RespGetRelations
		err := a.call(ctx, "read reactions", func(ctx context.Context) (err error) {
			resp, err = cli.GetRelations(ctx, roomID, card, &mautrix.ReqGetRelations{RelationType: event.RelAnnotation, From: from, Limit: 100})
			return err
		})
		if err != nil {
			if transient(err) {
				a.readFailures.Add(1)
			}
			return nil, fmt.Errorf("matrix: read reactions of %s: %w", card, err)
		}
		for _, evt := range resp.Chunk {
			evt.RoomID = roomID
			if evt.Unsigned.RedactedBecause != nil {
				continue
			}
			// An encrypted annotation keeps its relation in the clear; its
			// key is read once decrypted. One heed cannot decrypt yet is
			// pending, and counted when its key arrives.
			if evt, err = a.decrypt(ctx, roomID, evt, card); err != nil {
				continue
			}
			if ev, ok := tr.reactionEvent(roomID, card, evt); ok {
				out = append(out, ev)
			}
		}
		if resp.NextBatch == "" || len(resp.Chunk) == 0 {
			break
		}
		from = resp.NextBatch
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

// MessageText implements bot.MessageReader: it reads message ref of a
// review room back from the homeserver (decrypting it in an encrypted
// room) and returns its text. Its errors never carry the message's
// content.
func (a *Adapter) MessageText(ctx context.Context, room string, ref bot.MessageRef) (string, error) {
	cli, err := a.client()
	if err != nil {
		return "", err
	}
	roomID, err := a.served(room)
	if err != nil {
		return "", err
	}
	var evt *event.Event
	err = a.call(ctx, "read message", func(ctx context.Context) (err error) {
		evt, err = cli.GetEvent(ctx, roomID, id.EventID(ref))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("the homeserver did not give it: %w", err)
	}
	if evt.Unsigned.RedactedBecause != nil {
		return "", errors.New("it was deleted")
	}
	if evt.Type.Type == event.EventEncrypted.Type {
		if evt, err = a.decryptRead(ctx, roomID, evt); err != nil {
			return "", err
		}
	}
	text, ok := messageText(evt)
	if !ok {
		return "", errors.New("it is not a text message")
	}
	return text, nil
}

// Roster says who may approve in a review room: its explicit approvers,
// then, when the room sets approver_power_level, the users whose power
// level reaches it, as the power levels were last read.
func (a *Adapter) Roster(room string) (approvals.Roster, bool) {
	rc, ok := a.rooms[id.RoomID(room)]
	if !ok {
		return approvals.Roster{}, false
	}
	r := approvals.Roster{Source: "matrix configuration", Approvers: slices.Clone(rc.Approvers), ReadAt: a.now().UTC()}
	if rc.ApproverPowerLevel == nil {
		return r, true
	}
	need := *rc.ApproverPowerLevel
	a.mu.Lock()
	defer a.mu.Unlock()
	pl := a.power[id.RoomID(room)]
	if pl == nil {
		return approvals.Roster{}, false
	}
	r.Source, r.ReadAt = "matrix power levels", a.powerAt[id.RoomID(room)]
	// From room version 12 the creators rank above every power level.
	creators := a.creators[id.RoomID(room)]
	r.Approvers = append(r.Approvers, creators...)
	for u, level := range pl.Users {
		if slices.Contains(creators, string(u)) {
			continue
		}
		if level >= need {
			r.Approvers = append(r.Approvers, string(u))
		} else {
			if r.Refused == nil {
				r.Refused = map[string]string{}
			}
			r.Refused[string(u)] = fmt.Sprintf("power level %d, needs %d", level, need)
		}
	}
	r.Default = pl.UsersDefault >= need
	if !r.Default {
		r.DefaultWhy = fmt.Sprintf("power level %d, needs %d", pl.UsersDefault, need)
	}
	return r, true
}

// seenSet remembers the last n event ids, to drop events delivered twice
// (a repeated /sync after a failure, a gap filled through /messages).
type seenSet struct {
	mu   sync.Mutex
	ids  map[id.EventID]bool
	ring []id.EventID
	next int
}

func newSeenSet(n int) *seenSet {
	return &seenSet{ids: map[id.EventID]bool{}, ring: make([]id.EventID, n)}
}

// has reports whether evID was seen.
func (s *seenSet) has(evID id.EventID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[evID]
}

// add records evID and reports whether it was new.
func (s *seenSet) add(evID id.EventID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids[evID] {
		return false
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.ids, old)
	}
	s.ring[s.next] = evID
	s.next = (s.next + 1) % len(s.ring)
	s.ids[evID] = true
	return true
}
