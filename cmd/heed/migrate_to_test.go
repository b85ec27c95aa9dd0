package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	heedapp "github.com/heed-dev/heed/app"
	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/internal/pgtest"
	"github.com/heed-dev/heed/sqlite"
)

// TestMigrateToPostgresCopiesEverything: `heed migrate --to` copies a
// SQLite database into an empty PostgreSQL one (heed's tables and the
// Matrix crypto and state stores'), checks the counts, and leaves a
// database heed goes on with: the posts, the audit log and a pause are
// there, and a new post gets a fresh id.
func TestMigrateToPostgresCopiesEverything(t *testing.T) {
	db := newDB(t, t.TempDir())
	for _, text := range []string{"one", "two", "three"} {
		mustHeed(t, db, "post", "add", "--at", "+1h", "--to", "log", "--text", text)
	}
	mustHeed(t, db, "post", "cancel", "2")
	mustHeed(t, db, "pause", "--reason", "moving house", "--offline")
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	if err := heedapp.PrepareTables(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().Exec(`INSERT INTO mx_room_state (room_id, encryption, members_fetched) VALUES ('!r:hs', '{"algorithm":"m.megolm.v1.aes-sha2"}', 1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().Exec(`INSERT INTO mx_user_profile (room_id, user_id, membership, displayname) VALUES ('!r:hs', '@alice:hs', 'join', 'Alice')`); err != nil {
		t.Fatal(err)
	}
	// The HTTP API's tables: a token and an idempotency key.
	if _, err := st.DB().Exec(`INSERT INTO api_tokens (person, hash, created_at) VALUES ('alice', 'h1', 1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().Exec(`INSERT INTO api_idempotency (person, key, request_hash, post_id, created_at) VALUES ('alice', 'k1', 'r1', 1, 1)`); err != nil {
		t.Fatal(err)
	}
	if err := st.SetKV(t.Context(), "matrix/sync", "s42"); err != nil {
		t.Fatal(err)
	}
	feedAt := time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
	if _, err := st.ClaimFeedItems(t.Context(), []approvals.FeedItem{{Feed: "blog", Key: "", FirstSeen: feedAt}, {Feed: "blog", Key: "post-1", Hash: "h1", PostID: 1, FirstSeen: feedAt}}); err != nil {
		t.Fatal(err)
	}
	for i := range 450 { // more rows than one INSERT of the copy carries
		if err := st.SetKV(t.Context(), fmt.Sprintf("bulk/%03d", i), strings.Repeat("x", i)); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	beforeList := mustHeed(t, db, "post", "list", "--json")
	beforeAudit := mustHeed(t, db, "audit")

	url := pgtest.URL(t)
	out := mustHeed(t, db, "migrate", "--to", url)
	for _, want := range []string{"each table's count checked", "posts", "audit", "mx_room_state", "media_dir:"} {
		if !strings.Contains(out, want) {
			t.Errorf("migrate --to says nothing of %q:\n%s", want, out)
		}
	}
	if got := mustHeed(t, url, "post", "list", "--json"); got != beforeList {
		t.Errorf("posts on PostgreSQL:\n%s\nwant\n%s", got, beforeList)
	}
	if got := mustHeed(t, url, "audit"); got != beforeAudit {
		t.Errorf("audit on PostgreSQL:\n%s\nwant\n%s", got, beforeAudit)
	}
	if got := mustHeed(t, url, "status"); !strings.Contains(got, "moving house") {
		t.Errorf("the pause did not move:\n%s", got)
	}
	if id := strings.TrimSpace(mustHeed(t, url, "post", "add", "--at", "+2h", "--to", "log", "--text", "four")); id != "4" && id != "5" {
		t.Errorf("a new post on PostgreSQL got id %s, want a fresh one after 3", id)
	}
	pg, err := sqlite.OpenExisting(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if v, _ := pg.GetKV(t.Context(), "matrix/sync"); v != "s42" {
		t.Errorf("kv: %q", v)
	}
	for _, i := range []int{0, 199, 200, 449} {
		if v, _ := pg.GetKV(t.Context(), fmt.Sprintf("bulk/%03d", i)); v != strings.Repeat("x", i) {
			t.Errorf("kv bulk/%03d: %d bytes", i, len(v))
		}
	}
	var key string
	if err := pg.DB().QueryRow(`SELECT i.key FROM api_idempotency i JOIN api_tokens t ON t.person = i.person WHERE t.hash = 'h1'`).Scan(&key); err != nil || key != "k1" {
		t.Errorf("the API's tables: %q %v", key, err)
	}
	if tk, _, err := sqlite.NewService(pg, nil, nil).Tokens.CreateToken(t.Context(), "bob", "tester", "cli"); err != nil || tk.ID != 2 {
		t.Errorf("a new token on PostgreSQL: id %d %v, want 2", tk.ID, err)
	}
	if items, err := pg.FeedItems(t.Context(), "blog"); err != nil || len(items) != 2 || items["post-1"].PostID != 1 || !items["post-1"].FirstSeen.Equal(feedAt) {
		t.Errorf("feed_items: %+v, %v", items, err)
	}
	var enc string
	var fetched bool
	if err := pg.DB().QueryRow(`SELECT encryption::text, members_fetched FROM mx_room_state WHERE room_id = '!r:hs'`).Scan(&enc, &fetched); err != nil || !strings.Contains(enc, "megolm") || !fetched {
		t.Errorf("mx_room_state: %q %v %v", enc, fetched, err)
	}

	// A second copy into the same database is refused, and changes nothing.
	if out, err := heed(t, db, "migrate", "--to", url); err == nil || !strings.Contains(userMessage(err), "not empty") {
		t.Fatalf("a second copy: %v\n%s", err, out)
	}
	if got := mustHeed(t, url, "post", "list", "--json"); strings.Count(got, `"id"`) != 3 { // posts 1, 3 and 4 (2 is canceled)
		t.Errorf("the refused copy changed the target:\n%s", got)
	}
}

// TestMigrateToRefusesWhatItCannotDo: a running heed on the source, a
// target that is not PostgreSQL, and a source that is already PostgreSQL
// are refused with what to do, and nothing is made.
func TestMigrateToRefusesWhatItCannotDo(t *testing.T) {
	db := newDB(t, t.TempDir())
	url := pgtest.URL(t)
	if _, err := heed(t, db, "migrate", "--to", "/tmp/other.db"); err == nil || !strings.Contains(userMessage(err), "postgres://") {
		t.Errorf("a SQLite target: %v", err)
	}
	if _, err := heed(t, url, "migrate", "--to", url); err == nil || !strings.Contains(userMessage(err), "already PostgreSQL") {
		t.Errorf("a PostgreSQL source: %v", err)
	}
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AcquireLease(t.Context(), leaseName, "other host pid 1", time.Now(), time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := heed(t, db, "migrate", "--to", url); err == nil || !strings.Contains(userMessage(err), "stop it first") {
		t.Errorf("a running heed: %v", err)
	}
	if _, err := sqlite.OpenReadOnly(t.Context(), url); err == nil {
		t.Errorf("a refused copy made heed's tables in the target")
	}
}

// TestBackupOfPostgresSaysHow: heed backup of a PostgreSQL database makes
// no file and names pg_dump, without the password.
func TestBackupOfPostgresSaysHow(t *testing.T) {
	url := pgtest.URL(t)
	mustHeed(t, url, "migrate")
	out := t.TempDir() + "/backup.db"
	_, err := heed(t, url, "backup", out)
	if err == nil || !strings.Contains(userMessage(err), "pg_dump") {
		t.Fatalf("backup of PostgreSQL: %v", err)
	}
	if _, serr := os.Stat(out); !os.IsNotExist(serr) {
		t.Errorf("a file was made: %v", serr)
	}
}
