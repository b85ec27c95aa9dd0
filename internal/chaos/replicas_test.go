package main

import (
	"strings"
	"testing"
	"time"
)

// TestReplicaOptions: replicas mode needs PostgreSQL and at least two
// replicas (the harness kills only those not holding the console chat),
// and -postgres alone is refused rather than silently running the
// single-heed cycles on SQLite.
func TestReplicaOptions(t *testing.T) {
	ok := options{replicas: 3, postgres: true, posts: 200, window: 20 * time.Second}
	if err := ok.checkReplicas(); err != nil {
		t.Fatalf("%+v: %v", ok, err)
	}
	if err := (options{}).checkReplicas(); err != nil {
		t.Fatalf("the single-heed mode: %v", err)
	}
	for _, c := range []struct {
		o    options
		want string
	}{
		{options{replicas: 3, posts: 1, window: time.Minute}, "needs -postgres"},
		{options{postgres: true}, "runs with -replicas"},
		{options{replicas: 1, postgres: true, posts: 1, window: time.Minute}, "at least 2"},
		{options{replicas: -1}, "0 or more"},
		{options{replicas: 2, postgres: true, posts: 0, window: time.Minute}, "-posts"},
		{options{replicas: 2, postgres: true, posts: 5, window: time.Millisecond}, "-window"},
	} {
		err := c.o.checkReplicas()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error saying %q", c.o, err, c.want)
		}
	}
}

// TestBindPlaceholders: the read-only reader spells placeholders as
// PostgreSQL wants them, and leaves SQLite's alone.
func TestBindPlaceholders(t *testing.T) {
	q := `SELECT count(*) FROM deliveries WHERE occurrence_id = ? AND target IN (?,?)`
	if got := (&db{pg: true}).bind(q); got != `SELECT count(*) FROM deliveries WHERE occurrence_id = $1 AND target IN ($2,$3)` {
		t.Fatalf("postgres: %s", got)
	}
	if got := (&db{}).bind(q); got != q {
		t.Fatalf("sqlite: %s", got)
	}
}
