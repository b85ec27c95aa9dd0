package slack

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// runSocket keeps a Socket Mode connection open until ctx ends. slack-go
// reconnects after drops and disconnect envelopes; when its client gives
// up, a new one starts after a backoff. Only a token Slack refuses ends it.
func (a *Adapter) runSocket(ctx context.Context) error {
	backoff := time.Second
	for {
		err := a.socketOnce(ctx)
		a.lose()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if fatalAuth(err) {
			return errors.New("slack: Socket Mode refused the app-level token (" + err.Error() + "); check app_token")
		}
		a.log.Warn("Socket Mode stopped; starting again", "err", err, "in", backoff)
		if err := a.sleep(ctx, backoff); err != nil {
			return err
		}
		backoff = min(2*backoff, time.Minute)
	}
}

func fatalAuth(err error) bool {
	if err == nil {
		return false
	}
	switch err.Error() {
	case "invalid_auth", "not_authed", "account_inactive", "token_revoked", "not_allowed_token_type":
		return true
	}
	var sc slackapi.StatusCodeError
	return errors.As(err, &sc) && sc.Code == http.StatusNotFound
}

// socketOnce runs one slack-go Socket Mode client and acts on its events.
func (a *Adapter) socketOnce(ctx context.Context) error {
	api := slackapi.New(a.cfg.BotToken, slackapi.OptionAPIURL(a.cfg.APIURL), slackapi.OptionHTTPClient(a.http),
		slackapi.OptionAppLevelToken(a.cfg.AppToken), slackapi.OptionLog(discardLog{}))
	smc := socketmode.New(api, socketmode.OptionDialer(a.dialer()), socketmode.OptionPingInterval(a.ping),
		socketmode.OptionLog(discardLog{}))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- smc.RunContext(ctx) }()
	for {
		select {
		case err := <-errc:
			return err
		case ev := <-smc.Events:
			a.onSocketEvent(ctx, smc, ev)
		}
	}
}

func (a *Adapter) onSocketEvent(ctx context.Context, smc *socketmode.Client, ev socketmode.Event) {
	switch ev.Type {
	case socketmode.EventTypeConnecting, socketmode.EventTypeConnectionError:
		a.lose()
		if ce, ok := ev.Data.(*slackapi.ConnectionErrorEvent); ok {
			a.log.Warn("Socket Mode connection failed", "attempt", ce.Attempt, "err", ce.ErrorObj)
		}
	case socketmode.EventTypeHello:
		// A new socket ends a gap: what was typed meanwhile is read back,
		// and the chat counts as heard once that is handled. The read-back
		// is asked for first, so that the adapter stays deaf until then.
		gen := a.askCatchUp()
		// slack-go dials one connection at a time: the hello came on the
		// one dialed last.
		a.liveConn.Store(a.lastDial.Load())
		a.dropAt.Store(0)
		a.heard()
		a.log.Info("Socket Mode connected")
		// Envelopes Slack kept during the gap wait briefly, so that what
		// was typed before them goes first.
		a.awaitCatchUp(ctx, gen, catchUpWait)
	case socketmode.EventTypeErrorWriteFailed:
		// An ack did not go out: Slack will think heed is not listening.
		// Deaf until the next hello.
		a.lose()
		a.log.Warn("Socket Mode ack could not be written")
	case socketmode.EventTypeIncomingError, socketmode.EventTypeErrorBadMessage:
		a.log.Warn("unreadable Socket Mode frame", "type", ev.Type)
	case socketmode.EventTypeEventsAPI, socketmode.EventTypeInteractive, socketmode.EventTypeSlashCommand:
		if ev.Request == nil {
			return
		}
		ok, payload := a.fromEnvelope(ctx, ev.Request)
		if !ok {
			return // not acknowledged: Slack retries it later
		}
		if err := smc.AckCtx(ctx, ev.Request.EnvelopeID, payload); err != nil && ctx.Err() == nil {
			a.log.Warn("Socket Mode ack failed", "err", err)
		}
	}
}

// fromEnvelope queues a Socket Mode request. ok is false when it must not
// be acknowledged (the queue is full); payload is the ack's response.
func (a *Adapter) fromEnvelope(ctx context.Context, req *socketmode.Request) (ok bool, payload any) {
	switch req.Type {
	case socketmode.RequestTypeEventsAPI:
		var cb eventCallback
		if json.Unmarshal(req.Payload, &cb) != nil {
			return true, nil
		}
		if in, keys, ok := a.fromCallback(cb); ok {
			return a.accept(in, keys), nil
		}
	case socketmode.RequestTypeInteractive:
		return a.interactive(ctx, req.Payload)
	case socketmode.RequestTypeSlashCommands:
		var c slashCommand
		if json.Unmarshal(req.Payload, &c) != nil {
			return true, nil
		}
		if text, ok := scheduleText(c.Text); ok && a.scheduler() != nil {
			a.openScheduleModal(ctx, c.TriggerID, c.ChannelID, c.UserID, text, c.ResponseURL)
			return true, nil
		}
		in, refusal, ok := a.fromSlash(c)
		if !ok {
			return true, map[string]string{"response_type": "ephemeral", "text": refusal}
		}
		return a.accept(in, []string{"cmd:" + c.TriggerID}), nil
	}
	return true, nil
}

// dialer is slack-go's default websocket dialer, with every connection
// wrapped so that any byte read from the live socket (the one that said
// hello, until it is lost) counts as hearing Slack: Slack pings every few
// seconds, so a quiet channel still proves the socket works, and a deaf
// one stops doing so.
func (a *Adapter) dialer() *websocket.Dialer {
	nd := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: 45 * time.Second,
		WriteBufferSize:  32 * 1024,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := nd.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			hc := &hearingConn{Conn: c, a: a}
			a.lastDial.Store(hc)
			return hc, nil
		},
	}
}

type hearingConn struct {
	net.Conn
	a *Adapter
}

// Read counts bytes from the live socket as hearing Slack; a failed read
// of it makes the adapter deaf at once.
func (c *hearingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.a.liveConn.Load() == c {
		c.a.heard()
	}
	if err != nil && c.a.liveConn.CompareAndSwap(c, nil) {
		c.a.dropAt.CompareAndSwap(0, c.a.now().UnixNano())
	}
	return n, err
}
