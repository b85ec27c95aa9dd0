package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/httpd"
)

// heedCfg runs one CLI command with a config file.
func heedCfg(t *testing.T, cfg string, args ...string) (string, error) {
	t.Helper()
	var out strings.Builder
	a := &app{cfgPath: cfg, actor: "tester", in: strings.NewReader(""), out: &out, errOut: &out}
	root := newRoot(a)
	root.SetArgs(args)
	err := a.execute(t.Context(), root)
	return out.String(), err
}

// TestHealthcheckCreatesNothing: healthcheck on a path with no database
// creates none, and on an empty file migrates nothing: the file stays
// empty and no -wal or -shm file appears beside it.
func TestHealthcheckCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	if _, err := heed(t, missing, "healthcheck"); err == nil || !strings.Contains(userMessage(err), "no heed database at "+missing) {
		t.Fatalf("healthcheck on a missing database: %v", err)
	}
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := heed(t, empty, "healthcheck"); err == nil {
		t.Fatal("healthcheck on an empty file passed")
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if fi, err := os.Stat(empty); err != nil || fi.Size() != 0 || len(names) != 1 {
		t.Fatalf("healthcheck changed the directory: %v (%v)", names, err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("healthcheck created %s", missing)
	}
}

// TestHealthcheckAsksReadyz: with http.listen configured, healthcheck asks
// heed's /readyz and fails with its reasons when heed is not ready.
func TestHealthcheckAsksReadyz(t *testing.T) {
	ready := make(chan []httpd.Check, 1)
	srv := httpd.New(httpd.Options{Ready: func(context.Context) []httpd.Check {
		c := <-ready
		return c
	}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, time.Second) }()
	t.Cleanup(func() { cancel(); <-done })
	dir := t.TempDir()
	// No database exists: the listener's answer is all that counts.
	cfg := writeFile(t, dir, "heed.yaml", "database: "+filepath.Join(dir, "none.db")+"\nhttp:\n  listen: "+ln.Addr().String()+"\n")

	ready <- []httpd.Check{{Name: "store", OK: true}, {Name: "chat slack", Reason: "the slack chat has not connected yet"}}
	if _, err := heedCfg(t, cfg, "healthcheck"); err == nil || !strings.Contains(userMessage(err), "chat slack: the slack chat has not connected yet") {
		t.Fatalf("healthcheck with a deaf chat: %v", err)
	}
	ready <- []httpd.Check{{Name: "store", OK: true}, {Name: "dispatcher", OK: true}}
	if out, err := heedCfg(t, cfg, "healthcheck"); err != nil || !strings.Contains(out, "ok: ready") {
		t.Fatalf("healthcheck when ready: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "none.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("healthcheck created the database")
	}
	cancel()
	<-done
	done <- nil
	if _, err := heedCfg(t, cfg, "healthcheck"); err == nil || !strings.Contains(userMessage(err), "heed does not answer at") {
		t.Fatalf("healthcheck with heed stopped: %v", err)
	}
}

// TestRunServesTheListener: heed run with http.listen answers /healthz
// and /readyz on it while it runs, and the listener is closed once heed
// has stopped.
func TestRunServesTheListener(t *testing.T) {
	d := startDaemonWith(t, "http:\n  listen: 127.0.0.1:0\n")
	_, addr, ok := strings.Cut(d.banner, " · http ")
	if !ok {
		t.Fatalf("the banner does not name the listener: %s", d.banner)
	}
	// The listener is bound before heed says it is running: no wait.
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var rep httpd.Report
		err = json.NewDecoder(resp.Body).Decode(&rep)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if path == "/readyz" {
			var names []string
			for _, c := range rep.Checks {
				names = append(names, c.Name)
			}
			if got := strings.Join(names, ","); got != "store,chat console,dispatcher" {
				t.Fatalf("/readyz checks: %s", got)
			}
		} else if resp.StatusCode != http.StatusOK || rep.Status != "ok" {
			t.Fatalf("/healthz: %d %+v", resp.StatusCode, rep)
		}
	}
	d.stop()
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("the listener still accepts after heed stopped")
	}
}
