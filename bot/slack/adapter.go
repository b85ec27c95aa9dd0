// Package slack is heed's Slack adapter: it posts review cards with Block
// Kit, turns reactions, messages, button clicks and the /heed slash command
// into bot.Events, schedules posts through a form (the "Schedule with
// heed" message shortcut and `/heed schedule` open a modal: modal.go),
// reads reactions back for reconciliation, and knows approvers from user
// ids and Slack user groups. It connects either over
// Socket Mode (an outbound websocket, the default) or through the Events API
// (signed HTTP requests to /slack/events). It holds no policy: the engine
// decides what every event means.
package slack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/heed-dev/heed/bot"
)

// Adapter is the Slack chat adapter. It implements bot.Adapter,
// bot.Reconciler, bot.ApproverSource and bot.Hearing.
//
// Events reach the engine on two lanes, each one at a time and in order:
// pause and resume on their own, ahead of everything queued on the other
// lane (reactions, clicks, every other message).
type Adapter struct {
	name     string
	cfg      Config
	channels map[string]ChannelConfig
	api      *webAPI
	http     *http.Client
	log      *slog.Logger
	now      func() time.Time
	sleep    func(ctx context.Context, d time.Duration) error
	ping     time.Duration
	shared   bool                     // heed's listener serves the Events API endpoint
	limited  func(wait time.Duration) // told of rate-limit waits (WithRateLimited)
	queue    chan inbound             // every event but pause and resume
	prio     prioQueue                // pause and resume
	normLane lane                     // counts for queue
	prioLane lane                     // counts for prio
	rooms    []string                 // from WithRooms
	seen     *dedup
	groups   groupCache
	users    userCache
	idMu     sync.Mutex
	id       *identity
	// state keeps each channel's read-back mark and open cards across
	// restarts; without it they are kept in memory.
	state bot.StateStore
	marks marks
	cards cardSet
	catch catchState
	recon reconState // the open cards read back on start
	relay relayRef   // the engine's relay, when one of several replicas (UseRelay)
	// keptEvery is how often the holder reads what other replicas kept
	// (0: keptPoll; negative: only when DrainKept is called, as tests do).
	keptEvery time.Duration
	// started is the unix nano time Run began handing events over; zero
	// while it is not running.
	started atomic.Int64
	// dropAt is the unix nano time the live socket was lost, until the
	// next hello; zero while connected.
	dropAt atomic.Int64
	// lastHeard is the unix nano time of the last proof of hearing: a byte
	// read on a live socket, or a signed request.
	lastHeard atomic.Int64
	// liveConn is the socket that said hello, until it is lost; lastDial
	// the connection dialed last.
	liveConn atomic.Pointer[hearingConn]
	lastDial atomic.Pointer[hearingConn]
	// sched is the engine's side of the scheduling form while Run hands
	// events to it (modal.go).
	sched atomic.Pointer[schedRef]
}

var (
	_ bot.Adapter        = (*Adapter)(nil)
	_ bot.Reconciler     = (*Adapter)(nil)
	_ bot.ApproverSource = (*Adapter)(nil)
	_ bot.Hearing        = (*Adapter)(nil)
)

// Option adjusts an Adapter, mostly for tests.
type Option func(*Adapter)

// WithName sets the adapter's name, the chat's name in heed's
// configuration (default "slack").
func WithName(name string) Option { return func(a *Adapter) { a.name = name } }

// WithRooms adds review channels named by heed's rooms configuration to
// those under channels.
func WithRooms(ids ...string) Option { return func(a *Adapter) { a.rooms = append(a.rooms, ids...) } }

// WithClock sets the clock for signature timestamps, liveness and the
// user-group refresh.
func WithClock(now func() time.Time) Option { return func(a *Adapter) { a.now = now } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(a *Adapter) { a.log = l } }

// WithHTTPClient sets the HTTP client for the Web API and response URLs.
func WithHTTPClient(c *http.Client) Option { return func(a *Adapter) { a.http = c } }

// WithSleep replaces the wait between retries (Retry-After, reconnects).
func WithSleep(f func(ctx context.Context, d time.Duration) error) Option {
	return func(a *Adapter) { a.sleep = f }
}

// WithPingTimeout sets how long a socket may stay silent (no ping from
// Slack) before it is considered dead and reopened; default 30 s.
func WithPingTimeout(d time.Duration) Option { return func(a *Adapter) { a.ping = d } }

// WithQueueSize bounds the inbound queue between acknowledging an event
// and handing it to the engine; default 1024. Pause and resume are never
// refused: their own lane has no bound.
func WithQueueSize(n int) Option { return func(a *Adapter) { a.queue = make(chan inbound, n) } }

// WithState keeps the adapter's own state in heed's database: how far each
// review channel was read, and its open cards, so that what was typed
// while heed was stopped is read back on start.
func WithState(st bot.StateStore) Option { return func(a *Adapter) { a.state = st } }

// WithRateLimited has f told of every wait Slack's rate limit asks for
// (an HTTP 429 with Retry-After, or a "ratelimited" answer).
func WithRateLimited(f func(wait time.Duration)) Option { return func(a *Adapter) { a.limited = f } }

// WithSharedListener has heed's own HTTP listener serve the Events API
// endpoint (HTTPEndpoint) in events mode: the adapter does not listen on
// its own address.
func WithSharedListener() Option { return func(a *Adapter) { a.shared = true } }

// New builds the adapter from its configuration.
func New(cfg Config, opts ...Option) (*Adapter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	a := &Adapter{
		name:     "slack",
		cfg:      cfg,
		channels: map[string]ChannelConfig{},
		http:     &http.Client{Timeout: 30 * time.Second},
		log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		now:      time.Now,
		sleep:    sleepCtx,
		ping:     30 * time.Second,
		queue:    make(chan inbound, 1024),
	}
	for _, o := range opts {
		o(a)
	}
	a.log = a.log.WithGroup("slack")
	for _, ch := range cfg.Channels {
		a.channels[ch.ID] = ch
	}
	for _, id := range a.rooms {
		if !channelID.MatchString(id) {
			return nil, fmt.Errorf("slack: room id %q is not a channel id (C… or G…; copy it from the channel's details)", id)
		}
		if _, ok := a.channels[id]; !ok {
			a.channels[id] = ChannelConfig{ID: id}
		}
	}
	if len(a.channels) == 0 {
		return nil, errors.New("slack: no review channel: add a room with this chat and the channel's id (C…)")
	}
	a.seen = newDedup(a.now, 20000, time.Hour)
	a.api = &webAPI{
		c: slackapi.New(cfg.BotToken, slackapi.OptionAPIURL(cfg.APIURL), slackapi.OptionHTTPClient(a.http),
			slackapi.OptionAppLevelToken(cfg.AppToken), slackapi.OptionLog(discardLog{})),
		sleep:   func(ctx context.Context, d time.Duration) error { return a.sleep(ctx, d) },
		log:     a.log,
		secrets: []string{cfg.BotToken, cfg.AppToken, cfg.SigningSecret},
		limited: a.limited,
	}
	a.users.ttl = time.Hour
	a.prio.wake = make(chan struct{}, 1)
	a.catch.init()
	a.recon.init()
	return a, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// discardLog keeps slack-go's own logger quiet; heed logs through slog.
type discardLog struct{}

func (discardLog) Output(int, string) error { return nil }

func init() {
	bot.RegisterAdapter("slack", func(ac bot.AdapterConfig) (bot.Adapter, error) {
		var cfg Config
		if ac.Decode != nil {
			if err := ac.Decode(&cfg); err != nil {
				return nil, err
			}
		}
		opts := []Option{WithRooms(ac.RoomIDs...)}
		if ac.Name != "" {
			opts = append(opts, WithName(ac.Name))
		}
		if ac.Log != nil {
			opts = append(opts, WithLogger(ac.Log))
		}
		if ac.Now != nil {
			opts = append(opts, WithClock(ac.Now))
		}
		if ac.State != nil {
			opts = append(opts, WithState(ac.State))
		}
		if ac.SharedListener {
			opts = append(opts, WithSharedListener())
		}
		if ac.RateLimited != nil {
			opts = append(opts, WithRateLimited(ac.RateLimited))
		}
		return New(cfg, opts...)
	})
}

// Name is the chat's name in heed's configuration ("slack" by default).
func (a *Adapter) Name() string { return a.name }

// Alive is the last time the adapter had proof it can hear Slack: in
// Socket Mode, any frame (ping, envelope) read on a connected socket whose
// acks go out; in events mode, a request with a valid signature.
func (a *Adapter) Alive() time.Time {
	n := a.lastHeard.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func (a *Adapter) heard() { a.lastHeard.Store(a.now().UnixNano()) }

// identity is who the app is in the workspace.
type identity struct {
	UserID string // the bot user (U…)
	BotID  string // the bot (B…)
}

// self returns the bot's identity, asking auth.test once.
func (a *Adapter) self(ctx context.Context) (identity, error) {
	a.idMu.Lock()
	defer a.idMu.Unlock()
	if a.id != nil {
		return *a.id, nil
	}
	var res *slackapi.AuthTestResponse
	err := a.api.call(ctx, "auth.test", func(ctx context.Context) (err error) {
		res, err = a.api.c.AuthTestContext(ctx)
		return err
	})
	if err != nil {
		return identity{}, fmt.Errorf("slack: auth.test: %w", err)
	}
	a.id = &identity{UserID: res.UserID, BotID: res.BotID}
	return *a.id, nil
}

// Run connects and hands events to h until ctx ends. A bad token ends it
// with an error; anything else is retried inside. After every gap (start,
// a new socket, a silence in events mode) it reads back what was typed
// meanwhile, and says it is deaf until that is handled. On start it also
// has h read every open card's reactions back (when h is a
// bot.CardReconciler), and says it is deaf until every card was read.
// Pauses still queued when ctx ends are handled before it returns.
func (a *Adapter) Run(ctx context.Context, h bot.Handler) error {
	a.recon.set(true, "")
	for backoff := time.Second; ; backoff = min(2*backoff, time.Minute) {
		_, err := a.self(ctx)
		var se slackapi.SlackErrorResponse
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return nil
		case errors.As(err, &se):
			return fmt.Errorf("%w (check bot_token)", err) // Slack refused the token
		default:
			a.log.Warn("cannot reach Slack; trying again", "err", err, "in", backoff)
			if a.sleep(ctx, backoff) != nil {
				return nil
			}
			continue
		}
		break
	}
	a.refreshGroups(ctx)
	if err := a.loadState(ctx); err != nil {
		return nil // ctx ended
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if s, ok := h.(bot.Scheduler); ok {
		a.sched.Store(&schedRef{s})
		defer a.sched.Store(nil)
	}
	a.started.Store(a.now().UnixNano())
	defer a.started.Store(0)
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); a.work(ctx, h) }()
	go func() { defer wg.Done(); a.workPriority(ctx, h) }()
	go func() { defer wg.Done(); a.runCatchUp(ctx) }()
	go func() { defer wg.Done(); a.runReconcile(ctx, h) }()
	var err error
	switch a.cfg.Mode {
	case ModeEvents:
		a.askCatchUp()
		if a.relayed() != nil {
			// Requests that reached the other replicas.
			wg.Add(1)
			go func() { defer wg.Done(); a.drainKept(ctx) }()
		}
		if a.shared {
			// heed's listener serves EventsHandler until it stops.
			<-ctx.Done()
			err = ctx.Err()
		} else {
			err = a.serveEvents(ctx)
		}
	default:
		err = a.runSocket(ctx)
	}
	cancel()
	wg.Wait()
	a.lose()
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// webAPI makes Web API calls and waits out rate limits (HTTP 429 with
// Retry-After, or a "ratelimited" answer) before trying the same call
// again, so that nothing is lost and one caller's calls keep their order.
// Slack limits each method on its own, so a wait holds up only the calls
// of the method that hit it: while a chat.update waits out its
// Retry-After, later chat.update calls wait too, and a chat.postMessage
// goes out at once. No lock is held while waiting.
type webAPI struct {
	c       *slackapi.Client
	sleep   func(ctx context.Context, d time.Duration) error
	log     *slog.Logger
	secrets []string
	limited func(wait time.Duration) // told of every rate-limit wait (metrics)

	mu    sync.Mutex
	gates map[string]chan struct{} // method → closed when its rate-limit wait ends
}

// errLimited is callOnce's answer for a method that is waiting out a rate
// limit.
var errLimited = errors.New("slack: rate limited")

func (w *webAPI) call(ctx context.Context, method string, f func(context.Context) error) error {
	for {
		if err := w.waitGate(ctx, method); err != nil {
			return err
		}
		err := f(ctx)
		wait, limited := rateLimited(err)
		if !limited {
			return w.scrub(err)
		}
		w.log.Warn("rate limited; waiting before trying again", "method", method, "retry_after", wait)
		if w.limited != nil {
			w.limited(wait)
		}
		gate, mine := w.shut(method)
		err = w.sleep(ctx, wait)
		if mine {
			w.open(method, gate)
		}
		if err != nil {
			return err
		}
	}
}

// callOnce makes one call that never waits: while the method waits out a
// rate limit, or when the call hits one, it fails with errLimited.
func (w *webAPI) callOnce(ctx context.Context, method string, f func(context.Context) error) error {
	w.mu.Lock()
	shut := w.gates[method] != nil
	w.mu.Unlock()
	if shut {
		return errLimited
	}
	err := f(ctx)
	if _, limited := rateLimited(err); limited {
		return errLimited
	}
	return w.scrub(err)
}

// waitGate waits while method waits out a rate limit.
func (w *webAPI) waitGate(ctx context.Context, method string) error {
	for {
		w.mu.Lock()
		g := w.gates[method]
		w.mu.Unlock()
		if g == nil {
			return nil
		}
		select {
		case <-g:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// shut holds back later calls of method; mine is false when another call
// already did and will let them go.
func (w *webAPI) shut(method string) (gate chan struct{}, mine bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if g := w.gates[method]; g != nil {
		return g, false
	}
	if w.gates == nil {
		w.gates = map[string]chan struct{}{}
	}
	g := make(chan struct{})
	w.gates[method] = g
	return g, true
}

func (w *webAPI) open(method string, gate chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.gates[method] == gate {
		delete(w.gates, method)
	}
	close(gate)
}

// rateLimited reports whether err is Slack's rate limit and how long to wait.
func rateLimited(err error) (time.Duration, bool) {
	var rl *slackapi.RateLimitedError
	if errors.As(err, &rl) {
		return rl.RetryAfter, true
	}
	var se slackapi.SlackErrorResponse
	if errors.As(err, &se) && (se.Err == "ratelimited" || se.Err == "rate_limited") {
		return time.Second, true
	}
	return 0, false
}

// scrub removes any secret from an error's text; slack-go never puts one
// there today, and this keeps it so.
func (w *webAPI) scrub(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range w.secrets {
		if s != "" && strings.Contains(msg, s) {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}

// Mention implements bot.Mentioner: Slack notifies a person named as <@U0123>.
func (a *Adapter) Mention(user string) string { return "<@" + user + ">" }
