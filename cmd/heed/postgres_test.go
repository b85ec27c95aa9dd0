package main

import (
	"os"
	"strings"
	"testing"

	"github.com/heed-dev/heed/internal/pgtest"
)

// TestPostgresCLIReachesRunningDaemon is TestCLIReachesRunningDaemon with
// the database in PostgreSQL: `heed run` and the CLI are separate users
// of it, named by a postgres:// URL.
func TestPostgresCLIReachesRunningDaemon(t *testing.T) {
	url := pgtest.URL(t)
	if out := mustHeed(t, url, "migrate"); !strings.Contains(out, "schema version") {
		t.Fatalf("migrate: %s", out)
	}
	cliReachesRunningDaemon(t, startDaemonOn(t, url, "media_dir: "+t.TempDir()+"\n"))
}

// TestPostgresPasswordIsNeverShown: the database URL's password appears
// in no output and no error of heed's commands.
func TestPostgresPasswordIsNeverShown(t *testing.T) {
	const password = "pg-s3cret-xyz" // trust authentication takes any
	url := strings.Replace(pgtest.URL(t), "postgres@", "postgres:"+password+"@", 1)
	var all []string
	for _, args := range [][]string{{"status"}, {"migrate"}, {"config", "check"}, {"status"}, {"healthcheck"}, {"pause", "--reason", "test"}} {
		out, err := heed(t, url, args...)
		all = append(all, out)
		if err != nil {
			all = append(all, err.Error(), userMessage(err))
		}
	}
	joined := strings.Join(all, "\n")
	if strings.Contains(joined, password) {
		t.Fatalf("the password shows:\n%s", joined)
	}
	for _, want := range []string{"holds no heed database", "schema version", "postgres:xxxxx@127.0.0.1"} {
		if !strings.Contains(joined, want) {
			t.Errorf("the output lacks %q:\n%s", want, joined)
		}
	}
}

// TestDatabaseURLFromEnvironment: HEED_DATABASE_URL names the database
// when no --db does, over the configuration file's.
func TestDatabaseURLFromEnvironment(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir()
	cfg := writeFile(t, dir, "heed.yaml", "database: "+dir+"/heed.db\n")
	t.Setenv("HEED_DATABASE_URL", url)
	if out := mustHeed(t, "", "--config", cfg, "migrate"); !strings.Contains(out, url+": schema version") {
		t.Fatalf("migrate with HEED_DATABASE_URL: %s", out)
	}
	if _, err := os.Stat(dir + "/heed.db"); !os.IsNotExist(err) {
		t.Fatalf("the configuration file's database was created: %v", err)
	}
	lite := dir + "/flag.db"
	if out := mustHeed(t, lite, "--config", cfg, "migrate"); !strings.Contains(out, lite+": schema version") {
		t.Fatalf("--db over HEED_DATABASE_URL: %s", out)
	}
}
