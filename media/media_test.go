package media_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/media"
)

// png is the start of a PNG file: enough for http.DetectContentType.
var png = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00")

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func write(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A file is stored under its SHA-256 in a directory beside the database
// that only its owner may read (0700), as a file only its owner may read
// (0600), and nothing else is left there.
func TestPutStoresByHashPrivately(t *testing.T) {
	dir := t.TempDir()
	st := media.New(media.DirFor(filepath.Join(dir, "heed.db")))
	if st.Dir() != filepath.Join(dir, "heed.db-media") {
		t.Fatalf("store dir %s, want heed.db-media beside the database", st.Dir())
	}
	src := write(t, dir, "cat.png", png)
	b, err := st.Put(src)
	if err != nil {
		t.Fatal(err)
	}
	if b.SHA256 != sum(png) || b.Size != int64(len(png)) || b.Type != "image/png" {
		t.Fatalf("blob %+v, want sha256 %s, %d bytes, image/png", b, sum(png), len(png))
	}
	fi, err := os.Stat(st.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("store directory mode %04o, want 0700", perm)
	}
	fi, err = os.Stat(st.Path(b.SHA256))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("stored file mode %04o, want 0600", perm)
	}
	entries, _ := os.ReadDir(st.Dir())
	if len(entries) != 1 || entries[0].Name() != b.SHA256 {
		t.Errorf("store holds %v, want only %s", entries, b.SHA256)
	}
	got, err := st.Read(b.SHA256)
	if err != nil || !bytes.Equal(got, png) {
		t.Fatalf("Read = %q, %v", got, err)
	}
	// The same bytes again change nothing; the original may go.
	if _, err := st.Put(src); err != nil {
		t.Fatal(err)
	}
	os.Remove(src)
	if got, err := st.Read(b.SHA256); err != nil || !bytes.Equal(got, png) {
		t.Fatalf("Read after the original was removed = %q, %v", got, err)
	}
}

// Read checks the bytes against their name: a copy changed in the store
// or gone from it is an error, never other bytes.
func TestReadRefusesMissingAndChangedCopies(t *testing.T) {
	dir := t.TempDir()
	st := media.New(filepath.Join(dir, "m"))
	b, err := st.Put(write(t, dir, "cat.png", png))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(st.Path(b.SHA256), []byte("not the cat"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Read(b.SHA256); !errors.Is(err, media.ErrCorrupt) {
		t.Errorf("Read of a changed copy: %v, want ErrCorrupt", err)
	}
	os.Remove(st.Path(b.SHA256))
	if _, err := st.Read(b.SHA256); !errors.Is(err, media.ErrMissing) {
		t.Errorf("Read of a missing copy: %v, want ErrMissing", err)
	}
	for _, bad := range []string{"", "../heed.db", strings.Repeat("A", 64)} {
		if _, err := st.Read(bad); !errors.Is(err, media.ErrMissing) {
			t.Errorf("Read(%q): %v, want ErrMissing", bad, err)
		}
	}
}

// A file that cannot be an image heed keeps gets an error that names it
// and says what to do, and nothing is stored.
func TestPutRefusesWhatItCannotKeep(t *testing.T) {
	dir := t.TempDir()
	st := media.New(filepath.Join(dir, "m"))
	big := filepath.Join(dir, "huge.png")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(media.MaxSize + 1); err != nil { // sparse: no 16 MiB written
		t.Fatal(err)
	}
	f.Close()
	empty := write(t, dir, "empty.png", nil)
	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "nope.png"), "there is no file at " + filepath.Join(dir, "nope.png")},
		{big, "heed keeps images up to 16 MiB: make it smaller"},
		{dir, "is a directory"},
		{empty, "is empty"},
		{"https://example.org/cat.png", "download it and give the file"},
	} {
		_, err := st.Put(c.path)
		if err == nil || !strings.Contains(approvals.ErrorMessage(err), c.want) || approvals.ErrorCode(err) != approvals.EINVALID {
			t.Errorf("Put(%s): %v, want an invalid-input error saying %q", c.path, err, c.want)
		}
	}
	if _, err := os.Stat(st.Dir()); !os.IsNotExist(err) {
		t.Errorf("a refused file made the store directory: %v", err)
	}
}

// Attach checks every image before it stores any, fills in hash, size and
// type, keeps the path as given, and stores nothing on a dry run.
func TestAttach(t *testing.T) {
	dir := t.TempDir()
	st := media.New(filepath.Join(dir, "m"))
	write(t, dir, "cat.png", png)
	in := []approvals.Media{{Path: "cat.png", Alt: "a cat"}, {Path: "missing.png"}}
	if _, err := st.Attach(in, dir, false); err == nil || !strings.Contains(err.Error(), "missing.png") {
		t.Fatalf("Attach with a missing file: %v", err)
	}
	if _, err := os.Stat(st.Dir()); !os.IsNotExist(err) {
		t.Fatalf("a failed Attach stored something: %v", err)
	}
	out, err := st.Attach(in[:1], dir, true)
	if err != nil {
		t.Fatal(err)
	}
	want := approvals.Media{Path: "cat.png", Alt: "a cat", SHA256: sum(png), Size: int64(len(png)), Type: "image/png"}
	if out[0] != want {
		t.Fatalf("dry run: %+v, want %+v", out[0], want)
	}
	if _, err := os.Stat(st.Dir()); !os.IsNotExist(err) {
		t.Fatalf("a dry run stored something: %v", err)
	}
	if out, err = st.Attach(in[:1], dir, false); err != nil || out[0] != want {
		t.Fatalf("Attach = %+v, %v", out, err)
	}
	if _, err := st.Read(want.SHA256); err != nil {
		t.Fatal(err)
	}
}
