package slackfake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/heed-dev/heed/bot/slack/slackfake"
)

// The external upload flow: a file reserved with its name, length and alt
// text, its bytes POSTed to the upload URL, then shared in a thread; the
// answers have the documented shapes, and the file shows in the thread.
func TestExternalUploadIntoAThread(t *testing.T) {
	f, api := newFake(t, slackfake.Options{NoEcho: true})
	ctx := context.Background()
	_, parent, err := api.PostMessageContext(ctx, "CREVIEW", slack.MsgOptionText("#7 · IN REVIEW", false))
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("\x89PNG\r\n\x1a\n the cat")
	raw := func(method string, v url.Values) []byte {
		v.Set("token", f.Options().BotToken)
		resp, err := http.PostForm(f.APIURL()+method, v)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	conforms(t, "web/files.getUploadURLExternal.json", raw("files.getUploadURLExternal", url.Values{"filename": {"x.png"}, "length": {"3"}}))

	sum, err := api.UploadFileContext(ctx, slack.UploadFileParameters{
		Reader: bytes.NewReader(data), FileSize: len(data), Filename: "cat.png", Title: "cat.png · sha256 e322a77a8f1f",
		AltTxt: "a cat on a mat", Channel: "CREVIEW", ThreadTimestamp: parent,
	})
	if err != nil {
		t.Fatal(err)
	}
	got := f.ThreadFiles("CREVIEW", parent)
	if len(got) != 1 || got[0].ID != sum.ID || !bytes.Equal(got[0].Data, data) || got[0].Alt != "a cat on a mat" || got[0].Name != "cat.png" {
		t.Fatalf("thread files = %+v", got)
	}
	if m, _ := f.Message("CREVIEW", parent); m.Replies != 1 {
		t.Errorf("the card has %d replies, want the file's message", m.Replies)
	}
	replies := raw("conversations.replies", url.Values{"channel": {"CREVIEW"}, "ts": {parent}})
	if !strings.Contains(string(replies), `"alt_txt":"a cat on a mat"`) || !strings.Contains(string(replies), `"subtype":"file_share"`) {
		t.Errorf("conversations.replies does not show the file: %s", replies)
	}

	// The answer of files.completeUploadExternal, through the raw API.
	up := raw("files.getUploadURLExternal", url.Values{"filename": {"y.png"}, "length": {"3"}})
	var u slack.GetUploadURLExternalResponse
	if err := json.Unmarshal(up, &u); err != nil {
		t.Fatal(err)
	}
	if err := api.UploadToURL(ctx, slack.UploadToURLParameters{UploadURL: u.UploadURL, Reader: strings.NewReader("abc"), Filename: "y.png"}); err != nil {
		t.Fatal(err)
	}
	conforms(t, "web/files.completeUploadExternal.json", raw("files.completeUploadExternal",
		url.Values{"files": {`[{"id":"` + u.FileID + `","title":"y"}]`}, "channel_id": {"CREVIEW"}, "thread_ts": {parent}}))

	// A reply's ts is no thread; a file whose bytes did not all arrive
	// cannot be shared.
	reply := f.ThreadFiles("CREVIEW", parent)[0].TS
	_, err = api.UploadFileContext(ctx, slack.UploadFileParameters{Reader: bytes.NewReader(data), FileSize: len(data), Filename: "c.png",
		Channel: "CREVIEW", ThreadTimestamp: reply})
	if err == nil || !strings.Contains(err.Error(), "thread_not_found") {
		t.Errorf("sharing in a reply's thread: %v, want thread_not_found", err)
	}
	_, err = api.UploadFileContext(ctx, slack.UploadFileParameters{Reader: bytes.NewReader(data), FileSize: len(data) + 1, Filename: "d.png",
		Channel: "CREVIEW", ThreadTimestamp: parent})
	if err == nil {
		t.Errorf("a short upload was accepted")
	}
	if n := len(f.ThreadFiles("CREVIEW", parent)); n != 2 {
		t.Errorf("%d files in the thread, want 2", n)
	}
}
