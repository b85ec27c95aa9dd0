package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	heedapp "github.com/heed-dev/heed/app"
	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/dispatch"
	"github.com/heed-dev/heed/sqlite"
)

const leaseName = "dispatcher"

func runCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Run heed: post cards, hear decisions, publish what is approved",
		Long: "Run heed. With no config it uses heed.db, the console chat (type in this terminal)\n" +
			"and the log target, which prints what it would publish.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.run(cmd.Context()) },
	}
}

func (a *app) run(ctx context.Context) error {
	c, err := a.config()
	if err != nil {
		return err
	}
	log := c.Logger()
	cat, err := c.Catalog(log, a.out)
	if err != nil {
		return err
	}
	st, err := heedapp.OpenStore(ctx, c, true)
	if err != nil {
		return err
	}
	defer st.Close()
	if w := permissionWarning(c.Database); w != "" {
		log.Warn(w)
	}
	zone, _ := approvals.LoadZone(c.Zone)

	// The listener is bound before anything starts, so that an address in
	// use stops heed at once.
	var ln net.Listener
	if c.HTTP.Listen != "" {
		if ln, err = net.Listen("tcp", c.HTTP.Listen); err != nil {
			return fmt.Errorf("http.listen: %w", err)
		}
		defer ln.Close()
	}

	// On SQLite one heed runs per file and holds the dispatcher lease; on
	// PostgreSQL several may run, each a registered replica.
	replicated := st.Dialect() == sqlite.DialectPostgres
	holder := fmt.Sprintf("%s pid %d", hostname(), os.Getpid())
	replica := ""
	if replicated {
		replica = newReplicaID()
		if err := st.RegisterReplica(ctx, approvals.Replica{ID: replica, Host: hostname(), PID: os.Getpid(), Started: time.Now()}); err != nil {
			return err
		}
		defer st.RemoveReplica(context.WithoutCancel(ctx), replica)
		holder = replica
	} else {
		if err := st.AcquireLease(ctx, leaseName, holder, time.Now(), 15*time.Second, holderGone); err != nil {
			return err
		}
		defer st.ReleaseLease(context.WithoutCancel(ctx), leaseName, holder)
	}

	sys, err := heedapp.FromConfig(ctx, c, st, cat, heedapp.Options{Log: log, Runner: holder, Replica: replica,
		Console: heedapp.Console{In: a.in, Out: a.out, User: a.who(), Shell: a.shell}})
	if err != nil {
		return err
	}
	svc, eng, disp := sys.Service, sys.Engine, sys.Dispatcher
	hasConsole := false
	for _, ch := range c.Chats {
		if heedapp.KindOf(ch) == "console" {
			hasConsole = true
		}
	}

	// Whatever a previous run left under way may or may not have gone out.
	if !replicated {
		if n, err := svc.Deliveries.RecoverCrashed(ctx, cat.HonoursKey); err != nil {
			return err
		} else if n > 0 {
			log.Warn("deliveries left under way by a stopped heed are now unknown; a person must resolve them", "count", n)
		}
	}

	if hasConsole {
		listening := ""
		if ln != nil {
			listening = " · http " + ln.Addr().String()
		}
		fmt.Fprintf(a.out, "heed %s is running · database %s · targets %s · zone %s%s\n", versionString(), sqlite.Redact(c.Database), strings.Join(cat.Names(), ", "), zone, listening)
		fmt.Fprintf(a.out, "You are @%s. Type `heed post add --at +1m --to %s --text \"hello\"`, then `/as alice` and `+N ✅`. `pause` stops everything; `help` lists commands.\n",
			a.who(), cat.Names()[0])
	}
	log.Info("heed running", "database", sqlite.Redact(c.Database), "targets", cat.Names(), "chats", len(eng.Adapters))

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if ln != nil {
		// The listener answers until the dispatcher has stopped (its
		// deferred stop runs after the dispatcher's), so /readyz and the
		// chat's endpoint stay up while publishes under way finish.
		httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
		served := make(chan struct{})
		srv := sys.HTTP(c.HTTPOptions())
		go func() {
			defer close(served)
			if err := srv.Serve(httpCtx, ln, 5*time.Second); err != nil {
				cancel(err)
			}
		}()
		defer func() { stopHTTP(); <-served }()
		log.Info("HTTP listener on", "addr", ln.Addr().String())
	}
	poll := c.Poll.Or(500 * time.Millisecond)
	if replicated {
		go heartbeat(ctx, cancel, st, svc, eng, cat, replica, log)
	} else {
		go renewLease(ctx, cancel, st, holder, log)
	}
	dispatched := make(chan struct{})
	go func() {
		defer close(dispatched)
		if err := disp.Run(ctx, poll); err != nil && !errors.Is(err, context.Canceled) {
			cancel(err)
		}
	}()
	// On the way out, publish calls under way finish and are recorded
	// (up to the dispatcher's StopGrace) before the store closes.
	defer func() { cancel(nil); <-dispatched }()
	keep, every := c.RetentionSettings()
	trimmed := make(chan struct{})
	go func() { defer close(trimmed); sys.RunRetention(ctx, keep, every, nil) }()
	defer func() { cancel(nil); <-trimmed }()
	if len(c.Tripwire.Feeds) > 0 {
		// The tripwire runs on its own: a feed that hangs or fails never
		// delays a publishing decision.
		w, err := c.Watcher(log.With("part", "tripwire"), version)
		if err != nil {
			return err
		}
		go func() { _ = eng.Tripwire().Run(ctx, w) }()
		log.Info("news tripwire on", "feeds", len(c.Tripwire.Feeds), "keywords", len(c.Tripwire.Keywords), "auto_pause", c.Tripwire.AutoPause)
	}
	if src, err := c.FeedSource(svc, log.With("part", "feeds"), version); err != nil {
		return err
	} else if src != nil {
		// Feeds are polled on their own: a feed that hangs or fails never
		// delays a publishing decision. Their new items become posts that
		// wait for approval like any other.
		polled := make(chan struct{})
		go func() { defer close(polled); sys.RunFeeds(ctx, src, nil) }()
		defer func() { cancel(nil); <-polled }()
		log.Info("feeds on", "feeds", len(c.Sources.Feeds))
	}
	err = eng.Run(ctx, poll)
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	if errors.Is(err, context.Canceled) {
		log.Info("heed stopped")
		return nil
	}
	return err
}

// renewLease renews the dispatcher lease; if another heed took it (this
// one was suspended too long), it stops this one rather than publish
// alongside it.
func renewLease(ctx context.Context, cancel context.CancelCauseFunc, st *sqlite.Store, holder string, log *slog.Logger) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			err := st.AcquireLease(ctx, leaseName, holder, time.Now(), 15*time.Second, nil)
			switch {
			case err == nil || ctx.Err() != nil:
			case approvals.ErrorCode(err) == approvals.ECONFLICT:
				cancel(fmt.Errorf("lost the dispatcher lease: %w", err))
				return
			default:
				// The store cannot be written (a full disk): nothing can
				// be claimed either. Keep trying; stop only for another
				// heed.
				log.Error("could not renew the dispatcher lease", "err", err)
			}
		}
	}
}

// replicaDead is how long a replica may go without a heartbeat before
// the others take it for stopped, and settle what it left under way.
func replicaDead(lease time.Duration) time.Duration { return max(30*time.Second, 4*lease) }

// heartbeat records this replica's heartbeat and what it holds every
// renewal period, and settles the deliveries that stopped replicas left
// under way (unknown, or retried with their idempotency key). A replica
// that cannot heartbeat for half of replicaDead stops, before the others
// take it for stopped.
func heartbeat(ctx context.Context, cancel context.CancelCauseFunc, st *sqlite.Store, svc *sqlite.Service, eng *bot.Engine, cat *dispatch.Catalog, replica string, log *slog.Logger) {
	dead := replicaDead(eng.Lease)
	t := time.NewTicker(eng.RenewEvery())
	defer t.Stop()
	last := time.Now()
	for {
		now := time.Now()
		if err := st.BeatReplica(ctx, replica, now, eng.Held()); err != nil {
			if ctx.Err() != nil {
				return
			}
			if now.Sub(last) > dead/2 {
				cancel(fmt.Errorf("could not record this replica's heartbeat since %s: %w", last.Format(time.RFC3339), err))
				return
			}
			log.Error("could not record this replica's heartbeat", "err", err)
		} else {
			last = now
			if n, err := svc.Deliveries.RecoverStopped(ctx, cat.HonoursKey, now.Add(-dead)); err != nil && ctx.Err() == nil {
				log.Error("could not settle what stopped replicas left under way", "err", err)
			} else if n > 0 {
				log.Warn("deliveries left under way by a stopped heed replica are now unknown (or retried with their idempotency key); a person must resolve the unknown ones", "count", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// newReplicaID names this run among the replicas: host, pid and a random
// suffix, since a restarted container has the same host and pid.
func newReplicaID() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s pid %d #%s", hostname(), os.Getpid(), hex.EncodeToString(b))
}

// shell runs a `heed ...` line typed into the console, in-process, as the
// console's current user.
func (a *app) shell(ctx context.Context, user string, args []string, out io.Writer) error {
	if len(args) > 0 && args[0] == "run" {
		return errors.New("heed is already running here")
	}
	sub := &app{cfgPath: a.cfgPath, dbPath: a.dbPath, actor: user, in: strings.NewReader(""), out: out, errOut: out}
	root := newRoot(sub)
	root.SetArgs(args)
	if err := sub.execute(ctx, root); err != nil {
		return errors.New(userMessage(err))
	}
	return nil
}

// permissionWarning says when users other than its owner may read or
// write the database: it holds who approved what, and adapters' tokens.
func permissionWarning(path string) string {
	if sqlite.IsPostgres(path) {
		return "" // PostgreSQL's own access control applies
	}
	loose := sqlite.LoosePermissions(path)
	if len(loose) == 0 {
		return ""
	}
	files := make([]string, len(loose))
	for i, l := range loose {
		files[i], _, _ = strings.Cut(l, " (")
	}
	return fmt.Sprintf("others than its owner may read or write the database: %s; run chmod 600 %s", strings.Join(loose, ", "), strings.Join(files, " "))
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown-host"
	}
	return h
}
