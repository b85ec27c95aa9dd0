// Command heed is a chat-ops approval gate for scheduled social-media posts.
// See README.md; `heed help` lists the commands.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"os/signal"
	"os/user"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/time/rate"

	_ "time/tzdata" // zone names work in images without zoneinfo

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/dispatch"
	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/sqlite"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{in: os.Stdin, out: os.Stdout, errOut: os.Stderr}
	if err := a.execute(ctx, newRoot(a)); err != nil {
		fmt.Fprintln(os.Stderr, "heed:", userMessage(err))
		os.Exit(1)
	}
}

// userMessage shows domain errors as they are, and anything else with its
// detail (config and I/O errors already read well).
func userMessage(err error) string {
	if approvals.ErrorCode(err) != approvals.EINTERNAL {
		return approvals.ErrorMessage(err)
	}
	return err.Error()
}

// app holds what every command shares.
type app struct {
	cfgPath string
	dbPath  string
	actor   string
	in      io.Reader
	out     io.Writer
	errOut  io.Writer

	cfg *Config
	svc *sqlite.Service // opened by a command through service, closed by execute
	cat *dispatch.Catalog
}

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "heed",
		Short: "A chat-ops approval gate for scheduled social-media posts",
		Long: "heed posts every upcoming scheduled post into the team's chat as a review card.\n" +
			"A post is published only after a person approves that exact content with a reaction,\n" +
			"and anyone can stop all publishing by typing `pause`.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(a.out)
	root.SetErr(a.errOut)
	root.SetIn(a.in)
	// Flag defaults are the app's current values, so an in-process run (the
	// console's `heed ...` lines, tests) keeps what its caller set.
	if a.cfgPath == "" {
		a.cfgPath = os.Getenv("HEED_CONFIG")
	}
	root.PersistentFlags().StringVarP(&a.cfgPath, "config", "c", a.cfgPath, "config file (default: none: heed.db, console chat, log target; env HEED_CONFIG)")
	root.PersistentFlags().StringVar(&a.dbPath, "db", a.dbPath, "database file (overrides the config's database)")
	root.PersistentFlags().StringVar(&a.actor, "as", a.actor, "who you are, for the audit log and as a post's author (default: your user name)")
	root.AddCommand(runCmd(a), postCmd(a), importCmd(a), pauseCmd(a), resumeCmd(a), statusCmd(a),
		resolveCmd(a), auditCmd(a), configCmd(a), migrateCmd(a), versionCmd(a), healthcheckCmd(a))
	return root
}

func (a *app) config() (*Config, error) {
	if a.cfg != nil {
		return a.cfg, nil
	}
	c, err := LoadConfig(a.cfgPath)
	if err != nil {
		return nil, err
	}
	if a.dbPath != "" {
		c.Database = a.dbPath
	}
	a.cfg = c
	return c, nil
}

func (a *app) who() string {
	if a.actor != "" {
		return a.actor
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "cli"
}

// catalog builds every configured target.
func (c *Config) catalog(log *slog.Logger, stdout io.Writer) (*dispatch.Catalog, error) {
	var ts []publish.Target
	for _, name := range sortedNames(c.Targets) {
		t := maps.Clone(c.Targets[name])
		for _, k := range targetSafeguardKeys {
			delete(t, k) // the safeguards' keys, read by buildSafeguards
		}
		lim, err := limiter(name, t)
		if err != nil {
			return nil, err
		}
		account, err := accountURL(name, t)
		if err != nil {
			return nil, err
		}
		p, err := publish.New(publish.Config{Name: name, Kind: kindOf(t), Decode: c.decoder(t), Logger: log.With("target", name), Stdout: stdout})
		if err != nil {
			return nil, err
		}
		ts = append(ts, publish.Target{Name: name, Kind: kindOf(t), Publisher: p, Limiter: lim, AccountURL: account})
	}
	return dispatch.NewCatalog(ts...), nil
}

// accountURL takes account_url out of a target's settings: the account's
// page, shown when an outcome is unknown so a person knows where to check.
func accountURL(name string, t map[string]any) (string, error) {
	v, ok := t["account_url"]
	delete(t, "account_url")
	if !ok {
		return "", nil
	}
	s, _ := v.(string)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("targets.%s: account_url %q is not an http(s) URL", name, s)
	}
	return s, nil
}

// limiter takes the dispatcher's own keys out of a target's settings:
// rate_limit (publishes per second, e.g. 0.5) and burst (default 1).
func limiter(name string, t map[string]any) (*rate.Limiter, error) {
	rl, hasRate := t["rate_limit"]
	b, hasBurst := t["burst"]
	delete(t, "rate_limit")
	delete(t, "burst")
	if !hasRate {
		if hasBurst {
			return nil, fmt.Errorf("targets.%s: burst without rate_limit", name)
		}
		return nil, nil
	}
	per, ok := toFloat(rl)
	if !ok || per <= 0 {
		return nil, fmt.Errorf("targets.%s: rate_limit %v: give publishes per second as a positive number, e.g. 0.5", name, rl)
	}
	burst := 1
	if hasBurst {
		f, ok := toFloat(b)
		if !ok || f < 1 || f != float64(int(f)) {
			return nil, fmt.Errorf("targets.%s: burst %v: give a whole number of 1 or more", name, b)
		}
		burst = int(f)
	}
	return rate.NewLimiter(rate.Limit(per), burst), nil
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// roomPolicy returns the policy lookup for a CLI process: the rooms'
// configured policies, without a chat to ask about groups or power levels.
func (c *Config) roomPolicy(room string) approvals.Policy {
	for _, r := range c.Rooms {
		if r.Name == room {
			return r.Policy()
		}
	}
	return c.Rooms[0].Policy()
}

// service opens the store and the domain for a CLI command.
func (a *app) service(ctx context.Context) (*sqlite.Service, *dispatch.Catalog, error) {
	if a.svc != nil {
		return a.svc, a.cat, nil
	}
	c, err := a.config()
	if err != nil {
		return nil, nil, err
	}
	log := slog.New(slog.DiscardHandler)
	cat, err := c.catalog(log, a.out)
	if err != nil {
		return nil, nil, err
	}
	st, err := sqlite.Open(ctx, c.Database)
	if err != nil {
		return nil, nil, err
	}
	svc := sqlite.NewService(st, cat, c.roomPolicy)
	svc.Window = c.ReviewWindow.or(svc.Window)
	svc.Log = log
	guards, err := c.buildSafeguards()
	if err == nil {
		svc.Timing = guards.Check
		err = bot.LoadAdHoc(ctx, guards, svc)
	}
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	a.svc, a.cat = svc, cat
	return svc, cat, nil
}

// store opens the database alone, for commands that need no targets
// (migrate, healthcheck).
func (a *app) store(ctx context.Context) (*sqlite.Store, *Config, error) {
	c, err := a.config()
	if err != nil {
		return nil, nil, err
	}
	st, err := sqlite.Open(ctx, c.Database)
	return st, c, err
}

// execute runs the root command and closes the store a command opened.
func (a *app) execute(ctx context.Context, root *cobra.Command) error {
	err := root.ExecuteContext(ctx)
	if a.svc != nil {
		a.svc.Close()
		a.svc = nil
	}
	return err
}

func versionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print heed's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "heed %s (publishers: %v)\n", version, publish.Kinds())
			return nil
		},
	}
}
