// Package facebookfake is a stateful fake of the Graph API endpoints heed
// uses for a Facebook Page, served over httptest and answering in the
// shapes of the Graph API documentation:
//
//   - POST /[vXX.X/]{page-id}/feed with message, link and access_token:
//     {"id":"{page-id}_{post-id}"};
//   - DELETE /[vXX.X/]{post-id}?access_token=…: {"success":true};
//   - errors as {"error":{"message","type","code","error_subcode",
//     "fbtrace_id"}}: 190 for a bad or expired token, 506 for a duplicate
//     message, 32 with X-Business-Use-Case-Usage when the Page is throttled
//     (Throttle), 100 for bad parameters or an unknown object.
//
// It satisfies publishtest.Backend: FailNext applies to the next feed POST.
package facebookfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/heed-dev/heed/publish/publishtest"
)

// Post is a stored Page post.
type Post struct {
	ID      string
	Message string
	Link    string
}

// Server is the fake Graph API.
type Server struct {
	publishtest.Recorder
	*httptest.Server

	page  string
	token string

	mu       sync.Mutex
	expired  bool
	throttle int // minutes until the Page may post again; 0: not throttled
	posts    []Post
	nextID   uint64
}

// New starts a fake Page pageID that accepts the Page token token. It stops
// when t ends.
func New(t testing.TB, pageID, token string) *Server {
	s := &Server{page: pageID, token: token, nextID: 122100000000000001}
	s.Server = httptest.NewServer(s.Serve(s.serve))
	t.Cleanup(s.Close)
	return s
}

// ExpireToken makes the Page token expired from now on.
func (s *Server) ExpireToken() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expired = true
}

// Throttle makes the Page rate-limited for the given minutes (0 lifts it).
func (s *Server) Throttle(minutes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle = minutes
}

// Stored returns the Page's posts, oldest first.
func (s *Server) Stored() []Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Post(nil), s.posts...)
}

var versionRe = regexp.MustCompile(`^/v[0-9]+\.[0-9]+`)

func (s *Server) serve(w http.ResponseWriter, r *http.Request, raw []byte) {
	form, _ := url.ParseQuery(string(raw))
	path := versionRe.ReplaceAllString(r.URL.Path, "")
	token := form.Get("access_token")
	if r.Method != http.MethodPost {
		token = r.URL.Query().Get("access_token")
	}
	if !s.authorized(w, token) {
		return
	}
	switch {
	case r.Method == http.MethodPost && path == "/"+s.page+"/feed":
		if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			graphErr(w, http.StatusBadRequest, "(#100) The request body must be form-encoded", 100, 0)
			return
		}
		s.feed(w, r, form)
	case r.Method == http.MethodDelete:
		s.delete(w, strings.TrimPrefix(path, "/"))
	default:
		graphErr(w, http.StatusBadRequest, "Unsupported "+strings.ToLower(r.Method)+" request. Object with ID '"+strings.TrimPrefix(path, "/")+"' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", 100, 33)
	}
}

// graphErr answers with the Graph API's error object.
func graphErr(w http.ResponseWriter, status int, msg string, code, subcode int) {
	e := map[string]any{"message": msg, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEfGhIjKlMnOp"}
	if subcode != 0 {
		e["error_subcode"] = subcode
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": e})
}

func (s *Server) authorized(w http.ResponseWriter, token string) bool {
	s.mu.Lock()
	expired := s.expired
	s.mu.Unlock()
	switch {
	case token == "":
		graphErr(w, http.StatusBadRequest, "An active access token must be used to query information about the current user.", 2500, 0)
	case token != s.token:
		graphErr(w, http.StatusBadRequest, "Invalid OAuth access token - Cannot parse access token", 190, 0)
	case expired:
		graphErr(w, http.StatusBadRequest, "Error validating access token: Session has expired on Friday, 13-Nov-26 09:00:00 PST. The current time is Saturday, 14-Nov-26 09:00:00 PST.", 190, 463)
	default:
		return true
	}
	return false
}

func (s *Server) feed(w http.ResponseWriter, r *http.Request, form url.Values) {
	msg, link := form.Get("message"), form.Get("link")
	if msg == "" && link == "" {
		graphErr(w, http.StatusBadRequest, "(#100) Missing message or attachment", 100, 0)
		return
	}
	s.mu.Lock()
	if s.throttle > 0 {
		usage := fmt.Sprintf(`{"%s":[{"type":"pages","call_count":100,"total_cputime":12,"total_time":15,"estimated_time_to_regain_access":%d}]}`, s.page, s.throttle)
		s.mu.Unlock()
		w.Header().Set("X-Business-Use-Case-Usage", usage)
		graphErr(w, http.StatusBadRequest, "(#32) Page request limit reached", 32, 0)
		return
	}
	for _, p := range s.posts {
		if msg != "" && p.Message == msg {
			s.mu.Unlock()
			graphErr(w, http.StatusBadRequest, "(#506) Duplicate status message", 506, 0)
			return
		}
	}
	s.mu.Unlock()

	f := s.TakeFailure()
	switch f {
	case publishtest.Retryable:
		w.Header().Set("Retry-After", strconv.Itoa(publishtest.RetryAfterSeconds))
		graphErr(w, http.StatusTooManyRequests, "(#4) Application request limit reached", 4, 0)
		return
	case publishtest.Permanent:
		graphErr(w, http.StatusUnprocessableEntity, publishtest.PermanentMessage, 100, 0)
		return
	case publishtest.Auth:
		graphErr(w, http.StatusUnauthorized, "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.", 190, 460)
		return
	}

	s.mu.Lock()
	id := s.page + "_" + strconv.FormatUint(s.nextID, 10)
	s.nextID++
	s.posts = append(s.posts, Post{ID: id, Message: msg, Link: link})
	s.mu.Unlock()
	s.Record(publishtest.Post{Text: msg, RemoteID: id})
	if f == publishtest.TimeoutAfterSend {
		publishtest.Stall(r)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	json.NewEncoder(w).Encode(map[string]string{"id": id})
}

func (s *Server) delete(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.posts {
		if p.ID == id {
			s.posts = append(s.posts[:i], s.posts[i+1:]...)
			w.Header().Set("Content-Type", "application/json; charset=UTF-8")
			json.NewEncoder(w).Encode(map[string]bool{"success": true})
			return
		}
	}
	graphErr(w, http.StatusBadRequest, "Unsupported delete request. Object with ID '"+id+"' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", 100, 33)
}
