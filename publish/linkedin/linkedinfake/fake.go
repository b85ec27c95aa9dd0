// Package linkedinfake is a stateful fake of LinkedIn's Posts API for tests,
// served over httptest and answering in the shapes of LinkedIn's
// documentation:
//
//   - POST /rest/posts: 201 with the new post's URN in x-restli-id and an
//     empty body; 401 INVALID_ACCESS_TOKEN; 400 VERSION_MISSING and 426
//     NONEXISTENT_VERSION for a missing or retired LinkedIn-Version; 422
//     "ERROR :: /field :: …" for a body that breaks the schema; 403
//     ACCESS_DENIED for an author the token may not post as.
//   - DELETE /rest/posts/{urn}: 204, or 404 for an unknown post.
//
// Commentary is read as LinkedIn's little text format: a backslash escapes a
// reserved character, "#word" is a hashtag, "@[Name](urn)" a mention, and an
// unescaped reserved character anywhere else ends the text there, the
// silent truncation LinkedIn users report. Posts hold the text as shown.
//
// It satisfies publishtest.Backend: FailNext applies to the next POST.
package linkedinfake

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/heed-dev/heed/publish/publishtest"
)

// Post is a stored post.
type Post struct {
	URN        string
	Author     string
	Commentary string // as sent
	Text       string // as shown
}

// Server is the fake Posts API.
type Server struct {
	publishtest.Recorder
	*httptest.Server

	token    string
	authors  map[string]bool
	versions map[string]bool

	mu     sync.Mutex
	posts  []Post
	nextID uint64
}

// New starts a fake that accepts token for the given authors and the given
// LinkedIn-Version releases. It stops when t ends.
func New(t testing.TB, token string, authors []string, versions ...string) *Server {
	s := &Server{token: token, authors: map[string]bool{}, versions: map[string]bool{}, nextID: 7300000000000000001}
	for _, a := range authors {
		s.authors[a] = true
	}
	for _, v := range versions {
		s.versions[v] = true
	}
	s.Server = httptest.NewServer(s.Serve(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Stored returns the stored posts, oldest first.
func (s *Server) Stored() []Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Post(nil), s.posts...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, body []byte) {
	if !s.checkHeaders(w, r) {
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/rest/posts":
		s.create(w, r, body)
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.EscapedPath(), "/rest/posts/"):
		s.delete(w, strings.TrimPrefix(r.URL.EscapedPath(), "/rest/posts/"))
	default:
		fail(w, http.StatusNotFound, "", "No virtual resource found")
	}
}

func fail(w http.ResponseWriter, status int, code, msg string) {
	body := map[string]any{"status": status, "message": msg}
	if code != "" {
		body["code"] = code
	}
	if status == http.StatusUnauthorized {
		body["serviceErrorCode"] = 65600
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

// checkHeaders applies what every versioned API call needs.
func (s *Server) checkHeaders(w http.ResponseWriter, r *http.Request) bool {
	v := r.Header.Get("LinkedIn-Version")
	switch {
	case r.Header.Get("Authorization") != "Bearer "+s.token:
		fail(w, http.StatusUnauthorized, "INVALID_ACCESS_TOKEN", "Invalid access token")
	case v == "":
		fail(w, http.StatusBadRequest, "VERSION_MISSING", "A version must be present. Please specify a version by adding the LinkedIn-Version header.")
	case !s.versions[v]:
		fail(w, http.StatusUpgradeRequired, "NONEXISTENT_VERSION", "Requested version "+v+" is not active")
	case r.Header.Get("X-Restli-Protocol-Version") != "2.0.0":
		fail(w, http.StatusBadRequest, "", "Invalid or missing X-Restli-Protocol-Version header: expected 2.0.0")
	default:
		return true
	}
	return false
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, body []byte) {
	var in map[string]any
	if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &in) != nil {
		fail(w, http.StatusBadRequest, "ILLEGAL_ARGUMENT", "Request body could not be converted to data map")
		return
	}
	if msg := schemaErrors(in); msg != "" {
		fail(w, http.StatusUnprocessableEntity, "", msg)
		return
	}
	author := in["author"].(string)
	if !s.authors[author] {
		fail(w, http.StatusForbidden, "ACCESS_DENIED", "Unpermitted fields present in REQUEST_BODY: Data Processing Exception while processing fields [/author]")
		return
	}
	commentary := in["commentary"].(string)
	if n := len(utf16.Encode([]rune(commentary))); n > 3000 {
		fail(w, http.StatusUnprocessableEntity, "", "ERROR :: /commentary :: length "+strconv.Itoa(n)+" exceeds the maximum of 3000\n")
		return
	}

	f := s.TakeFailure()
	switch f {
	case publishtest.Retryable:
		w.Header().Set("Retry-After", strconv.Itoa(publishtest.RetryAfterSeconds))
		fail(w, http.StatusTooManyRequests, "", "Resource level throttle APPLICATION DAY limit for calls to this resource is reached.")
		return
	case publishtest.Permanent:
		fail(w, http.StatusUnprocessableEntity, "", publishtest.PermanentMessage)
		return
	case publishtest.Auth:
		fail(w, http.StatusUnauthorized, "INVALID_ACCESS_TOKEN", "Invalid access token")
		return
	}

	s.mu.Lock()
	urn := "urn:li:share:" + strconv.FormatUint(s.nextID, 10)
	s.nextID++
	shown := Shown(commentary)
	s.posts = append(s.posts, Post{URN: urn, Author: author, Commentary: commentary, Text: shown})
	s.mu.Unlock()
	s.Record(publishtest.Post{Text: shown, RemoteID: urn})
	if f == publishtest.TimeoutAfterSend {
		publishtest.Stall(r)
		return
	}
	w.Header().Set("x-restli-id", urn)
	w.Header().Set("Location", "/rest/posts/"+url.QueryEscape(urn))
	w.WriteHeader(http.StatusCreated)
}

// schemaErrors checks the fields a text post needs, in LinkedIn's words.
func schemaErrors(in map[string]any) string {
	var b strings.Builder
	for _, f := range []string{"author", "commentary", "visibility", "distribution", "lifecycleState"} {
		if _, ok := in[f]; !ok {
			b.WriteString("ERROR :: /" + f + " :: field is required but not found and has no default value\n")
		}
	}
	if b.Len() > 0 {
		return b.String()
	}
	str := func(k string) string { v, _ := in[k].(string); return v }
	if _, ok := in["author"].(string); !ok {
		b.WriteString("ERROR :: /author :: not a valid URN\n")
	}
	if _, ok := in["commentary"].(string); !ok {
		b.WriteString("ERROR :: /commentary :: not a string\n")
	}
	if v := str("visibility"); v != "PUBLIC" && v != "CONNECTIONS" && v != "LOGGED_IN" && v != "CONTAINER" {
		b.WriteString("ERROR :: /visibility :: \"" + v + "\" is not an enum symbol\n")
	}
	if v := str("lifecycleState"); v != "PUBLISHED" && v != "DRAFT" {
		b.WriteString("ERROR :: /lifecycleState :: \"" + v + "\" is not an enum symbol\n")
	}
	d, _ := in["distribution"].(map[string]any)
	if fd, _ := d["feedDistribution"].(string); fd != "MAIN_FEED" && fd != "NONE" {
		b.WriteString("ERROR :: /distribution/feedDistribution :: \"" + fd + "\" is not an enum symbol\n")
	}
	return b.String()
}

func (s *Server) delete(w http.ResponseWriter, escaped string) {
	urn, err := url.PathUnescape(escaped)
	if err != nil || !strings.HasPrefix(escaped, "urn%3Ali%3A") {
		fail(w, http.StatusBadRequest, "", "Invalid URN in path: "+escaped)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.posts {
		if p.URN == urn {
			s.posts = append(s.posts[:i], s.posts[i+1:]...)
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	fail(w, http.StatusNotFound, "NOT_FOUND", "Post "+urn+" does not exist")
}

const reserved = `\|{}@[]()<>#*_~`

// Shown reads commentary in the little format and returns the text a
// reader sees.
func Shown(commentary string) string {
	var b strings.Builder
	prev := ' '
	for i := 0; i < len(commentary); {
		r, size := utf8.DecodeRuneInString(commentary[i:])
		rest := commentary[i+size:]
		switch {
		case r == '\\':
			next, n := utf8.DecodeRuneInString(rest)
			if n == 0 || !strings.ContainsRune(reserved, next) {
				return b.String()
			}
			b.WriteRune(next)
			i += size + n
			prev = next
			continue
		case r == '#' && unicode.IsSpace(prev) && tagStart(rest):
			b.WriteRune(r)
		case r == '@' && strings.HasPrefix(rest, "["):
			name, after, ok := mention(rest)
			if !ok {
				return b.String()
			}
			b.WriteString(name)
			i = len(commentary) - len(after)
			prev = 'x'
			continue
		case strings.ContainsRune(reserved, r):
			return b.String() // unescaped markup: LinkedIn cuts the text here
		default:
			b.WriteRune(r)
		}
		prev = r
		i += size
	}
	return b.String()
}

func tagStart(rest string) bool {
	r, _ := utf8.DecodeRuneInString(rest)
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_'
}

// mention reads "[Name](urn:li:…)" and returns Name and what follows.
func mention(rest string) (name, after string, ok bool) {
	end := strings.Index(rest, "](urn:li:")
	if end < 0 {
		return "", "", false
	}
	close := strings.IndexByte(rest[end:], ')')
	if close < 0 {
		return "", "", false
	}
	return rest[1:end], rest[end+close+1:], true
}
