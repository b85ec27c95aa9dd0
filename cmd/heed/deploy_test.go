package main

import (
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	heedapp "github.com/heed-dev/heed/app"
	"github.com/heed-dev/heed/deploy"
)

// composeVar is a compose interpolation: ${NAME}, ${NAME:?message} and
// the like.
var composeVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?+][^}]*)?\}`)

// composeService is what the test reads of a service in compose.yaml.
type composeService struct {
	Build struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	EnvFile     any               `yaml:"env_file"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Command     []string          `yaml:"command"`
	Healthcheck struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	Restart   string         `yaml:"restart"`
	DependsOn map[string]any `yaml:"depends_on"`
}

// TestDeployComposeAgreesWithItsConfig reads deploy/compose.yaml and the
// configuration it mounts: the heed replicas are built from the
// repository's Dockerfile, read the mounted file through HEED_CONFIG,
// reach the compose database as its user through HEED_DATABASE_URL (no
// --db overrides it, in the command or the health check), restart, and
// every variable the files use is in deploy/env.example, whose copy
// (deploy/.env) .dockerignore keeps out of the image; and the mounted
// configuration, with those variables set, passes `heed config check
// --offline`, reads HEED_DATABASE_URL and keeps its media on a volume.
func TestDeployComposeAgreesWithItsConfig(t *testing.T) {
	const deployDir = "../../deploy"
	var compose struct {
		Services map[string]composeService `yaml:"services"`
		Volumes  map[string]any            `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(deploy.Compose, &compose); err != nil {
		t.Fatalf("deploy/compose.yaml: %v", err)
	}
	env := map[string]string{}
	for line := range strings.Lines(string(deploy.EnvExample)) {
		if name, _, ok := strings.Cut(strings.TrimSpace(line), "="); ok && !strings.HasPrefix(line, "#") {
			env[name] = "x" + strings.ToLower(strings.ReplaceAll(name, "_", "")) // a value for the test: letters only
		}
	}
	for name, prefix := range map[string]string{"SLACK_BOT_TOKEN": "xoxb-", "SLACK_APP_TOKEN": "xapp-"} {
		if _, ok := env[name]; ok {
			env[name] = prefix + "1-test"
		}
	}
	interpolate := func(where, s string) string {
		return composeVar.ReplaceAllStringFunc(s, func(v string) string {
			name := composeVar.FindStringSubmatch(v)[1]
			val, ok := env[name]
			if !ok {
				t.Errorf("%s uses ${%s}, which deploy/env.example does not list", where, name)
			}
			return val
		})
	}
	if ignore, err := os.ReadFile("../../.dockerignore"); err != nil || !slices.Contains(strings.Fields(string(ignore)), "deploy/.env") {
		t.Errorf(".dockerignore does not keep deploy/.env (the password) out of the image's build context (%v)", err)
	}
	db, ok := compose.Services["db"]
	if !ok {
		t.Fatal("deploy/compose.yaml has no db service")
	}
	if !strings.Contains(db.Environment["POSTGRES_PASSWORD"], "${HEED_DB_PASSWORD") {
		t.Errorf("the db service's POSTGRES_PASSWORD is %q, want ${HEED_DB_PASSWORD} from deploy/.env", db.Environment["POSTGRES_PASSWORD"])
	}
	if db.Restart == "" || db.Restart == "no" || len(db.Healthcheck.Test) == 0 {
		t.Errorf("the db service: restart %q, health check %q", db.Restart, db.Healthcheck.Test)
	}

	var replicas []string
	for name, s := range compose.Services {
		if name == "db" {
			continue
		}
		replicas = append(replicas, name)
		where := "deploy/compose.yaml: " + name
		if s.Build.Context != ".." || s.Build.Dockerfile != "Dockerfile" {
			t.Errorf("%s is built from %s/%s, want the repository's Dockerfile (../Dockerfile)", where, s.Build.Context, s.Build.Dockerfile)
		}
		if _, err := os.Stat(filepath.Join(deployDir, s.Build.Context, s.Build.Dockerfile)); err != nil {
			t.Errorf("%s: %v", where, err)
		}
		if s.EnvFile != ".env" {
			t.Errorf("%s: env_file %v, want .env (deploy/env.example, copied)", where, s.EnvFile)
		}
		if slices.Contains(s.Command, "--db") || slices.Contains(s.Healthcheck.Test, "--db") {
			t.Errorf("%s: --db in its command %q or health check %q overrides HEED_DATABASE_URL", where, s.Command, s.Healthcheck.Test)
		}
		if !slices.Equal(s.Command, []string{"run"}) {
			t.Errorf("%s: command %q, want [run]", where, s.Command)
		}
		if !slices.Equal(s.Healthcheck.Test, []string{"CMD", "/heed", "healthcheck"}) {
			t.Errorf("%s: health check %q, want [CMD /heed healthcheck]", where, s.Healthcheck.Test)
		}
		if s.Restart == "" || s.Restart == "no" {
			t.Errorf("%s: restart %q: heed run exits when it loses a chat's lease, for its supervisor to restart it", where, s.Restart)
		}
		if _, ok := s.DependsOn["db"]; !ok {
			t.Errorf("%s does not depend on db", where)
		}

		// The configuration file is mounted where HEED_CONFIG says.
		cfgPath := s.Environment["HEED_CONFIG"]
		mounted := ""
		var mounts []string
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) < 2 {
				t.Errorf("%s: volume %q", where, v)
				continue
			}
			mounts = append(mounts, parts[1])
			if parts[1] == cfgPath {
				mounted = parts[0]
				if !slices.Contains(parts[2:], "ro") {
					t.Errorf("%s: the configuration is mounted writable: %q", where, v)
				}
			}
		}
		if cfgPath == "" || mounted != "./heed.yaml" {
			t.Fatalf("%s: HEED_CONFIG %q is not deploy/heed.yaml mounted (volumes %q)", where, cfgPath, s.Volumes)
		}

		// HEED_DATABASE_URL reaches the db service as its user.
		raw := interpolate(where, s.Environment["HEED_DATABASE_URL"])
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("%s: HEED_DATABASE_URL: %v", where, err)
		}
		pw, _ := u.User.Password()
		if u.Scheme != "postgres" || u.Hostname() != "db" || u.User.Username() != db.Environment["POSTGRES_USER"] ||
			strings.TrimPrefix(u.Path, "/") != db.Environment["POSTGRES_DB"] || pw != env["HEED_DB_PASSWORD"] {
			t.Errorf("%s: HEED_DATABASE_URL %s does not name the db service's user %s, database %s and ${HEED_DB_PASSWORD}",
				where, s.Environment["HEED_DATABASE_URL"], db.Environment["POSTGRES_USER"], db.Environment["POSTGRES_DB"])
		}

		// The mounted configuration passes config check with what the
		// container would have, and keeps its media on a volume.
		cfgFile := filepath.Join(t.TempDir(), "heed.yaml")
		if err := os.WriteFile(cfgFile, deploy.Config, 0o600); err != nil {
			t.Fatal(err)
		}
		interpolate("deploy/heed.yaml", string(deploy.Config))
		for name, val := range env {
			t.Setenv(name, val)
		}
		t.Setenv("HEED_DATABASE_URL", raw)
		t.Setenv("HEED_CONFIG", "")
		out, err := heed(t, "", "--config", cfgFile, "config", "check", "--offline")
		if err != nil {
			t.Fatalf("heed config check --offline of deploy/heed.yaml, as %s has it: %v\n%s", name, err, out)
		}
		if strings.Contains(out, env["HEED_DB_PASSWORD"]) {
			t.Errorf("config check printed the database password:\n%s", out)
		}
		c, err := heedapp.LoadConfig(cfgFile)
		if err != nil {
			t.Fatal(err)
		}
		if c.Database != raw {
			t.Errorf("%s: heed reads its database as %s, not HEED_DATABASE_URL", where, c.Database)
		}
		if !slices.ContainsFunc(mounts, func(m string) bool { return c.MediaDir == m || strings.HasPrefix(c.MediaDir, m+"/") }) ||
			!path.IsAbs(c.MediaDir) {
			t.Errorf("%s: media_dir %q is not on a volume the replicas share (%q)", where, c.MediaDir, mounts)
		}
	}
	slices.Sort(replicas)
	if !slices.Equal(replicas, []string{"heed-1", "heed-2"}) {
		t.Errorf("deploy/compose.yaml's heed services: %q, want heed-1 and heed-2", replicas)
	}
}
