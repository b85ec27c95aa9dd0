package mastodon

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/heed-dev/heed/publish/publishtest"
)

// fakeMastodon is a stateful Mastodon server built from the API docs
// (docs.joinmastodon.org/methods/statuses, /methods/media,
// /methods/instance); its answers are the payloads in testdata/ with the
// fields each request changes filled in. It keeps statuses and media,
// deduplicates statuses by Idempotency-Key as Mastodon does, serves media
// uploads that need processing (202, then 206 on GET until ready), and
// fails once on demand through the embedded publishtest.Recorder.
type fakeMastodon struct {
	publishtest.Recorder
	*httptest.Server
	t     testing.TB
	token string

	mu sync.Mutex
	// Instance: which endpoints exist and what they say.
	noV2, noV1       bool
	instanceDown     bool // both instance endpoints answer 503
	maxChars         int
	v1File           string // testdata file for /api/v1/instance
	version, source  string // overrides, when set
	ignoreIdemKey    bool   // answer like a server without idempotency (GoToSocial)
	asyncMedia       bool   // POST /api/v2/media answers 202
	processingPolls  int    // GETs answered 206 before the media is ready
	stallMediaUpload bool   // the next upload is stored, then the answer never comes

	nextID   int
	statuses map[string]*fakeStatus
	media    map[string]*fakeMedia
	requests []recorded // every status and media request, for inspection
	files    map[string][]byte
}

type fakeStatus struct {
	ID, Text, Visibility, Language string
	MediaIDs                       []string
	Deleted                        bool
}

type fakeMedia struct {
	ID, Description, MIME, Filename string
	Size                            int
	pollsLeft                       int
}

// recorded is one request as the fake saw it.
type recorded struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

func newFake(t testing.TB, token string) *fakeMastodon {
	f := &fakeMastodon{
		t:        t,
		token:    token,
		maxChars: 500,
		v1File:   "instance_v1.json",
		nextID:   103270115826048975,
		statuses: map[string]*fakeStatus{},
		media:    map[string]*fakeMedia{},
		files:    map[string][]byte{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v2/instance", f.instanceV2)
	mux.HandleFunc("GET /api/v1/instance", f.instanceV1)
	mux.HandleFunc("POST /api/v1/statuses", f.authed(f.postStatus))
	mux.HandleFunc("GET /api/v1/statuses/{id}", f.authed(f.getStatus))
	mux.HandleFunc("DELETE /api/v1/statuses/{id}", f.authed(f.deleteStatus))
	mux.HandleFunc("POST /api/v2/media", f.authed(f.postMedia))
	mux.HandleFunc("GET /api/v1/media/{id}", f.authed(f.getMedia))
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.Called()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeMastodon) set(fn func(f *fakeMastodon)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// Requests returns the status and media requests received so far.
func (f *fakeMastodon) Requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.requests...)
}

// Statuses returns the statuses held, deleted ones included.
func (f *fakeMastodon) Status(id string) (fakeStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.statuses[id]
	if !ok {
		return fakeStatus{}, false
	}
	return *s, true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func mastodonError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// payload reads a testdata answer as a map for the fake to fill in; f.mu
// is held.
func (f *fakeMastodon) payload(name string) map[string]any {
	data, ok := f.files[name]
	if !ok {
		var err error
		data, err = os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.t.Errorf("fake: %v", err)
			return map[string]any{}
		}
		f.files[name] = data
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		f.t.Errorf("fake: testdata/%s: %v", name, err)
	}
	return m
}

func (f *fakeMastodon) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+f.token {
			mastodonError(w, http.StatusUnauthorized, "The access token is invalid")
			return
		}
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.requests = append(f.requests, recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		f.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		h(w, r)
	}
}

func (f *fakeMastodon) instanceV2(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.instanceDown:
		mastodonError(w, http.StatusServiceUnavailable, "Service Unavailable")
		return
	case f.noV2:
		mastodonError(w, http.StatusNotFound, "Record not found")
		return
	}
	m := f.payload("instance_v2.json")
	m["configuration"].(map[string]any)["statuses"].(map[string]any)["max_characters"] = f.maxChars
	f.identity(m)
	writeJSON(w, http.StatusOK, m)
}

func (f *fakeMastodon) instanceV1(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.instanceDown:
		mastodonError(w, http.StatusServiceUnavailable, "Service Unavailable")
		return
	case f.noV1:
		mastodonError(w, http.StatusNotFound, "Record not found")
		return
	}
	m := f.payload(f.v1File)
	if c, ok := m["configuration"].(map[string]any); ok {
		c["statuses"].(map[string]any)["max_characters"] = f.maxChars
	} else {
		m["max_toot_chars"] = f.maxChars
	}
	f.identity(m)
	writeJSON(w, http.StatusOK, m)
}

func (f *fakeMastodon) identity(m map[string]any) {
	if f.version != "" {
		m["version"] = f.version
	}
	if f.source != "" {
		m["source_url"] = f.source
	}
}

// statusRequest is the POST /api/v1/statuses body, as JSON or form data.
type statusRequest struct {
	Status      string   `json:"status"`
	MediaIDs    []string `json:"media_ids"`
	Visibility  string   `json:"visibility"`
	Language    string   `json:"language"`
	ScheduledAt string   `json:"scheduled_at"`
}

func (f *fakeMastodon) postStatus(w http.ResponseWriter, r *http.Request) {
	var sr statusRequest
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/json":
		if err := json.NewDecoder(r.Body).Decode(&sr); err != nil {
			mastodonError(w, http.StatusBadRequest, "Error while parsing request body")
			return
		}
	default:
		if err := r.ParseForm(); err != nil {
			mastodonError(w, http.StatusBadRequest, "Error while parsing request body")
			return
		}
		sr = statusRequest{Status: r.PostForm.Get("status"), MediaIDs: r.PostForm["media_ids[]"],
			Visibility: r.PostForm.Get("visibility"), Language: r.PostForm.Get("language"), ScheduledAt: r.PostForm.Get("scheduled_at")}
	}

	failure := f.TakeFailure()
	switch failure {
	case publishtest.Retryable:
		w.Header().Set("Retry-After", strconv.Itoa(publishtest.RetryAfterSeconds))
		mastodonError(w, http.StatusTooManyRequests, "Too many requests")
		return
	case publishtest.Permanent:
		mastodonError(w, http.StatusUnprocessableEntity, publishtest.PermanentMessage)
		return
	case publishtest.Auth:
		mastodonError(w, http.StatusUnauthorized, "The access token is invalid")
		return
	}

	f.mu.Lock()
	if sr.ScheduledAt != "" {
		f.mu.Unlock()
		f.t.Errorf("fake: heed sent scheduled_at %q; it must publish at fire time", sr.ScheduledAt)
		mastodonError(w, http.StatusUnprocessableEntity, "heed must not schedule on the server")
		return
	}
	if strings.TrimSpace(sr.Status) == "" && len(sr.MediaIDs) == 0 {
		f.mu.Unlock()
		mastodonError(w, http.StatusUnprocessableEntity, "Validation failed: Text can't be blank")
		return
	}
	if n := utf8.RuneCountInString(sr.Status); n > f.maxChars {
		f.mu.Unlock()
		mastodonError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Validation failed: Text character limit of %d exceeded", f.maxChars))
		return
	}
	for _, id := range sr.MediaIDs {
		m, ok := f.media[id]
		switch {
		case !ok:
			f.mu.Unlock()
			mastodonError(w, http.StatusUnprocessableEntity, "Validation failed: Media attachments is invalid")
			return
		case m.pollsLeft > 0:
			f.mu.Unlock()
			mastodonError(w, http.StatusUnprocessableEntity, "Cannot attach files that have not finished processing. Try again in a moment!")
			return
		}
	}
	key := r.Header.Get("Idempotency-Key")
	if f.ignoreIdemKey {
		key = ""
	}
	f.nextID++
	id := strconv.Itoa(f.nextID)
	f.mu.Unlock()

	post, dup := f.Record(publishtest.Post{Text: sr.Status, RemoteID: id, IdempotencyKey: key})
	f.mu.Lock()
	if !dup {
		vis := sr.Visibility
		if vis == "" {
			vis = "public"
		}
		f.statuses[id] = &fakeStatus{ID: id, Text: sr.Status, Visibility: vis, Language: sr.Language, MediaIDs: sr.MediaIDs}
	}
	st := f.statusJSON(f.statuses[post.RemoteID])
	f.mu.Unlock()

	if failure == publishtest.TimeoutAfterSend {
		publishtest.Stall(r)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// statusJSON renders a Status entity; f.mu is held.
func (f *fakeMastodon) statusJSON(s *fakeStatus) map[string]any {
	m := f.payload("status.json")
	m["id"] = s.ID
	m["url"] = f.URL + "/@heed/" + s.ID
	m["uri"] = f.URL + "/users/heed/statuses/" + s.ID
	m["visibility"] = s.Visibility
	if s.Language != "" {
		m["language"] = s.Language
	} else {
		m["language"] = nil
	}
	m["content"] = "<p>" + strings.ReplaceAll(html.EscapeString(s.Text), "\n", "<br>") + "</p>"
	atts := []any{}
	for _, id := range s.MediaIDs {
		atts = append(atts, f.mediaJSON(f.media[id], false))
	}
	m["media_attachments"] = atts
	return m
}

func (f *fakeMastodon) getStatus(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.statuses[r.PathValue("id")]
	if !ok || s.Deleted {
		mastodonError(w, http.StatusNotFound, "Record not found")
		return
	}
	writeJSON(w, http.StatusOK, f.statusJSON(s))
}

func (f *fakeMastodon) deleteStatus(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.statuses[r.PathValue("id")]
	if !ok || s.Deleted {
		mastodonError(w, http.StatusNotFound, "Record not found")
		return
	}
	s.Deleted = true
	// Mastodon answers with the deleted status and its source text, for
	// delete-and-redraft.
	m := f.statusJSON(s)
	m["text"] = s.Text
	writeJSON(w, http.StatusOK, m)
}

func (f *fakeMastodon) postMedia(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		mastodonError(w, http.StatusUnprocessableEntity, "Validation failed: File can't be blank")
		return
	}
	file, hdr, err := r.FormFile("file")
	if err != nil {
		mastodonError(w, http.StatusUnprocessableEntity, "Validation failed: File can't be blank")
		return
	}
	data, _ := io.ReadAll(file)
	ct := hdr.Header.Get("Content-Type")
	if ct == "" || ct == "application/octet-stream" {
		mastodonError(w, http.StatusUnprocessableEntity, "Validation failed: File content type is invalid")
		return
	}
	f.mu.Lock()
	f.nextID++
	m := &fakeMedia{ID: strconv.Itoa(f.nextID), Description: r.FormValue("description"), MIME: ct, Filename: hdr.Filename, Size: len(data)}
	code := http.StatusOK
	if f.asyncMedia {
		code = http.StatusAccepted
		m.pollsLeft = f.processingPolls
	}
	f.media[m.ID] = m
	stall := f.stallMediaUpload
	f.stallMediaUpload = false
	body := f.mediaJSON(m, f.asyncMedia)
	f.mu.Unlock()
	if stall {
		publishtest.Stall(r)
		return
	}
	writeJSON(w, code, body)
}

func (f *fakeMastodon) getMedia(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.media[r.PathValue("id")]
	if !ok {
		mastodonError(w, http.StatusNotFound, "Record not found")
		return
	}
	if m.pollsLeft > 0 {
		m.pollsLeft--
		writeJSON(w, http.StatusPartialContent, f.mediaJSON(m, true))
		return
	}
	writeJSON(w, http.StatusOK, f.mediaJSON(m, false))
}

// mediaJSON renders a MediaAttachment; f.mu is held. url is null while
// the attachment is processing.
func (f *fakeMastodon) mediaJSON(m *fakeMedia, processing bool) map[string]any {
	if processing {
		p := f.payload("media_processing.json")
		p["id"], p["description"] = m.ID, m.Description
		return p
	}
	p := f.payload("media_processed.json")
	p["id"], p["description"] = m.ID, m.Description
	p["url"] = f.URL + "/media/" + m.ID + "/" + m.Filename
	return p
}
