package slackfake

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Files, as Slack's external upload flow makes them (docs:
// files.getUploadURLExternal, files.completeUploadExternal):
//
//  1. files.getUploadURLExternal (filename, length, alt_txt) reserves a
//     file and answers upload_url and file_id;
//  2. the app POSTs the bytes to upload_url, raw or as a multipart form;
//     Slack answers 200 once it has them all;
//  3. files.completeUploadExternal (files=[{id,title}], channel_id,
//     thread_ts) shares them: a message from the app in the channel, in
//     the thread of thread_ts when given (a parent's ts, never a reply's).
//
// The fake holds each file's bytes and where it was shared. The two Web API
// methods answer 429 like every other (RateLimit, RateLimitMethod,
// Limits); so does the upload URL, under the name "files.upload_url",
// though Slack documents no limit of its own there.

// File is a snapshot of one file as the fake holds it.
type File struct {
	ID       string
	Name     string // filename given to files.getUploadURLExternal
	Title    string // from files.completeUploadExternal
	Alt      string // alt_txt
	Length   int    // the length announced
	Data     []byte // the bytes uploaded, once they are
	Channel  string // where it was shared; "" until completed
	ThreadTS string // the thread it was shared in, if any
	TS       string // the message that shares it
}

type file struct {
	File
	uploaded bool
}

type fileState struct {
	files map[string]*file
	order []string
}

// Files returns every file made so far, in the order they were reserved.
func (f *Fake) Files() []File {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]File, 0, len(f.fs.order))
	for _, id := range f.fs.order {
		fl := f.fs.files[id].File
		fl.Data = slices.Clone(fl.Data)
		out = append(out, fl)
	}
	return out
}

// ThreadFiles returns the files shared in the thread of the message ts in
// channel ch.
func (f *Fake) ThreadFiles(ch, ts string) []File {
	var out []File
	for _, fl := range f.Files() {
		if fl.Channel == ch && fl.ThreadTS == ts {
			out = append(out, fl)
		}
	}
	return out
}

func (f *Fake) getUploadURLLocked(p url.Values) any {
	name := p.Get("filename")
	length, err := strconv.Atoi(p.Get("length"))
	if name == "" || err != nil || length <= 0 {
		return apiError("invalid_arguments")
	}
	if f.fs.files == nil {
		f.fs.files = map[string]*file{}
	}
	id := fmt.Sprintf("F0HEED%05d", f.nextSeqLocked())
	f.fs.files[id] = &file{File: File{ID: id, Name: name, Alt: p.Get("alt_txt"), Length: length}}
	f.fs.order = append(f.fs.order, id)
	return map[string]any{"ok": true, "upload_url": f.srv.URL + "/upload/v1/" + id, "file_id": id}
}

// serveUpload takes the bytes POSTed to an upload URL.
func (f *Fake) serveUpload(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/upload/v1/")
	data, err := uploadBody(r)
	f.mu.Lock()
	rec := Call{Method: "files.upload_url", Params: url.Values{"file_id": {id}}, Status: http.StatusOK}
	if wait, limited := f.limitedLocked("files.upload_url"); limited {
		rec.Status, rec.Error = http.StatusTooManyRequests, "ratelimited"
		f.calls = append(f.calls, rec)
		f.notifyLocked()
		f.mu.Unlock()
		w.Header().Set("Retry-After", strconv.Itoa(wait))
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	fl := f.fs.files[id]
	switch {
	case r.Method != http.MethodPost:
		rec.Status = http.StatusMethodNotAllowed
	case fl == nil:
		rec.Status = http.StatusNotFound
	case err != nil || len(data) != fl.Length:
		rec.Status, rec.Error = http.StatusBadRequest, fmt.Sprintf("got %d bytes, length was %d (%v)", len(data), fl.Length, err)
	default:
		fl.Data, fl.uploaded = data, true
	}
	f.calls = append(f.calls, rec)
	f.notifyLocked()
	f.mu.Unlock()
	w.WriteHeader(rec.Status)
	if rec.Status == http.StatusOK {
		_, _ = fmt.Fprintf(w, "OK - %d", len(data))
	}
}

// uploadBody reads the bytes of an upload: the first file part of a
// multipart form, or the raw body.
func uploadBody(r *http.Request) ([]byte, error) {
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		return io.ReadAll(r.Body)
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err != nil {
			return nil, fmt.Errorf("no file in the form: %w", err)
		}
		if part.FileName() != "" {
			return io.ReadAll(part)
		}
	}
}

func (f *Fake) completeUploadLocked(p url.Values) any {
	var summaries []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	if json.Unmarshal([]byte(p.Get("files")), &summaries) != nil || len(summaries) == 0 {
		return apiError("invalid_arguments")
	}
	var fls []*file
	for _, s := range summaries {
		fl := f.fs.files[s.ID]
		if fl == nil || !fl.uploaded || fl.Channel != "" {
			return apiError("file_not_found")
		}
		fls = append(fls, fl)
	}
	ch := p.Get("channel_id")
	out := make([]map[string]any, 0, len(fls))
	for i, fl := range fls {
		fl.Title = summaries[i].Title
		out = append(out, map[string]any{"id": fl.ID, "title": fl.Title})
	}
	if ch == "" {
		return map[string]any{"ok": true, "files": out} // private: shared nowhere
	}
	c := f.channels[ch]
	if c == nil {
		return apiError("channel_not_found")
	}
	if !slices.Contains(c.members, f.opt.BotUserID) {
		return apiError("not_in_channel")
	}
	m := &message{channel: c.id, user: f.opt.BotUserID, botID: f.opt.BotID, subtype: "file_share", text: p.Get("initial_comment")}
	if th := p.Get("thread_ts"); th != "" {
		_, parent := f.findLocked(c.id, th)
		if parent == nil || (parent.threadTS != "" && parent.threadTS != parent.ts) {
			return apiError("thread_not_found") // Slack: use the parent's ts, never a reply's
		}
		parent.replies++
		m.threadTS = th
	}
	m.ts = f.nextTSLocked()
	for _, fl := range fls {
		fl.Channel, fl.ThreadTS, fl.TS = c.id, m.threadTS, m.ts
		m.files = append(m.files, fl.ID)
	}
	c.msgs = append(c.msgs, m)
	if !f.opt.NoEcho {
		f.out.enqueue(f.messageEventLocked(m))
	}
	return map[string]any{"ok": true, "files": out}
}

// filesJSON renders a message's files as conversations.history shows them.
func (f *Fake) filesJSON(m *message) []map[string]any {
	out := make([]map[string]any, 0, len(m.files))
	for _, id := range m.files {
		fl := f.fs.files[id]
		if fl == nil {
			continue
		}
		j := map[string]any{"id": fl.ID, "name": fl.Name, "title": fl.Title, "size": len(fl.Data),
			"mimetype": http.DetectContentType(fl.Data), "user": f.opt.BotUserID, "mode": "hosted"}
		if fl.Alt != "" {
			j["alt_txt"] = fl.Alt
		}
		out = append(out, j)
	}
	return out
}
