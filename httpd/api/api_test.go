package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/heed-dev/heed/app"
	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/httpd/api"
	"github.com/heed-dev/heed/internal/heedtest"
	"github.com/heed-dev/heed/internal/pgtest"
)

// TestMain runs the tests through pgtest.Main: with
// HEED_TEST_DATABASE=postgres they run on PostgreSQL (internal/heedtest).
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// env is a whole heed (heedtest) with its HTTP listener's handler served
// on loopback, and the OpenAPI document every request and response of a
// test is checked against.
type env struct {
	t      *testing.T
	s      *heedtest.Stack
	srv    *httptest.Server
	router routers.Router
	tokens map[string]string // person → secret
}

// people: alice and bob approve in the default room; dave and author are
// people who do not.
var people = map[string][]string{"alice": nil, "bob": nil, "dave": nil, "author": nil}

func newEnv(t *testing.T) *env {
	t.Helper()
	s := heedtest.New(t, heedtest.Options{})
	pp, err := approvals.NewPeople(people)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.System.HTTP(app.HTTPOptions{People: pp}))
	t.Cleanup(srv.Close)
	doc := loadDoc(t)
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, s: s, srv: srv, router: router, tokens: map[string]string{}}
	for _, p := range []string{"alice", "dave"} {
		_, secret, err := s.Service.Tokens.CreateToken(s.Ctx, p, "admin", "cli")
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[p] = secret
	}
	return e
}

func loadDoc(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPI)
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3 document: %v", err)
	}
	return doc
}

// reply is an answer of the API.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r reply) problem(t *testing.T) api.Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json (%d %s)", ct, r.status, r.body)
	}
	var p api.Problem
	r.decode(t, &p)
	if p.Status != r.status || p.Title == "" || p.Type == "" {
		t.Fatalf("problem %+v for status %d", p, r.status)
	}
	return p
}

// fields lists the fields a problem names.
func fields(p api.Problem) []string {
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Field)
	}
	return out
}

// do sends a request as the person whose token is given ("" sends none;
// a value that is no person's name is sent as the token itself). The
// request is checked against openapi.json, and so is the answer: a
// request the document refuses must not succeed, one it takes must not be
// answered outside it.
func (e *env) do(method, path, as string, body any, header ...string) reply {
	e.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			e.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(raw))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if as != "" {
		secret, ok := e.tokens[as]
		if !ok {
			secret = as
		}
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		e.t.Fatal(err)
	}
	r := reply{status: resp.StatusCode, header: resp.Header, body: got}
	e.conforms(req, raw, r)
	return r
}

// conforms checks a request and its answer against openapi.json.
func (e *env) conforms(req *http.Request, raw []byte, r reply) {
	e.t.Helper()
	ctx := context.Background()
	check := req.Clone(ctx)
	check.URL.Scheme, check.URL.Host = "", ""
	check.Body = io.NopCloser(bytes.NewReader(raw))
	route, params, err := e.router.FindRoute(check)
	if err != nil {
		if r.status != http.StatusNotFound && r.status != http.StatusMethodNotAllowed {
			e.t.Fatalf("%s %s is not in openapi.json but was answered %d", req.Method, req.URL.Path, r.status)
		}
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	if reqErr != nil && r.status < 400 {
		e.t.Fatalf("%s %s: openapi.json refuses the request (%v) but it was answered %d %s", req.Method, req.URL.Path, reqErr, r.status, r.body)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: r.status, Header: r.header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	out.SetBodyBytes(r.body)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		e.t.Fatalf("%s %s answered %d outside openapi.json: %v\n%s", req.Method, req.URL.Path, r.status, err, r.body)
	}
}

func (e *env) at(d time.Duration) string { return e.s.Clock.Now().Add(d).UTC().Format(time.RFC3339) }

// create makes a post through the API as person and returns it.
func (e *env) create(as string, body map[string]any, header ...string) approvals.Post {
	e.t.Helper()
	r := e.do("POST", "/api/v1/posts", as, body, header...)
	if r.status != http.StatusCreated {
		e.t.Fatalf("create: %d %s", r.status, r.body)
	}
	var p approvals.Post
	r.decode(e.t, &p)
	return p
}

// postCount is how many posts the store holds.
func (e *env) postCount() int {
	e.t.Helper()
	posts, err := e.s.Service.Posts.ListPosts(e.s.Ctx, true, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	return len(posts)
}

// TestAPIRoutesMatchOpenAPI: every route in openapi.json has a handler,
// and every handler is in openapi.json, with the same methods.
func TestAPIRoutesMatchOpenAPI(t *testing.T) {
	doc := loadDoc(t)
	var inDoc, mounted []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			inDoc = append(inDoc, method+" "+path)
		}
	}
	for _, rt := range api.New(api.Deps{}).Routes() {
		mounted = append(mounted, rt.Method+" "+rt.Path)
	}
	slices.Sort(inDoc)
	slices.Sort(mounted)
	if !slices.Equal(inDoc, mounted) {
		t.Fatalf("openapi.json has %v\nthe handlers are %v", inDoc, mounted)
	}
	e := newEnv(t)
	r := e.do("GET", "/api/v1/openapi.json", "", nil)
	if r.status != http.StatusOK || !bytes.Equal(r.body, api.OpenAPI) {
		t.Fatalf("GET /api/v1/openapi.json: %d", r.status)
	}
}

// TestAPIAuthRefused: every route but the document answers 401 with
// WWW-Authenticate: Bearer when the token is missing, wrong, or revoked,
// and does nothing.
func TestAPIAuthRefused(t *testing.T) {
	e := newEnv(t)
	p := e.create("dave", map[string]any{"text": "hello", "targets": []string{"rec"}, "at": e.at(time.Hour)})
	revoked := func() string {
		tk, secret, err := e.s.Service.Tokens.CreateToken(e.s.Ctx, "bob", "admin", "cli")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.s.Service.Tokens.RevokeToken(e.s.Ctx, tk.ID, "admin", "cli"); err != nil {
			t.Fatal(err)
		}
		return secret
	}()
	id := "/api/v1/posts/" + itoa(p.ID)
	routes := []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/posts", map[string]any{"text": "x", "targets": []string{"rec"}, "at": e.at(time.Hour)}},
		{"GET", "/api/v1/posts", nil},
		{"GET", id, nil},
		{"PATCH", id, map[string]any{"text": "changed"}},
		{"DELETE", id, nil},
		{"GET", "/api/v1/occurrences", nil},
		{"GET", "/api/v1/status", nil},
		{"GET", "/api/v1/audit", nil},
		{"POST", "/api/v1/pause", map[string]any{"reason": "x"}},
		{"POST", "/api/v1/resume", map[string]any{}},
	}
	tokens := map[string]string{
		"missing": "",
		"wrong":   approvals.NewTokenSecret(),
		"garbage": "not-a-token",
		"revoked": revoked,
	}
	for _, rt := range routes {
		for name, tok := range tokens {
			r := e.do(rt.method, rt.path, tok, rt.body)
			if r.status != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("%s %s with a %s token: %d %q %s", rt.method, rt.path, name, r.status, r.header.Get("WWW-Authenticate"), r.body)
			}
			r.problem(t)
		}
	}
	if n := e.postCount(); n != 1 {
		t.Fatalf("%d posts after refused requests, want 1", n)
	}
	if got, _ := e.s.Service.Posts.GetPost(e.s.Ctx, p.ID); got.Text != "hello" || got.Canceled {
		t.Fatalf("the post changed: %+v", got)
	}
	if ps, _ := e.s.Service.Pauses.ActivePauses(e.s.Ctx); len(ps) != 0 {
		t.Fatalf("paused by a refused request: %+v", ps)
	}
}

// TestAPIRevokedTokenRefused: a token that worked is refused from the
// moment it is revoked.
func TestAPIRevokedTokenRefused(t *testing.T) {
	e := newEnv(t)
	if r := e.do("GET", "/api/v1/status", "dave", nil); r.status != http.StatusOK {
		t.Fatalf("status before revoking: %d %s", r.status, r.body)
	}
	tokens, err := e.s.Service.Tokens.Tokens(e.s.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	for _, tk := range tokens {
		if tk.Person == "dave" {
			id = tk.ID
		}
	}
	if err := e.s.Service.Tokens.RevokeToken(e.s.Ctx, id, "admin", "cli"); err != nil {
		t.Fatal(err)
	}
	if r := e.do("GET", "/api/v1/status", "dave", nil); r.status != http.StatusUnauthorized {
		t.Fatalf("status after revoking: %d %s", r.status, r.body)
	}
	if _, err := e.s.Service.Tokens.Verify(e.s.Ctx, e.tokens["dave"]); approvals.ErrorCode(err) != approvals.EUNAUTHORIZED {
		t.Fatalf("Verify of a revoked token: %v", err)
	}
}

// TestAPITokenStoredHashed: the store holds no secret, only its SHA-256,
// and the stored hash is no token: whoever reads the database cannot
// call the API with it.
func TestAPITokenStoredHashed(t *testing.T) {
	e := newEnv(t)
	var hash string
	if err := e.s.Store.DB().QueryRowContext(e.s.Ctx, `SELECT hash FROM api_tokens WHERE person = 'dave'`).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	secret := e.tokens["dave"]
	if hash != approvals.TokenHash(secret) || strings.Contains(hash, secret) {
		t.Fatalf("stored %q for secret %q, want its SHA-256", hash, secret)
	}
	if !approvals.LooksLikeToken(secret) || len(secret) != len("heed_")+43 {
		t.Fatalf("secret %q: want heed_ and 32 bytes in base64url", secret)
	}
	for _, forged := range []string{hash, approvals.TokenPrefix + hash[:43]} {
		if r := e.do("GET", "/api/v1/status", forged, nil); r.status != http.StatusUnauthorized {
			t.Fatalf("the stored hash %q was taken as a token: %d", forged, r.status)
		}
	}
	if person, err := e.s.Service.Tokens.Verify(e.s.Ctx, secret); err != nil || person != "dave" {
		t.Fatalf("Verify: %q %v", person, err)
	}
	tokens, err := e.s.Service.Tokens.Tokens(e.s.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(tokens)
	if strings.Contains(string(b), secret) || strings.Contains(string(b), hash) {
		t.Fatalf("the token list shows a secret or hash: %s", b)
	}
	// Using it is recorded.
	for _, tk := range tokens {
		if tk.Person == "dave" && tk.LastUsed.IsZero() {
			t.Fatalf("dave's token has no last use after a request: %+v", tk)
		}
	}
}

// TestAPITokenPersonMustStillBeConfigured: a token whose person left the
// configuration's people is refused.
func TestAPITokenPersonMustStillBeConfigured(t *testing.T) {
	e := newEnv(t)
	_, secret, err := e.s.Service.Tokens.CreateToken(e.s.Ctx, "mallory", "admin", "cli")
	if err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", "/api/v1/status", secret, nil)
	if r.status != http.StatusUnauthorized || !strings.Contains(r.problem(t).Detail, "no longer one of the configured people") {
		t.Fatalf("a token of nobody configured: %d %s", r.status, r.body)
	}
}

// TestAPICreatePost: a post made through the API is the token person's,
// says where it came from, is audited as theirs through the API, gets a
// card, and its author's own approval does not count: someone else's does.
func TestAPICreatePost(t *testing.T) {
	e := newEnv(t)
	r := e.do("POST", "/api/v1/posts", "alice", map[string]any{
		"text": "Release day", "targets": []string{"rec"}, "at": e.at(10 * time.Minute),
		"variants": map[string]string{"rec": "Release day (rec)"}, "link": "https://example.org/r",
	})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var p approvals.Post
	r.decode(t, &p)
	if p.Author != "alice" || p.Source != "api: by alice" || r.header.Get("Location") != "/api/v1/posts/"+itoa(p.ID) {
		t.Fatalf("post %+v, Location %q", p, r.header.Get("Location"))
	}
	entries, _ := e.s.Service.Audit.Audit(e.s.Ctx, 0, 0, 100)
	found := false
	for _, en := range entries {
		if en.Action == "post.add" && en.PostID == p.ID {
			found = en.Actor == "alice" && en.Person == "alice" && en.Place == "api" && strings.HasPrefix(en.Identity, "api token ")
			if !found {
				t.Fatalf("post.add audited as %+v", en)
			}
		}
	}
	if !found {
		t.Fatal("no post.add in the audit log")
	}
	e.s.Cycle()
	card := e.s.Chat.CardText(p.ID)
	if !strings.Contains(card, "api: by alice") {
		t.Fatalf("the card does not say where the post came from:\n%s", card)
	}
	if err := e.s.Chat.React("alice", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	e.s.WantState(p.ID, approvals.StateInReview) // the author's own approval does not count
	if err := e.s.Chat.React("bob", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	e.s.WantState(p.ID, approvals.StateApproved)
	e.s.Clock.Advance(10 * time.Minute)
	e.s.Cycle()
	if got := e.s.Rec.Texts(); len(got) != 1 || got[0] != "Release day (rec)" {
		t.Fatalf("published %q", got)
	}
}

// TestAPICreateBadInput: each bad field is named in a problem document,
// and nothing is stored.
func TestAPICreateBadInput(t *testing.T) {
	e := newEnv(t)
	ok := map[string]any{"text": "hello", "targets": []string{"rec"}, "at": e.at(time.Hour)}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range ok {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name  string
		body  any
		field string
	}{
		{"no text", with("text", nil), "text"},
		{"blank text", with("text", "   "), "text"},
		{"no targets", with("targets", nil), "targets"},
		{"unknown target", with("targets", []string{"rec", "nope"}), "targets[1]"},
		{"target twice", with("targets", []string{"rec", "rec"}), "targets[1]"},
		{"targets not a list", with("targets", "rec"), "targets"},
		{"variant for no target", with("variants", map[string]string{"other": "x"}), "variants.other"},
		{"empty variant", with("variants", map[string]string{"rec": " "}), "variants.rec"},
		{"bad link", with("link", "ftp://example.org"), "link"},
		{"no time", with("at", nil), "at"},
		{"bad time", with("at", "whenever"), "at"},
		{"past time", with("at", e.at(-time.Hour)), "at"},
		{"at and cron", with("cron", "0 9 * * MON"), "at"},
		{"bad cron", map[string]any{"text": "x", "targets": []string{"rec"}, "cron": "every day"}, "cron"},
		{"bad zone", with("tz", "Mars/Olympus"), "tz"},
		{"bad until", map[string]any{"text": "x", "targets": []string{"rec"}, "cron": "0 9 * * *", "until": "later"}, "until"},
		{"unknown room", with("room", "lobby"), "room"},
		{"unknown field", with("colour", "red"), "colour"},
		{"text not a string", with("text", 5), "text"},
		{"not JSON", "{", "body"},
		{"two objects", `{"text":"a","targets":["rec"],"at":"` + e.at(time.Hour) + `"} {}`, "body"},
	}
	for _, c := range cases {
		r := e.do("POST", "/api/v1/posts", "dave", c.body)
		if r.status != http.StatusUnprocessableEntity {
			t.Fatalf("%s: %d %s", c.name, r.status, r.body)
		}
		p := r.problem(t)
		if c.field != "" && !slices.Contains(fields(p), c.field) {
			t.Fatalf("%s: the problem names %v, want %s: %s", c.name, fields(p), c.field, r.body)
		}
		if len(p.Errors) == 0 {
			t.Fatalf("%s: no errors listed: %s", c.name, r.body)
		}
	}
	// A series firing more than 1440 times a day is refused unless allowed.
	frequent := map[string]any{"text": "x", "targets": []string{"rec"}, "cron": "@every 30s"}
	if r := e.do("POST", "/api/v1/posts", "dave", frequent); r.status != http.StatusUnprocessableEntity || !slices.Contains(fields(r.problem(t)), "cron") {
		t.Fatalf("@every 30s: %d %s", r.status, r.body)
	}
	if n := e.postCount(); n != 0 {
		t.Fatalf("%d posts stored from bad input", n)
	}
	frequent["allow_frequent"] = true
	if r := e.do("POST", "/api/v1/posts", "dave", frequent); r.status != http.StatusCreated {
		t.Fatalf("@every 30s, allowed: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/posts", "dave", `{"text":"x"}`, "Content-Type", "text/plain"); r.status != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain: %d %s", r.status, r.body)
	}
	big := map[string]any{"text": strings.Repeat("x", api.MaxBody), "targets": []string{"rec"}, "at": e.at(time.Hour)}
	if r := e.do("POST", "/api/v1/posts", "dave", big); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a body over the cap: %d %s", r.status, r.body)
	} else {
		r.problem(t)
	}
	if n := e.postCount(); n != 1 {
		t.Fatalf("%d posts stored from bad input (and the allowed series)", n)
	}
}

// TestAPIIdempotentCreate: a retry with the same Idempotency-Key and body
// answers 201 with the first post and stores nothing more; the same key
// with another body is refused with 422; another person's same key is
// theirs.
func TestAPIIdempotentCreate(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"text": "once", "targets": []string{"rec"}, "at": e.at(time.Hour)}
	first := e.do("POST", "/api/v1/posts", "dave", body, "Idempotency-Key", "k-1")
	if first.status != http.StatusCreated {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	e.s.Clock.Advance(2 * time.Hour) // the time is past: a fresh request would be refused
	again := e.do("POST", "/api/v1/posts", "dave", body, "Idempotency-Key", "k-1")
	if again.status != http.StatusCreated || !bytes.Equal(again.body, first.body) || again.header.Get("Location") != first.header.Get("Location") {
		t.Fatalf("retry: %d %s\nfirst: %s", again.status, again.body, first.body)
	}
	if n := e.postCount(); n != 1 {
		t.Fatalf("%d posts after a retry, want 1", n)
	}
	other := map[string]any{"text": "twice", "targets": []string{"rec"}, "at": e.at(time.Hour)}
	r := e.do("POST", "/api/v1/posts", "dave", other, "Idempotency-Key", "k-1")
	if r.status != http.StatusUnprocessableEntity || r.problem(t).Type != api.TypeMismatch {
		t.Fatalf("same key, another body: %d %s", r.status, r.body)
	}
	if n := e.postCount(); n != 1 {
		t.Fatalf("%d posts after a mismatched retry, want 1", n)
	}
	if r := e.do("POST", "/api/v1/posts", "alice", other, "Idempotency-Key", "k-1"); r.status != http.StatusCreated {
		t.Fatalf("another person's key: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/posts", "dave", other, "Idempotency-Key", "bad key"); r.status != http.StatusUnprocessableEntity ||
		!slices.Contains(fields(r.problem(t)), "Idempotency-Key") {
		t.Fatalf("a key with a space: %d %s", r.status, r.body)
	}
	if n := e.postCount(); n != 2 {
		t.Fatalf("%d posts, want 2", n)
	}
}

// TestAPIListGetEditCancel: the other post routes, with an edit voiding
// the approval as the CLI's edit does.
func TestAPIListGetEditCancel(t *testing.T) {
	e := newEnv(t)
	p := e.create("dave", map[string]any{"text": "v1", "targets": []string{"rec"}, "at": e.at(time.Hour)})
	e.s.Cycle()
	if err := e.s.Chat.React("alice", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	e.s.WantState(p.ID, approvals.StateApproved)

	var list api.PostList
	r := e.do("GET", "/api/v1/posts?limit=5", "dave", nil)
	r.decode(t, &list)
	if r.status != http.StatusOK || len(list.Posts) != 1 || list.Posts[0].ID != p.ID {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	for _, bad := range []string{"?limit=0", "?limit=x", "?all=maybe"} {
		if r := e.do("GET", "/api/v1/posts"+bad, "dave", nil); r.status != http.StatusUnprocessableEntity {
			t.Fatalf("list%s: %d", bad, r.status)
		}
	}
	var got api.PostDetail
	r = e.do("GET", "/api/v1/posts/"+itoa(p.ID), "dave", nil)
	r.decode(t, &got)
	if r.status != http.StatusOK || got.Post.Text != "v1" || len(got.Occurrences) != 1 {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/v1/posts/999", "dave", nil); r.status != http.StatusNotFound {
		t.Fatalf("get 999: %d", r.status)
	}
	if r := e.do("GET", "/api/v1/posts/abc", "dave", nil); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("get abc: %d", r.status)
	}

	// Bad edits change nothing.
	for name, c := range map[string]struct {
		body  map[string]any
		field string
	}{
		"blank text":     {map[string]any{"text": " "}, "text"},
		"unknown target": {map[string]any{"targets": []string{"nope"}}, "targets[0]"},
		"past time":      {map[string]any{"at": e.at(-time.Minute)}, "at"},
		"unknown field":  {map[string]any{"author": "mallory"}, "author"},
	} {
		r := e.do("PATCH", "/api/v1/posts/"+itoa(p.ID), "dave", c.body)
		if r.status != http.StatusUnprocessableEntity || !slices.Contains(fields(r.problem(t)), c.field) {
			t.Fatalf("edit with %s: %d %s", name, r.status, r.body)
		}
	}
	e.s.WantState(p.ID, approvals.StateApproved)

	r = e.do("PATCH", "/api/v1/posts/"+itoa(p.ID), "dave", map[string]any{"text": "v2"})
	var edited approvals.Post
	r.decode(t, &edited)
	if r.status != http.StatusOK || edited.Text != "v2" {
		t.Fatalf("edit: %d %s", r.status, r.body)
	}
	e.s.Cycle()
	e.s.WantState(p.ID, approvals.StateInReview) // the approval was for v1
	if r := e.do("PATCH", "/api/v1/posts/999", "dave", map[string]any{"text": "x"}); r.status != http.StatusNotFound {
		t.Fatalf("edit 999: %d", r.status)
	}

	if r := e.do("DELETE", "/api/v1/posts/"+itoa(p.ID), "dave", nil); r.status != http.StatusNoContent {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	e.s.WantState(p.ID, approvals.StateCanceled)
	if r := e.do("DELETE", "/api/v1/posts/999", "dave", nil); r.status != http.StatusNotFound {
		t.Fatalf("cancel 999: %d", r.status)
	}
	entries, _ := e.s.Service.Audit.Audit(e.s.Ctx, 0, 0, 100)
	var actions []string
	for _, en := range entries {
		if en.Place == "api" {
			actions = append(actions, en.Action+" by "+en.Person)
		}
	}
	for _, want := range []string{"post.add by dave", "post.edit by dave", "post.cancel by dave"} {
		if !slices.Contains(actions, want) {
			t.Fatalf("audit lines through the API: %v, want %s", actions, want)
		}
	}
}

// TestAPIEditByAuthorCancelByAuthorOrApprover: only a post's author edits
// it (an approver's words on someone else's post would be theirs to
// approve); its author or an approver cancels it, as in chat.
func TestAPIEditByAuthorCancelByAuthorOrApprover(t *testing.T) {
	e := newEnv(t)
	_, secret, err := e.s.Service.Tokens.CreateToken(e.s.Ctx, "author", "admin", "cli")
	if err != nil {
		t.Fatal(err)
	}
	e.tokens["author"] = secret
	p := e.create("dave", map[string]any{"text": "dave's words", "targets": []string{"rec"}, "at": e.at(time.Hour)})
	path := "/api/v1/posts/" + itoa(p.ID)
	r := e.do("PATCH", path, "alice", map[string]any{"text": "alice's words"})
	if r.status != http.StatusForbidden || !strings.Contains(r.problem(t).Detail, "only its author may") {
		t.Fatalf("edit by an approver who is not the author: %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", path, "author", nil); r.status != http.StatusForbidden || !strings.Contains(r.problem(t).Detail, "Its author or an approver may") {
		t.Fatalf("cancel by neither author nor approver: %d %s", r.status, r.body)
	}
	got, err := e.s.Service.Posts.GetPost(e.s.Ctx, p.ID)
	if err != nil || got.Text != "dave's words" {
		t.Fatalf("after refused requests the post is %q (%v)", got.Text, err)
	}
	e.s.Cycle()
	e.s.WantState(p.ID, approvals.StateInReview)
	if r := e.do("DELETE", path, "alice", nil); r.status != http.StatusNoContent {
		t.Fatalf("cancel by an approver: %d %s", r.status, r.body)
	}
	e.s.WantState(p.ID, approvals.StateCanceled)
}

// TestAPIOccurrencesStatusAudit: the read routes and their filters.
func TestAPIOccurrencesStatusAudit(t *testing.T) {
	e := newEnv(t)
	p1 := e.create("dave", map[string]any{"text": "one", "targets": []string{"rec"}, "at": e.at(time.Hour)})
	p2 := e.create("dave", map[string]any{"text": "two", "targets": []string{"rec"}, "at": e.at(3 * time.Hour)})
	e.s.Cycle()
	if err := e.s.Chat.React("alice", p1.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	var occs api.OccurrenceList
	r := e.do("GET", "/api/v1/occurrences", "dave", nil)
	r.decode(t, &occs)
	if len(occs.Occurrences) != 2 {
		t.Fatalf("occurrences: %s", r.body)
	}
	r = e.do("GET", "/api/v1/occurrences?state=approved", "dave", nil)
	r.decode(t, &occs)
	if len(occs.Occurrences) != 1 || occs.Occurrences[0].ID != p1.ID {
		t.Fatalf("approved: %s", r.body)
	}
	r = e.do("GET", "/api/v1/occurrences?from="+e.at(2*time.Hour)+"&to="+e.at(4*time.Hour), "dave", nil)
	r.decode(t, &occs)
	if len(occs.Occurrences) != 1 || occs.Occurrences[0].ID != p2.ID {
		t.Fatalf("from/to: %s", r.body)
	}
	for q, field := range map[string]string{"state=done": "state", "from=yesterday": "from", "to=" + e.at(0) + "&from=" + e.at(time.Hour): "to", "limit=5000": "limit"} {
		r := e.do("GET", "/api/v1/occurrences?"+q, "dave", nil)
		if r.status != http.StatusUnprocessableEntity || !slices.Contains(fields(r.problem(t)), field) {
			t.Fatalf("?%s: %d %s", q, r.status, r.body)
		}
	}
	var st api.Status
	r = e.do("GET", "/api/v1/status", "dave", nil)
	r.decode(t, &st)
	if st.Paused || st.Counts[approvals.StateApproved] != 1 || len(st.Next) != 2 {
		t.Fatalf("status: %s", r.body)
	}
	var page api.AuditPage
	r = e.do("GET", "/api/v1/audit?limit=1", "dave", nil)
	r.decode(t, &page)
	if len(page.Entries) != 1 || page.Next != page.Entries[0].ID {
		t.Fatalf("audit: %s", r.body)
	}
	r = e.do("GET", "/api/v1/audit?after="+itoa(page.Next), "dave", nil)
	r.decode(t, &page)
	if len(page.Entries) == 0 || page.Entries[0].ID <= 1 {
		t.Fatalf("audit page 2: %s", r.body)
	}
	if r := e.do("GET", "/api/v1/audit?after=-1", "dave", nil); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("after=-1: %d", r.status)
	}
}

// TestAPIPauseByAnyoneResumeByApprovers: a person who is no approver may
// pause, with a reason, and may not resume (refused and audited); an
// approver may resume.
func TestAPIPauseByAnyoneResumeByApprovers(t *testing.T) {
	e := newEnv(t)
	if r := e.do("POST", "/api/v1/pause", "dave", map[string]any{}); r.status != http.StatusUnprocessableEntity || !slices.Contains(fields(r.problem(t)), "reason") {
		t.Fatalf("pause without a reason: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/pause", "dave", map[string]any{"reason": "x", "target": "nope"}); r.status != http.StatusUnprocessableEntity || !slices.Contains(fields(r.problem(t)), "target") {
		t.Fatalf("pause of an unknown target: %d %s", r.status, r.body)
	}
	if ps, _ := e.s.Service.Pauses.ActivePauses(e.s.Ctx); len(ps) != 0 {
		t.Fatalf("paused by bad input: %+v", ps)
	}
	var pr api.PauseResult
	r := e.do("POST", "/api/v1/pause", "dave", map[string]any{"reason": "breaking news"})
	r.decode(t, &pr)
	if r.status != http.StatusOK || pr.Pause.By != "dave" || pr.Pause.Reason != "breaking news" {
		t.Fatalf("pause: %d %s", r.status, r.body)
	}
	r = e.do("POST", "/api/v1/resume", "dave", nil)
	if r.status != http.StatusForbidden || !strings.Contains(r.problem(t).Detail, "Only approvers can resume") {
		t.Fatalf("resume by dave: %d %s", r.status, r.body)
	}
	if ps, _ := e.s.Service.Pauses.ActivePauses(e.s.Ctx); len(ps) != 1 {
		t.Fatalf("resumed by a non-approver: %+v", ps)
	}
	var rr api.ResumeResult
	r = e.do("POST", "/api/v1/resume", "alice", map[string]any{})
	r.decode(t, &rr)
	if r.status != http.StatusOK || len(rr.Resumed) != 1 {
		t.Fatalf("resume by alice: %d %s", r.status, r.body)
	}
	if ps, _ := e.s.Service.Pauses.ActivePauses(e.s.Ctx); len(ps) != 0 {
		t.Fatalf("still paused: %+v", ps)
	}
	entries, _ := e.s.Service.Audit.Audit(e.s.Ctx, 0, 0, 100)
	var lines []string
	for _, en := range entries {
		if en.Place == "api" {
			lines = append(lines, en.Action+" by "+en.Actor)
		}
	}
	for _, want := range []string{"pause by dave", "resume.refused by dave", "resume by alice"} {
		if !slices.Contains(lines, want) {
			t.Fatalf("audit lines through the API: %v, want %s", lines, want)
		}
	}
}

// TestAPIPauseHoldsDueApprovedPost: a pause through the API stops a post
// that is approved and due: the dispatcher holds it, nothing goes out.
func TestAPIPauseHoldsDueApprovedPost(t *testing.T) {
	e := newEnv(t)
	p := e.create("dave", map[string]any{"text": "not now", "targets": []string{"rec"}, "at": e.at(10 * time.Minute)})
	e.s.Cycle()
	if err := e.s.Chat.React("alice", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	e.s.WantState(p.ID, approvals.StateApproved)
	if r := e.do("POST", "/api/v1/pause", "dave", map[string]any{"reason": "stop"}); r.status != http.StatusOK {
		t.Fatalf("pause: %d %s", r.status, r.body)
	}
	e.s.Clock.Advance(10 * time.Minute)
	e.s.Cycle()
	e.s.WantState(p.ID, approvals.StateHeld)
	if got := e.s.Rec.Texts(); len(got) != 0 {
		t.Fatalf("published during a pause: %q", got)
	}
}

// TestAPIUnknownRoute: a path under /api/v1 with no route is a problem.
func TestAPIUnknownRoute(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/api/v1/nothing", "dave", nil)
	if r.status != http.StatusNotFound {
		t.Fatalf("%d %s", r.status, r.body)
	}
	r.problem(t)
	// A known path with a method it does not take: 405 with Allow.
	for _, c := range []struct{ method, path, allow string }{
		{"PUT", "/api/v1/posts", "POST, GET"},
		{"POST", "/api/v1/posts/7", "GET, PATCH, DELETE"},
		{"GET", "/api/v1/pause", "POST"},
	} {
		req, err := http.NewRequest(c.method, e.srv.URL+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+e.tokens["dave"])
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != c.allow {
			t.Errorf("%s %s: %s, Allow %q; want 405, Allow %q", c.method, c.path, resp.Status, resp.Header.Get("Allow"), c.allow)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestAPIIdempotentCreateConcurrent: retries of one create that arrive at
// once make one post, and each gets it.
func TestAPIIdempotentCreateConcurrent(t *testing.T) {
	e := newEnv(t)
	body, _ := json.Marshal(map[string]any{"text": "at once", "targets": []string{"rec"}, "at": e.at(time.Hour)})
	const n = 8
	type answer struct {
		status int
		body   []byte
		err    error
	}
	answers := make(chan answer, n)
	for range n {
		go func() {
			req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/posts", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+e.tokens["dave"])
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", "same")
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				answers <- answer{err: err}
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			answers <- answer{resp.StatusCode, b, err}
		}()
	}
	var first []byte
	for range n {
		a := <-answers
		if a.err != nil || a.status != http.StatusCreated {
			t.Fatalf("%d %s %v", a.status, a.body, a.err)
		}
		if first == nil {
			first = a.body
		}
		if !bytes.Equal(a.body, first) {
			t.Fatalf("two answers: %s\n%s", a.body, first)
		}
	}
	if c := e.postCount(); c != 1 {
		t.Fatalf("%d posts from one key", c)
	}
}
