package app_test

import (
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/app"
	"github.com/heed-dev/heed/approvals/timing"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/dispatch"
	_ "github.com/heed-dev/heed/publish/logpub" // the default config's log target
	"github.com/heed-dev/heed/sqlite"
)

func openStore(t *testing.T) (*sqlite.Store, string) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "heed.db")
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, db
}

func defaultConfig(t *testing.T) *app.Config {
	t.Helper()
	t.Setenv("TZ", "")
	c, err := app.LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBuildWiresServiceEngineAndDispatcher(t *testing.T) {
	st, _ := openStore(t)
	now := time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
	cat := dispatch.NewCatalog()
	guards := &timing.Safeguards{}
	var err error
	if guards.Sensitive, err = timing.NewSensitive(); err != nil {
		t.Fatal(err)
	}
	known := len(guards.Sensitive.Entries())
	// A day added from chat by an earlier run.
	first, err := app.Build(t.Context(), app.Parts{Store: st, Catalog: cat, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Service.Reviews.AddSensitiveDate(t.Context(), "12-01", "our day", "alice", "test"); err != nil {
		t.Fatal(err)
	}

	rooms := []bot.Room{{Name: "review", Adapter: "console", ID: "console"}}
	sys, err := app.Build(t.Context(), app.Parts{
		Store: st, Catalog: cat, Rooms: rooms, Safeguards: guards, Zone: time.UTC,
		DeafAfter: time.Minute, ReviewWindow: 48 * time.Hour, LateGrace: 5 * time.Minute, MaxAttempts: 3, Workers: 2,
		Runner: "runner", Now: func() time.Time { return now }, Log: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	svc, eng, disp := sys.Service, sys.Engine, sys.Dispatcher
	if svc.Store != st || svc.Targets != cat || eng.Targets != cat || disp.Targets != cat {
		t.Error("store or catalog not shared")
	}
	if eng.Posts != svc.Posts || eng.Reviews != svc.Reviews || eng.Pauses != svc.Pauses || eng.Deliveries != svc.Deliveries ||
		eng.Audit != svc.Audit || eng.State != svc.Store || disp.Deliveries != svc.Deliveries {
		t.Error("engine or dispatcher not on the service")
	}
	if !svc.Derives {
		t.Error("the service does not store derived state")
	}
	if svc.Window != 48*time.Hour || !svc.Now().Equal(now) || !eng.Now().Equal(now) || !disp.Now().Equal(now) {
		t.Errorf("window %v, clocks %v %v %v", svc.Window, svc.Now(), eng.Now(), disp.Now())
	}
	if p := svc.Policy("review"); p.Room != "review" {
		t.Errorf("the service's policy is not the engine's: %+v", p)
	}
	if svc.Timing == nil || eng.Safeguards != guards || eng.Wake == nil || disp.Liveness == nil || disp.Notify == nil {
		t.Error("timing, safeguards, wake, liveness or notify not wired")
	}
	if eng.DeafAfter != time.Minute || eng.Zone != time.UTC || disp.LateGrace != 5*time.Minute ||
		disp.MaxAttempts != 3 || disp.Workers != 2 || disp.Runner != "runner" {
		t.Errorf("settings not passed: %+v %+v", eng, disp)
	}
	if got := len(guards.Sensitive.Entries()); got != known+1 {
		t.Errorf("sensitive days %d, want the %d shipped and the one stored", got, known)
	}
}

func TestFromConfigBuildsTheConsoleDaemon(t *testing.T) {
	c := defaultConfig(t)
	st, _ := openStore(t)
	cat, err := c.Catalog(slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	sys, err := app.FromConfig(t.Context(), c, st, cat, app.Options{Runner: "host pid 1", Log: slog.New(slog.DiscardHandler),
		Console: app.Console{In: strings.NewReader(""), Out: io.Discard, User: "tester"}})
	if err != nil {
		t.Fatal(err)
	}
	eng := sys.Engine
	if len(eng.Adapters) != 1 || eng.Adapters[0].Name() != "console" {
		t.Fatalf("adapters: %v", eng.Adapters)
	}
	if len(eng.Rooms) != 1 || eng.Rooms[0].Adapter != "console" || eng.Rooms[0].Name != "console" || !eng.Rooms[0].Policy.Everyone {
		t.Fatalf("rooms: %+v", eng.Rooms)
	}
	if !sys.Service.Derives || sys.Service.Window != 7*24*time.Hour || eng.Safeguards == nil || eng.Wake == nil {
		t.Error("the daemon's service is not wired as Build wires it")
	}
	if eng.DeafAfter != 2*time.Minute || sys.Dispatcher.LateGrace != 10*time.Minute || sys.Dispatcher.Runner != "host pid 1" {
		t.Errorf("defaults: deaf after %v, late grace %v, runner %q", eng.DeafAfter, sys.Dispatcher.LateGrace, sys.Dispatcher.Runner)
	}
}

func TestCLIServiceStoresFactsOnly(t *testing.T) {
	c := defaultConfig(t)
	_, c.Database = openStore(t) // a CLI command opens an existing database only
	svc, cat, err := app.CLIService(t.Context(), c, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Store.Close()
	if svc.Derives {
		t.Error("a CLI service stores derived state")
	}
	if !slices.Equal(cat.Names(), []string{"log"}) || svc.Targets != cat {
		t.Errorf("catalog: %v", cat.Names())
	}
	if p := svc.Policy("console"); !p.Everyone {
		t.Errorf("policy of the configured room: %+v", p)
	}
	if p := svc.Policy("elsewhere"); !p.Everyone {
		t.Errorf("policy of an unknown room is not the first room's: %+v", p)
	}
	if svc.Timing == nil {
		t.Error("no timing check")
	}
}
