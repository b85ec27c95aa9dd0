// Package xfake is a stateful fake of the X API v2 endpoints heed uses,
// served over httptest, answering in the shapes of X's documentation:
//
//   - POST /2/tweets: 201 {"data":{"id","text"}}; 401 problem for a bad or
//     expired token; 403 "duplicate content" for a text the account already
//     posted; 429 with x-rate-limit-reset when the account's window is
//     spent (SetRateLimit).
//   - DELETE /2/tweets/:id: {"data":{"deleted":true}}.
//   - POST /2/oauth2/token with grant_type=refresh_token: a new access and
//     refresh token; the refresh token rotates (single use).
//
// Every answer carries x-rate-limit-limit, -remaining and -reset. It
// satisfies publishtest.Backend: FailNext applies to the next POST
// /2/tweets; an Auth failure also revokes the refresh token, as a revoked
// authorisation does.
package xfake

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heed-dev/heed/publish/publishtest"
)

// Tweet is a stored post.
type Tweet struct {
	ID   string
	Text string
}

// Server is the fake X API.
type Server struct {
	publishtest.Recorder
	*httptest.Server

	// ClientID and ClientSecret are the app's OAuth 2.0 client; with a
	// secret, the token endpoint wants HTTP Basic authentication.
	ClientID     string
	ClientSecret string

	mu        sync.Mutex
	now       time.Time
	access    map[string]bool
	refresh   map[string]bool
	tweets    []Tweet
	nextID    uint64
	limit     int
	remaining int
	reset     time.Time
	issued    []string
}

// New starts a fake with one valid access token and, if refreshToken is not
// empty, one valid refresh token for clientID. It stops when t ends.
func New(t testing.TB, accessToken, refreshToken, clientID string) *Server {
	s := &Server{
		ClientID:  clientID,
		now:       time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC),
		access:    map[string]bool{accessToken: true},
		refresh:   map[string]bool{},
		nextID:    1900000000000000001,
		limit:     100,
		remaining: 100,
	}
	if refreshToken != "" {
		s.refresh[refreshToken] = true
	}
	s.reset = s.now.Add(24 * time.Hour)
	s.Server = httptest.NewServer(s.Serve(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Now is the fake's clock, which x-rate-limit-reset is measured on.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// ExpireAccessTokens makes every access token issued so far invalid, as two
// hours passing does.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.access = map[string]bool{}
}

// SetRateLimit sets how many posts are left in the window and when it
// resets.
func (s *Server) SetRateLimit(remaining int, reset time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remaining, s.reset = remaining, reset
}

// Tweets returns the stored posts, oldest first.
func (s *Server) Tweets() []Tweet {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Tweet(nil), s.tweets...)
}

// Issued returns the tokens the fake issued by refreshing.
func (s *Server) Issued() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, body []byte) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/2/oauth2/token":
		s.token(w, r, body)
	case r.Method == http.MethodPost && r.URL.Path == "/2/tweets":
		s.create(w, r, body)
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/2/tweets/"):
		s.delete(w, r, strings.TrimPrefix(r.URL.Path, "/2/tweets/"))
	default:
		problem(w, http.StatusNotFound, "Not Found Error", "Sorry, that page does not exist.")
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// problem answers in X v2's problem shape (RFC 7807).
func problem(w http.ResponseWriter, status int, title, detail string) {
	writeJSON(w, status, map[string]any{"title": title, "detail": detail, "type": "about:blank", "status": status})
}

// rateHeaders sets the x-rate-limit headers; call with s.mu held.
func (s *Server) rateHeaders(w http.ResponseWriter) {
	w.Header().Set("x-rate-limit-limit", strconv.Itoa(s.limit))
	w.Header().Set("x-rate-limit-remaining", strconv.Itoa(s.remaining))
	w.Header().Set("x-rate-limit-reset", strconv.FormatInt(s.reset.Unix(), 10))
}

// authorized checks the bearer token; call with s.mu held.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !s.access[tok] {
		problem(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized")
		return false
	}
	return true
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, body []byte) {
	s.mu.Lock()
	s.rateHeaders(w)
	if !s.authorized(w, r) {
		s.mu.Unlock()
		return
	}
	var in struct {
		Text *string `json:"text"`
	}
	if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &in) != nil || in.Text == nil || *in.Text == "" {
		s.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"errors": []map[string]any{{"message": "Post text is required"}},
			"title":  "Invalid Request", "detail": "One or more parameters to your request was invalid.",
			"type": "https://api.twitter.com/2/problems/invalid-request",
		})
		return
	}
	if s.remaining <= 0 && s.now.Before(s.reset) {
		s.mu.Unlock()
		problem(w, http.StatusTooManyRequests, "Too Many Requests", "Too Many Requests")
		return
	}
	for _, t := range s.tweets {
		if t.Text == *in.Text {
			s.mu.Unlock()
			problem(w, http.StatusForbidden, "Forbidden", "You are not allowed to create a Tweet with duplicate content.")
			return
		}
	}
	s.mu.Unlock()

	f := s.TakeFailure()
	switch f {
	case publishtest.Retryable:
		w.Header().Set("Retry-After", strconv.Itoa(publishtest.RetryAfterSeconds))
		problem(w, http.StatusTooManyRequests, "Too Many Requests", "Too Many Requests")
		return
	case publishtest.Permanent:
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
			"errors": []map[string]any{{"message": publishtest.PermanentMessage}},
			"title":  "Unprocessable Entity", "detail": publishtest.PermanentMessage, "type": "about:blank", "status": 422,
		})
		return
	case publishtest.Auth:
		s.mu.Lock()
		s.refresh = map[string]bool{} // the authorisation was revoked
		s.mu.Unlock()
		problem(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized")
		return
	}

	s.mu.Lock()
	id := strconv.FormatUint(s.nextID, 10)
	s.nextID++
	s.remaining--
	s.tweets = append(s.tweets, Tweet{ID: id, Text: *in.Text})
	s.mu.Unlock()
	s.Record(publishtest.Post{Text: *in.Text, RemoteID: id})
	if f == publishtest.TimeoutAfterSend {
		publishtest.Stall(r)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"data": map[string]string{"id": id, "text": *in.Text}})
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateHeaders(w)
	if !s.authorized(w, r) {
		return
	}
	for i, t := range s.tweets {
		if t.ID == id {
			s.tweets = append(s.tweets[:i], s.tweets[i+1:]...)
			writeJSON(w, http.StatusOK, map[string]any{"data": map[string]bool{"deleted": true}})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]bool{"deleted": false}})
}

func (s *Server) token(w http.ResponseWriter, r *http.Request, body []byte) {
	form, err := url.ParseQuery(string(body))
	invalid := func(desc string) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": desc})
	}
	if err != nil || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		invalid("Missing required parameter [grant_type].")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ClientSecret != "" {
		id, secret, ok := r.BasicAuth()
		if !ok || id != s.ClientID || secret != s.ClientSecret {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized_client", "error_description": "Missing valid authorization header"})
			return
		}
	} else if form.Get("client_id") != s.ClientID {
		invalid("Missing required parameter [client_id].")
		return
	}
	if form.Get("grant_type") != "refresh_token" {
		invalid("Value passed for the grant type was invalid.")
		return
	}
	old := form.Get("refresh_token")
	if !s.refresh[old] {
		invalid("Value passed for the token was invalid.")
		return
	}
	delete(s.refresh, old)
	access, refresh := newToken(), newToken()
	s.access[access] = true
	s.refresh[refresh] = true
	s.issued = append(s.issued, access, refresh)
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "bearer", "expires_in": 7200, "access_token": access,
		"scope": "tweet.write users.read tweet.read offline.access", "refresh_token": refresh,
	})
}

func newToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b) + hex.EncodeToString(b[:2])
}
