package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/heed-dev/heed/approvals"
)

// heed token create prints a secret once, for a configured person only;
// list never shows it (nor its hash); revoke refuses it from then on.
func TestTokenCommands(t *testing.T) {
	dir := t.TempDir()
	db := newDB(t, dir)
	cfg := writeFile(t, dir, "heed.yaml", "people:\n  alice: [U0ALICE]\n  bob: [U0BOB]\n")
	for _, args := range [][]string{{"token", "create"}, {"token", "create", "--person", "mallory"}, {"token", "create", "--person", "U0ALICE"}} {
		out, err := heed(t, db, append([]string{"--config", cfg}, args...)...)
		if err == nil || !strings.Contains(err.Error(), "alice, bob") {
			t.Fatalf("heed %v: %v\n%s", args, err, out)
		}
	}
	out := mustHeed(t, db, "--config", cfg, "token", "create", "--person", "alice")
	secret, note, _ := strings.Cut(out, "\n")
	if !approvals.LooksLikeToken(secret) || !strings.Contains(note, "shown this once") {
		t.Fatalf("token create printed:\n%s", out)
	}
	svc := openService(t, db)
	if person, err := svc.Tokens.Verify(context.Background(), secret); err != nil || person != "alice" {
		t.Fatalf("Verify: %q %v", person, err)
	}
	hash := approvals.TokenHash(secret)
	list := mustHeed(t, db, "--config", cfg, "token", "list")
	listJSON := mustHeed(t, db, "--config", cfg, "token", "list", "--json")
	for _, l := range []string{list, listJSON} {
		if !strings.Contains(l, "alice") || strings.Contains(l, secret) || strings.Contains(l, hash) {
			t.Fatalf("token list:\n%s", l)
		}
	}
	var tokens []approvals.APIToken
	if err := json.Unmarshal([]byte(listJSON), &tokens); err != nil || len(tokens) != 1 || !tokens[0].Revoked.IsZero() {
		t.Fatalf("token list --json: %v %s", err, listJSON)
	}
	if out := mustHeed(t, db, "--config", cfg, "token", "revoke", "1"); !strings.Contains(out, "token 1 revoked") {
		t.Fatalf("revoke: %s", out)
	}
	if _, err := svc.Tokens.Verify(context.Background(), secret); approvals.ErrorCode(err) != approvals.EUNAUTHORIZED {
		t.Fatalf("Verify after revoke: %v", err)
	}
	if _, err := heed(t, db, "--config", cfg, "token", "revoke", "1"); err == nil || !strings.Contains(err.Error(), "revoked already") {
		t.Fatalf("revoke twice: %v", err)
	}
	if _, err := heed(t, db, "--config", cfg, "token", "revoke", "9"); approvals.ErrorCode(err) != approvals.ENOTFOUND {
		t.Fatalf("revoke 9: %v", err)
	}
	if err := json.Unmarshal([]byte(mustHeed(t, db, "--config", cfg, "token", "list", "--json")), &tokens); err != nil || tokens[0].Revoked.IsZero() {
		t.Fatalf("revoked token listed as %+v", tokens)
	}
	audit := mustHeed(t, db, "--config", cfg, "audit")
	if !strings.Contains(audit, "token.create") || !strings.Contains(audit, "token.revoke") || strings.Contains(audit, secret) {
		t.Fatalf("audit:\n%s", audit)
	}
}
