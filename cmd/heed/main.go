// Command heed is a chat-ops approval gate for scheduled social-media posts.
// See README.md; `heed help` lists the commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"syscall"

	"github.com/spf13/cobra"

	_ "time/tzdata" // zone names work in images without zoneinfo

	heedapp "github.com/heed-dev/heed/app"
	_ "github.com/heed-dev/heed/app/kinds" // every publisher and chat kind
	"github.com/heed-dev/heed/approvals"
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

	cfg *heedapp.Config
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
		// A command acts for whoever --as names: the audit log records that
		// identity and its person. `heed run` acts for nobody: its chats
		// say who acts.
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			if cmd.Name() != "run" {
				cmd.SetContext(approvals.WithActing(cmd.Context(), a.acting()))
			}
		},
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
	root.PersistentFlags().StringVar(&a.dbPath, "db", a.dbPath, "database: a SQLite file or a postgres:// URL (overrides the config's database and HEED_DATABASE_URL)")
	root.PersistentFlags().StringVar(&a.actor, "as", a.actor, "who you are, for the audit log and as a post's author (default: your user name)")
	root.AddCommand(runCmd(a), postCmd(a), importCmd(a), pauseCmd(a), resumeCmd(a), statusCmd(a),
		resolveCmd(a), auditCmd(a), configCmd(a), migrateCmd(a), versionCmd(a), healthcheckCmd(a), backupCmd(a), tokenCmd(a))
	return root
}

func (a *app) config() (*heedapp.Config, error) {
	if a.cfg != nil {
		return a.cfg, nil
	}
	c, err := heedapp.LoadConfig(a.cfgPath)
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

// acting is who a command acts for: the --as name (or the user name), and
// the person it is among the configuration's people, if the configuration
// can be read (a command that needs it says why not).
func (a *app) acting() approvals.Acting {
	who := a.who()
	act := approvals.Acting{Name: who, Identity: who}
	if c, err := a.config(); err == nil {
		act.Person = c.Person(who)
	}
	return act
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
	svc, cat, err := heedapp.CLIService(ctx, c, a.out)
	if err != nil {
		return nil, nil, err
	}
	a.svc, a.cat = svc, cat
	return svc, cat, nil
}

// store opens the database alone, for commands that need no targets:
// migrate creates and migrates it (create), healthcheck opens only an
// existing one.
func (a *app) store(ctx context.Context, create bool) (*sqlite.Store, *heedapp.Config, error) {
	c, err := a.config()
	if err != nil {
		return nil, nil, err
	}
	st, err := heedapp.OpenStore(ctx, c, create)
	return st, c, err
}

// execute runs the root command and closes the store a command opened.
func (a *app) execute(ctx context.Context, root *cobra.Command) error {
	err := root.ExecuteContext(ctx)
	if a.svc != nil {
		a.svc.Store.Close()
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
			fmt.Fprintf(cmd.OutOrStdout(), "heed %s (publishers: %v)\n", versionString(), publish.Kinds())
			return nil
		},
	}
}
