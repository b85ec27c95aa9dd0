package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heed-dev/heed/approvals"
)

var (
	catPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00 the cat")
	dogPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x02\x00\x00\x00\x02\x08\x06\x00\x00\x00 a dog!")
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// `heed post add --media` copies the image into heed.db-media beside the
// database (0700), as a file named by its SHA-256 (0600); the post keeps
// the hash, so replacing the file afterwards changes nothing stored.
func TestPostAddKeepsACopyOfTheImage(t *testing.T) {
	dir := t.TempDir()
	db := newDB(t, dir)
	img := filepath.Join(dir, "cat.png")
	if err := os.WriteFile(img, catPNG, 0o644); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(mustHeed(t, db, "post", "add", "--at", "+1h", "--to", "log", "--text", "cat", "--media", img, "--alt", "a cat"))
	store := db + "-media"
	fi, err := os.Stat(store)
	if err != nil {
		t.Fatalf("no media store beside the database: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("media store mode %04o, want 0700", perm)
	}
	fi, err = os.Stat(filepath.Join(store, sha(catPNG)))
	if err != nil {
		t.Fatalf("the image's copy: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("the image's copy has mode %04o, want 0600", perm)
	}
	if err := os.WriteFile(img, dogPNG, 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustHeed(t, db, "post", "show", id)
	if !strings.Contains(out, "image:   "+img+" · 37 B · image/png · sha256 "+sha(catPNG)[:12]+` · alt: "a cat"`) {
		t.Errorf("post show:\n%s", out)
	}
	// Giving the image again (now a dog) changes the post's hash.
	mustHeed(t, db, "post", "edit", id, "--media", img, "--alt", "a dog")
	p, err := openService(t, db).Posts.GetPost(t.Context(), mustID(t, id))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Media) != 1 || p.Media[0].SHA256 != sha(dogPNG) || p.Media[0].Alt != "a dog" {
		t.Errorf("after the edit: %+v", p.Media)
	}
}

func mustID(t *testing.T, s string) int64 {
	t.Helper()
	id, err := parseID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A missing or oversized image is refused with an error that names it and
// says what to do, and nothing is stored.
func TestPostAddRefusesAnImageItCannotKeep(t *testing.T) {
	dir := t.TempDir()
	db := newDB(t, dir)
	huge := filepath.Join(dir, "huge.png")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(17 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, c := range []struct{ file, want string }{
		{filepath.Join(dir, "nope.png"), "there is no file at " + filepath.Join(dir, "nope.png")},
		{huge, "is 17.8 MB; heed keeps images up to 16 MiB: make it smaller"},
	} {
		out, err := heed(t, db, "post", "add", "--at", "+1h", "--to", "log", "--text", "x", "--media", c.file, "--alt", "x")
		if err == nil || !strings.Contains(userMessage(err), c.want) {
			t.Errorf("post add --media %s: %v %s, want an error saying %q", c.file, err, out, c.want)
		}
	}
	if out := mustHeed(t, db, "post", "list"); strings.Count(out, "\n") != 1 {
		t.Errorf("a refused post was stored:\n%s", out)
	}
	if _, err := os.Stat(db + "-media"); !os.IsNotExist(err) {
		t.Errorf("a refused image made the media store: %v", err)
	}
}

// A calendar's images are read relative to the calendar file and kept in
// the store; re-importing the same file changes nothing, a changed image
// updates the post, and an entry whose image is missing fails the whole
// import with its line.
func TestImportKeepsCalendarImages(t *testing.T) {
	dir := t.TempDir()
	db := newDB(t, dir)
	calDir := filepath.Join(dir, "cal")
	if err := os.MkdirAll(filepath.Join(calDir, "img"), 0o755); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(calDir, "img", "cat.png")
	if err := os.WriteFile(img, catPNG, 0o644); err != nil {
		t.Fatal(err)
	}
	cal := writeFile(t, calDir, "cal.yaml", `posts:
  - key: cat
    at: "2099-12-01 09:00"
    to: [log]
    text: Our cat
    media:
      - path: img/cat.png
        alt: a cat
`)
	if out := mustHeed(t, db, "import", cal, "--dry-run"); !strings.Contains(out, "1 added") {
		t.Fatalf("dry run: %s", out)
	}
	if _, err := os.Stat(db + "-media"); !os.IsNotExist(err) {
		t.Fatalf("a dry run stored an image: %v", err)
	}
	if out := mustHeed(t, db, "import", cal); !strings.Contains(out, "1 added") {
		t.Fatalf("import: %s", out)
	}
	if _, err := os.Stat(filepath.Join(db+"-media", sha(catPNG))); err != nil {
		t.Fatalf("the calendar's image was not kept: %v", err)
	}
	if out := mustHeed(t, db, "import", cal); !strings.Contains(out, "0 added, 0 updated, 1 unchanged") {
		t.Fatalf("second import: %s", out)
	}
	if err := os.WriteFile(img, dogPNG, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := mustHeed(t, db, "import", cal); !strings.Contains(out, "0 added, 1 updated, 0 unchanged") {
		t.Fatalf("import after the image changed: %s", out)
	}
	svc := openService(t, db)
	p, err := svc.Posts.GetPostByKey(t.Context(), "cat")
	if err != nil || len(p.Media) != 1 || p.Media[0].SHA256 != sha(dogPNG) || p.Media[0].Path != "img/cat.png" {
		t.Fatalf("post after the change: %+v %v", p.Media, err)
	}
	os.Remove(img)
	out, err := heed(t, db, "import", cal)
	msg := ""
	if err != nil {
		msg = userMessage(err)
	}
	if err == nil || !strings.Contains(msg, "cal.yaml:2 (cat): image img/cat.png: there is no file at") || !strings.Contains(msg, "nothing was imported") {
		t.Fatalf("import with a missing image: %v %q %s", err, msg, out)
	}
	if q, _ := svc.Posts.GetPostByKey(t.Context(), "cat"); q.Media[0].SHA256 != sha(dogPNG) {
		t.Errorf("a failed import changed the post: %+v", q.Media)
	}
	_ = approvals.Media{}
}
