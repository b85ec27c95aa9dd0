package bot_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/internal/heedtest"
)

// The card lists each image of the post: its name, size, type, the first
// 12 hex digits of its SHA-256 and its alt text, and warns, saying how to
// fix it, when an image has no alt text.
func TestCardListsImagesAndWarnsWithoutAlt(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	dir := t.TempDir()
	cat := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00 the cat")
	dog := []byte("GIF89a a dog")
	for name, b := range map[string][]byte{"cat.png": cat, "dog.gif": dog} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	short := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:])[:12] }
	p := s.AddWithImages("Two pets", time.Hour,
		approvals.Media{Path: filepath.Join(dir, "cat.png"), Alt: "a cat on a mat"},
		approvals.Media{Path: filepath.Join(dir, "dog.gif")})
	s.Cycle()
	card := s.Chat.CardText(p.ID)
	for _, want := range []string{
		`🖼 cat.png · 37 B · image/png · sha256 ` + short(cat) + ` · alt: "a cat on a mat"`,
		`🖼 dog.gif · 12 B · image/gif · sha256 ` + short(dog) + ` · no alt text`,
		"⚠ dog.gif has no alt text: people who cannot see it get no description. Add one: heed post edit " + itoa(p.ID) + " --media FILE --alt TEXT",
	} {
		if !strings.Contains(card, want) {
			t.Errorf("the card lacks %q:\n%s", want, card)
		}
	}
	if strings.Contains(card, "⚠ cat.png") {
		t.Errorf("the card warns about an image with alt text:\n%s", card)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
