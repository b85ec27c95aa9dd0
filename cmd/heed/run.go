package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/bot/console"
	"github.com/heed-dev/heed/dispatch"
	"github.com/heed-dev/heed/sqlite"
	"github.com/heed-dev/heed/tripwire"
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
	log := c.logger()
	cat, err := c.catalog(log, a.out)
	if err != nil {
		return err
	}
	st, err := sqlite.Open(ctx, c.Database)
	if err != nil {
		return err
	}
	defer st.Close()
	zone, _ := approvals.LoadZone(c.Zone)

	holder := fmt.Sprintf("%s pid %d", hostname(), os.Getpid())
	if err := st.AcquireLease(ctx, leaseName, holder, time.Now(), 15*time.Second); err != nil {
		return err
	}
	defer st.ReleaseLease(context.WithoutCancel(ctx), leaseName, holder)

	var adapters []bot.Adapter
	var con *console.Adapter
	for _, name := range sortedNames(c.Chats) {
		ch := c.Chats[name]
		if kindOf(ch) == "console" {
			con = &console.Adapter{In: a.in, Out: a.out, User: a.who(), Shell: a.shell}
			adapters = append(adapters, con)
			continue
		}
		var ids []string
		for _, r := range c.Rooms {
			if r.Chat == name {
				ids = append(ids, r.ID)
			}
		}
		ad, err := bot.NewAdapter(bot.AdapterConfig{Name: name, Kind: kindOf(ch), Decode: c.decoder(ch), RoomIDs: ids,
			State: st, Log: log.With("chat", name), Now: time.Now})
		if err != nil {
			return err
		}
		adapters = append(adapters, ad)
	}
	var rooms []bot.Room
	for _, r := range c.Rooms {
		adapter := r.Chat
		if kindOf(c.Chats[r.Chat]) == "console" {
			adapter = "console" // the console adapter's Name()
		}
		rooms = append(rooms, bot.Room{Name: r.Name, Adapter: adapter, ID: r.ID, Policy: r.Policy()})
	}
	guards, err := c.buildSafeguards()
	if err != nil {
		return err
	}
	eng := &bot.Engine{Targets: cat, Adapters: adapters, Rooms: rooms, Zone: zone, DeafAfter: c.DeafAfter.or(2 * time.Minute),
		Safeguards: guards, Log: log.With("part", "engine")}
	svc := sqlite.NewService(st, cat, eng.PolicyFor)
	svc.Window = c.ReviewWindow.or(svc.Window)
	svc.Log = log
	svc.Timing = eng.TimingCheck
	svc.Derives = true
	eng.Service = svc
	if err := bot.LoadAdHoc(ctx, guards, svc); err != nil {
		return err
	}
	disp := &dispatch.Dispatcher{
		Service: svc, Targets: cat, Runner: holder, Liveness: eng.Deaf,
		LateGrace: c.LateGrace.or(10 * time.Minute), MaxAttempts: c.MaxAttempts, Workers: c.Workers,
		Log: log.With("part", "dispatcher"),
		Notify: func(ctx context.Context, cl approvals.Claim, out approvals.Outcome) {
			eng.Announce(ctx, cl.Occurrence, cl.Target, out.URL, out.Kind, out.Err)
		},
	}
	eng.Wake = disp.Wake

	// Whatever a previous run left under way may or may not have gone out.
	if n, err := svc.RecoverCrashed(ctx); err != nil {
		return err
	} else if n > 0 {
		log.Warn("deliveries left under way by a stopped heed are now unknown; a person must resolve them", "count", n)
	}

	if con != nil {
		fmt.Fprintf(a.out, "heed %s is running · database %s · targets %s · zone %s\n", version, c.Database, strings.Join(cat.Names(), ", "), zone)
		fmt.Fprintf(a.out, "You are @%s. Type `heed post add --at +1m --to %s --text \"hello\"`, then `/as alice` and `+N ✅`. `pause` stops everything; `help` lists commands.\n",
			a.who(), cat.Names()[0])
	}
	log.Info("heed running", "database", c.Database, "targets", cat.Names(), "chats", len(adapters))

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	poll := c.Poll.or(500 * time.Millisecond)
	go func() {
		// Renew the lease; if another heed took it (this one was suspended
		// too long), stop rather than publish alongside it.
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := st.AcquireLease(ctx, leaseName, holder, time.Now(), 15*time.Second); err != nil && ctx.Err() == nil {
					cancel(fmt.Errorf("lost the dispatcher lease: %w", err))
					return
				}
			}
		}
	}()
	go func() {
		if err := disp.Run(ctx, poll); err != nil && !errors.Is(err, context.Canceled) {
			cancel(err)
		}
	}()
	if len(c.Tripwire.Feeds) > 0 {
		// The tripwire runs on its own: a feed that hangs or fails never
		// delays a publishing decision.
		w, err := tripwire.New(c.tripwireConfig(log.With("part", "tripwire")))
		if err != nil {
			return err
		}
		go func() { _ = eng.RunTripwire(ctx, w) }()
		log.Info("news tripwire on", "feeds", len(c.Tripwire.Feeds), "keywords", len(c.Tripwire.Keywords), "auto_pause", c.Tripwire.AutoPause)
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

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown-host"
	}
	return h
}
