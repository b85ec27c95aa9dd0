// Package architecture holds the tests that keep heed's package walls: they
// read the import graph with `go list -deps` and fail on an import that
// crosses a wall.
package architecture

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/heed-dev/heed"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// listPackages returns every package of the module with its imports and
// its whole dependency closure (tests excluded: walls are about what ships).
func listPackages(t *testing.T) map[string]pkg {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not on PATH: %v", err)
	}
	// heed ships built with -tags goolm (pure-Go Olm for encrypted Matrix
	// rooms); without it the Matrix adapter does not build.
	cmd := exec.Command(goTool, "list", "-tags", "goolm", "-deps=false", "-json=ImportPath,Imports,Deps", module+"/...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

// hasPrefixPath reports whether dep is path or a package below it.
func hasPrefixPath(dep, path string) bool { return dep == path || strings.HasPrefix(dep, path+"/") }

func forbidden(deps []string, walls []string) []string {
	var bad []string
	for _, d := range deps {
		for _, w := range walls {
			if hasPrefixPath(d, w) {
				bad = append(bad, d)
			}
		}
	}
	return bad
}

// The domain decides; it stores nothing and talks to no chat or network.
func TestDomainImportsNoStoreChatOrNetwork(t *testing.T) {
	pkgs := listPackages(t)
	walls := []string{
		"database/sql", "modernc.org/sqlite", "github.com/jackc/pgx", "github.com/pressly/goose",
		"github.com/slack-go/slack", "maunium.net/go/mautrix", "github.com/gorilla/websocket",
		"net/http",
		module + "/sqlite", module + "/dispatch", module + "/bot", module + "/publish", module + "/cmd",
		module + "/tripwire",
	}
	for _, name := range []string{module + "/approvals", module + "/approvals/timing"} {
		p, ok := pkgs[name]
		if !ok {
			t.Fatalf("package %s is gone: update this test with the domain's new home", name)
		}
		if bad := forbidden(p.Deps, walls); len(bad) > 0 {
			t.Errorf("%s depends on %v; the domain must stay free of stores, chats and networks", name, bad)
		}
	}
}

// A network package links neither SQL driver nor goose nor the store: the
// publish contract is apart from the dispatcher.
func TestNetworksLinkNoStore(t *testing.T) {
	pkgs := listPackages(t)
	walls := []string{"modernc.org/sqlite", "github.com/jackc/pgx", "github.com/pressly/goose", module + "/sqlite", module + "/dispatch"}
	n := 0
	for name, p := range pkgs {
		if !hasPrefixPath(name, module+"/publish") {
			continue
		}
		n++
		if bad := forbidden(p.Deps, walls); len(bad) > 0 {
			t.Errorf("%s depends on %v", name, bad)
		}
	}
	if n < 10 {
		t.Fatalf("found only %d publish packages", n)
	}
}

// The chat engine, the dispatcher and the HTTP API link no store: they
// hold the domain's service interfaces (approvals.PostService,
// ReviewService, ...), which the wiring fills with the store's.
func TestBotAndDispatchLinkNoStore(t *testing.T) {
	pkgs := listPackages(t)
	walls := []string{"database/sql", "modernc.org/sqlite", "github.com/jackc/pgx", "github.com/pressly/goose", module + "/sqlite"}
	for _, name := range []string{module + "/bot", module + "/dispatch", module + "/httpd/api"} {
		p, ok := pkgs[name]
		if !ok {
			t.Fatalf("package %s is gone: update this test", name)
		}
		if bad := forbidden(p.Deps, walls); len(bad) > 0 {
			t.Errorf("%s depends on %v; it must reach the store only through the approvals interfaces", name, bad)
		}
	}
}

// The chat adapters know nothing of each other.
func TestChatAdaptersAreApart(t *testing.T) {
	pkgs := listPackages(t)
	adapters := []string{module + "/bot/slack", module + "/bot/matrix", module + "/bot/console"}
	for _, a := range adapters {
		p, ok := pkgs[a]
		if !ok {
			t.Fatalf("package %s is gone", a)
		}
		for _, other := range adapters {
			if other == a {
				continue
			}
			if bad := forbidden(p.Deps, []string{other}); len(bad) > 0 {
				t.Errorf("%s depends on %v", a, bad)
			}
		}
	}
}

// The news tripwire only fetches feeds and matches keywords: it knows no
// chat, store, dispatcher or network publisher; the engine feeds its alerts
// in.
func TestTripwireKnowsNoChatOrStore(t *testing.T) {
	pkgs := listPackages(t)
	walls := []string{
		"database/sql", "modernc.org/sqlite", "github.com/jackc/pgx", "github.com/pressly/goose",
		"github.com/slack-go/slack", "maunium.net/go/mautrix", "github.com/gorilla/websocket",
		module + "/sqlite", module + "/dispatch", module + "/bot", module + "/publish", module + "/cmd",
	}
	name := module + "/tripwire"
	p, ok := pkgs[name]
	if !ok {
		t.Fatalf("package %s is gone: update this test with the tripwire's new home", name)
	}
	if bad := forbidden(p.Deps, walls); len(bad) > 0 {
		t.Errorf("%s depends on %v; the tripwire must stay apart from chats, the store and the publishers", name, bad)
	}
}

// The feed source and the feed fetcher know no chat, store, dispatcher or
// network publisher: the source makes posts through the domain's
// services and keeps its items through a small interface the store fills.
func TestFeedsKnowNoChatOrStore(t *testing.T) {
	pkgs := listPackages(t)
	walls := []string{
		"database/sql", "modernc.org/sqlite", "github.com/jackc/pgx", "github.com/pressly/goose",
		"github.com/slack-go/slack", "maunium.net/go/mautrix", "github.com/gorilla/websocket",
		module + "/sqlite", module + "/dispatch", module + "/bot", module + "/publish", module + "/cmd",
		module + "/app", module + "/tripwire",
	}
	for _, name := range []string{module + "/feeds", module + "/internal/feedfetch", module + "/internal/httpwait"} {
		p, ok := pkgs[name]
		if !ok {
			t.Fatalf("package %s is gone: update this test", name)
		}
		if bad := forbidden(p.Deps, walls); len(bad) > 0 {
			t.Errorf("%s depends on %v; feeds must stay apart from chats, the store and the publishers", name, bad)
		}
	}
}

// leaves returns the chat adapter and network packages with their fakes
// and test helpers: every package under bot/ and publish/ but the shared
// ones.
func leaves(t *testing.T, pkgs map[string]pkg) []string {
	t.Helper()
	shared := map[string]bool{
		module + "/bot": true, module + "/publish": true,
		module + "/publish/publishtest": true, module + "/publish/httpx": true, module + "/publish/textlen": true,
	}
	for name := range shared {
		if _, ok := pkgs[name]; !ok {
			t.Errorf("shared package %s is gone: update this test", name)
		}
	}
	var out []string
	for name := range pkgs {
		if shared[name] {
			continue
		}
		if hasPrefixPath(name, module+"/bot") || hasPrefixPath(name, module+"/publish") {
			out = append(out, name)
		}
	}
	if len(out) < 10 {
		t.Fatalf("found only %d adapter and network packages", len(out))
	}
	return out
}

// Only the wiring (app, and app/kinds which links every kind) imports chat
// adapters and networks; a package may import its own subpackages (a
// network's fake).
func TestOnlyWiringImportsAdaptersAndNetworks(t *testing.T) {
	pkgs := listPackages(t)
	leaves := leaves(t, pkgs)
	allowed := map[string]bool{module + "/app": true, module + "/app/kinds": true}
	for name := range allowed {
		if _, ok := pkgs[name]; !ok {
			t.Fatalf("package %s is gone: update this test with the wiring's new home", name)
		}
	}
	for name, p := range pkgs {
		if allowed[name] {
			continue
		}
		for _, imp := range p.Imports {
			for _, leaf := range leaves {
				// A network's or adapter's own fake or test helper
				// (publish/x/xfake, bot/matrix/matrixtest) may import it.
				if imp != leaf || hasPrefixPath(name, leaf) {
					continue
				}
				t.Errorf("%s imports %s; only the wiring may", name, imp)
			}
		}
	}
}

// app links no chat adapter or network but the console: internal/heedtest
// builds its stacks with app, and the Slack and Matrix adapters' own tests
// use internal/heedtest. The kinds are linked by app/kinds.
func TestAppLinksNoKinds(t *testing.T) {
	pkgs := listPackages(t)
	var walls []string
	for _, leaf := range leaves(t, pkgs) {
		if leaf != module+"/bot/console" {
			walls = append(walls, leaf)
		}
	}
	for _, name := range []string{module + "/app", module + "/internal/heedtest"} {
		p, ok := pkgs[name]
		if !ok {
			t.Fatalf("package %s is gone: update this test", name)
		}
		if bad := forbidden(p.Deps, walls); len(bad) > 0 {
			t.Errorf("%s depends on %v; the kinds belong in app/kinds", name, bad)
		}
	}
}

// The media store only writes and reads files: the dispatcher and the chat
// engine read images through it, so it links no SQL driver, goose, store,
// chat or network library (and none of heed's chats, networks or
// dispatcher).
func TestMediaStoreLinksNoStoreChatOrNetwork(t *testing.T) {
	pkgs := listPackages(t)
	walls := []string{
		"database/sql", "modernc.org/sqlite", "github.com/jackc/pgx", "github.com/pressly/goose",
		"github.com/slack-go/slack", "maunium.net/go/mautrix", "github.com/gorilla/websocket",
		module + "/sqlite", module + "/dispatch", module + "/bot", module + "/publish", module + "/cmd",
		module + "/tripwire", module + "/app",
	}
	name := module + "/media"
	p, ok := pkgs[name]
	if !ok {
		t.Fatalf("package %s is gone: update this test with the media store's new home", name)
	}
	if bad := forbidden(p.Deps, walls); len(bad) > 0 {
		t.Errorf("%s depends on %v; the media store must stay apart from the database, chats and networks", name, bad)
	}
}

// The web view reads and calls the domain through the approvals service
// interfaces and small interfaces of its own, which the wiring fills: it
// links no store, no chat adapter and no network, so that what it may do
// is what those interfaces offer.
func TestWebViewLinksNoStoreChatOrNetwork(t *testing.T) {
	pkgs := listPackages(t)
	walls := []string{
		"database/sql", "modernc.org/sqlite", "github.com/jackc/pgx", "github.com/pressly/goose",
		"github.com/slack-go/slack", "maunium.net/go/mautrix", "github.com/chromedp",
		module + "/sqlite", module + "/dispatch", module + "/bot/slack", module + "/bot/matrix", module + "/bot/console",
		module + "/publish", module + "/cmd", module + "/app",
	}
	name := module + "/web"
	p, ok := pkgs[name]
	if !ok {
		t.Fatalf("package %s is gone: update this test with the web view's new home", name)
	}
	if bad := forbidden(p.Deps, walls); len(bad) > 0 {
		t.Errorf("%s depends on %v; the web view must reach the store and the chats only through the interfaces the wiring fills", name, bad)
	}
}
