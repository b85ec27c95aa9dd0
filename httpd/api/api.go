// Package api is heed's HTTP API for posts, /api/v1: scheduling, editing
// and canceling posts, reading occurrences, status and the audit log, and
// pausing and resuming, for a person holding a bearer token (heed token
// create). It calls the same domain services as the CLI and the chats; a
// post made through it needs an approval in chat like any other, and its
// author is the token's person. openapi.json, served at
// /api/v1/openapi.json, describes every route.
package api

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heed-dev/heed/approvals"
)

// OpenAPI is the API's OpenAPI 3 document.
//
//go:embed openapi.json
var OpenAPI []byte

// MaxBody is the largest request body the API reads.
const MaxBody = 1 << 20

// Place is where the audit log says API actions happened.
const Place = "api"

// PostAdder adds a post that may be retried with the same Idempotency-Key
// (sqlite.PostService).
type PostAdder interface {
	// Replay returns the post a request with once's key made before: found
	// when its body hash is the same, an EMISMATCH error when not.
	Replay(ctx context.Context, once approvals.Once) (approvals.Post, bool, error)
	AddPostOnce(ctx context.Context, p approvals.NewPost, once approvals.Once, actor, place string) (approvals.Post, bool, error)
}

// OccurrenceLister lists occurrences by time and state
// (sqlite.ReviewService).
type OccurrenceLister interface {
	ListOccurrences(ctx context.Context, f approvals.OccurrenceFilter) ([]approvals.Occurrence, error)
}

// Deps are the services the API calls.
type Deps struct {
	Tokens      approvals.TokenService
	Posts       approvals.PostService
	Adder       PostAdder
	Reviews     approvals.ReviewService
	Occurrences OccurrenceLister
	Pauses      approvals.PauseService
	Audit       approvals.AuditService
	Targets     approvals.TargetCatalog
	// Rooms are the review rooms' names; a post may name one of them.
	Rooms []string
	// Known says whether a token's person is still one of the configured
	// people; nil takes every person.
	Known func(person string) bool
	// MayResume says whether a person is an approver, who may resume and
	// cancel others' posts, and why not (chat's rule).
	MayResume func(ctx context.Context, person string) (bool, string)
	// Wake wakes the dispatcher after a resume; nil does nothing.
	Wake func()
	Zone string // the team's zone: a post's tz when it names none
	Now  func() time.Time
	Log  *slog.Logger
}

// API is the /api/v1 handler.
type API struct {
	d   Deps
	mux *http.ServeMux
}

// Route is one of the API's routes, as mounted.
type Route struct {
	Method, Path string
	Public       bool // answered without a token
	handle       func(w http.ResponseWriter, r *http.Request, who caller)
}

// caller is whom a request acts for.
type caller struct {
	person string
	token  int64
}

// New builds the API.
func New(d Deps) *API {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	a := &API{d: d, mux: http.NewServeMux()}
	for _, rt := range a.routes() {
		a.mux.HandleFunc(rt.Method+" "+rt.Path, a.wrap(rt))
	}
	a.mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		if allow := a.methods(r.URL.Path); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			problem(w, http.StatusMethodNotAllowed, "about:blank", r.URL.Path+" takes "+strings.Join(allow, ", ")+", not "+r.Method, nil)
			return
		}
		problem(w, http.StatusNotFound, "about:blank", "no such route: "+r.Method+" "+r.URL.Path+" (GET /api/v1/openapi.json lists them)", nil)
	})
	return a
}

// methods lists the methods of the routes whose path matches path (a
// {name} segment matches any one segment).
func (a *API) methods(path string) []string {
	var out []string
	got := strings.Split(strings.TrimSuffix(path, "/"), "/")
	for _, rt := range a.routes() {
		want := strings.Split(rt.Path, "/")
		if len(want) != len(got) {
			continue
		}
		match := true
		for i, seg := range want {
			if !(strings.HasPrefix(seg, "{") && got[i] != "") && seg != got[i] {
				match = false
				break
			}
		}
		if match && !slices.Contains(out, rt.Method) {
			out = append(out, rt.Method)
		}
	}
	return out
}

// Routes lists the API's routes (the tests compare them with openapi.json).
func (a *API) Routes() []Route { return a.routes() }

func (a *API) routes() []Route {
	return []Route{
		{Method: "GET", Path: "/api/v1/openapi.json", Public: true, handle: a.openapi},
		{Method: "POST", Path: "/api/v1/posts", handle: a.createPost},
		{Method: "GET", Path: "/api/v1/posts", handle: a.listPosts},
		{Method: "GET", Path: "/api/v1/posts/{id}", handle: a.getPost},
		{Method: "PATCH", Path: "/api/v1/posts/{id}", handle: a.editPost},
		{Method: "DELETE", Path: "/api/v1/posts/{id}", handle: a.cancelPost},
		{Method: "GET", Path: "/api/v1/occurrences", handle: a.listOccurrences},
		{Method: "GET", Path: "/api/v1/status", handle: a.status},
		{Method: "GET", Path: "/api/v1/audit", handle: a.audit},
		{Method: "POST", Path: "/api/v1/pause", handle: a.pause},
		{Method: "POST", Path: "/api/v1/resume", handle: a.resume},
	}
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// wrap authenticates a request (unless the route is public) and caps its
// body.
func (a *API) wrap(rt Route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		if rt.Public {
			rt.handle(w, r, caller{})
			return
		}
		who, ok := a.authenticate(w, r)
		if !ok {
			return
		}
		ctx := approvals.WithActing(r.Context(), approvals.Acting{Name: who.person, Identity: fmt.Sprintf("api token %d", who.token), Person: who.person})
		rt.handle(w, r.WithContext(ctx), who)
	}
}

// authenticate reads the bearer token; a missing, unknown or revoked one
// gets 401 with WWW-Authenticate: Bearer.
func (a *API) authenticate(w http.ResponseWriter, r *http.Request) (caller, bool) {
	h := r.Header.Get("Authorization")
	scheme, secret, _ := strings.Cut(h, " ")
	if h == "" || !strings.EqualFold(scheme, "Bearer") {
		w.Header().Set("WWW-Authenticate", `Bearer realm="heed"`)
		problem(w, http.StatusUnauthorized, "about:blank", approvals.ErrTokenRefused.Message, nil)
		return caller{}, false
	}
	t, err := a.d.Tokens.Authenticate(r.Context(), strings.TrimSpace(secret))
	if err == nil && a.d.Known != nil && !a.d.Known(t.Person) {
		err = approvals.Errorf(approvals.EUNAUTHORIZED, "the token's person %q is no longer one of the configured people", t.Person)
	}
	if err != nil {
		if approvals.ErrorCode(err) != approvals.EUNAUTHORIZED {
			a.fail(w, r, err)
			return caller{}, false
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="heed", error="invalid_token"`)
		problem(w, http.StatusUnauthorized, "about:blank", approvals.ErrorMessage(err), nil)
		return caller{}, false
	}
	return caller{person: t.Person, token: t.ID}, true
}

// FieldError names one field of a request and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail,omitempty"`
	Errors []FieldError `json:"errors,omitempty"`
}

// Problem types beyond about:blank.
const (
	TypeInvalid   = "urn:heed:problem:invalid"
	TypeMismatch  = "urn:heed:problem:idempotency-mismatch"
	TypeForbidden = "urn:heed:problem:forbidden"
	TypeConflict  = "urn:heed:problem:conflict"
)

func problem(w http.ResponseWriter, status int, typ, detail string, errs []FieldError) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Problem{Type: typ, Title: http.StatusText(status), Status: status, Detail: detail, Errors: errs})
}

func invalid(w http.ResponseWriter, errs []FieldError) {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Field + ": " + e.Message
	}
	problem(w, http.StatusUnprocessableEntity, TypeInvalid, "nothing was stored: "+strings.Join(msgs, "; "), errs)
}

// fail answers a domain error with its problem; an internal one is logged
// and not shown.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	msg := approvals.ErrorMessage(err)
	switch approvals.ErrorCode(err) {
	case approvals.EINVALID:
		problem(w, http.StatusUnprocessableEntity, TypeInvalid, "nothing was stored: "+msg, []FieldError{{Field: "body", Message: msg}})
	case approvals.EMISMATCH:
		problem(w, http.StatusUnprocessableEntity, TypeMismatch, msg, []FieldError{{Field: "Idempotency-Key", Message: msg}})
	case approvals.ENOTFOUND:
		problem(w, http.StatusNotFound, "about:blank", msg, nil)
	case approvals.ECONFLICT:
		problem(w, http.StatusConflict, TypeConflict, msg, nil)
	case approvals.EFORBIDDEN:
		problem(w, http.StatusForbidden, TypeForbidden, msg, nil)
	case approvals.EUNAVAILABLE:
		problem(w, http.StatusServiceUnavailable, "about:blank", msg, nil)
	default:
		a.d.Log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		problem(w, http.StatusInternalServerError, "about:blank", msg, nil)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// readBody reads a JSON body strictly into v: application/json, at most
// MaxBody bytes, one object, no unknown fields. It returns the raw bytes
// (for the idempotency hash), or false once it has answered.
func readBody(w http.ResponseWriter, r *http.Request, v any, optional bool) ([]byte, bool) {
	raw, err := io.ReadAll(r.Body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		problem(w, http.StatusRequestEntityTooLarge, "about:blank", fmt.Sprintf("the request body is over %d bytes", MaxBody), nil)
		return nil, false
	}
	if err != nil {
		problem(w, http.StatusBadRequest, "about:blank", "the request body could not be read", nil)
		return nil, false
	}
	if optional && len(strings.TrimSpace(string(raw))) == 0 {
		return raw, true
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		problem(w, http.StatusUnsupportedMediaType, "about:blank", "send the body as application/json", nil)
		return nil, false
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		invalid(w, []FieldError{jsonError(err)})
		return nil, false
	}
	if dec.More() {
		invalid(w, []FieldError{{Field: "body", Message: "one JSON object, and nothing after it"}})
		return nil, false
	}
	return raw, true
}

// jsonError names the field a decoding error is about.
func jsonError(err error) FieldError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return FieldError{Field: te.Field, Message: "must be " + jsonType(te.Type.Kind().String())}
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return FieldError{Field: strings.Trim(f, `"`), Message: "unknown field (openapi.json lists the fields)"}
	}
	return FieldError{Field: "body", Message: "not valid JSON: " + err.Error()}
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "map", "struct":
		return "an object"
	case "bool":
		return "true or false"
	}
	return "a " + kind
}

func (a *API) openapi(w http.ResponseWriter, r *http.Request, _ caller) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(OpenAPI)
}

// PostInput is a post as the API takes it: for a create, text, targets
// and at or cron are needed; for an edit every field is optional and
// only those given change.
type PostInput struct {
	Text     *string           `json:"text"`
	Variants map[string]string `json:"variants"`
	Link     *string           `json:"link"`
	Targets  []string          `json:"targets"`
	At       *string           `json:"at"`
	Cron     *string           `json:"cron"`
	TZ       *string           `json:"tz"`
	Until    *string           `json:"until"`
	Room     *string           `json:"room"`
	// AllowFrequent accepts a cron spec that fires more than
	// approvals.MaxPerDay times a day (as post add --allow-frequent).
	AllowFrequent bool `json:"allow_frequent"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// schedule reads the input's schedule in tz, from cur's for an edit.
func (in PostInput) schedule(cur approvals.Schedule, now time.Time, errs *[]FieldError) approvals.Schedule {
	s := cur
	if in.TZ != nil {
		s.TZ = *in.TZ
	}
	if _, err := approvals.LoadZone(s.TZ); err != nil {
		*errs = append(*errs, FieldError{"tz", approvals.ErrorMessage(err)})
		return s
	}
	if in.At != nil && in.Cron != nil && *in.At != "" && *in.Cron != "" {
		*errs = append(*errs, FieldError{"at", "give either at or cron, not both"})
		return s
	}
	if in.At != nil && *in.At != "" {
		t, err := approvals.ParseTime(*in.At, s.TZ, now)
		if err != nil {
			*errs = append(*errs, FieldError{"at", approvals.ErrorMessage(err)})
			return s
		}
		s.At, s.Cron = t, ""
	}
	if in.Cron != nil && *in.Cron != "" {
		s.Cron, s.At = *in.Cron, time.Time{}
	}
	if in.Until != nil {
		s.Until = time.Time{}
		if *in.Until != "" {
			t, err := approvals.ParseTime(*in.Until, s.TZ, now)
			if err != nil {
				*errs = append(*errs, FieldError{"until", approvals.ErrorMessage(err)})
				return s
			}
			s.Until = t
		}
	}
	field := "at"
	if s.Recurring() {
		field = "cron"
	}
	if s.At.IsZero() && !s.Recurring() {
		*errs = append(*errs, FieldError{"at", "no time given: give at (a time) or cron (a recurring spec)"})
		return s
	}
	if err := approvals.ValidateSchedule(s, now); err != nil {
		*errs = append(*errs, FieldError{field, approvals.ErrorMessage(err)})
		return s
	}
	if s.Recurring() && !in.AllowFrequent && s.FiringsPerDay(now, approvals.MaxPerDay) > approvals.MaxPerDay {
		*errs = append(*errs, FieldError{"cron", fmt.Sprintf("fires more than %d times a day: so frequent a series is refused unless allow_frequent is true", approvals.MaxPerDay)})
	}
	return s
}

// check validates a post as it would be stored, field by field.
func (a *API) check(p approvals.NewPost, errs []FieldError) []FieldError {
	if strings.TrimSpace(p.Text) == "" {
		errs = append(errs, FieldError{"text", "the post has no text"})
	}
	if len(p.Targets) == 0 {
		errs = append(errs, FieldError{"targets", "name at least one target; known targets: " + strings.Join(a.d.Targets.Names(), ", ")})
	}
	seen := map[string]bool{}
	for i, t := range p.Targets {
		switch {
		case !a.d.Targets.Known(t):
			errs = append(errs, FieldError{fmt.Sprintf("targets[%d]", i), fmt.Sprintf("unknown target %q; known targets: %s", t, strings.Join(a.d.Targets.Names(), ", "))})
		case seen[t]:
			errs = append(errs, FieldError{fmt.Sprintf("targets[%d]", i), fmt.Sprintf("target %q is named twice", t)})
		}
		seen[t] = true
	}
	for t, v := range p.Variants {
		switch {
		case !seen[t]:
			errs = append(errs, FieldError{"variants." + t, fmt.Sprintf("a text for %q, which is not one of the post's targets", t)})
		case strings.TrimSpace(v) == "":
			errs = append(errs, FieldError{"variants." + t, "the text is empty"})
		}
	}
	if p.Link != "" && !approvals.IsWebLink(p.Link) {
		errs = append(errs, FieldError{"link", fmt.Sprintf("%q is not an http(s) URL", p.Link)})
	}
	if p.Room != "" && len(a.d.Rooms) > 0 && !slices.Contains(a.d.Rooms, p.Room) {
		errs = append(errs, FieldError{"room", fmt.Sprintf("no review room %q; rooms: %s", p.Room, strings.Join(a.d.Rooms, ", "))})
	}
	if len(errs) > 0 {
		return errs
	}
	// What each target's network would refuse (over length, ...).
	first, _ := p.Schedule.Next(a.d.Now())
	post := approvals.Post{Text: p.Text, Variants: p.Variants, Link: p.Link, Targets: p.Targets}
	for _, pl := range approvals.Payloads(&post, first) {
		if probs := a.d.Targets.Problems(pl); len(probs) > 0 {
			field := "text"
			if _, ok := p.Variants[pl.Target]; ok {
				field = "variants." + pl.Target
			}
			errs = append(errs, FieldError{field, pl.Target + ": " + strings.Join(probs, "; ")})
		}
	}
	return errs
}

func (a *API) createPost(w http.ResponseWriter, r *http.Request, who caller) {
	var in PostInput
	raw, ok := readBody(w, r, &in, false)
	if !ok {
		return
	}
	key := r.Header.Get("Idempotency-Key")
	var errs []FieldError
	sum := sha256.Sum256(raw)
	once := approvals.Once{Scope: who.person, Key: key, RequestHash: hex.EncodeToString(sum[:])}
	switch {
	case key != "" && !validKey(key):
		errs = append(errs, FieldError{"Idempotency-Key", "use 1 to 255 visible ASCII characters, such as a UUID"})
		once.Key = ""
	case key != "":
		// A retry gets what the first request made, before the checks,
		// which may say otherwise by now (its time has passed).
		post, found, err := a.d.Adder.Replay(r.Context(), once)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if found {
			a.created(w, post, true)
			return
		}
	}
	now := a.d.Now()
	s := in.schedule(approvals.Schedule{TZ: a.d.Zone}, now, &errs)
	p := approvals.NewPost{Text: str(in.Text), Variants: in.Variants, Link: str(in.Link), Targets: in.Targets,
		Author: who.person, Room: str(in.Room), Schedule: s, Source: "api: by " + who.person}
	if errs = a.check(p, errs); len(errs) > 0 {
		invalid(w, errs)
		return
	}
	post, replayed, err := a.d.Adder.AddPostOnce(r.Context(), p, once, who.person, Place)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.created(w, post, replayed)
}

// created answers a create with the post; a replayed one as the first
// answer was, with Idempotent-Replayed: true.
func (a *API) created(w http.ResponseWriter, post approvals.Post, replayed bool) {
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Header().Set("Location", "/api/v1/posts/"+strconv.FormatInt(post.ID, 10))
	writeJSON(w, http.StatusCreated, post)
}

// validKey says whether an Idempotency-Key is 1 to 255 visible ASCII
// characters.
func validKey(k string) bool {
	if len(k) > 255 {
		return false
	}
	for _, c := range []byte(k) {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// PostList is what GET /posts answers.
type PostList struct {
	Posts []approvals.Post `json:"posts"`
}

func (a *API) listPosts(w http.ResponseWriter, r *http.Request, _ caller) {
	q := r.URL.Query()
	var errs []FieldError
	all := false
	if v := q.Get("all"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, FieldError{"all", "true or false"})
		}
		all = b
	}
	limit := queryLimit(q.Get("limit"), 100, &errs)
	if len(errs) > 0 {
		invalid(w, errs)
		return
	}
	posts, err := a.d.Posts.ListPosts(r.Context(), all, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if posts == nil {
		posts = []approvals.Post{}
	}
	writeJSON(w, http.StatusOK, PostList{Posts: posts})
}

// queryLimit reads a limit parameter: 1 to 1000, def when absent.
func queryLimit(v string, def int, errs *[]FieldError) int {
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		*errs = append(*errs, FieldError{"limit", "a whole number from 1 to 1000"})
	}
	return n
}

func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		invalid(w, []FieldError{{"id", fmt.Sprintf("%q is not a post id", r.PathValue("id"))}})
		return 0, false
	}
	return id, true
}

// PostDetail is what GET /posts/{id} answers.
type PostDetail struct {
	Post        approvals.Post         `json:"post"`
	Occurrences []approvals.Occurrence `json:"occurrences"`
}

func (a *API) getPost(w http.ResponseWriter, r *http.Request, _ caller) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	p, err := a.d.Posts.GetPost(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	occs, err := a.d.Reviews.Occurrences(r.Context(), id, 20)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if occs == nil {
		occs = []approvals.Occurrence{}
	}
	writeJSON(w, http.StatusOK, PostDetail{Post: p, Occurrences: occs})
}

func (a *API) editPost(w http.ResponseWriter, r *http.Request, who caller) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var in PostInput
	if _, ok := readBody(w, r, &in, false); !ok {
		return
	}
	cur, err := a.d.Posts.GetPost(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// Only the author rewrites a post: anyone else's words on it would be
	// theirs to approve, since the judge keeps only its author from
	// approving it.
	if cur.Author != who.person {
		author := cur.Author
		if author == "" {
			author = "nobody through the API (it was made with the command line or a calendar: edit it with `heed post edit`)"
		}
		problem(w, http.StatusForbidden, TypeForbidden, fmt.Sprintf("%s cannot edit post #%d: only its author may, and its author is %s. An approver may cancel it.", who.person, id, author), nil)
		return
	}
	var errs []FieldError
	var e approvals.PostEdit
	if in.Text != nil {
		e.Text = in.Text
	}
	if in.Link != nil {
		e.Link = in.Link
	}
	if in.Targets != nil {
		e.Targets = in.Targets
	}
	if in.Variants != nil {
		e.Variants = in.Variants
	}
	if in.Room != nil {
		e.Room = in.Room
	}
	if in.At != nil || in.Cron != nil || in.TZ != nil || in.Until != nil {
		s := in.schedule(cur.Schedule, a.d.Now(), &errs)
		e.Schedule = &s
	}
	// The post as it would be after the edit is checked as a new one.
	next := approvals.NewPost{Text: cur.Text, Variants: cur.Variants, Link: cur.Link, Targets: cur.Targets, Room: cur.Room, Author: cur.Author}
	if e.Text != nil {
		next.Text = *e.Text
	}
	if e.Link != nil {
		next.Link = *e.Link
	}
	if e.Targets != nil {
		next.Targets = e.Targets
	}
	if e.Variants != nil {
		next.Variants = e.Variants
	}
	if e.Room != nil {
		next.Room = *e.Room
	}
	next.Schedule = cur.Schedule
	if e.Schedule != nil {
		next.Schedule = *e.Schedule
	}
	if errs = a.check(next, errs); len(errs) > 0 {
		invalid(w, errs)
		return
	}
	p, err := a.d.Posts.EditPost(r.Context(), id, e, who.person, Place)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (a *API) cancelPost(w http.ResponseWriter, r *http.Request, who caller) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	// Chat's rule: its author or an approver.
	cur, err := a.d.Posts.GetPost(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if cur.Author != who.person {
		if approver, why := a.d.MayResume(r.Context(), who.person); !approver {
			problem(w, http.StatusForbidden, TypeForbidden, fmt.Sprintf("%s cannot cancel post #%d: %s. Its author or an approver may.", who.person, id, why), nil)
			return
		}
	}
	if err := a.d.Posts.CancelPost(r.Context(), id, who.person, Place); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// OccurrenceList is what GET /occurrences answers.
type OccurrenceList struct {
	Occurrences []approvals.Occurrence `json:"occurrences"`
}

func (a *API) listOccurrences(w http.ResponseWriter, r *http.Request, _ caller) {
	q := r.URL.Query()
	var errs []FieldError
	var f approvals.OccurrenceFilter
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				errs = append(errs, FieldError{p.name, fmt.Sprintf("%q is not an RFC 3339 time, such as 2030-01-07T09:00:00Z", v)})
			}
			*p.t = t
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		errs = append(errs, FieldError{"to", "must be after from"})
	}
	if v := q.Get("state"); v != "" {
		if !slices.Contains(approvals.States, approvals.State(v)) {
			names := make([]string, len(approvals.States))
			for i, s := range approvals.States {
				names[i] = string(s)
			}
			errs = append(errs, FieldError{"state", fmt.Sprintf("%q is no state; states: %s", v, strings.Join(names, ", "))})
		}
		f.State = approvals.State(v)
	}
	f.Limit = queryLimit(q.Get("limit"), 100, &errs)
	if len(errs) > 0 {
		invalid(w, errs)
		return
	}
	occs, err := a.d.Occurrences.ListOccurrences(r.Context(), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if occs == nil {
		occs = []approvals.Occurrence{}
	}
	writeJSON(w, http.StatusOK, OccurrenceList{Occurrences: occs})
}

// Status is what GET /status answers: as heed status --json.
type Status struct {
	Paused bool                    `json:"paused"`
	Pauses []approvals.Pause       `json:"pauses"`
	Counts map[approvals.State]int `json:"counts"`
	Next   []approvals.Summary     `json:"next"`
}

func (a *API) status(w http.ResponseWriter, r *http.Request, _ caller) {
	ctx := r.Context()
	pauses, err := a.d.Pauses.ActivePauses(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	counts, err := a.d.Reviews.Counts(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	queue, err := a.d.Reviews.Queue(ctx, 10)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if pauses == nil {
		pauses = []approvals.Pause{}
	}
	if queue == nil {
		queue = []approvals.Summary{}
	}
	writeJSON(w, http.StatusOK, Status{Paused: len(pauses) > 0, Pauses: pauses, Counts: counts, Next: queue})
}

// AuditPage is what GET /audit answers: entries after `after`, oldest
// first; Next is the `after` of the next page.
type AuditPage struct {
	Entries []approvals.AuditEntry `json:"entries"`
	Next    int64                  `json:"next"`
}

func (a *API) audit(w http.ResponseWriter, r *http.Request, _ caller) {
	q := r.URL.Query()
	var errs []FieldError
	num := func(name string) int64 {
		v := q.Get(name)
		if v == "" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			errs = append(errs, FieldError{name, "a whole number, 0 or more"})
		}
		return n
	}
	after, occ := num("after"), num("occurrence")
	limit := queryLimit(q.Get("limit"), 500, &errs)
	if len(errs) > 0 {
		invalid(w, errs)
		return
	}
	entries, err := a.d.Audit.Audit(r.Context(), after, occ, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	page := AuditPage{Entries: entries, Next: after}
	if page.Entries == nil {
		page.Entries = []approvals.AuditEntry{}
	}
	if n := len(entries); n > 0 {
		page.Next = entries[n-1].ID
	}
	writeJSON(w, http.StatusOK, page)
}

// PauseInput is what POST /pause takes.
type PauseInput struct {
	Reason string `json:"reason"`
	Target string `json:"target"`
}

// PauseResult is what POST /pause answers.
type PauseResult struct {
	Pause      approvals.Pause   `json:"pause"`
	Waiting    int               `json:"waiting"`
	Publishing int               `json:"publishing"`
	Already    []approvals.Pause `json:"already"`
}

func (a *API) pause(w http.ResponseWriter, r *http.Request, who caller) {
	var in PauseInput
	if _, ok := readBody(w, r, &in, false); !ok {
		return
	}
	var errs []FieldError
	if strings.TrimSpace(in.Reason) == "" {
		errs = append(errs, FieldError{"reason", "say why, for the team and the audit log"})
	}
	if in.Target != "" && !a.d.Targets.Known(in.Target) {
		errs = append(errs, FieldError{"target", fmt.Sprintf("unknown target %q; known targets: %s", in.Target, strings.Join(a.d.Targets.Names(), ", "))})
	}
	if len(errs) > 0 {
		invalid(w, errs)
		return
	}
	rc, err := a.d.Pauses.PauseAll(r.Context(), who.person, in.Target, strings.TrimSpace(in.Reason), Place)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if rc.Already == nil {
		rc.Already = []approvals.Pause{}
	}
	writeJSON(w, http.StatusOK, PauseResult{Pause: rc.Pause, Waiting: rc.Waiting, Publishing: rc.Publishing, Already: rc.Already})
}

// ResumeInput is what POST /resume takes (an empty body resumes
// everything).
type ResumeInput struct {
	Target string `json:"target"`
}

// ResumeResult is what POST /resume answers.
type ResumeResult struct {
	Resumed []approvals.Pause `json:"resumed"`
	Held    []int64           `json:"held"`
}

func (a *API) resume(w http.ResponseWriter, r *http.Request, who caller) {
	var in ResumeInput
	if _, ok := readBody(w, r, &in, true); !ok {
		return
	}
	if in.Target != "" && !a.d.Targets.Known(in.Target) {
		invalid(w, []FieldError{{"target", fmt.Sprintf("unknown target %q; known targets: %s", in.Target, strings.Join(a.d.Targets.Names(), ", "))}})
		return
	}
	if ok, why := a.d.MayResume(r.Context(), who.person); !ok {
		_ = a.d.Audit.Record(r.Context(), approvals.AuditEntry{Actor: who.person, Action: "resume.refused", Target: in.Target, Place: Place, Detail: why})
		problem(w, http.StatusForbidden, TypeForbidden, fmt.Sprintf("%s cannot resume: %s. Only approvers can resume; anyone can pause.", who.person, why), nil)
		return
	}
	rc, err := a.d.Pauses.Resume(r.Context(), who.person, in.Target, Place)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if a.d.Wake != nil {
		a.d.Wake()
	}
	out := ResumeResult{Resumed: rc.Resumed, Held: rc.Held}
	if out.Resumed == nil {
		out.Resumed = []approvals.Pause{}
	}
	if out.Held == nil {
		out.Held = []int64{}
	}
	writeJSON(w, http.StatusOK, out)
}
