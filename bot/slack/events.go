package slack

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	slackapi "github.com/slack-go/slack"
)

// maxBody bounds a request body; Slack's payloads are a few kilobytes.
const maxBody = 1 << 20

// maxSkew is how far a request's timestamp may be from now (Slack's rule).
const maxSkew = 5 * time.Minute

var (
	errMissingHeaders = errors.New("missing X-Slack-Signature or X-Slack-Request-Timestamp")
	errBadTimestamp   = errors.New("X-Slack-Request-Timestamp is not a unix time")
	errStale          = errors.New("request timestamp more than 5 minutes from now")
)

// EventsHandler is the Events API endpoint (events mode): event
// subscriptions, interactivity and the slash command all point at it.
// Every request must carry a valid signature; anything else is answered
// 401 and changes nothing.
func (a *Adapter) EventsHandler() http.Handler { return http.HandlerFunc(a.serveHTTP) }

// HTTPEndpoint is the Events API endpoint's path and handler when heed's
// own listener serves it (events mode with WithSharedListener), or "".
// The listener answers while the chat is not running (before Run has
// started, after it ended): those requests get 503, so that Slack sends
// them again, as it does when nothing listens; on a replica while
// another holds the chat (UseRelay), they are kept for the holder.
func (a *Adapter) HTTPEndpoint() (string, http.Handler) {
	if a.cfg.Mode != ModeEvents || !a.shared {
		return "", nil
	}
	h := a.EventsHandler()
	return a.cfg.Path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.started.Load() == 0 && a.relayed() == nil {
			w.Header().Set("Retry-After", "5")
			http.Error(w, "heed's Slack chat is not running", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (a *Adapter) serveEvents(ctx context.Context) error {
	mux := http.NewServeMux()
	mux.Handle(a.cfg.Path, a.EventsHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return err
	}
	a.log.Info("serving the Events API", "addr", ln.Addr().String(), "path", a.cfg.Path)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
		return ctx.Err()
	}
}

func (a *Adapter) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if err := a.verify(r.Header, body); err != nil {
		a.log.Warn("rejected a request without a valid Slack signature", "remote", r.RemoteAddr, "reason", err.Error())
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	if rl := a.relayed(); rl != nil && a.started.Load() == 0 {
		// Another replica holds the chat, or none does yet.
		a.standby(w, r, rl, body)
		return
	}
	if a.quietGap() {
		// Slack may have given up on deliveries during the silence: what
		// was typed meanwhile is read back first.
		a.awaitCatchUp(r.Context(), a.askCatchUp(), catchUpWait/2)
	}
	a.heard()
	status, ctype, resp := a.handleBody(r.Context(), r.Header.Get("Content-Type"), body)
	if ctype != "" {
		w.Header().Set("Content-Type", ctype)
	}
	w.WriteHeader(status)
	_, _ = w.Write(resp)
}

// verify checks Slack's request signature: both headers present, the
// timestamp within 5 minutes of the adapter's clock, and the HMAC over
// "v0:timestamp:body" (slack.NewSecretsVerifier, which also checks the
// timestamp against the wall clock).
func (a *Adapter) verify(h http.Header, body []byte) error {
	ts := h.Get("X-Slack-Request-Timestamp")
	if ts == "" || h.Get("X-Slack-Signature") == "" {
		return errMissingHeaders
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errBadTimestamp
	}
	if skew := a.now().Sub(time.Unix(sec, 0)); skew > maxSkew || skew < -maxSkew {
		return errStale
	}
	sv, err := slackapi.NewSecretsVerifier(h, a.cfg.SigningSecret)
	if err != nil {
		return err
	}
	if _, err := sv.Write(body); err != nil {
		return err
	}
	return sv.Ensure()
}

// handleBody answers a verified request: an event callback (JSON), an
// interaction or a slash command (forms). It queues what the engine must
// see and answers at once; Slack wants an answer within 3 seconds. A
// scheduling form's submission is the exception: its answer is the
// engine's verdict (modal.go), which Slack shows in the form.
func (a *Adapter) handleBody(ctx context.Context, contentType string, body []byte) (status int, ctype string, resp []byte) {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/x-www-form-urlencoded" {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return http.StatusBadRequest, "", nil
		}
		if p := form.Get("payload"); p != "" {
			if !json.Valid([]byte(p)) {
				return http.StatusBadRequest, "", nil
			}
			ok, answer := a.interactive(ctx, []byte(p))
			if !ok {
				return http.StatusServiceUnavailable, "", nil
			}
			if answer != nil {
				b, _ := json.Marshal(answer)
				return http.StatusOK, "application/json", b
			}
			return http.StatusOK, "", nil
		}
		if form.Get("command") != "" {
			c := slashCommand{Command: form.Get("command"), Text: form.Get("text"), ChannelID: form.Get("channel_id"),
				UserID: form.Get("user_id"), UserName: form.Get("user_name"), TriggerID: form.Get("trigger_id"),
				ResponseURL: form.Get("response_url")}
			return a.slash(ctx, c)
		}
		return http.StatusBadRequest, "", nil
	}
	var cb eventCallback
	if json.Unmarshal(body, &cb) != nil {
		return http.StatusBadRequest, "", nil
	}
	switch cb.Type {
	case "url_verification":
		return http.StatusOK, "text/plain", []byte(cb.Challenge)
	case "app_rate_limited":
		a.log.Warn("Slack is dropping events: the workspace exceeded the Events API rate limit")
		return http.StatusOK, "", nil
	case "event_callback":
		if in, keys, ok := a.fromCallback(cb); ok && !a.accept(in, keys) {
			return http.StatusServiceUnavailable, "", nil
		}
		return http.StatusOK, "", nil
	}
	return http.StatusOK, "", nil
}

// slash queues a slash command; outside a review channel it answers the
// user privately instead.
func (a *Adapter) slash(ctx context.Context, c slashCommand) (int, string, []byte) {
	if text, ok := scheduleText(c.Text); ok && a.scheduler() != nil {
		a.openScheduleModal(ctx, c.TriggerID, c.ChannelID, c.UserID, text, c.ResponseURL)
		return http.StatusOK, "", nil
	}
	in, refusal, ok := a.fromSlash(c)
	if !ok {
		b, _ := json.Marshal(map[string]string{"response_type": "ephemeral", "text": refusal})
		return http.StatusOK, "application/json", b
	}
	if !a.accept(in, []string{"cmd:" + c.TriggerID}) {
		return http.StatusServiceUnavailable, "", nil
	}
	return http.StatusOK, "", nil
}
