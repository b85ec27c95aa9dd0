package slack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/bot/slack/slackfake"
)

var catPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00 the cat")

// A post's image is uploaded into its card's thread with Slack's external
// upload flow, with its alt text, exactly once: a 429 on either method is
// waited out as its Retry-After says, a failed upload is tried again at
// the next render pass, and neither an edit of the card nor a restart
// posts it again.
func TestE2EImageInTheCardsThreadOnce(t *testing.T) {
	var mu sync.Mutex
	var waits []time.Duration
	sleep := func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return ctx.Err()
	}
	x := newStack(t, stackSetup{opts: []Option{WithSleep(sleep)}})
	path := filepath.Join(t.TempDir(), "cat.png")
	if err := os.WriteFile(path, catPNG, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(catPNG)
	short := hex.EncodeToString(sum[:])[:12]

	x.f.RateLimitMethod("files.getUploadURLExternal", 1, 2)
	x.f.RateLimitMethod("files.completeUploadExternal", 1, 3)
	x.f.FailNext("files.completeUploadExternal", "internal_error") // after the 429: the first upload fails
	x.s.AddWithImages("Meet our office cat", time.Hour, approvals.Media{Path: path, Alt: "a cat on a mat"})
	x.s.Cycle()
	card := x.f.ExpectMessage(t, chReview, func(m slackfake.Message) bool {
		return m.Metadata != nil && m.Metadata.EventType == "heed_card" && strings.Contains(m.AllText(), "Meet our office cat")
	})
	card.AssertText(t, "🖼 cat.png", "sha256 "+short, `alt: "a cat on a mat"`, "image/png")
	// Cycle renders twice (the engine's pass, then one after the
	// dispatch): the pass after the failed upload tried again.
	var answers []string
	for _, c := range x.f.Calls("files.completeUploadExternal") {
		answers = append(answers, strconv.Itoa(c.Status)+" "+c.Error)
	}
	if want := []string{"429 ratelimited", "200 internal_error", "200 "}; !slices.Equal(answers, want) {
		t.Errorf("files.completeUploadExternal answered %q, want %q", answers, want)
	}
	files := x.f.ThreadFiles(chReview, card.TS)
	if len(files) != 1 {
		t.Fatalf("%d files in the card's thread, want 1: %+v", len(files), files)
	}
	f := files[0]
	if !bytes.Equal(f.Data, catPNG) || f.Name != "cat.png" || f.Alt != "a cat on a mat" || !strings.Contains(f.Title, "sha256 "+short) {
		t.Errorf("the file in the thread: name %q, alt %q, title %q, %d bytes", f.Name, f.Alt, f.Title, len(f.Data))
	}
	mu.Lock()
	gotWaits := slices.Clone(waits)
	mu.Unlock()
	if !slices.Contains(gotWaits, 2*time.Second) || !slices.Contains(gotWaits, 3*time.Second) {
		t.Errorf("waits %v: want each method's Retry-After (2s, 3s) waited out", gotWaits)
	}

	// An edit of the card does not post the image again.
	x.f.React(alice, chReview, card.TS, "white_check_mark")
	card = card.ExpectUpdateText(t, "approved by @alice")
	x.s.Cycle()
	uploads := len(x.f.Calls("files.getUploadURLExternal"))

	// Nor does a restart on the same database, with the card edited again.
	x.stop()
	x.stop = nil
	y := newStack(t, stackSetup{dbPath: x.s.DBPath, clock: x.s.Clock, fake: x.f})
	x.f.React(bob, chReview, card.TS, "white_check_mark")
	card.ExpectUpdateText(t, "does not count")
	y.s.Cycle()
	if got := x.f.ThreadFiles(chReview, card.TS); len(got) != 1 {
		t.Fatalf("%d files in the card's thread after an edit and a restart, want 1", len(got))
	}
	if n := len(x.f.Calls("files.getUploadURLExternal")); n != uploads {
		t.Errorf("files.getUploadURLExternal called %d times after the restart, want none", n-uploads)
	}
}

// Posting an image never holds up a pause: while an upload hangs in the
// render pass, a pause typed in the channel is recorded and answered.
func TestE2EHangingImageUploadDoesNotHoldUpAPause(t *testing.T) {
	x := newStack(t, stackSetup{})
	path := filepath.Join(t.TempDir(), "cat.png")
	if err := os.WriteFile(path, catPNG, 0o644); err != nil {
		t.Fatal(err)
	}
	x.f.StallNext("files.getUploadURLExternal") // answered only when heed gives up (it stops at the test's end)
	x.s.AddWithImages("Meet our office cat", time.Hour, approvals.Media{Path: path, Alt: "a cat on a mat"})
	if _, err := x.s.Service.Posts.Materialize(x.s.Ctx); err != nil {
		t.Fatal(err)
	}
	x.s.Engine.Cards().Kick() // the render loop posts the card, then hangs on the upload
	x.f.WaitCall(t, "files.getUploadURLExternal", nil)

	x.f.Say(bob, chReview, "pause breaking news")
	x.f.ExpectMessage(t, chReview, func(m slackfake.Message) bool {
		return strings.Contains(m.Text, "Paused all publishing. By @bob, reason: breaking news")
	})
	if ps, err := x.s.Service.Pauses.ActivePauses(x.s.Ctx); err != nil || len(ps) != 1 {
		t.Fatalf("pauses in force: %v, %v", ps, err)
	}
}

// Without the files:write scope the error says how to get it.
func TestPostImageWithoutScopeSaysWhatToDo(t *testing.T) {
	e := newEnv(t, setup{fake: slackfake.Options{NoEcho: true}, noRun: true})
	card := e.card(t, sampleCard(7))
	e.f.FailNext("files.getUploadURLExternal", "missing_scope")
	err := e.a.PostImage(t.Context(), chReview, bot.MessageRef(card.TS), bot.Image{Name: "cat.png", Data: catPNG})
	if err == nil || !strings.Contains(err.Error(), "add the files:write bot scope") {
		t.Fatalf("PostImage without the scope: %v", err)
	}
	if n := len(e.f.Files()); n != 0 {
		t.Fatalf("%d files made", n)
	}
}

// An image whose copy is gone from the store is not posted, and the
// card's thread says what to do.
func TestE2EMissingImageCopySaysSoInTheThread(t *testing.T) {
	x := newStack(t, stackSetup{})
	path := filepath.Join(t.TempDir(), "cat.png")
	if err := os.WriteFile(path, catPNG, 0o644); err != nil {
		t.Fatal(err)
	}
	p := x.s.AddWithImages("Meet our office cat", time.Hour, approvals.Media{Path: path, Alt: "a cat on a mat"})
	if err := os.Remove(x.s.Store.Media().Path(p.Media[0].SHA256)); err != nil {
		t.Fatal(err)
	}
	x.s.Cycle()
	card := x.f.ExpectMessage(t, chReview, func(m slackfake.Message) bool {
		return m.Metadata != nil && m.Metadata.EventType == "heed_card" && strings.Contains(m.AllText(), "Meet our office cat")
	})
	x.f.ExpectReply(t, chReview, card.TS, "heed's copy of cat.png", "is missing from its media store", "heed post edit")
	if n := len(x.f.Calls("files.getUploadURLExternal")); n != 0 {
		t.Errorf("%d uploads of an image whose copy is missing", n)
	}
}
