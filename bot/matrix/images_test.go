package matrix

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/bot/matrix/matrixtest"
)

var catPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00 the cat")

// isThreadImage reports whether e is an m.image in the thread of card.
func isThreadImage(e *event.Event, card id.EventID) bool {
	rel, _ := e.Content.Raw["m.relates_to"].(map[string]any)
	return e.Type.Type == event.EventMessage.Type && e.Content.Raw["msgtype"] == "m.image" &&
		rel["rel_type"] == "m.thread" && rel["event_id"] == string(card)
}

// A post's image, uploaded to the homeserver's media repository, is an
// m.image in its card's thread with the alt text as its body, its size and
// type; an edit of the card does not post it again.
func TestE2EImageInTheCardsThread(t *testing.T) {
	w := newWorld(t, matrixtest.Shared(t))
	path := filepath.Join(t.TempDir(), "cat.png")
	if err := os.WriteFile(path, catPNG, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(catPNG)
	p := w.s.AddWithImages("Meet our office cat", time.Hour, approvals.Media{Path: path, Alt: "a cat on a mat"})
	w.s.Cycle()
	ref, ok, err := w.s.Service.Reviews.Card(context.Background(), p.ID, "matrix", string(w.room))
	if err != nil || !ok {
		t.Fatalf("card of #%d: %v %v (log:\n%s)", p.ID, ok, err, w.logs)
	}
	card := id.EventID(ref.Ref)
	posted := w.watch.Wait(t, "the card", realWait, func(e *event.Event) bool { return e.ID == card })
	if body, _ := posted.Event.Content.Raw["body"].(string); !bytes.Contains([]byte(body), []byte("🖼 cat.png")) ||
		!bytes.Contains([]byte(body), []byte("sha256 "+hex.EncodeToString(sum[:])[:12])) {
		t.Errorf("the card does not list the image: %q", body)
	}

	img := w.watch.Wait(t, "the image in the card's thread", realWait, func(e *event.Event) bool { return isThreadImage(e, card) }).Event
	raw := img.Content.Raw
	info, _ := raw["info"].(map[string]any)
	if raw["body"] != "a cat on a mat" || info["mimetype"] != "image/png" || info["size"] != float64(len(catPNG)) || img.Sender != w.bot.ID {
		t.Errorf("the image event: sender %s, %v", img.Sender, raw)
	}
	uri, err := id.ParseContentURI(raw["url"].(string))
	if err != nil {
		t.Fatalf("the image's url %v: %v", raw["url"], err)
	}
	got, err := w.eve.Client.DownloadBytes(context.Background(), uri)
	if err != nil || !bytes.Equal(got, catPNG) {
		t.Errorf("the uploaded image reads back %d bytes (%v), want the post's %d", len(got), err, len(catPNG))
	}

	// An edit of the card posts nothing more in its thread.
	w.react(w.alice, card, "✅")
	w.waitEdit(card, "approved by "+string(w.alice.ID))
	w.s.Cycle() // any pass under way has finished
	rels, err := w.eve.Client.GetRelations(context.Background(), w.room, card, &mautrix.ReqGetRelations{RelationType: event.RelThread, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range rels.Chunk {
		if e.Content.Raw == nil {
			_ = e.Content.ParseRaw(e.Type)
		}
		if e.Type.Type == event.EventMessage.Type && e.Content.Raw["msgtype"] == "m.image" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d images in the card's thread after an edit, want 1", n)
	}
}

// The adapter alone: PostImage sends an m.image in the thread of the card
// with the alt text as body; without alt text the body is the file's name.
func TestRealPostImage(t *testing.T) {
	srv := matrixtest.Shared(t)
	botUser := srv.Register(t, "heed")
	alice := srv.Register(t, "alice")
	room := alice.CreateRoom(t, false, botUser)
	a, err := New(Config{Homeserver: srv.URL, UserID: string(botUser.ID), Password: botUser.Password,
		Rooms: []RoomConfig{{ID: string(room)}}}, nil, newMemState(), WithSyncTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	runAdapter(t, a, newRecorder())
	waitFor(t, "the first sync", func() bool { return !a.Alive().IsZero() })
	waitJoined(t, botUser, room)
	watch := alice.Watch(t)
	ctx := t.Context()
	ref, err := a.PostCard(ctx, string(room), sampleCard())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.PostImage(ctx, string(room), ref, bot.Image{Name: "dog.png", MIME: "image/png", SHA256: "ab", Data: catPNG}); err != nil {
		t.Fatal(err)
	}
	e := watch.Wait(t, "the image", realWait, func(e *event.Event) bool { return isThreadImage(e, id.EventID(ref)) }).Event
	if e.Content.Raw["body"] != "dog.png" {
		t.Errorf("without alt text the body is %v, want the file's name", e.Content.Raw["body"])
	}
}
