package invariants

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/internal/heedtest"
)

// Images are bytes (issue 11): an approval covers the bytes of each image,
// as heed copied them into its media store when the post was added; what
// goes out is that copy, checked against its hash.

var (
	catPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00 the cat")
	dogPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x02\x00\x00\x00\x02\x08\x06\x00\x00\x00 a dog!")
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func writeImage(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// approvedWithImage adds a post with one image due in 10 minutes, posts
// its card and has alice approve it.
func approvedWithImage(t *testing.T, s *heedtest.Stack, text, path string) approvals.Post {
	t.Helper()
	p := s.AddWithImages(text, 10*time.Minute, approvals.Media{Path: path, Alt: "a cat on a mat"})
	s.Cycle()
	if err := s.Chat.React("alice", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	s.WantState(p.ID, approvals.StateApproved)
	return p
}

// Replacing the file a person named after the approval changes nothing
// that is published: the publisher gets the bytes that were approved,
// from heed's own copy.
func TestInvariant1_ReplacedImageFileChangesNothingPublished(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	orig := writeImage(t, "cat.png", catPNG)
	p := approvedWithImage(t, s, "look at this cat", orig)
	approved := p.Media[0].SHA256
	if approved != sha(catPNG) {
		t.Fatalf("the post's image has sha256 %q, want that of its bytes", approved)
	}
	if err := os.WriteFile(orig, dogPNG, 0o644); err != nil { // swapped after approval
		t.Fatal(err)
	}
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	reqs := s.Rec.Requests()
	if len(reqs) != 1 || len(reqs[0].Media) != 1 {
		t.Fatalf("published %d requests (%+v), want one with one image", len(reqs), reqs)
	}
	m := reqs[0].Media[0]
	if !bytes.Equal(m.Data, catPNG) || sha(m.Data) != approved || m.SHA256 != approved {
		t.Errorf("the publisher got %d bytes with sha256 %s, want the approved %s", len(m.Data), sha(m.Data), approved)
	}
	if m.Path == orig {
		t.Errorf("the publisher was handed the original file %s, not the store's copy", orig)
	}
	onDisk, err := os.ReadFile(m.Path)
	if err != nil || sha(onDisk) != approved {
		t.Errorf("the file the publisher was pointed at (%s) holds sha256 %s (%v), want the approved %s", m.Path, sha(onDisk), err, approved)
	}
	if m.Name != "cat.png" || m.Alt != "a cat on a mat" || m.MIME != "image/png" {
		t.Errorf("image name %q, alt %q, type %q", m.Name, m.Alt, m.MIME)
	}
	s.WantState(p.ID, approvals.StatePublished)
}

// Giving the post another image, or the same image with other alt text,
// voids the approval: the payload hash covers the bytes.
func TestInvariant1_EditingTheImageVoidsTheApproval(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	cat := writeImage(t, "cat.png", catPNG)
	control := approvedWithImage(t, s, "control: same image", cat)
	swapped := approvedWithImage(t, s, "image swapped", cat)
	realt := approvedWithImage(t, s, "alt text changed", cat)

	dog, err := s.Store.Media().Attach([]approvals.Media{{Path: writeImage(t, "cat.png", dogPNG), Alt: "a cat on a mat"}}, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Service.Posts.EditPost(s.Ctx, swapped.ID, approvals.PostEdit{Media: dog}, "author", "test"); err != nil {
		t.Fatal(err)
	}
	s.WantState(swapped.ID, approvals.StateInReview)
	alt := []approvals.Media{realt.Media[0]}
	alt[0].Alt = "a dog"
	if _, err := s.Service.Posts.EditPost(s.Ctx, realt.ID, approvals.PostEdit{Media: alt}, "author", "test"); err != nil {
		t.Fatal(err)
	}
	s.WantState(realt.ID, approvals.StateInReview)
	// The same bytes given again (from another copy of the file) keep it.
	same, err := s.Store.Media().Attach([]approvals.Media{{Path: cat, Alt: "a cat on a mat"}}, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Service.Posts.EditPost(s.Ctx, control.ID, approvals.PostEdit{Media: same}, "author", "test"); err != nil {
		t.Fatal(err)
	}
	s.WantState(control.ID, approvals.StateApproved)

	s.Clock.Advance(20 * time.Minute)
	s.Cycle()
	if got := s.Rec.Texts(); len(got) != 1 || got[0] != "control: same image" {
		t.Fatalf("published %q; want only the post whose image did not change", got)
	}
	s.WantState(swapped.ID, approvals.StateMissed)
	s.WantState(realt.ID, approvals.StateMissed)
}

// An image whose copy is gone from the store, or changed in it, is never
// sent, and nothing else is sent in its place: the delivery fails for
// good, saying why and what to do.
func TestInvariant1_MissingOrChangedImageCopyFailsSafely(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	cat := writeImage(t, "cat.png", catPNG)
	missing := approvedWithImage(t, s, "its copy goes missing", cat)
	blob := s.Store.Media().Path(missing.Media[0].SHA256)
	if err := os.Remove(blob); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	if n := len(s.Rec.Requests()); n != 0 {
		t.Fatalf("%d published with the image's copy missing", n)
	}
	s.WantState(missing.ID, approvals.StateFailed)
	if !strings.Contains(s.View(missing.ID).Deliveries[0].Error, "not in the media store") ||
		!strings.Contains(s.Chat.LastReply(), "edit the post to add the image again") {
		t.Errorf("delivery error %q, reply %q", s.View(missing.ID).Deliveries[0].Error, s.Chat.LastReply())
	}

	// A copy whose bytes changed is refused the same way.
	changed := approvedWithImage(t, s, "its copy is changed", writeImage(t, "cat.png", catPNG))
	if err := os.WriteFile(blob, dogPNG, 0o600); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	if n := len(s.Rec.Requests()); n != 0 {
		t.Fatalf("%d published with the image's copy changed", n)
	}
	s.WantState(changed.ID, approvals.StateFailed)
	if e := s.View(changed.ID).Deliveries[0].Error; !strings.Contains(e, "no longer match") {
		t.Errorf("delivery error %q", e)
	}
}

// A post whose image was stored before heed kept copies (its media have no
// hash) cannot be approved, and its card says what to do.
func TestInvariant1_ImageWithoutACopyCannotBeApproved(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	p := s.Add("stored before the media store", 10*time.Minute)
	if _, err := s.Store.DB().ExecContext(s.Ctx, `UPDATE posts SET media = ? WHERE id = ?`,
		`[{"path":"`+writeImage(t, "cat.png", catPNG)+`","alt":"a cat"}]`, p.ID); err != nil {
		t.Fatal(err)
	}
	s.Cycle()
	if err := s.Chat.React("alice", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	s.WantState(p.ID, approvals.StateInReview)
	if card := s.Chat.CardText(p.ID); !strings.Contains(card, "edit the post to add the image again") {
		t.Errorf("the card does not say what to do:\n%s", card)
	}
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	if n := len(s.Rec.Requests()); n != 0 {
		t.Fatalf("%d published", n)
	}
}
