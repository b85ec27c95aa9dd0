package main

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/internal/pgtest"
)

// statusJSON is what `heed status --json` says of the replicas.
type statusJSON struct {
	Replicas []replicaView `json:"replicas"`
	Chats    []chatView    `json:"chats"`
}

func replicasNow(t *testing.T, url string) statusJSON {
	t.Helper()
	var s statusJSON
	if err := json.Unmarshal([]byte(mustHeed(t, url, "status", "--json")), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// waitReplicas polls `heed status` until ok holds of it, for up to 20 s.
func waitReplicas(t *testing.T, url, what string, ok func(statusJSON) bool) statusJSON {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for {
		s := replicasNow(t, url)
		if ok(s) {
			return s
		}
		select {
		case <-deadline:
			t.Fatalf("no %s within 20 s: %+v", what, s)
		case <-tick.C:
		}
	}
}

// holderOf names the replica that holds chat ("" when none).
func holderOf(s statusJSON, chat string) string {
	for _, c := range s.Chats {
		if c.Chat == chat && !c.Lapsed {
			return c.Holder
		}
	}
	return ""
}

// TestPostgresReplicas: two `heed run` on one PostgreSQL database both
// run (on SQLite the second refuses); each registers as a replica, one
// holds the console chat, and `heed status` lists both with what each
// holds and when each was last seen. When the holder stops, the other
// takes the chat over; `heed healthcheck` passes while a replica on this
// host heartbeats.
func TestPostgresReplicas(t *testing.T) {
	url := pgtest.URL(t)
	mustHeed(t, url, "migrate")
	cfg := "media_dir: " + t.TempDir() + "\nchat_lease: 2s\n"
	a := startDaemonOn(t, url, cfg)
	first := waitReplicas(t, url, "the first replica holding the console", func(s statusJSON) bool {
		return len(s.Replicas) == 1 && holderOf(s, "console") != ""
	})
	b := startDaemonOn(t, url, cfg)
	s := waitReplicas(t, url, "two replicas, one holding the console", func(s statusJSON) bool {
		return len(s.Replicas) == 2 && holderOf(s, "console") != ""
	})
	holder := holderOf(s, "console")
	if holder != first.Replicas[0].ID {
		t.Fatalf("the console moved to %s from %s while both ran", holder, first.Replicas[0].ID)
	}
	held := 0
	for _, r := range s.Replicas {
		if !r.Live || r.Seen.IsZero() || r.Host != hostname() {
			t.Errorf("replica %+v: want live, seen, on this host", r)
		}
		if len(r.Holds) > 0 {
			held++
			if r.ID != holder || r.Holds[0] != "console" {
				t.Errorf("replica %s holds %v; the console's holder is %s", r.ID, r.Holds, holder)
			}
		}
	}
	if held != 1 {
		t.Fatalf("%d replicas hold a chat, want 1: %+v", held, s.Replicas)
	}
	text := mustHeed(t, url, "status")
	if strings.Count(text, "replica ") != 2 || !strings.Contains(text, "holds console") || !strings.Contains(text, "last seen") ||
		!strings.Contains(text, "chat console: held by "+holder) {
		t.Fatalf("status does not list the replicas:\n%s", text)
	}
	if out := mustHeed(t, url, "healthcheck"); !strings.HasPrefix(out, "ok: replica ") {
		t.Fatalf("healthcheck: %s", out)
	}

	// The holder stops: the other takes the chat over.
	stopped := time.Now()
	a.stop()
	s = waitReplicas(t, url, "the other replica holding the console", func(s statusJSON) bool {
		h := holderOf(s, "console")
		return h != "" && h != holder
	})
	t.Logf("the console was held by the other replica %s after its holder stopped (chat_lease 2s)", time.Since(stopped).Round(time.Millisecond))
	if len(s.Replicas) != 1 {
		t.Fatalf("a stopped replica is still listed: %+v", s.Replicas)
	}
	b.stop()
}

// TestHealthcheckFailsWithoutTheDatabase: a replica that cannot reach its
// PostgreSQL database is unhealthy, with an error that names it.
func TestHealthcheckFailsWithoutTheDatabase(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there now
	url := fmt.Sprintf("postgres://heed:pw@127.0.0.1:%d/heed?sslmode=disable", port)
	start := time.Now()
	_, err = heed(t, url, "healthcheck")
	if err == nil {
		t.Fatal("healthcheck passed with its database unreachable")
	}
	msg := userMessage(err)
	if !strings.Contains(msg, fmt.Sprint(port)) || strings.Contains(msg, "pw@") {
		t.Fatalf("healthcheck's error does not name the database (or shows its password): %s", msg)
	}
	t.Logf("healthcheck failed after %s: %s", time.Since(start).Round(time.Millisecond), msg)
}
