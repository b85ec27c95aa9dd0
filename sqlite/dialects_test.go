package sqlite_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/heed-dev/heed/internal/heedtest"
	"github.com/heed-dev/heed/internal/pgtest"
	"github.com/heed-dev/heed/sqlite"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// onBoth runs test once on each database the store speaks, as subtests
// named after the dialect: SQLite (a file) and PostgreSQL (a fresh
// database on the cluster internal/pgtest starts). The store's tests
// that are not about one dialect all run through it: they are the
// conformance suite both must pass. Tests of one dialect alone are named
// after it (TestSQLite…, TestPostgres…).
func onBoth(t *testing.T, test func(t *testing.T, o heedtest.Options)) {
	t.Helper()
	t.Run(sqlite.DialectSQLite, func(t *testing.T) {
		test(t, heedtest.Options{DBPath: filepath.Join(t.TempDir(), "heed.db")}) // SQLite whatever HEED_TEST_DATABASE says
	})
	t.Run(sqlite.DialectPostgres, func(t *testing.T) { test(t, heedtest.Options{Postgres: true}) })
}
