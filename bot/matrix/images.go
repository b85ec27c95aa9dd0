package matrix

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/attachment"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/heed-dev/heed/bot"
)

var _ bot.ImagePoster = (*Adapter)(nil)

// PostImage implements bot.ImagePoster: it uploads img to the homeserver's
// media repository (POST /_matrix/media/v3/upload, with the bot's access
// token) and sends an m.image in the card's thread whose body is the alt
// text (the file's name when there is none), with its size and type. The
// send's transaction id is derived from the room, the card and the image's
// SHA-256, so a send repeated after its answer was lost is not posted
// twice.
func (a *Adapter) PostImage(ctx context.Context, room string, card bot.MessageRef, img bot.Image) error {
	cli, err := a.client()
	if err != nil {
		return err
	}
	roomID, err := a.served(room)
	if err != nil {
		return err
	}
	mimeType := img.MIME
	if mimeType == "" {
		mimeType = "application/octet-stream"
	}
	// In an encrypted room the image is encrypted too (an encrypted
	// attachment, m.image's `file`): the media repository, which any user
	// of the homeserver can read by its URI, holds only ciphertext.
	data, upType, upName := img.Data, mimeType, img.Name
	var file *attachment.EncryptedFile
	if cli.Crypto != nil && cli.StateStore != nil {
		if enc, err := cli.StateStore.IsEncrypted(ctx, roomID); err == nil && enc {
			file = attachment.NewEncryptedFile()
			// A copy: the post's image stays as it is for a retry.
			data, upType, upName = slices.Clone(img.Data), "application/octet-stream", ""
			file.EncryptInPlace(data)
		}
	}
	var up *mautrix.RespMediaUpload
	err = a.call(ctx, "upload image", func(ctx context.Context) (err error) {
		up, err = cli.UploadMedia(ctx, mautrix.ReqUploadMedia{ContentBytes: data, ContentType: upType, FileName: upName})
		return err
	})
	if err != nil {
		return fmt.Errorf("matrix: upload image %s: %w", img.Name, err)
	}
	content := imageContent(id.EventID(card), img, up.ContentURI.CUString(), mimeType)
	if file != nil {
		content.URL = ""
		content.File = &event.EncryptedFileInfo{EncryptedFile: *file, URL: up.ContentURI.CUString()}
	}
	sum := sha256.Sum256([]byte(room + "\x00" + string(card) + "\x00" + img.SHA256))
	txn := "heed-image-" + hex.EncodeToString(sum[:12])
	err = a.call(ctx, "post image", func(ctx context.Context) error {
		_, err := cli.SendMessageEvent(ctx, roomID, event.EventMessage, content, mautrix.ReqSendEvent{TransactionID: txn})
		return err
	})
	if err != nil {
		return fmt.Errorf("matrix: post image %s in the thread of %s: %w", img.Name, card, err)
	}
	return nil
}

// imageContent is an m.image in the thread of card: its body is the alt
// text, for people who cannot see the image.
func imageContent(card id.EventID, img bot.Image, uri id.ContentURIString, mimeType string) *event.MessageEventContent {
	body := img.Alt
	if strings.TrimSpace(body) == "" {
		body = img.Name
	}
	return &event.MessageEventContent{
		MsgType: event.MsgImage,
		Body:    body,
		URL:     uri,
		Info:    &event.FileInfo{MimeType: mimeType, Size: len(img.Data)},
		RelatesTo: &event.RelatesTo{
			Type: event.RelThread, EventID: card,
			InReplyTo: &event.InReplyTo{EventID: card}, IsFallingBack: true,
		},
	}
}
