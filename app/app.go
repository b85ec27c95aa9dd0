// Package app wires heed: the configuration file (Config), and the running
// system built from its parts (Build) — the store's domain services, the
// chat engine and the dispatcher. `heed run` builds it from a Config
// (FromConfig), a CLI command gets its services from CLIService, and
// internal/heedtest builds the same system from test parts.
//
// Publisher and chat kinds are looked up by name; a program that builds
// from a Config imports app/kinds to link them all.
package app

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/approvals/timing"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/bot/console"
	"github.com/heed-dev/heed/dispatch"
	"github.com/heed-dev/heed/metrics"
	"github.com/heed-dev/heed/sqlite"
)

// Parts are what a running heed is built from. Zero values take the
// defaults of the service, engine and dispatcher.
type Parts struct {
	Store    *sqlite.Store
	Catalog  *dispatch.Catalog
	Adapters []bot.Adapter
	Rooms    []bot.Room
	// Safeguards are the timing safeguards; nil turns them off.
	Safeguards   *timing.Safeguards
	Zone         *time.Location // the team's zone (default UTC)
	DeafAfter    time.Duration  // publishing holds when a chat is silent this long (default 2m)
	ReviewWindow time.Duration  // how far ahead occurrences get a card (default 7 days)
	SeriesCards  int            // upcoming occurrences of a recurring post with a card (default 3)
	LateGrace    time.Duration  // how late after its time a post may still go out (default 10m)
	StopGrace    time.Duration  // how long publish calls under way may finish once heed stops (default 30s)
	MaxAttempts  int            // per target for retryable errors (default 5)
	Workers      int            // publishes at once (default 32)
	Runner       string         // the dispatcher's name, recorded on claims
	// Replica, when set, makes this heed one of several replicas on one
	// PostgreSQL database, by that name: it holds a chat only while it
	// holds the chat's lease in the database (bot.ChatLeases).
	Replica   string
	ChatLease time.Duration // a chat lease's length (default bot.DefaultLease)
	Now       func() time.Time
	Log       *slog.Logger // default slog.Default()
	// Metrics are counted into; default: new ones. The wiring has them
	// read the database and the engine at every scrape.
	Metrics *metrics.Metrics
}

// System is a running heed's domain services, chat engine and dispatcher.
type System struct {
	Service    *sqlite.Service
	Engine     *bot.Engine
	Dispatcher *dispatch.Dispatcher
	Store      *sqlite.Store
	Metrics    *metrics.Metrics

	log *slog.Logger
	now func() time.Time
}

// Build wires the services, the engine and the dispatcher: the services
// ask the engine for room policies and timing checks and store derived
// state; the dispatcher holds while the engine is deaf and reports every
// outcome to it; the engine wakes the dispatcher. It loads the ad-hoc
// sensitive dates stored in the database into the safeguards.
func Build(ctx context.Context, p Parts) (*System, error) {
	log := p.Log
	if log == nil {
		log = slog.Default()
	}
	eng := &bot.Engine{Targets: p.Catalog, Adapters: p.Adapters, Rooms: p.Rooms, Zone: p.Zone, DeafAfter: p.DeafAfter,
		Safeguards: p.Safeguards, Now: p.Now, Log: log.With("part", "engine")}
	if p.Replica != "" {
		eng.Leases, eng.Replica, eng.Lease = p.Store, p.Replica, p.ChatLease
		// A chat's requests may reach any replica: those that reach one
		// not holding the chat are kept in the database for its holder.
		for _, a := range p.Adapters {
			if r, ok := a.(bot.Relayed); ok {
				r.UseRelay(eng.Relay(p.Store))
			}
		}
	}
	svc := sqlite.NewService(p.Store, p.Catalog, eng.PolicyFor)
	if p.ReviewWindow != 0 {
		svc.Window = p.ReviewWindow
	}
	if p.SeriesCards != 0 {
		svc.SeriesCards = p.SeriesCards
	}
	if p.Now != nil {
		svc.Now = p.Now
	}
	svc.Log = log
	eng.SeriesCards = svc.SeriesCards
	svc.Timing = eng.TimingCheck
	svc.Derives = true
	eng.Posts, eng.Reviews, eng.Pauses = svc.Posts, svc.Reviews, svc.Pauses
	eng.Deliveries, eng.Audit, eng.State = svc.Deliveries, svc.Audit, svc.Store
	// Images are read from the media store beside the database only.
	eng.Images = p.Store
	attachStore(p.Catalog, p.Store)
	if err := bot.LoadAdHoc(ctx, p.Safeguards, svc.Reviews); err != nil {
		return nil, err
	}
	disp := &dispatch.Dispatcher{
		Deliveries: svc.Deliveries, Targets: p.Catalog, Media: p.Store.Media(), Runner: p.Runner, Liveness: eng.Deaf,
		LateGrace: p.LateGrace, StopGrace: p.StopGrace, MaxAttempts: p.MaxAttempts, Workers: p.Workers,
		Now: p.Now, Log: log.With("part", "dispatcher"),
		Notify: func(ctx context.Context, cl approvals.Claim, out approvals.Outcome) {
			eng.Cards().Announce(ctx, cl.Occurrence, cl.Target, out.URL, out.Kind, out.Err)
		},
	}
	eng.Wake = disp.Wake
	now := p.Now
	if now == nil {
		now = time.Now
	}
	m := p.Metrics
	if m == nil {
		m = metrics.New()
	}
	disp.Observer = m
	sys := &System{Service: svc, Engine: eng, Dispatcher: disp, Store: p.Store, Metrics: m, log: log, now: now}
	m.Read(sys.snapshot)
	return sys, nil
}

// DatabaseUser is a publisher that keeps state of its own in heed's
// database (the matrix target keeps its encryption keys there). The wiring
// hands it the store's *sql.DB once the store is open. It must write
// nothing before it publishes, so that a catalog built without a store
// (`heed config check`) touches no database.
type DatabaseUser interface {
	UseDatabase(db *sql.DB)
}

// attachStore gives the catalog's targets what lives in and beside the
// store: the media store, whose copies of images validation reads, and the
// database, to the publishers that keep state there. Build and CLIService
// both call it.
func attachStore(cat *dispatch.Catalog, st *sqlite.Store) {
	cat.SetMedia(st.Media())
	for _, name := range cat.Names() {
		t, _ := cat.Get(name)
		if u, ok := t.Publisher.(DatabaseUser); ok {
			u.UseDatabase(st.DB())
		}
	}
}

// Options are what FromConfig takes besides the config, the store and the
// catalog.
type Options struct {
	Log    *slog.Logger // default: the config's logger
	Runner string       // the dispatcher's name, recorded on claims
	// Replica names this heed among the replicas sharing a PostgreSQL
	// database; "" runs it alone.
	Replica string
	Console Console // the terminal of a console chat, if one is configured
}

// Console is the terminal a console chat reads and writes.
type Console struct {
	In   io.Reader
	Out  io.Writer
	User string // who types at first
	// Shell runs a `heed ARGS...` line typed into the console as user.
	Shell func(ctx context.Context, user string, args []string, out io.Writer) error
}

// FromConfig builds the configured chats and rooms and wires them with the
// store and the catalog (Build). Chats other than the console connect
// through their registered kinds.
func FromConfig(ctx context.Context, c *Config, st *sqlite.Store, cat *dispatch.Catalog, o Options) (*System, error) {
	log := o.Log
	if log == nil {
		log = c.Logger()
	}
	zone, _ := approvals.LoadZone(c.Zone)
	m := metrics.New()
	var adapters []bot.Adapter
	for _, name := range SortedNames(c.Chats) {
		ch := c.Chats[name]
		if KindOf(ch) == "console" {
			adapters = append(adapters, &console.Adapter{In: o.Console.In, Out: o.Console.Out, User: o.Console.User, Shell: o.Console.Shell})
			continue
		}
		var ids []string
		for _, r := range c.Rooms {
			if r.Chat == name {
				ids = append(ids, r.ID)
			}
		}
		ad, err := bot.NewAdapter(bot.AdapterConfig{Name: name, Kind: KindOf(ch), Decode: c.Decoder(ch), RoomIDs: ids,
			State: st, SharedListener: c.SharesListener(name), Log: log.With("chat", name), Now: time.Now,
			RateLimited: func(wait time.Duration) { m.ChatRateLimited(name, wait) }})
		if err != nil {
			return nil, err
		}
		adapters = append(adapters, ad)
	}
	var rooms []bot.Room
	for _, r := range c.Rooms {
		adapter := r.Chat
		if KindOf(c.Chats[r.Chat]) == "console" {
			adapter = "console" // the console adapter's Name()
		}
		rooms = append(rooms, bot.Room{Name: r.Name, Adapter: adapter, ID: r.ID, Policy: c.RoomPolicy(r)})
	}
	guards, err := c.Safeguards()
	if err != nil {
		return nil, err
	}
	return Build(ctx, Parts{
		Store: st, Catalog: cat, Adapters: adapters, Rooms: rooms, Safeguards: guards, Zone: zone,
		DeafAfter: c.DeafAfter.Or(2 * time.Minute), ReviewWindow: time.Duration(c.ReviewWindow), SeriesCards: c.SeriesCards,
		LateGrace: c.LateGrace.Or(10 * time.Minute), StopGrace: c.ShutdownGrace.Or(30 * time.Second), MaxAttempts: c.MaxAttempts, Workers: c.Workers,
		Runner: o.Runner, Replica: o.Replica, ChatLease: time.Duration(c.ChatLease), Log: log, Metrics: m,
	})
}

// OpenStore opens the configured database (Config.Database: a SQLite
// file or a PostgreSQL URL) with its media store. create is for `heed
// run` and `heed migrate`, which create and migrate it; every other
// command opens only an existing database whose schema is this heed's.
func OpenStore(ctx context.Context, c *Config, create bool) (*sqlite.Store, error) {
	open := sqlite.OpenExisting
	if create {
		open = sqlite.Open
	}
	st, err := open(ctx, c.Database)
	if err != nil {
		return nil, err
	}
	if c.MediaDir != "" {
		st.SetMediaDir(c.MediaDir)
	}
	return st, nil
}

// CLIService builds the catalog, opens the store and returns the domain
// services for one CLI command. Their policies are the rooms' configured
// ones (no chat is asked about groups or power levels) and they store facts
// only: derived state is the daemon's. Publishers that print write to
// stdout.
func CLIService(ctx context.Context, c *Config, stdout io.Writer) (*sqlite.Service, *dispatch.Catalog, error) {
	log := slog.New(slog.DiscardHandler)
	cat, err := c.Catalog(log, stdout)
	if err != nil {
		return nil, nil, err
	}
	st, err := OpenStore(ctx, c, false)
	if err != nil {
		return nil, nil, err
	}
	attachStore(cat, st)
	svc := sqlite.NewService(st, cat, c.roomPolicy)
	svc.Window = c.ReviewWindow.Or(svc.Window)
	if c.SeriesCards != 0 {
		svc.SeriesCards = c.SeriesCards
	}
	svc.Log = log
	guards, err := c.Safeguards()
	if err == nil {
		svc.Timing = guards.Check
		err = bot.LoadAdHoc(ctx, guards, svc.Reviews)
	}
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return svc, cat, nil
}
