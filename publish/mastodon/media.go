package mastodon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/httpx"
)

// Polling a processing attachment: waits double from firstPoll up to
// maxPollWait, at most maxPolls times (about a minute and a half in all).
const (
	firstPoll   = 500 * time.Millisecond
	maxPollWait = 5 * time.Second
	maxPolls    = 20
)

// mediaAnswer is the part of a MediaAttachment entity heed reads.
type mediaAnswer struct {
	ID  string  `json:"id"`
	URL *string `json:"url"`
}

// upload sends one image with its alt text through POST /api/v2/media and
// waits until the server has processed it, returning its id. Nothing is
// public until the status is posted, so a failed or lost upload is safe to
// retry: an ambiguous outcome here is retryable.
func (p *Publisher) upload(ctx context.Context, n int, m publish.Media) (string, error) {
	what := fmt.Sprintf("uploading image %d (%s)", n, mediaName(m))
	data := m.Data // the approved bytes, from heed's media store
	var err error
	if data == nil {
		data, err = p.readFile(m.Path)
	}
	if err != nil {
		return "", publish.PermanentError(fmt.Errorf("mastodon: %s: %w", what, err))
	}
	body, contentType, err := multipartBody(m, data)
	if err != nil {
		return "", publish.PermanentError(fmt.Errorf("mastodon: %s: %w", what, err))
	}
	req, err := p.newRequest(ctx, http.MethodPost, "/api/v2/media", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", contentType)
	resp, answer, err := httpx.Do(ctx, p.client, req, httpx.WithSecrets(p.token))
	if err != nil {
		return "", safeToRetry(rewrap(err, what))
	}
	var a mediaAnswer
	if err := json.Unmarshal(answer, &a); err != nil || a.ID == "" {
		return "", publish.RetryableError(fmt.Errorf("mastodon: %s: %s answered without an attachment id", what, p.host), 0)
	}
	// 200: processed. 202: accepted, still processing (Mastodon 4 does this
	// for large files; older servers for images too).
	if resp.StatusCode == http.StatusAccepted || a.URL == nil {
		if err := p.awaitMedia(ctx, a.ID, what); err != nil {
			return "", err
		}
	}
	return a.ID, nil
}

// awaitMedia polls GET /api/v1/media/:id until the attachment is processed:
// Mastodon answers 206 Partial Content while it is not, 200 once it is.
func (p *Publisher) awaitMedia(ctx context.Context, id, what string) error {
	wait := firstPoll
	for range maxPolls {
		if err := p.wait(ctx, wait); err != nil {
			return publish.RetryableError(fmt.Errorf("mastodon: %s: stopped waiting for the server to process it: %w", what, err), 0)
		}
		wait = min(2*wait, maxPollWait)
		req, err := p.newRequest(ctx, http.MethodGet, "/api/v1/media/"+url.PathEscape(id), nil)
		if err != nil {
			return err
		}
		resp, answer, err := httpx.Do(ctx, p.client, req, httpx.WithSecrets(p.token))
		if err != nil {
			return safeToRetry(rewrap(err, what))
		}
		if resp.StatusCode == http.StatusPartialContent || resp.StatusCode == http.StatusAccepted {
			continue
		}
		var a mediaAnswer
		if json.Unmarshal(answer, &a) == nil && a.URL == nil {
			// A 200 without a URL is still processing on some servers.
			continue
		}
		return nil
	}
	return publish.RetryableError(fmt.Errorf("mastodon: %s: %s was still processing it after %d checks", what, p.host, maxPolls), 0)
}

// safeToRetry turns an ambiguous upload into a retryable one: an attachment
// that was made but never used in a status is invisible.
func safeToRetry(err error) error {
	var pe *publish.Error
	if errors.As(err, &pe) && pe.Kind == publish.Ambiguous {
		return publish.RetryableError(pe.Err, 0)
	}
	return err
}

// multipartBody builds the form POST /api/v2/media takes: the file, with
// its MIME type (Mastodon refuses a file without one), and the alt text as
// description.
func multipartBody(m publish.Media, data []byte) ([]byte, string, error) {
	mt := m.MIME
	if mt == "" {
		mt = mime.TypeByExtension(filepath.Ext(m.FileName()))
	}
	if mt == "" {
		mt = http.DetectContentType(data)
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, mediaName(m)))
	h.Set("Content-Type", mt)
	part, err := w.CreatePart(h)
	if err != nil {
		return nil, "", err
	}
	if _, err := part.Write(data); err != nil {
		return nil, "", err
	}
	if err := w.WriteField("description", m.Alt); err != nil {
		return nil, "", err
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), w.FormDataContentType(), nil
}

func readFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("cannot read %s: %w", path, pe.Err)
		}
		return nil, err
	}
	return data, nil
}

// mediaName is the image's file name as a person gave it.
func mediaName(m publish.Media) string {
	if m.Name != "" {
		return m.Name
	}
	return baseName(m.Path)
}

func baseName(path string) string {
	if path == "" {
		return "no file"
	}
	return filepath.Base(strings.TrimRight(path, "/"))
}
