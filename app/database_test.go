package app_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/heed-dev/heed/app"
	"github.com/heed-dev/heed/dispatch"
	"github.com/heed-dev/heed/publish"
	_ "github.com/heed-dev/heed/publish/matrixpub" // the matrix target keeps its encryption keys in heed's database
)

// dbPublisher records the database the wiring hands it.
type dbPublisher struct{ db *sql.DB }

func (p *dbPublisher) Publish(context.Context, publish.Request) (publish.Result, error) {
	return publish.Result{}, nil
}
func (p *dbPublisher) UseDatabase(db *sql.DB) { p.db = db }

// Build (hence heed run and internal/heedtest) hands a publisher that
// keeps state in heed's database the store's own *sql.DB.
func TestBuildHandsPublishersHeedsDatabase(t *testing.T) {
	st, _ := openStore(t)
	p := &dbPublisher{}
	cat := dispatch.NewCatalog(publish.Target{Name: "keeper", Kind: "keeper", Publisher: p})
	if _, err := app.Build(t.Context(), app.Parts{Store: st, Catalog: cat}); err != nil {
		t.Fatal(err)
	}
	if p.db != st.DB() {
		t.Errorf("Build handed the publisher %p, want the store's database %p", p.db, st.DB())
	}
}

// The matrix target is such a publisher, and building it (as `heed config
// check` does) needs no database and creates none.
func TestMatrixTargetTakesTheDatabase(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "heed.db")
	t.Setenv("HEED_T_PICKLE", "0123456789abcdef0123456789abcdef")
	c, err := app.LoadConfig(writeConfig(t, "database: "+db+"\ntargets:\n  announce:\n    kind: matrix\n    homeserver: https://matrix.example.org\n"+
		"    access_token: syt_token\n    room: '!news:example.org'\n    pickle_key: ${HEED_T_PICKLE}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := c.Catalog(slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	tg, _ := cat.Get("announce")
	if _, ok := tg.Publisher.(app.DatabaseUser); !ok {
		t.Fatalf("the matrix target (%T) does not take heed's database", tg.Publisher)
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("building the catalog touched the database: %v", err)
	}
}
