// Package blueskyfake is a stateful fake Bluesky PDS for tests, served over
// httptest. It implements the XRPC methods heed uses, with the inputs,
// outputs and errors of their lexicons:
//
//   - com.atproto.server.createSession and refreshSession, with access and
//     refresh tokens that expire on the fake's clock (expired: 400
//     ExpiredToken) and refresh tokens that rotate;
//   - com.atproto.identity.resolveHandle;
//   - com.atproto.repo.createRecord, getRecord, deleteRecord and
//     uploadBlob, with records stored by record key and app.bsky.feed.post
//     checked against its lexicon (text limits, facet byte ranges, image
//     embeds with alt text and uploaded blobs).
//
// A second createRecord at a record key already in use answers 500
// InternalServerError, as Bluesky's PDS does today
// (bluesky-social/atproto issue #3718).
//
// It satisfies publishtest.Backend: FailNext applies to the next
// createRecord. Every exchange is kept for tests to inspect (Exchanges).
package blueskyfake

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rivo/uniseg"

	"github.com/heed-dev/heed/publish/publishtest"
)

// Account is an account hosted on the fake PDS.
type Account struct {
	Handle      string
	DID         string
	Email       string
	AppPassword string
}

// Record is a stored record.
type Record struct {
	URI   string
	CID   string
	Value json.RawMessage
}

// Blob is an uploaded blob.
type Blob struct {
	CID      string
	MimeType string
	Data     []byte
}

// Server is the fake PDS. Its zero value is not usable; call New.
type Server struct {
	publishtest.Recorder
	*httptest.Server

	// AccessTTL and RefreshTTL are how long tokens live on the fake's
	// clock. Set them before the first session.
	AccessTTL  time.Duration
	RefreshTTL time.Duration

	mu       sync.Mutex
	now      time.Time
	accounts []Account
	handles  map[string]string // handle → DID, for resolveHandle
	tokens   map[string]token
	records  map[string]map[string]Record // DID → rkey → record
	blobs    map[string]Blob
	counts   map[string]int
}

type token struct {
	did     string
	refresh bool
	expires time.Time
}

// New starts a fake PDS hosting accounts; it stops when t ends.
func New(t testing.TB, accounts ...Account) *Server {
	s := &Server{
		AccessTTL:  2 * time.Hour,
		RefreshTTL: 90 * 24 * time.Hour,
		now:        time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC),
		accounts:   accounts,
		handles:    map[string]string{},
		tokens:     map[string]token{},
		records:    map[string]map[string]Record{},
		blobs:      map[string]Blob{},
		counts:     map[string]int{},
	}
	for _, a := range accounts {
		s.handles[strings.ToLower(a.Handle)] = a.DID
	}
	s.Server = httptest.NewServer(s.Serve(s.serve))
	t.Cleanup(s.Close)
	return s
}

// AddHandle makes a handle of another account resolvable.
func (s *Server) AddHandle(handle, did string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handles[strings.ToLower(handle)] = did
}

// Advance moves the fake's clock, expiring tokens.
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = s.now.Add(d)
}

// Records returns the records in did's repository, by record key.
func (s *Server) Records(did string) map[string]Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Record{}
	for k, v := range s.records[did] {
		out[k] = v
	}
	return out
}

// PutRecord stores a record directly, as if another client had made it.
func (s *Server) PutRecord(did, collection, rkey string, value any) {
	b, _ := json.Marshal(value)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.store(did, collection, rkey, b)
}

// Blobs returns the uploaded blobs by CID.
func (s *Server) Blobs() map[string]Blob {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Blob{}
	for k, v := range s.blobs {
		out[k] = v
	}
	return out
}

// Count returns how many calls of the method nsid the fake received.
func (s *Server) Count(nsid string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[nsid]
}

// Tokens returns every access and refresh token the fake has issued, for
// tests that check none leaks.
func (s *Server) Tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.tokens {
		out = append(out, k)
	}
	return out
}

// xrpcError is the XRPC error body.
type xrpcError struct {
	Error   string `json:"error"`
	Message string `json:"message,omitempty"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, body []byte) {
	nsid := strings.TrimPrefix(r.URL.Path, "/xrpc/")
	s.mu.Lock()
	s.counts[nsid]++
	s.mu.Unlock()

	type route struct {
		method string
		h      func(http.ResponseWriter, *http.Request, []byte)
	}
	routes := map[string]route{
		"com.atproto.server.createSession":   {http.MethodPost, s.createSession},
		"com.atproto.server.refreshSession":  {http.MethodPost, s.refreshSession},
		"com.atproto.identity.resolveHandle": {http.MethodGet, s.resolveHandle},
		"com.atproto.repo.createRecord":      {http.MethodPost, s.createRecord},
		"com.atproto.repo.getRecord":         {http.MethodGet, s.getRecord},
		"com.atproto.repo.deleteRecord":      {http.MethodPost, s.deleteRecord},
		"com.atproto.repo.uploadBlob":        {http.MethodPost, s.uploadBlob},
	}
	rt, ok := routes[nsid]
	switch {
	case !ok:
		writeErr(w, http.StatusNotImplemented, "MethodNotImplemented", "Method Not Implemented")
	case r.Method != rt.method:
		writeErr(w, http.StatusMethodNotAllowed, "InvalidRequest", "Incorrect HTTP method ("+r.Method+") expected "+rt.method)
	default:
		rt.h(w, r, body)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, name, msg string) {
	writeJSON(w, status, xrpcError{Error: name, Message: msg})
}

func newToken(kind string) string {
	b := make([]byte, 16)
	rand.Read(b)
	return "fake-" + kind + "-jwt." + hex.EncodeToString(b)
}

func (s *Server) issue(a Account) map[string]any {
	access, refresh := newToken("access"), newToken("refresh")
	s.tokens[access] = token{did: a.DID, expires: s.now.Add(s.AccessTTL)}
	s.tokens[refresh] = token{did: a.DID, refresh: true, expires: s.now.Add(s.RefreshTTL)}
	return map[string]any{
		"accessJwt": access, "refreshJwt": refresh,
		"handle": a.Handle, "did": a.DID, "email": a.Email, "emailConfirmed": true, "active": true,
	}
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request, body []byte) {
	var in struct {
		Identifier string `json:"identifier"`
		Password   string `json:"password"`
	}
	if err := json.Unmarshal(body, &in); err != nil || in.Identifier == "" || in.Password == "" {
		writeErr(w, http.StatusBadRequest, "InvalidRequest", `Input must have the properties "identifier" and "password"`)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := strings.ToLower(strings.TrimPrefix(in.Identifier, "@"))
	for _, a := range s.accounts {
		if id != strings.ToLower(a.Handle) && id != a.DID && id != strings.ToLower(a.Email) {
			continue
		}
		if in.Password != a.AppPassword {
			break
		}
		writeJSON(w, http.StatusOK, s.issue(a))
		return
	}
	writeErr(w, http.StatusUnauthorized, "AuthenticationRequired", "Invalid identifier or password")
}

// auth checks the bearer token; it returns the DID, or "" after answering.
// Call with s.mu held.
func (s *Server) auth(w http.ResponseWriter, r *http.Request, wantRefresh bool) string {
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || bearer == "" {
		writeErr(w, http.StatusUnauthorized, "AuthenticationRequired", "Authentication Required")
		return ""
	}
	tok, known := s.tokens[bearer]
	switch {
	case !known:
		writeErr(w, http.StatusBadRequest, "InvalidToken", "Token could not be verified")
	case tok.refresh != wantRefresh:
		writeErr(w, http.StatusBadRequest, "InvalidToken", "Bad token scope")
	case !s.now.Before(tok.expires):
		writeErr(w, http.StatusBadRequest, "ExpiredToken", "Token has expired")
	default:
		return tok.did
	}
	return ""
}

func (s *Server) account(did string) Account {
	for _, a := range s.accounts {
		if a.DID == did {
			return a
		}
	}
	return Account{}
}

func (s *Server) refreshSession(w http.ResponseWriter, r *http.Request, _ []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	did := s.auth(w, r, true)
	if did == "" {
		return
	}
	// Refresh tokens rotate: the one just used is spent.
	delete(s.tokens, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	writeJSON(w, http.StatusOK, s.issue(s.account(did)))
}

func (s *Server) resolveHandle(w http.ResponseWriter, r *http.Request, _ []byte) {
	h := r.URL.Query().Get("handle")
	s.mu.Lock()
	did, ok := s.handles[strings.ToLower(h)]
	s.mu.Unlock()
	if h == "" {
		writeErr(w, http.StatusBadRequest, "InvalidRequest", `Error: Params must have the property "handle"`)
		return
	}
	if !ok {
		writeErr(w, http.StatusBadRequest, "InvalidRequest", "Unable to resolve handle")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"did": did})
}

// recordKeyRe is the record key syntax; tidRe the TID syntax that
// app.bsky.feed.post's "key": "tid" asks for.
var (
	recordKeyRe = regexp.MustCompile(`^[A-Za-z0-9._:~-]{1,512}$`)
	tidRe       = regexp.MustCompile(`^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$`)
)

func (s *Server) createRecord(w http.ResponseWriter, r *http.Request, body []byte) {
	var in struct {
		Repo       string          `json:"repo"`
		Collection string          `json:"collection"`
		RKey       string          `json:"rkey"`
		Validate   *bool           `json:"validate"`
		Record     json.RawMessage `json:"record"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		writeErr(w, http.StatusBadRequest, "InvalidRequest", "Request body must be JSON: "+err.Error())
		return
	}
	s.mu.Lock()
	did := s.auth(w, r, false)
	if did == "" {
		s.mu.Unlock()
		return
	}
	if in.Repo != did && !strings.EqualFold(in.Repo, s.account(did).Handle) {
		s.mu.Unlock()
		writeErr(w, http.StatusUnauthorized, "AuthenticationRequired", "Authentication Required")
		return
	}
	rkey := in.RKey
	if rkey == "" {
		rkey = s.tid()
	}
	if msg := s.checkRecord(in.Collection, rkey, in.Record, did); msg != "" {
		s.mu.Unlock()
		writeErr(w, http.StatusBadRequest, "InvalidRequest", msg)
		return
	}
	if _, exists := s.records[did][rkey]; exists {
		s.mu.Unlock()
		writeErr(w, http.StatusInternalServerError, "InternalServerError", "Internal Server Error")
		return
	}
	s.mu.Unlock()

	f := s.TakeFailure()
	switch f {
	case publishtest.Retryable:
		w.Header().Set("Retry-After", strconv.Itoa(publishtest.RetryAfterSeconds))
		writeErr(w, http.StatusTooManyRequests, "RateLimitExceeded", "Rate Limit Exceeded")
		return
	case publishtest.Permanent:
		writeErr(w, http.StatusUnprocessableEntity, "InvalidRequest", publishtest.PermanentMessage)
		return
	case publishtest.Auth:
		writeErr(w, http.StatusUnauthorized, "AuthenticationRequired", "Authentication Required")
		return
	}

	s.mu.Lock()
	stored := s.store(did, in.Collection, rkey, in.Record)
	rev := s.tid()
	s.mu.Unlock()
	var text struct{ Text string }
	json.Unmarshal(in.Record, &text)
	s.Record(publishtest.Post{Text: text.Text, RemoteID: stored.URI, IdempotencyKey: rkey})
	if f == publishtest.TimeoutAfterSend {
		publishtest.Stall(r)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"uri": stored.URI, "cid": stored.CID,
		"commit":           map[string]string{"cid": cid(0x71, []byte("commit"+stored.CID)), "rev": rev},
		"validationStatus": "valid",
	})
}

// store saves a record; call with s.mu held.
func (s *Server) store(did, collection, rkey string, value []byte) Record {
	rec := Record{
		URI:   "at://" + did + "/" + collection + "/" + rkey,
		CID:   cid(0x71, value),
		Value: append(json.RawMessage(nil), value...),
	}
	if s.records[did] == nil {
		s.records[did] = map[string]Record{}
	}
	s.records[did][rkey] = rec
	return rec
}

// checkRecord validates a record against the parts of the lexicons heed
// writes; it returns "" or the PDS's message. Call with s.mu held.
func (s *Server) checkRecord(collection, rkey string, raw json.RawMessage, did string) string {
	if !recordKeyRe.MatchString(rkey) || rkey == "." || rkey == ".." {
		return "Invalid record key: " + rkey
	}
	var head struct {
		Type string `json:"$type"`
	}
	if json.Unmarshal(raw, &head) != nil || head.Type != collection {
		return "Invalid $type: expected " + collection + ", got " + head.Type
	}
	if collection != "app.bsky.feed.post" {
		return ""
	}
	if !tidRe.MatchString(rkey) {
		return "Invalid record key for app.bsky.feed.post: must be a TID"
	}
	var post struct {
		Text      *string  `json:"text"`
		CreatedAt string   `json:"createdAt"`
		Langs     []string `json:"langs"`
		Facets    []struct {
			Index struct {
				ByteStart *int `json:"byteStart"`
				ByteEnd   *int `json:"byteEnd"`
			} `json:"index"`
			Features []map[string]any `json:"features"`
		} `json:"facets"`
		Embed *struct {
			Type   string `json:"$type"`
			Images []struct {
				Alt   *string `json:"alt"`
				Image struct {
					Type string `json:"$type"`
					Ref  struct {
						Link string `json:"$link"`
					} `json:"ref"`
					MimeType string `json:"mimeType"`
					Size     int    `json:"size"`
				} `json:"image"`
			} `json:"images"`
		} `json:"embed"`
	}
	if err := json.Unmarshal(raw, &post); err != nil {
		return "Invalid app.bsky.feed.post record: " + err.Error()
	}
	const bad = "Invalid app.bsky.feed.post record: "
	switch {
	case post.Text == nil:
		return bad + `Record must have the property "text"`
	case len(*post.Text) > 3000:
		return bad + "Record/text must not be longer than 3000 characters"
	case uniseg.GraphemeClusterCount(*post.Text) > 300:
		return bad + "Record/text must not be longer than 300 graphemes"
	case len(post.Langs) > 3:
		return bad + "Record/langs must not have more than 3 elements"
	}
	if _, err := time.Parse(time.RFC3339Nano, post.CreatedAt); err != nil {
		return bad + "Record/createdAt must be an valid atproto datetime (both RFC-3339 and ISO-8601)"
	}
	for i, f := range post.Facets {
		st, en := f.Index.ByteStart, f.Index.ByteEnd
		if st == nil || en == nil || *st < 0 || *en < *st || *en > len(*post.Text) {
			return fmt.Sprintf("%sRecord/facets/%d/index is out of the text's byte range", bad, i)
		}
		for j, feat := range f.Features {
			t, _ := feat["$type"].(string)
			ok := false
			switch t {
			case "app.bsky.richtext.facet#mention":
				d, _ := feat["did"].(string)
				ok = strings.HasPrefix(d, "did:")
			case "app.bsky.richtext.facet#link":
				u, _ := feat["uri"].(string)
				ok = strings.Contains(u, ":")
			case "app.bsky.richtext.facet#tag":
				tag, _ := feat["tag"].(string)
				ok = tag != "" && len(tag) <= 640
			}
			if !ok {
				return fmt.Sprintf("%sRecord/facets/%d/features/%d is not a valid %q", bad, i, j, t)
			}
		}
	}
	if e := post.Embed; e != nil {
		if e.Type != "app.bsky.embed.images" {
			return bad + "Record/embed has an unknown $type " + e.Type
		}
		if len(e.Images) == 0 || len(e.Images) > 4 {
			return bad + "Record/embed/images must have 1 to 4 elements"
		}
		for i, img := range e.Images {
			if img.Alt == nil {
				return fmt.Sprintf(`%sRecord/embed/images/%d must have the property "alt"`, bad, i)
			}
			b, ok := s.blobs[img.Image.Ref.Link]
			if img.Image.Type != "blob" || !ok {
				return fmt.Sprintf("Could not find blob: %s", img.Image.Ref.Link)
			}
			if b.MimeType != img.Image.MimeType || len(b.Data) != img.Image.Size {
				return fmt.Sprintf("%sRecord/embed/images/%d/image does not match the uploaded blob", bad, i)
			}
		}
	}
	return ""
}

func (s *Server) getRecord(w http.ResponseWriter, r *http.Request, _ []byte) {
	q := r.URL.Query()
	repo, collection, rkey := q.Get("repo"), q.Get("collection"), q.Get("rkey")
	s.mu.Lock()
	defer s.mu.Unlock()
	did := repo
	if h, ok := s.handles[strings.ToLower(repo)]; ok {
		did = h
	}
	rec, ok := s.records[did][rkey]
	if !ok || !strings.HasPrefix(rec.URI, "at://"+did+"/"+collection+"/") {
		writeErr(w, http.StatusBadRequest, "RecordNotFound", "Could not locate record: at://"+did+"/"+collection+"/"+rkey)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"uri": rec.URI, "cid": rec.CID, "value": rec.Value})
}

func (s *Server) deleteRecord(w http.ResponseWriter, r *http.Request, body []byte) {
	var in struct {
		Repo       string `json:"repo"`
		Collection string `json:"collection"`
		RKey       string `json:"rkey"`
	}
	if err := json.Unmarshal(body, &in); err != nil || in.Collection == "" || in.RKey == "" {
		writeErr(w, http.StatusBadRequest, "InvalidRequest", `Input must have the properties "repo", "collection" and "rkey"`)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	did := s.auth(w, r, false)
	if did == "" {
		return
	}
	if in.Repo != did {
		writeErr(w, http.StatusUnauthorized, "AuthenticationRequired", "Authentication Required")
		return
	}
	// deleteRecord succeeds whether or not the record exists.
	delete(s.records[did], in.RKey)
	writeJSON(w, http.StatusOK, map[string]any{"commit": map[string]string{"cid": cid(0x71, []byte("delete"+in.RKey)), "rev": s.tid()}})
}

func (s *Server) uploadBlob(w http.ResponseWriter, r *http.Request, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.auth(w, r, false) == "" {
		return
	}
	mime := r.Header.Get("Content-Type")
	if mime == "" || len(body) == 0 {
		writeErr(w, http.StatusBadRequest, "InvalidRequest", "Request encoding (Content-Type) and a body are required")
		return
	}
	c := cid(0x55, body)
	s.blobs[c] = Blob{CID: c, MimeType: mime, Data: body}
	writeJSON(w, http.StatusOK, map[string]any{"blob": map[string]any{
		"$type": "blob", "ref": map[string]string{"$link": c}, "mimeType": mime, "size": len(body),
	}})
}

// tid returns a fresh TID from the fake's clock. Call with s.mu held.
func (s *Server) tid() string {
	const alphabet = "234567abcdefghijklmnopqrstuvwxyz"
	s.now = s.now.Add(time.Microsecond) // each TID is unique
	v := uint64(s.now.UnixMicro())<<10 | 7
	var b [13]byte
	for i := 12; i >= 0; i-- {
		b[i] = alphabet[v&31]
		v >>= 5
	}
	return string(b[:])
}

// cid returns a CIDv1 string (multibase base32) for data with the given
// multicodec (0x55 raw for blobs, 0x71 dag-cbor for records) and a SHA-256
// multihash. The fake hashes the JSON, not real DAG-CBOR: the value only
// needs to be stable for the same content.
func cid(codec byte, data []byte) string {
	sum := sha256.Sum256(data)
	b := append([]byte{0x01, codec, 0x12, 0x20}, sum[:]...)
	return "b" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}
