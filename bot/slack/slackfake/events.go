package slackfake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Sign returns the X-Slack-Signature value for body sent at unix time ts:
// "v0=" + hex(HMAC-SHA256(secret, "v0:ts:body")).
func Sign(secret string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "v0:%d:", ts)
	m.Write(body)
	return "v0=" + hex.EncodeToString(m.Sum(nil))
}

// Delivery is one event, interaction or slash command on its way to the app.
type Delivery struct {
	Kind    string // "events_api", "interactive", "slash_commands"
	EventID string // for events_api
	Payload []byte // the JSON payload (the event_callback, block_actions or command)

	// at is the unix time an HTTP delivery is signed with: set by its
	// first attempt, or by Replay to send the same signed request again.
	at int64

	mu        sync.Mutex
	envelopes []string
	statuses  []int
	response  []byte
	err       error
	done      chan struct{}
}

// Done is closed once the delivery was acknowledged or given up.
func (d *Delivery) Done() <-chan struct{} { return d.done }

// Err is why the delivery was given up, after Done.
func (d *Delivery) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// Envelopes lists the Socket Mode envelope ids used, one per attempt.
func (d *Delivery) Envelopes() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.envelopes...)
}

// Statuses lists the HTTP statuses the app answered, one per attempt.
func (d *Delivery) Statuses() []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]int(nil), d.statuses...)
}

// Response is the app's answer: the ack payload or the HTTP body.
func (d *Delivery) Response() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.response
}

// Wait waits until the app has acknowledged the delivery, and fails the
// test if it gives up or the wait bound passes.
func (d *Delivery) Wait(tb testing.TB, bound time.Duration) *Delivery {
	tb.Helper()
	select {
	case <-d.done:
	case <-time.After(bound):
		tb.Fatalf("slackfake: %s delivery %s not acknowledged within %v", d.Kind, d.EventID, bound)
	}
	if err := d.Err(); err != nil {
		tb.Fatalf("slackfake: %s delivery %s: %v", d.Kind, d.EventID, err)
	}
	return d
}

func (d *Delivery) finish(err error) {
	d.mu.Lock()
	d.err = err
	d.mu.Unlock()
	close(d.done)
}

// maxRetries is how often Slack retries a failed delivery.
const maxRetries = 3

// outbox delivers events to the app one at a time, in order, as Slack does
// for one app: over the socket, or as signed HTTP requests when a URL is set.
type outbox struct {
	f       *Fake
	mu      sync.Mutex
	queue   []*Delivery
	wake    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	stopped chan struct{}
	url     string
	client  *http.Client
}

func (o *outbox) start(f *Fake) {
	o.f = f
	o.wake = make(chan struct{}, 1)
	o.ctx, o.cancel = context.WithCancel(context.Background())
	o.stopped = make(chan struct{})
	o.client = &http.Client{Timeout: f.opt.DeliveryTimeout}
	go o.run()
}

func (o *outbox) stop() {
	o.cancel()
	<-o.stopped
}

func (o *outbox) enqueue(kind string, payload map[string]any, eventID string) *Delivery {
	b, _ := json.Marshal(payload)
	d := &Delivery{Kind: kind, EventID: eventID, Payload: b, done: make(chan struct{})}
	o.push(d)
	return d
}

func (o *outbox) push(d *Delivery) {
	o.mu.Lock()
	o.queue = append(o.queue, d)
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

func (o *outbox) target() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.url
}

func (o *outbox) run() {
	defer close(o.stopped)
	for {
		o.mu.Lock()
		var d *Delivery
		if len(o.queue) > 0 {
			d, o.queue = o.queue[0], o.queue[1:]
		}
		o.mu.Unlock()
		if d == nil {
			select {
			case <-o.wake:
				continue
			case <-o.ctx.Done():
				return
			}
		}
		var err error
		if u := o.target(); u != "" {
			err = o.deliverHTTP(d, u)
		} else {
			err = o.deliverSocket(d)
		}
		d.finish(err)
		if o.ctx.Err() != nil {
			o.mu.Lock()
			rest := o.queue
			o.queue = nil
			o.mu.Unlock()
			for _, d := range rest {
				d.finish(errors.New("fake closed"))
			}
			return
		}
	}
}

// deliverSocket pushes d in an envelope and waits for its ack. Without an
// ack (no socket, a deaf one, or a drop) it waits for the next connection
// and retries with retry_attempt counting up, like Slack.
func (o *outbox) deliverSocket(d *Delivery) error {
	f := o.f
	for attempt := 0; attempt <= maxRetries; attempt++ {
		var s *sock
		for s == nil {
			f.mu.Lock()
			if !f.sock.deaf {
				s = f.sock.cur
			}
			ch := f.changed
			f.mu.Unlock()
			if s != nil {
				break
			}
			select {
			case <-ch:
			case <-o.ctx.Done():
				return errors.New("fake closed")
			}
		}
		f.mu.Lock()
		env := fmt.Sprintf("%08x-0000-4000-8000-%012x", f.nextSeqLocked(), attempt)
		f.mu.Unlock()
		d.mu.Lock()
		d.envelopes = append(d.envelopes, env)
		d.mu.Unlock()
		frame := map[string]any{"envelope_id": env, "payload": json.RawMessage(d.Payload), "type": d.Kind,
			"accepts_response_payload": d.Kind != "events_api"}
		if d.Kind == "events_api" {
			frame["retry_attempt"] = attempt
			frame["retry_reason"] = ""
			if attempt > 0 {
				frame["retry_reason"] = "timeout"
			}
		}
		if err := s.write(frame); err != nil {
			continue
		}
		p, err := o.awaitAck(s, env)
		if err != nil {
			return err
		}
		if p != nil {
			d.mu.Lock()
			d.response = p
			d.mu.Unlock()
			return nil
		}
		if d.Kind != "events_api" {
			// Slack does not retry interactions or commands.
			return fmt.Errorf("envelope %s not acknowledged", env)
		}
	}
	return fmt.Errorf("not acknowledged after %d retries", maxRetries)
}

// awaitAck waits for the ack of env on s. It returns the ack payload, or
// nil when the socket closed or the delivery timeout passed first.
func (o *outbox) awaitAck(s *sock, env string) (json.RawMessage, error) {
	f := o.f
	timeout := time.NewTimer(f.opt.DeliveryTimeout)
	defer timeout.Stop()
	for {
		f.mu.Lock()
		p, ok := f.sock.acks[env]
		ch := f.changed
		f.mu.Unlock()
		if ok {
			return p, nil
		}
		select {
		case <-ch:
		case <-s.done:
			// The ack may have raced the close; look once more.
			f.mu.Lock()
			p := f.sock.acks[env]
			f.mu.Unlock()
			return p, nil
		case <-timeout.C:
			return nil, nil
		case <-o.ctx.Done():
			return nil, errors.New("fake closed")
		}
	}
}

// deliverHTTP posts d signed to u and retries a failure up to three times
// with X-Slack-Retry-Num, like Slack does for events (only).
func (o *outbox) deliverHTTP(d *Delivery, u string) error {
	body, ctype := d.Payload, "application/json"
	switch d.Kind {
	case "interactive":
		body, ctype = []byte("payload="+url.QueryEscape(string(d.Payload))), "application/x-www-form-urlencoded"
	case "slash_commands":
		var fields map[string]string
		_ = json.Unmarshal(d.Payload, &fields)
		v := url.Values{}
		for k, s := range fields {
			v.Set(k, s)
		}
		body, ctype = []byte(v.Encode()), "application/x-www-form-urlencoded"
	}
	d.mu.Lock()
	if d.at == 0 {
		d.at = o.f.opt.Now().Unix()
	}
	signed := d.at
	d.mu.Unlock()
	var last error
	for attempt := 0; attempt <= maxRetries; attempt++ {
		h := http.Header{"Content-Type": {ctype}}
		if attempt > 0 {
			h.Set("X-Slack-Retry-Num", strconv.Itoa(attempt))
			h.Set("X-Slack-Retry-Reason", "http_error")
			signed = o.f.opt.Now().Unix()
		}
		status, resp, err := o.f.post(o.ctx, u, body, h, signed, o.f.opt.SigningSecret)
		d.mu.Lock()
		d.statuses = append(d.statuses, status)
		d.response = resp
		d.mu.Unlock()
		if err == nil && status/100 == 2 {
			return nil
		}
		last = fmt.Errorf("HTTP %d %v", status, err)
		if d.Kind != "events_api" || o.ctx.Err() != nil {
			break
		}
	}
	return last
}

// post signs body with secret at unix time ts and posts it to u.
func (f *Fake) post(ctx context.Context, u string, body []byte, h http.Header, ts int64, secret string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if secret != "" {
		req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("X-Slack-Signature", Sign(secret, ts, body))
	}
	resp, err := f.out.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, nil
}

// DeliverTo switches deliveries to signed HTTP requests to u (the app's
// /slack/events); an empty u switches back to Socket Mode.
func (f *Fake) DeliverTo(u string) {
	f.out.mu.Lock()
	defer f.out.mu.Unlock()
	f.out.url = u
}

// PostSigned sends body to the app's URL as Slack would, signed with the
// fake's secret at the given unix time, with extra headers; it returns the
// status and body of the answer. For replays, forgeries and fuzzing use
// PostRaw.
func (f *Fake) PostSigned(ts int64, body []byte, extra http.Header) (int, []byte) {
	h := http.Header{"Content-Type": {"application/json"}}
	for k, v := range extra {
		h[k] = v
	}
	status, resp, err := f.post(context.Background(), f.out.target(), body, h, ts, f.opt.SigningSecret)
	if err != nil {
		f.tb.Fatalf("slackfake: post: %v", err)
	}
	return status, resp
}

// Replay sends a delivery that went out before once more, exactly as it
// was sent: over HTTP the same body, signed with the same timestamp (so
// the same signature), as an attacker who captured it, or a proxy that
// repeats requests, would; over Socket Mode the same payload in a new
// envelope. It waits for the answer as the original delivery did.
func (f *Fake) Replay(d *Delivery) *Delivery {
	f.tb.Helper()
	select {
	case <-d.done:
	default:
		f.tb.Fatalf("slackfake: Replay of a %s delivery that is still on its way", d.Kind)
	}
	d.mu.Lock()
	at := d.at
	d.mu.Unlock()
	nd := &Delivery{Kind: d.Kind, EventID: d.EventID, Payload: d.Payload, at: at, done: make(chan struct{})}
	f.mu.Lock()
	f.out.push(nd)
	wait := f.canReceiveLocked()
	f.mu.Unlock()
	return f.send(nd, wait)
}

// PostRaw sends body with exactly the given headers (no signing).
func (f *Fake) PostRaw(body []byte, h http.Header) (int, []byte) {
	status, resp, err := f.post(context.Background(), f.out.target(), body, h, 0, "")
	if err != nil {
		f.tb.Fatalf("slackfake: post: %v", err)
	}
	return status, resp
}

// canReceiveLocked reports whether a delivery can be acknowledged now.
func (f *Fake) canReceiveLocked() bool {
	return f.out.target() != "" || (f.sock.cur != nil && !f.sock.deaf)
}

// send queues a delivery and, when the app can receive it now, waits
// until it is acknowledged. Otherwise it returns the pending delivery:
// it goes out, in order, once the app is back.
func (f *Fake) send(d *Delivery, wait bool) *Delivery {
	f.tb.Helper()
	if wait {
		d.Wait(f.tb, f.opt.Wait)
	}
	return d
}

// wrapLocked wraps an inner event in the event_callback envelope of the
// Events API (corpus: events envelope).
func (f *Fake) wrapLocked(inner map[string]any) (map[string]any, string) {
	id := fmt.Sprintf("Ev%010d", f.nextSeqLocked())
	now := f.opt.Now()
	return map[string]any{
		"token": "fake-verification-token", "team_id": f.opt.TeamID, "api_app_id": f.opt.AppID,
		"event": inner, "type": "event_callback", "event_id": id, "event_time": now.Unix(),
		"event_context": "4-fake-" + id,
		"authorizations": []map[string]any{{"enterprise_id": nil, "team_id": f.opt.TeamID,
			"user_id": f.opt.BotUserID, "is_bot": true, "is_enterprise_install": false}},
		"is_ext_shared_channel": false,
	}, id
}

func (f *Fake) eventTSLocked() string {
	now := f.opt.Now()
	return fmt.Sprintf("%d.%06d", now.Unix(), now.Nanosecond()/1000)
}

func (f *Fake) reactionEventLocked(m *message, user, name string, add bool) (string, map[string]any, string) {
	typ := "reaction_removed"
	if add {
		typ = "reaction_added"
	}
	inner := map[string]any{"type": typ, "user": user, "reaction": name, "item_user": m.user,
		"item":     map[string]any{"type": "message", "channel": m.channel, "ts": m.ts},
		"event_ts": f.eventTSLocked()}
	p, id := f.wrapLocked(inner)
	return "events_api", p, id
}

func (f *Fake) messageEventLocked(m *message) (string, map[string]any, string) {
	inner := map[string]any{"type": "message", "channel": m.channel, "text": m.text, "ts": m.ts,
		"event_ts": m.ts, "channel_type": "channel"}
	if c := f.channels[m.channel]; c != nil && c.private {
		inner["channel_type"] = "group"
	}
	if m.user != "" {
		inner["user"] = m.user
	}
	if m.botID != "" {
		inner["bot_id"] = m.botID
		inner["app_id"] = f.opt.AppID
		inner["bot_profile"] = map[string]any{"id": m.botID, "app_id": f.opt.AppID, "name": "heed"}
	}
	if m.subtype != "" {
		inner["subtype"] = m.subtype
	}
	if m.threadTS != "" {
		inner["thread_ts"] = m.threadTS
		inner["parent_user_id"] = f.opt.BotUserID
	}
	if m.blocks != nil {
		inner["blocks"] = m.blocks
	}
	p, id := f.wrapLocked(inner)
	return "events_api", p, id
}

func (f *Fake) mustMessageLocked(ch, ts string) *message {
	_, m := f.findLocked(ch, ts)
	if m == nil {
		f.tb.Fatalf("slackfake: no message %s in %s", ts, ch)
	}
	return m
}

// React adds user's reaction name ("white_check_mark", "+1::skin-tone-4")
// to the message and delivers reaction_added. When the app can receive
// events it waits for the ack; otherwise the event stays queued, in order.
func (f *Fake) React(user, ch, ts, name string) *Delivery {
	f.tb.Helper()
	return f.reaction(user, ch, ts, name, true, true)
}

// Unreact takes user's reaction back and delivers reaction_removed.
func (f *Fake) Unreact(user, ch, ts, name string) *Delivery {
	f.tb.Helper()
	return f.reaction(user, ch, ts, name, false, true)
}

// ReactSilently changes the reaction without any event, as when Slack gave
// up delivering it while the app was away.
func (f *Fake) ReactSilently(user, ch, ts, name string, add bool) {
	f.tb.Helper()
	f.reaction(user, ch, ts, name, add, false)
}

func (f *Fake) reaction(user, ch, ts, name string, add, deliver bool) *Delivery {
	f.tb.Helper()
	f.mu.Lock()
	m := f.mustMessageLocked(ch, ts)
	if err := f.reactLocked(m, user, name, add); err != "" {
		f.mu.Unlock()
		f.tb.Fatalf("slackfake: %s %s by %s: %s", name, ts, user, err)
	}
	f.notifyLocked()
	if !deliver {
		f.mu.Unlock()
		return nil
	}
	d := f.out.enqueue(f.reactionEventLocked(m, user, name, add))
	wait := f.canReceiveLocked()
	f.mu.Unlock()
	return f.send(d, wait)
}

// Say posts a message by user into the channel and delivers the message
// event (and app_mention when it mentions the app's bot user).
func (f *Fake) Say(user, ch, text string) (Message, *Delivery) {
	f.tb.Helper()
	return f.say(user, ch, "", text)
}

// SayInThread posts a reply by user into the thread of threadTS.
func (f *Fake) SayInThread(user, ch, threadTS, text string) (Message, *Delivery) {
	f.tb.Helper()
	return f.say(user, ch, threadTS, text)
}

// SaySilently posts a message by user (into the thread of threadTS when
// set) without any event, as when Slack gave up delivering it while the
// app was away: the app can only read it back from the history.
func (f *Fake) SaySilently(user, ch, threadTS, text string) Message {
	f.tb.Helper()
	m, _ := f.postMessage(user, ch, threadTS, text, false)
	return m
}

func (f *Fake) say(user, ch, threadTS, text string) (Message, *Delivery) {
	f.tb.Helper()
	return f.postMessage(user, ch, threadTS, text, true)
}

func (f *Fake) postMessage(user, ch, threadTS, text string, deliver bool) (Message, *Delivery) {
	f.tb.Helper()
	f.mu.Lock()
	c := f.channels[ch]
	u := f.users[user]
	if c == nil || u == nil {
		f.mu.Unlock()
		f.tb.Fatalf("slackfake: Say: unknown channel %q or user %q", ch, user)
	}
	m := &message{channel: ch, user: user, text: text, threadTS: threadTS}
	if u.IsBot {
		m.botID = u.BotID
	}
	if threadTS != "" {
		f.mustMessageLocked(ch, threadTS).replies++
	}
	m.ts = f.nextTSLocked()
	c.msgs = append(c.msgs, m)
	f.notifyLocked()
	if !deliver {
		snap := f.snapshotLocked(m)
		f.mu.Unlock()
		return snap, nil
	}
	d := f.out.enqueue(f.messageEventLocked(m))
	var mention *Delivery
	if strings.Contains(text, "<@"+f.opt.BotUserID) {
		inner := map[string]any{"type": "app_mention", "user": user, "text": text, "ts": m.ts,
			"channel": ch, "event_ts": m.ts}
		if threadTS != "" {
			inner["thread_ts"] = threadTS
		}
		p, id := f.wrapLocked(inner)
		mention = f.out.enqueue("events_api", p, id)
	}
	snap := f.snapshotLocked(m)
	wait := f.canReceiveLocked()
	f.mu.Unlock()
	f.send(d, wait)
	if mention != nil {
		f.send(mention, wait)
	}
	return snap, d
}

// Click presses the button actionID on msg as user and delivers the
// block_actions interaction (corpus: interactivity block_actions).
func (f *Fake) Click(user string, msg Message, actionID string) *Delivery {
	f.tb.Helper()
	f.mu.Lock()
	c := f.channels[msg.Channel]
	m := f.mustMessageLocked(msg.Channel, msg.TS)
	u := f.users[user]
	if u == nil {
		f.mu.Unlock()
		f.tb.Fatalf("slackfake: Click: unknown user %q", user)
	}
	blockID, action := findAction(m.blocks, actionID)
	if action == nil {
		f.mu.Unlock()
		f.tb.Fatalf("slackfake: message %s has no button %q", msg.TS, actionID)
	}
	action["block_id"] = blockID
	// Slack stamps each press with its own action_ts; two presses within
	// one tick of the fake's clock still differ.
	action["action_ts"] = f.nextTSLocked()
	n := f.nextSeqLocked()
	msgJSON := f.messageJSON(m, false, true)
	payload := map[string]any{
		"type":       "block_actions",
		"team":       map[string]any{"id": f.opt.TeamID, "domain": "heed-fake"},
		"user":       map[string]any{"id": u.ID, "username": u.Name, "name": u.Name, "team_id": f.opt.TeamID},
		"api_app_id": f.opt.AppID, "token": "fake-verification-token",
		"container": map[string]any{"type": "message", "message_ts": m.ts, "channel_id": c.id,
			"is_ephemeral": false},
		"trigger_id":   f.issueTriggerLocked(u.ID),
		"channel":      map[string]any{"id": c.id, "name": c.name},
		"message":      msgJSON,
		"response_url": fmt.Sprintf("%s/respond/actions/%d", f.srv.URL, n),
		"actions":      []map[string]any{action},
	}
	d := f.out.enqueue("interactive", payload, "")
	wait := f.canReceiveLocked()
	f.mu.Unlock()
	return f.send(d, wait)
}

// Slash runs a slash command ("/heed", "pause breaking news") as user in
// the channel (corpus: slash command body).
func (f *Fake) Slash(user, ch, command, text string) *Delivery {
	f.tb.Helper()
	f.mu.Lock()
	c, u := f.channels[ch], f.users[user]
	if c == nil || u == nil {
		f.mu.Unlock()
		f.tb.Fatalf("slackfake: Slash: unknown channel %q or user %q", ch, user)
	}
	n := f.nextSeqLocked()
	payload := map[string]any{
		"token": "fake-verification-token", "team_id": f.opt.TeamID, "team_domain": "heed-fake",
		"channel_id": c.id, "channel_name": c.name, "user_id": u.ID, "user_name": u.Name,
		"command": command, "text": text, "api_app_id": f.opt.AppID, "is_enterprise_install": "false",
		"response_url": fmt.Sprintf("%s/respond/commands/%d", f.srv.URL, n),
		"trigger_id":   f.issueTriggerLocked(u.ID),
	}
	d := f.out.enqueue("slash_commands", payload, "")
	wait := f.canReceiveLocked()
	f.mu.Unlock()
	return f.send(d, wait)
}

// findAction finds the block element with actionID in a message's blocks
// and returns its block_id and the action as block_actions reports it.
func findAction(blocks json.RawMessage, actionID string) (string, map[string]any) {
	var bs []map[string]any
	if json.Unmarshal(blocks, &bs) != nil {
		return "", nil
	}
	for _, b := range bs {
		els, _ := b["elements"].([]any)
		for _, e := range els {
			el, _ := e.(map[string]any)
			if el == nil || el["action_id"] != actionID {
				continue
			}
			a := map[string]any{"action_id": actionID, "type": el["type"]}
			for _, k := range []string{"text", "value", "style"} {
				if v, ok := el[k]; ok {
					a[k] = v
				}
			}
			bid, _ := b["block_id"].(string)
			return bid, a
		}
	}
	return "", nil
}

// Sync delivers an event the app has no use for (member_joined_channel)
// and waits for its ack: once it returns, the app has handled every frame
// sent before, its hello included.
func (f *Fake) Sync(tb testing.TB) {
	tb.Helper()
	f.mu.Lock()
	p, id := f.wrapLocked(map[string]any{"type": "member_joined_channel", "user": f.opt.BotUserID,
		"channel": "CFAKESYNC", "channel_type": "C", "team": f.opt.TeamID, "event_ts": f.eventTSLocked()})
	d := f.out.enqueue("events_api", p, id)
	f.mu.Unlock()
	d.Wait(tb, f.opt.Wait)
}
