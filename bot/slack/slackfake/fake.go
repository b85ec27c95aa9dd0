// Package slackfake is a stateful fake Slack for tests. It serves the Web API
// methods heed uses over httptest (channels, messages, threads, reactions,
// users, user groups, history with cursor pages), a Socket Mode websocket
// that pushes envelopes and records acks, signed Events API deliveries
// with retries, and modals (views.open with a trigger_id used once within
// 3 seconds, message shortcuts, view submissions and their answers:
// views.go). It can answer 429 with Retry-After (the next calls, the
// next calls of one method, or per-method limits a minute as Slack's tiers
// set them), delay every answer, fail calls with a Slack error or an HTTP
// error status, lose answers, and replay a delivery exactly as it was
// signed. Payloads follow
// the shapes in Slack's API docs (the fixtures in ../testdata are checked
// against what the fake sends).
//
// Tests act the way people do, then assert on the card, in the style of
// GoAlert's smoke tests:
//
//	f.React("UALICE", "CREVIEW", card.TS, "white_check_mark")
//	card = card.ExpectUpdate(t)
//	card.AssertText(t, "approved by @alice")
//
// Nothing in the fake sleeps: waits use channels with a deadline.
package slackfake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configure a Fake. The zero value of every field has a default.
type Options struct {
	BotToken      string // default "xoxb-fake-bot-token"
	AppToken      string // default "xapp-fake-app-token"
	SigningSecret string // default "fake-signing-secret"
	TeamID        string // default "T0HEED0001"
	AppID         string // default "A0HEED0001"
	BotUserID     string // default "U0HEEDBOT1"
	BotID         string // default "B0HEEDBOT1"
	// Now is the fake's clock: message ts values, event times and the
	// X-Slack-Request-Timestamp of deliveries. Default time.Now.
	Now func() time.Time
	// Wait bounds every wait in the helpers (acks, updates). Default 10 s.
	Wait time.Duration
	// DeliveryTimeout is how long an HTTP delivery may take before it
	// counts as failed and is retried, like Slack's 3 s. Default 3 s.
	DeliveryTimeout time.Duration
	// PingInterval is how often the socket sends a websocket ping.
	// Default 1 s; negative disables pings.
	PingInterval time.Duration
	// PartialUsers is how many users reactions.get lists per reaction
	// without full=true (Slack truncates; count stays exact). Default 1.
	PartialUsers int
	// NoEcho stops the fake from delivering message and reaction events
	// for the app's own posts and reactions (Slack delivers them).
	NoEcho bool
	// Latency delays every Web API answer, as the way to Slack and back
	// does. Default none.
	Latency time.Duration
	// Limits enforce Slack's per-method rate limits: at most this many
	// calls of the method in any minute (by the wall clock, which the
	// app's waits follow), for example {"chat.update": 50} for Tier 3.
	// A call over the limit is answered 429 with Retry-After: the seconds
	// until the oldest call in the window is a minute old.
	Limits map[string]int
}

// User is a workspace member or a bot user.
type User struct {
	ID       string
	Name     string // the handle: "alice"
	RealName string
	IsBot    bool
	BotID    string // set for bot users
	Deleted  bool
	// TZ is the zone users.info gives (tz); default Europe/Berlin, "-"
	// for none (Slack knows no zone for the user).
	TZ string
}

// Reaction is one emoji on a message with everyone who added it.
type Reaction struct {
	Name  string   `json:"name"`
	Users []string `json:"users"`
	Count int      `json:"count"`
}

// Metadata is a message's metadata as Slack stores it.
type Metadata struct {
	EventType    string         `json:"event_type"`
	EventPayload map[string]any `json:"event_payload"`
}

// Call is one Web API request the fake answered.
type Call struct {
	Method string
	Params url.Values // without the token
	Status int        // HTTP status answered
	Error  string     // Slack error code, if ok was false
}

type message struct {
	channel   string
	ts        string
	threadTS  string
	user      string
	botID     string
	subtype   string
	text      string
	blocks    json.RawMessage
	metadata  *Metadata
	reactions []Reaction
	files     []string // ids of the files the message shares (files.go)
	replies   int
	edits     int
	deleted   bool
	editedTS  string
}

type channel struct {
	id      string
	name    string
	private bool
	members []string
	msgs    []*message // in ts order, thread replies included
}

// Fake is one fake Slack workspace with one installed app (heed).
type Fake struct {
	opt Options
	srv *httptest.Server
	tb  testing.TB

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced on every change
	users     map[string]*User
	groups    map[string][]string
	channels  map[string]*channel
	lastMicro int64
	calls     []Call
	limitN    int
	limitWait int // Retry-After seconds
	methodN   map[string]int
	methodRA  map[string]int
	window    map[string][]time.Time // Limits: the calls answered in the last minute, per method
	failNext  map[string]string
	httpFails []httpFail
	breakNext map[string]bool
	stallNext map[string]bool
	responses []Response
	seq       int

	sock sockState
	out  outbox
	fs   fileState // files.go

	triggers  map[string]*trigger   // views.go
	views     map[string]*viewState // views.go
	viewOrder []string
}

// New starts a fake Slack. It is closed when the test ends.
func New(tb testing.TB, opt Options) *Fake {
	tb.Helper()
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&opt.BotToken, "xoxb-fake-bot-token")
	def(&opt.AppToken, "xapp-fake-app-token")
	def(&opt.SigningSecret, "fake-signing-secret")
	def(&opt.TeamID, "T0HEED0001")
	def(&opt.AppID, "A0HEED0001")
	def(&opt.BotUserID, "U0HEEDBOT1")
	def(&opt.BotID, "B0HEEDBOT1")
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Wait == 0 {
		opt.Wait = 10 * time.Second
	}
	if opt.DeliveryTimeout == 0 {
		opt.DeliveryTimeout = 3 * time.Second
	}
	if opt.PingInterval == 0 {
		opt.PingInterval = time.Second
	}
	if opt.PartialUsers == 0 {
		opt.PartialUsers = 1
	}
	f := &Fake{
		opt:       opt,
		tb:        tb,
		changed:   make(chan struct{}),
		users:     map[string]*User{},
		groups:    map[string][]string{},
		channels:  map[string]*channel{},
		failNext:  map[string]string{},
		breakNext: map[string]bool{},
		stallNext: map[string]bool{},
		methodN:   map[string]int{},
		methodRA:  map[string]int{},
		window:    map[string][]time.Time{},
	}
	f.users[opt.BotUserID] = &User{ID: opt.BotUserID, Name: "heed", RealName: "heed", IsBot: true, BotID: opt.BotID}
	f.sock.init()
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", f.serveAPI)
	mux.HandleFunc("/link/", f.serveSocket)
	mux.HandleFunc("/respond/", f.serveResponseURL)
	mux.HandleFunc("/upload/v1/", f.serveUpload)
	f.srv = httptest.NewServer(mux)
	f.out.start(f)
	tb.Cleanup(f.Close)
	return f
}

// Close stops deliveries, drops the socket and shuts the server down.
func (f *Fake) Close() {
	f.out.stop()
	f.closeSockets()
	f.srv.Close()
}

// APIURL is the Web API base URL for slack.OptionAPIURL (ends in "/").
func (f *Fake) APIURL() string { return f.srv.URL + "/api/" }

// URL is the server's base URL.
func (f *Fake) URL() string { return f.srv.URL }

// Options returns the fake's effective options (tokens, ids, secret).
func (f *Fake) Options() Options { return f.opt }

// AddUser adds a member or bot user to the workspace.
func (f *Fake) AddUser(u User) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u.Name == "" {
		u.Name = strings.ToLower(u.ID)
	}
	if u.RealName == "" {
		u.RealName = u.Name
	}
	f.users[u.ID] = &u
	f.notifyLocked()
}

// AddChannel creates a channel; the app's bot user is always a member.
func (f *Fake) AddChannel(id, name string, members ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.channels[id] = &channel{id: id, name: name, private: strings.HasPrefix(id, "G"),
		members: append([]string{f.opt.BotUserID}, members...)}
	f.notifyLocked()
}

// SetGroup creates or replaces a user group's members.
func (f *Fake) SetGroup(id string, members ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.groups[id] = slices.Clone(members)
	f.notifyLocked()
}

// RateLimit makes the next n Web API calls answer 429 with
// Retry-After: retryAfterSeconds (a "429 storm").
func (f *Fake) RateLimit(n, retryAfterSeconds int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.limitN, f.limitWait = n, retryAfterSeconds
}

// RateLimitMethod makes the next n calls of method answer 429 with
// Retry-After: retryAfterSeconds; other methods are answered as usual, as
// Slack's limits are per method.
func (f *Fake) RateLimitMethod(method string, n, retryAfterSeconds int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.methodN[method], f.methodRA[method] = n, retryAfterSeconds
}

// FailNext makes the next call of method answer {"ok":false,"error":code}.
func (f *Fake) FailNext(method, code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext[method] = code
}

// httpFail answers calls of one method with an HTTP error status.
type httpFail struct {
	method string
	status int
	left   int
	match  func(url.Values) bool
}

// FailHTTP makes the next n calls of method for which match holds (nil:
// every call) answer with the HTTP status (500, 503, ...) and no Slack
// answer, as when a server behind Slack's edge fails. The call has no
// effect. Other calls are answered as usual.
func (f *Fake) FailHTTP(method string, status, n int, match func(params url.Values) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.httpFails = append(f.httpFails, httpFail{method: method, status: status, left: n, match: match})
}

// httpFailLocked reports the HTTP status a call of method with params is
// made to fail with, or 0.
func (f *Fake) httpFailLocked(method string, params url.Values) int {
	for i := range f.httpFails {
		h := &f.httpFails[i]
		if h.left > 0 && h.method == method && (h.match == nil || h.match(params)) {
			h.left--
			return h.status
		}
	}
	return 0
}

// BreakNext makes the next call of method take effect and then lose its
// answer: the connection is closed before any response, as when a request
// reaches Slack but the reply never comes back.
func (f *Fake) BreakNext(method string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.breakNext[method] = true
}

// StallNext makes the next call of method take effect and then never
// answer: the fake holds the request until the client gives up.
func (f *Fake) StallNext(method string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stallNext[method] = true
}

// WaitCall waits until the fake has answered a call of method for which
// ok is true (nil: any), and returns the first such.
func (f *Fake) WaitCall(tb testing.TB, method string, ok func(Call) bool) Call {
	tb.Helper()
	var got Call
	if !f.waitFor(func() bool {
		for _, c := range f.calls {
			if c.Method == method && (ok == nil || ok(c)) {
				got = c
				return true
			}
		}
		return false
	}) {
		tb.Fatalf("slackfake: waited %v for a matching %s call", f.opt.Wait, method)
	}
	return got
}

// Calls returns the Web API calls answered so far, for one method or all
// when method is empty.
func (f *Fake) Calls(method string) []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Call
	for _, c := range f.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

func (f *Fake) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// waitFor blocks until cond (called with f.mu held) is true or the wait
// bound passes; it reports whether cond became true.
func (f *Fake) waitFor(cond func() bool) bool {
	deadline := time.NewTimer(f.opt.Wait)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		ok := cond()
		ch := f.changed
		f.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

// nextTSLocked returns a message ts that is unique and increasing, even for
// several messages within one microsecond of the fake's clock.
func (f *Fake) nextTSLocked() string {
	micro := f.opt.Now().UnixMicro()
	if micro <= f.lastMicro {
		micro = f.lastMicro + 1
	}
	f.lastMicro = micro
	return fmt.Sprintf("%d.%06d", micro/1e6, micro%1e6)
}

func (f *Fake) nextSeqLocked() int {
	f.seq++
	return f.seq
}

func (f *Fake) findLocked(ch, ts string) (*channel, *message) {
	c := f.channels[ch]
	if c == nil {
		return nil, nil
	}
	for _, m := range c.msgs {
		if m.ts == ts && !m.deleted {
			return c, m
		}
	}
	return c, nil
}

// apiError is a Slack error answer: HTTP 200 with ok false.
type apiError string

func (f *Fake) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	params, token := readParams(r)
	rec := Call{Method: method, Params: params, Status: http.StatusOK}

	f.mu.Lock()
	if wait, limited := f.limitedLocked(method); limited {
		rec.Status, rec.Error = http.StatusTooManyRequests, "ratelimited"
		f.calls = append(f.calls, rec)
		f.notifyLocked()
		f.mu.Unlock()
		if !f.delay(r) {
			return
		}
		w.Header().Set("Retry-After", strconv.Itoa(wait))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"ok":false,"error":"ratelimited"}`))
		return
	}
	if status := f.httpFailLocked(method, params); status != 0 {
		rec.Status = status
		f.calls = append(f.calls, rec)
		f.notifyLocked()
		f.mu.Unlock()
		if !f.delay(r) {
			return
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		_, _ = w.Write([]byte("<html><body>" + http.StatusText(status) + "</body></html>"))
		return
	}
	want := f.opt.BotToken
	if method == "apps.connections.open" {
		want = f.opt.AppToken
	}
	var res any
	switch {
	case token == "":
		res = apiError("not_authed")
	case token != want:
		res = apiError("invalid_auth")
	case f.failNext[method] != "":
		res = apiError(f.failNext[method])
		delete(f.failNext, method)
	default:
		res = f.callLocked(method, params)
	}
	broken, stalled := f.breakNext[method], f.stallNext[method]
	delete(f.breakNext, method)
	delete(f.stallNext, method)
	if e, ok := res.(apiError); ok {
		rec.Error = string(e)
		res = map[string]any{"ok": false, "error": string(e)}
	}
	f.calls = append(f.calls, rec)
	f.notifyLocked()
	f.mu.Unlock()

	if stalled {
		<-r.Context().Done()
		return
	}
	if !f.delay(r) {
		return
	}
	if broken {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}

// limitedLocked decides whether a call of method is answered 429, and
// with which Retry-After (seconds): the next calls made to fail by
// RateLimit or RateLimitMethod, then the per-minute Limits.
func (f *Fake) limitedLocked(method string) (int, bool) {
	if f.limitN > 0 {
		f.limitN--
		return f.limitWait, true
	}
	if f.methodN[method] > 0 {
		f.methodN[method]--
		return f.methodRA[method], true
	}
	perMinute := f.opt.Limits[method]
	if perMinute <= 0 {
		return 0, false
	}
	now := time.Now()
	calls := f.window[method]
	for len(calls) > 0 && now.Sub(calls[0]) >= time.Minute {
		calls = calls[1:]
	}
	if len(calls) >= perMinute {
		f.window[method] = calls
		wait := calls[0].Add(time.Minute).Sub(now)
		return max(1, int((wait+time.Second-1)/time.Second)), true
	}
	f.window[method] = append(calls, now)
	return 0, false
}

// delay waits out Options.Latency before an answer; false if the client
// gave up meanwhile.
func (f *Fake) delay(r *http.Request) bool {
	if f.opt.Latency <= 0 {
		return true
	}
	t := time.NewTimer(f.opt.Latency)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// readParams merges query, form and JSON body parameters, as Slack accepts
// all three, and takes the token from the Authorization header or the form.
func readParams(r *http.Request) (url.Values, string) {
	params := url.Values{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		for k, v := range body {
			switch v := v.(type) {
			case string:
				params.Set(k, v)
			default:
				b, _ := json.Marshal(v)
				params.Set(k, string(b))
			}
		}
	}
	_ = r.ParseForm()
	for k, vs := range r.Form {
		for _, v := range vs {
			params.Add(k, v)
		}
	}
	token := params.Get("token")
	params.Del("token")
	if h, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && h != "" {
		token = h
	}
	return params, token
}

func (f *Fake) callLocked(method string, p url.Values) any {
	switch method {
	case "auth.test":
		return map[string]any{"ok": true, "url": "https://heed-fake.slack.com/", "team": "heed fake",
			"user": "heed", "team_id": f.opt.TeamID, "user_id": f.opt.BotUserID, "bot_id": f.opt.BotID,
			"is_enterprise_install": false}
	case "chat.postMessage":
		return f.postMessageLocked(p)
	case "chat.update":
		return f.updateLocked(p)
	case "chat.delete":
		c, m := f.findLocked(p.Get("channel"), p.Get("ts"))
		switch {
		case c == nil:
			return apiError("channel_not_found")
		case m == nil:
			return apiError("message_not_found")
		case m.user != f.opt.BotUserID:
			return apiError("cant_delete_message")
		}
		m.deleted = true
		return map[string]any{"ok": true, "channel": c.id, "ts": m.ts}
	case "reactions.add", "reactions.remove":
		return f.botReactLocked(method == "reactions.add", p)
	case "reactions.get":
		return f.reactionsGetLocked(p)
	case "users.info":
		u := f.users[p.Get("user")]
		if u == nil {
			return apiError("user_not_found")
		}
		return map[string]any{"ok": true, "user": f.userJSON(u)}
	case "usergroups.users.list":
		members, ok := f.groups[p.Get("usergroup")]
		if !ok {
			return apiError("no_such_subteam")
		}
		return map[string]any{"ok": true, "users": nonNil(members)}
	case "conversations.members":
		c := f.channels[p.Get("channel")]
		if c == nil {
			return apiError("channel_not_found")
		}
		return map[string]any{"ok": true, "members": nonNil(c.members),
			"response_metadata": map[string]any{"next_cursor": ""}}
	case "conversations.history":
		return f.historyLocked(p)
	case "conversations.replies":
		return f.repliesLocked(p)
	case "files.getUploadURLExternal":
		return f.getUploadURLLocked(p)
	case "files.completeUploadExternal":
		return f.completeUploadLocked(p)
	case "views.open":
		return f.viewsOpenLocked(p)
	case "apps.connections.open":
		ticket := fmt.Sprintf("fake-ticket-%d", f.nextSeqLocked())
		f.sock.tickets[ticket] = true
		u := strings.Replace(f.srv.URL, "http://", "ws://", 1) + "/link/?ticket=" + ticket + "&app_id=" + f.opt.AppID
		return map[string]any{"ok": true, "url": u}
	}
	return apiError("unknown_method")
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (f *Fake) userJSON(u *User) map[string]any {
	profile := map[string]any{"display_name": u.Name, "display_name_normalized": u.Name,
		"real_name": u.RealName, "real_name_normalized": u.RealName, "team": f.opt.TeamID}
	if u.BotID != "" {
		profile["bot_id"] = u.BotID
	}
	var tz any = u.TZ
	switch u.TZ {
	case "":
		tz = "Europe/Berlin"
	case "-":
		tz = nil
	}
	return map[string]any{"id": u.ID, "team_id": f.opt.TeamID, "name": u.Name, "deleted": u.Deleted,
		"real_name": u.RealName, "is_bot": u.IsBot, "is_app_user": false, "is_admin": false,
		"is_owner": false, "tz": tz, "profile": profile}
}

func (f *Fake) postMessageLocked(p url.Values) any {
	c := f.channels[p.Get("channel")]
	if c == nil {
		return apiError("channel_not_found")
	}
	if !slices.Contains(c.members, f.opt.BotUserID) {
		return apiError("not_in_channel")
	}
	m := &message{channel: c.id, user: f.opt.BotUserID, botID: f.opt.BotID, text: p.Get("text")}
	if err := setContent(m, p); err != "" {
		return err
	}
	if m.text == "" && m.blocks == nil {
		return apiError("no_text")
	}
	if th := p.Get("thread_ts"); th != "" {
		_, parent := f.findLocked(c.id, th)
		if parent == nil {
			return apiError("thread_not_found")
		}
		parent.replies++
		m.threadTS = th
	}
	m.ts = f.nextTSLocked()
	c.msgs = append(c.msgs, m)
	if !f.opt.NoEcho {
		f.out.enqueue(f.messageEventLocked(m))
	}
	msg := f.messageJSON(m, true, true)
	msg["username"] = "heed"
	return map[string]any{"ok": true, "channel": c.id, "ts": m.ts, "message": msg}
}

// setContent applies blocks and metadata parameters to m.
func setContent(m *message, p url.Values) apiError {
	if b := p.Get("blocks"); b != "" {
		var blocks []json.RawMessage
		if json.Unmarshal([]byte(b), &blocks) != nil {
			return apiError("invalid_blocks")
		}
		m.blocks = json.RawMessage(b)
	}
	if md := p.Get("metadata"); md != "" {
		var meta Metadata
		if json.Unmarshal([]byte(md), &meta) != nil || meta.EventType == "" {
			return apiError("invalid_metadata_format")
		}
		m.metadata = &meta
	}
	return ""
}

func (f *Fake) updateLocked(p url.Values) any {
	c, m := f.findLocked(p.Get("channel"), p.Get("ts"))
	switch {
	case c == nil:
		return apiError("channel_not_found")
	case m == nil:
		return apiError("message_not_found")
	case m.user != f.opt.BotUserID:
		return apiError("cant_update_message")
	}
	next := *m
	next.text = p.Get("text")
	if p.Has("blocks") {
		next.blocks = nil
	}
	if err := setContent(&next, p); err != "" {
		return err
	}
	if next.text == "" && next.blocks == nil {
		return apiError("no_text")
	}
	*m = next
	m.edits++
	m.editedTS = f.nextTSLocked()
	return map[string]any{"ok": true, "channel": c.id, "ts": m.ts, "text": m.text,
		"message": f.messageJSON(m, false, false)}
}

func (f *Fake) botReactLocked(add bool, p url.Values) any {
	_, m := f.findLocked(p.Get("channel"), p.Get("timestamp"))
	if m == nil {
		return apiError("message_not_found")
	}
	if err := f.reactLocked(m, f.opt.BotUserID, p.Get("name"), add); err != "" {
		return err
	}
	if !f.opt.NoEcho {
		f.out.enqueue(f.reactionEventLocked(m, f.opt.BotUserID, p.Get("name"), add))
	}
	return map[string]any{"ok": true}
}

// reactLocked adds or removes user's reaction name on m.
func (f *Fake) reactLocked(m *message, user, name string, add bool) apiError {
	i := slices.IndexFunc(m.reactions, func(r Reaction) bool { return r.Name == name })
	if add {
		if i < 0 {
			m.reactions = append(m.reactions, Reaction{Name: name})
			i = len(m.reactions) - 1
		}
		r := &m.reactions[i]
		if slices.Contains(r.Users, user) {
			return "already_reacted"
		}
		r.Users = append(r.Users, user)
		r.Count = len(r.Users)
		return ""
	}
	if i < 0 || !slices.Contains(m.reactions[i].Users, user) {
		return "no_reaction"
	}
	r := &m.reactions[i]
	r.Users = slices.DeleteFunc(r.Users, func(u string) bool { return u == user })
	r.Count = len(r.Users)
	if r.Count == 0 {
		m.reactions = slices.Delete(m.reactions, i, i+1)
	}
	return ""
}

func (f *Fake) reactionsGetLocked(p url.Values) any {
	c, m := f.findLocked(p.Get("channel"), p.Get("timestamp"))
	if c == nil {
		return apiError("channel_not_found")
	}
	if m == nil {
		return apiError("message_not_found")
	}
	full := p.Get("full") == "true" || p.Get("full") == "1"
	msg := f.messageJSON(m, false, false)
	rs := make([]Reaction, len(m.reactions))
	for i, r := range m.reactions {
		rs[i] = Reaction{Name: r.Name, Count: r.Count, Users: slices.Clone(r.Users)}
		if !full && len(rs[i].Users) > f.opt.PartialUsers {
			rs[i].Users = rs[i].Users[:f.opt.PartialUsers]
		}
	}
	if len(rs) > 0 {
		msg["reactions"] = rs
	}
	return map[string]any{"ok": true, "type": "message", "channel": c.id, "message": msg}
}

// historyLocked answers conversations.history: the channel's messages
// (thread replies only when broadcast), newest first, between oldest and
// latest (exclusive unless inclusive), limit at a time; next_cursor names
// where the next page starts, as Slack's cursors do, so that messages
// posted meanwhile do not shift the pages.
func (f *Fake) historyLocked(p url.Values) any {
	c := f.channels[p.Get("channel")]
	if c == nil {
		return apiError("channel_not_found")
	}
	limit := pageLimit(p, 100)
	from, err := cursorTS(p.Get("cursor"))
	if err != "" {
		return err
	}
	incl := p.Get("inclusive") == "1" || p.Get("inclusive") == "true"
	meta := p.Get("include_all_metadata") == "1" || p.Get("include_all_metadata") == "true"
	oldest, latest := p.Get("oldest"), p.Get("latest")
	var sel []*message
	for i := len(c.msgs) - 1; i >= 0; i-- {
		m := c.msgs[i]
		if m.deleted || (m.threadTS != "" && m.threadTS != m.ts && m.subtype != "thread_broadcast") {
			continue
		}
		if !inRange(m.ts, oldest, latest, incl) || (from != "" && tsLess(from, m.ts)) {
			continue
		}
		sel = append(sel, m)
	}
	next := ""
	if len(sel) > limit {
		next = nextCursor(sel[limit].ts)
		sel = sel[:limit]
	}
	out := make([]map[string]any, 0, len(sel))
	for _, m := range sel {
		out = append(out, f.messageJSON(m, meta, true))
	}
	return map[string]any{"ok": true, "messages": out, "has_more": next != "",
		"pin_count": 0, "response_metadata": map[string]any{"next_cursor": next}}
}

// repliesLocked answers conversations.replies: the thread's parent first,
// then its replies between oldest and latest, oldest first, limit at a
// time (the parent counts on the first page).
func (f *Fake) repliesLocked(p url.Values) any {
	c, parent := f.findLocked(p.Get("channel"), p.Get("ts"))
	if c == nil {
		return apiError("channel_not_found")
	}
	if parent == nil {
		return apiError("thread_not_found")
	}
	limit := pageLimit(p, 1000)
	from, err := cursorTS(p.Get("cursor"))
	if err != "" {
		return err
	}
	incl := p.Get("inclusive") == "1" || p.Get("inclusive") == "true"
	meta := p.Get("include_all_metadata") == "1" || p.Get("include_all_metadata") == "true"
	var sel []*message
	if from == "" {
		sel = append(sel, parent)
	}
	for _, m := range c.msgs {
		if m.deleted || m.threadTS != parent.ts || m.ts == parent.ts {
			continue
		}
		if !inRange(m.ts, p.Get("oldest"), p.Get("latest"), incl) || (from != "" && tsLess(m.ts, from)) {
			continue
		}
		sel = append(sel, m)
	}
	next := ""
	if len(sel) > limit {
		next = nextCursor(sel[limit].ts)
		sel = sel[:limit]
	}
	out := make([]map[string]any, 0, len(sel))
	for _, m := range sel {
		out = append(out, f.messageJSON(m, meta, true))
	}
	return map[string]any{"ok": true, "messages": out, "has_more": next != "",
		"response_metadata": map[string]any{"next_cursor": next}}
}

func pageLimit(p url.Values, def int) int {
	limit, _ := strconv.Atoi(p.Get("limit"))
	if limit <= 0 || limit > 999 {
		limit = def
	}
	return limit
}

// nextCursor is an opaque cursor in Slack's style: base64 of "next_ts:"
// and the ts where the next page starts.
func nextCursor(ts string) string {
	return base64.StdEncoding.EncodeToString([]byte("next_ts:" + ts))
}

func cursorTS(cursor string) (string, apiError) {
	if cursor == "" {
		return "", ""
	}
	b, err := base64.StdEncoding.DecodeString(cursor)
	ts, ok := strings.CutPrefix(string(b), "next_ts:")
	if err != nil || !ok || ts == "" {
		return "", apiError("invalid_cursor")
	}
	return ts, ""
}

// inRange reports whether ts lies between oldest and latest (either may be
// empty), including them when incl is set.
func inRange(ts, oldest, latest string, incl bool) bool {
	if oldest != "" && (tsLess(ts, oldest) || (!incl && ts == oldest)) {
		return false
	}
	if latest != "" && (tsLess(latest, ts) || (!incl && ts == latest)) {
		return false
	}
	return true
}

// tsLess compares two Slack ts values ("1700000000.000123").
func tsLess(a, b string) bool {
	as, af, _ := strings.Cut(a, ".")
	bs, bf, _ := strings.Cut(b, ".")
	if len(as) != len(bs) {
		return len(as) < len(bs)
	}
	if as != bs {
		return as < bs
	}
	return af < bf
}

// messageJSON renders m the way conversations.history shows it.
func (f *Fake) messageJSON(m *message, withMeta, withReactions bool) map[string]any {
	out := map[string]any{"type": "message", "text": m.text, "ts": m.ts, "team": f.opt.TeamID}
	if m.user != "" {
		out["user"] = m.user
	}
	if m.botID != "" {
		out["bot_id"] = m.botID
		out["app_id"] = f.opt.AppID
		out["bot_profile"] = map[string]any{"id": m.botID, "app_id": f.opt.AppID, "name": "heed",
			"deleted": false, "team_id": f.opt.TeamID}
	}
	if m.subtype != "" {
		out["subtype"] = m.subtype
	}
	if m.threadTS != "" {
		out["thread_ts"] = m.threadTS
	}
	if m.replies > 0 {
		out["thread_ts"] = m.ts
		out["reply_count"] = m.replies
		latest, users := f.threadLocked(m)
		out["latest_reply"] = latest
		out["reply_users"] = users
		out["reply_users_count"] = len(users)
	}
	if m.blocks != nil {
		out["blocks"] = m.blocks
	}
	if len(m.files) > 0 {
		out["files"] = f.filesJSON(m)
		out["upload"] = false
	}
	if withMeta && m.metadata != nil {
		out["metadata"] = m.metadata
	}
	if m.editedTS != "" {
		out["edited"] = map[string]any{"user": m.user, "ts": m.editedTS}
	}
	if withReactions && len(m.reactions) > 0 {
		// A copy: the answer is written after the lock is released.
		rs := make([]Reaction, len(m.reactions))
		for i, r := range m.reactions {
			rs[i] = Reaction{Name: r.Name, Users: slices.Clone(r.Users), Count: r.Count}
		}
		out["reactions"] = rs
	}
	return out
}

// threadLocked returns the ts of the newest reply in m's thread and who
// replied, in order of first reply.
func (f *Fake) threadLocked(m *message) (string, []string) {
	latest, users := "", []string{}
	if c := f.channels[m.channel]; c != nil {
		for _, r := range c.msgs {
			if r.deleted || r.threadTS != m.ts || r.ts == m.ts {
				continue
			}
			latest = r.ts
			if !slices.Contains(users, r.user) {
				users = append(users, r.user)
			}
		}
	}
	return latest, users
}

// Response is what the app sent to a response_url.
type Response struct {
	Path string
	Body string
}

func (f *Fake) serveResponseURL(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	f.mu.Lock()
	f.responses = append(f.responses, Response{Path: r.URL.Path, Body: b.String()})
	f.notifyLocked()
	f.mu.Unlock()
	_, _ = w.Write([]byte("ok"))
}

// Responses returns what the app posted to response_url links.
func (f *Fake) Responses() []Response {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.responses)
}
