// Package slackpub is the `slack` publisher: it posts an approved
// announcement into a Slack channel through the Web API (chat.postMessage),
// as the app's bot user.
//
// # Configuration
//
//	targets:
//	  slack-announce:
//	    kind: slack
//	    channel: C0ANNOUNCE                  # the channel id; invite the app to it
//	    bot_token: ${SLACK_BOT_TOKEN}        # xoxb-…, scopes chat:write, channels:history (groups:history for private channels)
//	    timeout: 30s                         # per request, default 30s
//
// # Idempotency
//
// Slack's Web API takes no idempotency key. Each post carries the request's
// key in its message metadata (event_type heed_publish, event_payload
// {idempotency_key}); before posting, the publisher reads the channel's
// history since shortly before the scheduled time (conversations.history
// with include_all_metadata) and, if the app already posted that key,
// returns that message instead of posting again. So a retry after a lost
// answer never posts twice, across restarts too.
//
// # Text
//
// The approved text is posted as written: &, < and > are escaped, so a post
// can never ping @channel or forge a link; Slack links bare URLs itself. The
// request's link goes on a line of its own unless the text holds it.
// Slack refuses texts over 40,000 characters.
package slackpub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/httpx"
)

func init() { publish.Register("slack", New) }

// DefaultTimeout bounds one request when the configuration names none.
const DefaultTimeout = 30 * time.Second

// MaxText is Slack's limit for a message's text.
const MaxText = 40000

// metadataEvent is the message metadata event type of heed's posts.
const metadataEvent = "heed_publish"

// lookBack is how long before the scheduled time the history check starts:
// no earlier attempt can have posted before the time came, the margin
// covers clocks that disagree.
const lookBack = 15 * time.Minute

// maxPages bounds the history check (200 messages a page).
const maxPages = 10

// Config is the slack target's settings.
type Config struct {
	Channel  string `yaml:"channel"`
	BotToken string `yaml:"bot_token"`
	Timeout  string `yaml:"timeout"`
	// APIURL overrides Slack's Web API base URL (tests, proxies).
	APIURL string `yaml:"api_url"`
}

// Publisher posts into one channel.
type Publisher struct {
	name    string
	channel string
	token   string
	api     string // ends in "/"
	client  *http.Client
	log     publish.Logger

	idMu sync.Mutex
	id   *identity
}

type identity struct {
	userID string
	url    string // the workspace's URL, for permalinks
}

var (
	_ publish.Publisher = (*Publisher)(nil)
	_ publish.Validator = (*Publisher)(nil)
	_ publish.Previewer = (*Publisher)(nil)
	_ publish.Retractor = (*Publisher)(nil)
)

var channelID = regexp.MustCompile(`^[CG][A-Z0-9]{2,}$`)

// New builds a slack publisher from its configuration.
func New(cfg publish.Config) (publish.Publisher, error) {
	var c Config
	if cfg.Decode != nil {
		if err := cfg.Decode(&c); err != nil {
			return nil, err
		}
	}
	return newPublisher(cfg.Name, c, cfg.Logger)
}

func newPublisher(name string, c Config, log publish.Logger) (*Publisher, error) {
	if !channelID.MatchString(c.Channel) {
		return nil, fmt.Errorf("channel %q is not a channel id: copy the id (C… or G…) from the channel's details, and invite the app to the channel", c.Channel)
	}
	if !strings.HasPrefix(c.BotToken, "xoxb-") {
		return nil, errors.New("bot_token must be a bot token (xoxb-…) with chat:write and channels:history: set bot_token: ${SLACK_BOT_TOKEN} (an empty variable counts as missing)")
	}
	timeout := DefaultTimeout
	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("timeout %q is not a positive duration: write it like 30s", c.Timeout)
		}
		timeout = d
	}
	api := c.APIURL
	if api == "" {
		api = "https://slack.com/api/"
	}
	if u, err := url.Parse(api); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("api_url %q is not an http(s) URL", api)
	}
	if !strings.HasSuffix(api, "/") {
		api += "/"
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Publisher{name: name, channel: c.Channel, token: c.BotToken, api: api,
		client: &http.Client{Timeout: timeout}, log: log}, nil
}

// Preview is the text as it will be posted: the approved text, then the
// link on a line of its own unless the text holds it already.
func (p *Publisher) Preview(req publish.Request) string {
	text := req.Text
	if req.Link != "" && !strings.Contains(text, req.Link) {
		text = strings.TrimRight(text, "\n") + "\n" + req.Link
	}
	return text
}

// Validate checks Slack's limits before any call.
func (p *Publisher) Validate(req publish.Request) []publish.Problem {
	var probs []publish.Problem
	text := p.Preview(req)
	if strings.TrimSpace(text) == "" {
		probs = append(probs, publish.Problem{Message: "empty text: Slack needs some text"})
	}
	if n := utf8.RuneCountInString(escape(text)); n > MaxText {
		probs = append(probs, publish.Problem{Message: fmt.Sprintf("%d/%d characters on Slack (after escaping &, < and >)", n, MaxText)})
	}
	if len(req.Media) > 0 {
		probs = append(probs, publish.Problem{Message: "the slack target posts text only: remove the attachments or the target"})
	}
	return probs
}

// Publish posts req once: if the channel already holds a post of the app
// with req's idempotency key, it returns that post instead.
func (p *Publisher) Publish(ctx context.Context, req publish.Request) (publish.Result, error) {
	if probs := p.Validate(req); len(probs) > 0 {
		return publish.Result{}, publish.PermanentError(errors.New(probs[0].Message))
	}
	me, err := p.self(ctx)
	if err != nil {
		return publish.Result{}, err
	}
	if req.IdempotencyKey != "" {
		if ts, err := p.find(ctx, me, req); err != nil {
			return publish.Result{}, err
		} else if ts != "" {
			p.log.Info("already posted; not posting again", "target", p.name, "occurrence", req.OccurrenceID, "ts", ts)
			return p.result(me, ts), nil
		}
	}
	form := url.Values{"channel": {p.channel}, "text": {escape(p.Preview(req))}, "unfurl_media": {"true"}}
	if req.IdempotencyKey != "" {
		md, _ := json.Marshal(map[string]any{"event_type": metadataEvent, "event_payload": map[string]any{
			"idempotency_key": req.IdempotencyKey, "occurrence_id": req.OccurrenceID, "target": req.Target}})
		form.Set("metadata", string(md))
	}
	var out struct {
		TS string `json:"ts"`
	}
	if err := p.call(ctx, "chat.postMessage", form, true, &out); err != nil {
		return publish.Result{}, err
	}
	if out.TS == "" {
		return publish.Result{}, publish.AmbiguousError(errors.New("slack accepted the post but gave no ts"))
	}
	return p.result(me, out.TS), nil
}

// Retract deletes a post (chat.delete); one already gone is fine.
func (p *Publisher) Retract(ctx context.Context, target string, res publish.Result) error {
	if res.RemoteID == "" {
		return publish.PermanentError(errors.New("no message ts to delete"))
	}
	err := p.call(ctx, "chat.delete", url.Values{"channel": {p.channel}, "ts": {res.RemoteID}}, false, nil)
	var se *slackError
	if errors.As(err, &se) && se.code == "message_not_found" {
		return nil
	}
	return err
}

func (p *Publisher) result(me identity, ts string) publish.Result {
	res := publish.Result{RemoteID: ts}
	if me.url != "" {
		res.URL = strings.TrimRight(me.url, "/") + "/archives/" + p.channel + "/p" + strings.Replace(ts, ".", "", 1)
	}
	return res
}

// self asks auth.test once who the app is: its user id marks its own
// posts in the history, its URL makes permalinks.
func (p *Publisher) self(ctx context.Context) (identity, error) {
	p.idMu.Lock()
	defer p.idMu.Unlock()
	if p.id != nil {
		return *p.id, nil
	}
	var out struct {
		UserID string `json:"user_id"`
		URL    string `json:"url"`
	}
	if err := p.call(ctx, "auth.test", url.Values{}, false, &out); err != nil {
		return identity{}, err
	}
	p.id = &identity{userID: out.UserID, url: out.URL}
	return *p.id, nil
}

// find looks through the channel's history since shortly before the
// scheduled time for the app's post with req's key, and returns its ts.
func (p *Publisher) find(ctx context.Context, me identity, req publish.Request) (string, error) {
	form := url.Values{"channel": {p.channel}, "limit": {"200"}, "include_all_metadata": {"1"}}
	if !req.ScheduledAt.IsZero() {
		oldest := req.ScheduledAt.Add(-lookBack)
		form.Set("oldest", strconv.FormatInt(oldest.Unix(), 10)+".000000")
	}
	for page := 0; page < maxPages; page++ {
		var out struct {
			Messages []struct {
				TS       string `json:"ts"`
				User     string `json:"user"`
				Metadata struct {
					EventType    string         `json:"event_type"`
					EventPayload map[string]any `json:"event_payload"`
				} `json:"metadata"`
			} `json:"messages"`
			HasMore bool `json:"has_more"`
			Meta    struct {
				NextCursor string `json:"next_cursor"`
			} `json:"response_metadata"`
		}
		if err := p.call(ctx, "conversations.history", form, false, &out); err != nil {
			return "", err
		}
		for _, m := range out.Messages {
			if m.User == me.userID && m.Metadata.EventType == metadataEvent &&
				m.Metadata.EventPayload["idempotency_key"] == req.IdempotencyKey {
				return m.TS, nil
			}
		}
		if !out.HasMore || out.Meta.NextCursor == "" {
			return "", nil
		}
		form.Set("cursor", out.Meta.NextCursor)
	}
	// Not found in the pages read: posting again could duplicate a post
	// that scrolled further back, so a person decides.
	return "", publish.AmbiguousError(fmt.Errorf("more than %d messages in the channel since the scheduled time; could not check that this was not posted already", maxPages*200))
}

// slackError is an answer with "ok": false.
type slackError struct {
	method string
	code   string
}

func (e *slackError) Error() string {
	msg := fmt.Sprintf("slack %s: %s", e.method, e.code)
	if hint := hints[e.code]; hint != "" {
		msg += " (" + hint + ")"
	}
	return msg
}

var authCodes = map[string]bool{"not_authed": true, "invalid_auth": true, "account_inactive": true,
	"token_revoked": true, "token_expired": true, "no_permission": true, "missing_scope": true,
	"not_allowed_token_type": true, "ekm_access_denied": true, "team_access_not_granted": true}

var hints = map[string]string{
	"channel_not_found": "check the channel id, and invite the app to a private channel",
	"not_in_channel":    "invite the app to the channel: /invite @heed",
	"is_archived":       "the channel is archived",
	"msg_too_long":      "the text is over Slack's limit",
	"missing_scope":     "the token lacks a scope: add chat:write and channels:history (groups:history for private channels), reinstall the app, and refresh the token",
}

// call posts one Web API method and sorts failures into the dispatcher's
// kinds. post marks chat.postMessage, whose server-side errors may come
// after the message was made.
func (p *Publisher) call(ctx context.Context, method string, form url.Values, post bool, out any) error {
	req, err := http.NewRequest(http.MethodPost, p.api+method, strings.NewReader(form.Encode()))
	if err != nil {
		return publish.PermanentError(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+p.token)
	_, body, err := httpx.Do(ctx, p.client, req, httpx.WithSecrets(p.token))
	if err != nil {
		return err
	}
	var ans struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		e := fmt.Errorf("slack %s: unreadable answer", method)
		if post {
			return publish.AmbiguousError(e)
		}
		return publish.RetryableError(e, 0)
	}
	if !ans.OK {
		se := &slackError{method: method, code: httpx.Redact(ans.Error, p.token)}
		switch {
		case authCodes[ans.Error]:
			return publish.PermanentError(fmt.Errorf("%w: Slack refused the token: refresh the token in this target's configuration", se))
		case ans.Error == "ratelimited" || ans.Error == "rate_limited":
			return publish.RetryableError(se, time.Second)
		case ans.Error == "internal_error" || ans.Error == "fatal_error" || ans.Error == "service_unavailable" || ans.Error == "request_timeout":
			// Slack says some of the operation may have happened.
			if post {
				return publish.AmbiguousError(se)
			}
			return publish.RetryableError(se, 0)
		}
		return publish.PermanentError(se)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil && post {
			return publish.AmbiguousError(fmt.Errorf("slack %s: unreadable answer", method))
		}
	}
	return nil
}

// escape makes text literal in Slack: &, < and > start links and mentions.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
