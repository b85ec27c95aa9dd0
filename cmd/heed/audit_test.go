package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/heed-dev/heed/approvals"
)

// A CLI action records who acted: the --as name as the identity used, and
// the person the configuration's people say it belongs to (none for a
// name that is nobody's). `heed audit` shows both.
func TestCLIActionRecordsThePerson(t *testing.T) {
	dir := t.TempDir()
	db := newDB(t, dir)
	cfg := writeFile(t, dir, "heed.yaml", "people:\n  alice: [U0ALICE]\n")
	mustHeed(t, db, "--config", cfg, "--as", "alice", "post", "add", "--at", "+1h", "--to", "log", "--text", "Hello")
	mustHeed(t, db, "--config", cfg, "--as", "alice", "pause", "--offline", "--reason", "checking")
	mustHeed(t, db, "--config", cfg, "--as", "root", "resume", "--offline")

	var entries []approvals.AuditEntry
	if err := json.Unmarshal([]byte(mustHeed(t, db, "--config", cfg, "audit", "--json")), &entries); err != nil {
		t.Fatal(err)
	}
	got := map[string]approvals.AuditEntry{}
	for _, e := range entries {
		got[e.Action] = e
	}
	for _, action := range []string{"post.add", "pause"} {
		if e := got[action]; e.Actor != "alice" || e.Identity != "alice" || e.Person != "alice" || e.Place != "cli" {
			t.Errorf("%s: actor %q identity %q person %q place %q, want alice, alice, alice, cli", action, e.Actor, e.Identity, e.Person, e.Place)
		}
	}
	if e := got["resume"]; e.Actor != "root" || e.Identity != "root" || e.Person != "" {
		t.Errorf("resume by a name that is nobody's: identity %q person %q, want root and none", e.Identity, e.Person)
	}
	text := mustHeed(t, db, "--config", cfg, "audit")
	if !strings.Contains(text, "pause              alice (person alice)") {
		t.Errorf("heed audit does not show the person:\n%s", text)
	}
	csv := mustHeed(t, db, "--config", cfg, "audit", "--csv")
	if !strings.HasPrefix(csv, "id,at,actor,identity,person,action,") || !strings.Contains(csv, ",alice,alice,alice,pause,") {
		t.Errorf("heed audit --csv lacks identity and person:\n%s", csv)
	}
}
