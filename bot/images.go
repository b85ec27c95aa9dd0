package bot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/media"
)

// Image is one image of a post, with its bytes, for a card's thread.
type Image struct {
	Name   string // the file's name as the person gave it
	Alt    string
	MIME   string
	SHA256 string // hex
	Data   []byte // from the media store, checked against SHA256
}

// ShortHash is the first 12 hex digits of the image's SHA-256, as the card
// shows them.
func (im Image) ShortHash() string { return CardImage{SHA256: im.SHA256}.ShortHash() }

// ImagePoster is implemented by adapters that can show an image in a
// card's thread, so that approvers see what they approve (the card lists
// each image with its hash).
type ImagePoster interface {
	PostImage(ctx context.Context, room string, card MessageRef, img Image) error
}

// ImageStore is where the images of cards come from and where the engine
// records which it has posted in each card's thread, so that a re-render
// or a restart never posts one twice. sqlite.Store implements it.
type ImageStore interface {
	// ReadImage returns an image's bytes from the media store, checked
	// against its SHA-256; an error wrapping media.ErrMissing or
	// media.ErrCorrupt is final.
	ReadImage(sum string) ([]byte, error)
	// CardImages returns the SHA-256 of every image posted in the thread
	// of the card at ref.
	CardImages(ctx context.Context, adapter, room, ref string) (map[string]bool, error)
	// AddCardImage records that an image was posted in a card's thread.
	AddCardImage(ctx context.Context, adapter, room, ref, sum string, at time.Time) error
}

// An image that cannot be posted in a card's thread is tried again at
// every render pass; after at least maxImageTries tries over at least
// imageGiveUp, this engine gives up on it and says so in the thread (a
// restart tries again).
const (
	maxImageTries = 10
	imageGiveUp   = 10 * time.Minute
)

// imageTry is what the render pass knows of one image in one card's
// thread.
type imageTry struct {
	n     int       // failed tries
	first time.Time // the first failure
	done  bool      // posted, or given up: not tried again by this engine
}

// imageTries is keyed by card and image; the render pass (which holds
// Cards.mu) is its only user.
type imageTries map[string]*imageTry

// postImages posts in the thread of v's open card every image of its post
// that the thread does not show yet, once per card and image, and records
// each. It runs in the render pass, after the card is posted or edited,
// never on a chat's event worker. An error leaves the card changed, so the
// next pass tries again; an image whose copy is missing or changed is not
// tried again, and the thread says so.
func (cs *Cards) postImages(ctx context.Context, v approvals.View, room Room, ref MessageRef) error {
	if len(v.Post.Media) == 0 || cs.e.Images == nil || !v.State.Open() {
		return nil
	}
	poster, ok := cs.e.adapter(room.Adapter).(ImagePoster)
	if !ok {
		return nil // the console lists the images on the card only
	}
	posted, err := cs.e.Images.CardImages(ctx, room.Adapter, room.ID, string(ref))
	if err != nil {
		return err
	}
	if cs.imgTries == nil {
		cs.imgTries = imageTries{}
	}
	for _, m := range v.Post.Media {
		if m.SHA256 == "" || posted[m.SHA256] {
			continue
		}
		posted[m.SHA256] = true // an image given twice is shown once
		key := room.Adapter + "\x00" + room.ID + "\x00" + string(ref) + "\x00" + m.SHA256
		try := cs.imgTries[key]
		if try == nil {
			try = &imageTry{}
			cs.imgTries[key] = try
		}
		if try.done {
			continue
		}
		short := CardImage{SHA256: m.SHA256}.ShortHash()
		data, err := cs.e.Images.ReadImage(m.SHA256)
		if errors.Is(err, media.ErrMissing) || errors.Is(err, media.ErrCorrupt) {
			try.done = true
			cs.e.Log.Error("image not shown in the card's thread", "occurrence", v.ID, "image", m.Name(), "err", err)
			cs.announce(room, ref, fmt.Sprintf("⚠ heed's copy of %s (sha256 %s) is %s, so this post cannot go out as approved: edit it to add the image again (heed post edit %d --media FILE --alt TEXT).",
				m.Name(), short, missingOrChanged(err), v.PostID))
			continue
		}
		if err == nil {
			err = poster.PostImage(ctx, room.ID, ref, Image{Name: m.Name(), Alt: m.Alt, MIME: m.Type, SHA256: m.SHA256, Data: data})
		}
		if err != nil {
			now := cs.e.Now()
			if try.n == 0 {
				try.first = now
			}
			try.n++
			if try.n < maxImageTries || now.Sub(try.first) < imageGiveUp {
				return fmt.Errorf("posting image %s in the thread of card #%d: %w", m.Name(), v.ID, err)
			}
			try.done = true
			cs.e.Log.Error("gave up posting an image in the card's thread", "occurrence", v.ID, "image", m.Name(), "tries", try.n, "err", err)
			cs.announce(room, ref, fmt.Sprintf("⚠ heed could not show %s (sha256 %s) here: %v. The card lists it; look at the file before you approve.",
				m.Name(), short, err))
			continue
		}
		try.done = true
		if err := cs.e.Images.AddCardImage(ctx, room.Adapter, room.ID, string(ref), m.SHA256, cs.e.Now()); err != nil {
			// Posted, but not recorded: this engine does not post it
			// again, a restart may.
			cs.e.Log.Warn("could not record an image posted in a card's thread", "occurrence", v.ID, "image", m.Name(), "err", err)
		}
	}
	return nil
}

func missingOrChanged(err error) string {
	if errors.Is(err, media.ErrCorrupt) {
		return "changed in its media store"
	}
	return "missing from its media store"
}

// cardImages lists a post's images for its card.
func cardImages(ms []approvals.Media) []CardImage {
	var out []CardImage
	for _, m := range ms {
		out = append(out, CardImage{Name: m.Name(), Alt: m.Alt, Type: m.Type, Size: m.Size, SHA256: m.SHA256})
	}
	return out
}
