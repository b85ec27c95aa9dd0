package slack

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	slackapi "github.com/slack-go/slack"

	"github.com/heed-dev/heed/bot"
)

var _ bot.ImagePoster = (*Adapter)(nil)

// PostImage implements bot.ImagePoster: it uploads img into the thread of
// the card with Slack's external upload flow (files.getUploadURLExternal
// with the alt text as alt_txt, the bytes POSTed to the upload URL it
// gives, then files.completeUploadExternal into the channel and the
// card's thread). Each step waits out its own rate limit, as every Web API
// call does. The title names the file and the first 12 hex digits of its
// SHA-256, as the card lists it. The app needs the files:write scope.
func (a *Adapter) PostImage(ctx context.Context, room string, card bot.MessageRef, img bot.Image) error {
	what := fmt.Sprintf("slack: posting image %s in the thread of %s in %s", img.Name, card, room)
	var up *slackapi.GetUploadURLExternalResponse
	err := a.api.call(ctx, "files.getUploadURLExternal", func(ctx context.Context) (err error) {
		up, err = a.api.c.GetUploadURLExternalContext(ctx, slackapi.GetUploadURLExternalParameters{
			FileName: img.Name, FileSize: len(img.Data), AltTxt: img.Alt,
		})
		return err
	})
	if err != nil {
		var se slackapi.SlackErrorResponse
		if errors.As(err, &se) && se.Err == "missing_scope" {
			return fmt.Errorf("%s: files.getUploadURLExternal: %w (add the files:write bot scope, as slack-app-manifest.yaml does, and reinstall the app)", what, err)
		}
		return fmt.Errorf("%s: files.getUploadURLExternal: %w", what, err)
	}
	// The upload URL is no Web API method; a 429 from it is waited out the
	// same way, under a name of its own.
	err = a.api.call(ctx, "files.upload_url", func(ctx context.Context) error {
		return a.api.c.UploadToURL(ctx, slackapi.UploadToURLParameters{
			UploadURL: up.UploadURL, Reader: bytes.NewReader(img.Data), Filename: img.Name,
		})
	})
	if err != nil {
		return fmt.Errorf("%s: uploading the bytes: %w", what, err)
	}
	title := img.Name
	if h := img.ShortHash(); h != "" {
		title += " · sha256 " + h
	}
	err = a.api.call(ctx, "files.completeUploadExternal", func(ctx context.Context) error {
		_, err := a.api.c.CompleteUploadExternalContext(ctx, slackapi.CompleteUploadExternalParameters{
			Files: []slackapi.FileSummary{{ID: up.FileID, Title: title}}, Channel: room, ThreadTimestamp: string(card),
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: files.completeUploadExternal: %w", what, err)
	}
	return nil
}
