package app_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heed-dev/heed/app"
	"github.com/heed-dev/heed/internal/pgtest"
	"github.com/heed-dev/heed/sqlite"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestOpenStoreOnPostgres: a postgres:// database is PostgreSQL, created
// by the daemon's open and refused by a command's open until then; its
// media store is heed-media unless media_dir names another.
func TestOpenStoreOnPostgres(t *testing.T) {
	c := defaultConfig(t)
	c.Database = pgtest.URL(t)
	if _, _, err := app.CLIService(t.Context(), c, io.Discard); err == nil || !strings.Contains(err.Error(), "holds no heed database") {
		t.Fatalf("a CLI service on an empty PostgreSQL database: %v", err)
	}
	st, err := app.OpenStore(t.Context(), c, true)
	if err != nil {
		t.Fatal(err)
	}
	if st.Dialect() != sqlite.DialectPostgres || st.Media().Dir() != sqlite.DefaultPostgresMedia {
		t.Errorf("dialect %q, media %q", st.Dialect(), st.Media().Dir())
	}
	st.Close()
	c.MediaDir = filepath.Join(t.TempDir(), "images")
	svc, _, err := app.CLIService(t.Context(), c, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Store.Close()
	if svc.Store.Dialect() != sqlite.DialectPostgres || svc.Store.Media().Dir() != c.MediaDir {
		t.Errorf("CLI service: dialect %q, media %q", svc.Store.Dialect(), svc.Store.Media().Dir())
	}
}

// TestDatabaseFromEnvironment: HEED_DATABASE_URL overrides the
// configuration file's database; a SQLite database keeps its media beside
// the file.
func TestDatabaseFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "heed.yaml")
	if err := os.WriteFile(cfg, []byte("database: "+filepath.Join(dir, "heed.db")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HEED_DATABASE_URL", "postgres://heed@db.example:5432/heed")
	c, err := app.LoadConfig(cfg)
	if err != nil || c.Database != "postgres://heed@db.example:5432/heed" {
		t.Fatalf("database %q, %v", c.Database, err)
	}
	t.Setenv("HEED_DATABASE_URL", "")
	if c, err = app.LoadConfig(cfg); err != nil || c.Database != filepath.Join(dir, "heed.db") {
		t.Fatalf("without HEED_DATABASE_URL: database %q, %v", c.Database, err)
	}
	st, err := app.OpenStore(t.Context(), c, true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Dialect() != sqlite.DialectSQLite || st.Media().Dir() != c.Database+"-media" {
		t.Errorf("dialect %q, media %q", st.Dialect(), st.Media().Dir())
	}
}
