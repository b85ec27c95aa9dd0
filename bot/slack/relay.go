package slack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
)

// In events mode behind a load balancer, Slack's requests reach every
// replica. One that does not hold the chat (its Run is not running)
// verifies each, keeps it in the database for the holder (bot.Relay), and
// answers 200 at once; the holder reads what was kept (drainKept) and
// handles it as if it had received it. A pause is recorded at once by the
// replica that received it, before it answers.

// keptPoll is how often the holder reads the requests other replicas kept.
const keptPoll = 250 * time.Millisecond

// keptBatch bounds the requests read back at a time.
const keptBatch = 100

// relayRef holds the engine's relay (UseRelay).
type relayRef struct{ p atomic.Pointer[bot.Relay] }

// UseRelay implements bot.Relayed: the wiring hands it over when heed runs
// as one of several replicas.
func (a *Adapter) UseRelay(r bot.Relay) { a.relay.p.Store(&r) }

func (a *Adapter) relayed() bot.Relay {
	if p := a.relay.p.Load(); p != nil && a.cfg.Mode == ModeEvents {
		return *p
	}
	return nil
}

var _ bot.Relayed = (*Adapter)(nil)

// requestKey names a request for keeping it once: an event's event_id,
// which Slack keeps across its retries, or else the hash of the body (an
// interaction or a slash command, which Slack never retries).
func requestKey(cb eventCallback, body []byte) string {
	if cb.EventID != "" {
		return "ev:" + cb.EventID
	}
	sum := sha256.Sum256(body)
	return "body:" + hex.EncodeToString(sum[:])
}

// standby answers a verified request on a replica that does not hold the
// chat: a pause is recorded through the engine at once; the scheduling
// form's shortcut and submission are answered here, since Slack shows
// their answer in the form (the post is stored; the holder posts its
// card); anything else is kept for the holder. A request that cannot be
// recorded gets 503, so that Slack sends it again.
func (a *Adapter) standby(w http.ResponseWriter, r *http.Request, rl bot.Relay, body []byte) {
	ctype := r.Header.Get("Content-Type")
	var cb eventCallback
	var pause *bot.Event
	mt, _, _ := mime.ParseMediaType(ctype)
	if mt == "application/x-www-form-urlencoded" && formInteraction(body) {
		status, rtype, resp := a.handleBody(r.Context(), ctype, body)
		if rtype != "" {
			w.Header().Set("Content-Type", rtype)
		}
		w.WriteHeader(status)
		_, _ = w.Write(resp)
		return
	}
	if mt == "application/x-www-form-urlencoded" {
		if form, err := url.ParseQuery(string(body)); err == nil && form.Get("command") != "" && form.Get("payload") == "" {
			c := slashCommand{Command: form.Get("command"), Text: form.Get("text"), ChannelID: form.Get("channel_id"),
				UserID: form.Get("user_id"), UserName: form.Get("user_name"), TriggerID: form.Get("trigger_id")}
			in, refusal, ok := a.fromSlash(c)
			if !ok {
				// Outside a review channel: answered privately, as the
				// holder would.
				b, _ := json.Marshal(map[string]string{"response_type": "ephemeral", "text": refusal})
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(b)
				return
			}
			if in.brake && !isResume(in.ev.Text) {
				pause = &in.ev
			}
		}
	} else {
		if json.Unmarshal(body, &cb) != nil {
			http.Error(w, "not a Slack request", http.StatusBadRequest)
			return
		}
		switch cb.Type {
		case "url_verification":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte(cb.Challenge))
			return
		case "event_callback":
		default:
			return // 200: nothing to act on
		}
		if in, _, ok := a.fromCallback(cb); ok && !in.ev.FromBot && in.ev.Kind == bot.Message {
			ev := in.ev
			if a.knownSelf() == nil {
				// Not connected: any leading mention may be the app's.
				if m := mention.FindStringIndex(ev.Text); m != nil {
					ev.Text = strings.TrimSpace(ev.Text[m[1]:])
				}
			}
			if isBrake(ev.Text) && !isResume(ev.Text) {
				pause = &ev
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 2*time.Second)
	defer cancel()
	if pause != nil {
		// Recorded here, before the answer: from its commit no claim
		// starts on any replica. Its id is recorded as handled too, so the
		// holder does nothing more with it should Slack send it there.
		if err := rl.HandleEvent(ctx, *pause); err != nil {
			a.log.Error("could not record a pause received while another replica holds the chat; Slack will send it again", "err", err)
			w.Header().Set("Retry-After", "1")
			http.Error(w, "pause not recorded", http.StatusServiceUnavailable)
			return
		}
		return
	}
	if _, err := rl.KeepRequest(ctx, approvals.ChatRequest{Chat: a.name, Key: requestKey(cb, body), ContentType: ctype,
		Body: body, Received: a.now()}); err != nil {
		a.log.Error("could not keep a request for the replica holding the chat; Slack will send it again", "err", err)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "not kept", http.StatusServiceUnavailable)
	}
}

// formInteraction says whether body is the scheduling form's shortcut or
// submission, which any replica answers itself.
func formInteraction(body []byte) bool {
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("payload") == "" {
		return false
	}
	var in struct {
		Type       string `json:"type"`
		CallbackID string `json:"callback_id"`
		View       struct {
			CallbackID string `json:"callback_id"`
		} `json:"view"`
	}
	if json.Unmarshal([]byte(form.Get("payload")), &in) != nil {
		return false
	}
	return (in.Type == "message_action" && in.CallbackID == callbackSchedule) ||
		(in.Type == "view_submission" && in.View.CallbackID == callbackSchedule)
}

// drainKept hands the requests other replicas kept to this, the holder's,
// queue, every keptPoll until ctx ends.
func (a *Adapter) drainKept(ctx context.Context) {
	every := a.keptEvery
	switch {
	case every < 0:
		return // read by hand (DrainKept), in tests
	case every == 0:
		every = keptPoll
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		a.DrainKept(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// DrainKept hands the requests other replicas kept for this chat to this
// replica's queue, as if it had received them, and deletes each once
// queued. A kept request counts as hearing Slack: it was signed and
// received by a replica. It returns how many it handed over.
func (a *Adapter) DrainKept(ctx context.Context) int {
	rl := a.relayed()
	if rl == nil {
		return 0
	}
	n := 0
	for ctx.Err() == nil {
		kept, err := rl.KeptRequests(ctx, a.name, keptBatch)
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("could not read the requests other replicas kept", "err", err)
			}
			return n
		}
		if len(kept) == 0 {
			return n
		}
		for _, k := range kept {
			a.heard()
			if status, _, _ := a.handleBody(ctx, k.ContentType, k.Body); status == http.StatusServiceUnavailable {
				return n // the queue is full: the rest waits for the next read
			}
			if err := rl.DropRequest(ctx, a.name, k.Key); err != nil {
				a.log.Warn("could not delete a kept request once handled", "err", err)
				return n
			}
			n++
		}
	}
	return n
}
