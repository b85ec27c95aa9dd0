// Package x is the `x` publisher: it posts to an X (formerly Twitter)
// account through API v2 (POST /2/tweets) with an OAuth 2.0 user access
// token, and deletes with DELETE /2/tweets/:id.
//
// The length limit is X's own weighted count (textlen.X: URLs 23, CJK and
// emoji 2), checked before any call. X takes no idempotency key, so a
// request that timed out after it was sent is ambiguous: heed marks the
// outcome unknown and a person checks the account; it is never retried
// blindly.
//
// Access tokens from X's OAuth 2.0 flow expire after two hours. With a
// refresh token and the app's client id configured, a 401 makes the
// publisher exchange the refresh token (POST /2/oauth2/token,
// grant_type=refresh_token) and try once more. X rotates refresh tokens: the
// old one stops working once used, and the new pair lives only in this
// process's memory. Set OnTokenRefresh to persist it (a secrets store, say);
// otherwise, after a restart, the configured refresh token is already spent
// and the target needs a new token.
//
// Configuration:
//
//	targets:
//	  x-main:
//	    kind: x
//	    access_token: ${X_ACCESS_TOKEN}   # OAuth 2.0 user token, scopes tweet.write tweet.read users.read (+ offline.access to refresh)
//	    refresh_token: ${X_REFRESH_TOKEN} # optional
//	    client_id: ${X_CLIENT_ID}         # required with refresh_token
//	    client_secret: ${X_CLIENT_SECRET} # only for confidential clients
//	    username: heeddev                 # optional: for post and account links
//	    api: https://api.x.com            # default
package x

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/httpx"
	"github.com/heed-dev/heed/publish/textlen"
)

func init() { publish.Register("x", New) }

// DefaultAPI is X's API host.
const DefaultAPI = "https://api.x.com"

// Config is the `x` target's settings.
type Config struct {
	AccessToken  string `yaml:"access_token"`
	RefreshToken string `yaml:"refresh_token"`
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	Username     string `yaml:"username"`
	API          string `yaml:"api"`
}

// Publisher posts to one X account. It is safe for concurrent use.
type Publisher struct {
	// OnTokenRefresh, if set, is called with the new token pair after each
	// refresh, so it can be stored: X's refresh tokens are single-use. Set
	// it before the first Publish. It runs while the publisher holds its
	// token lock, so it must not call back into the publisher, and it must
	// not log the tokens.
	OnTokenRefresh func(access, refresh string)

	target       string
	username     string
	base         string
	clientID     string
	clientSecret string
	client       *http.Client
	log          publish.Logger
	now          func() time.Time

	mu      sync.Mutex
	access  string
	refresh string
	spent   []string // refresh and access tokens no longer in use, still never to be shown
}

var (
	_ publish.Publisher = (*Publisher)(nil)
	_ publish.Validator = (*Publisher)(nil)
	_ publish.Previewer = (*Publisher)(nil)
	_ publish.Retractor = (*Publisher)(nil)
)

var usernameRe = regexp.MustCompile(`^[A-Za-z0-9_]{1,15}$`)

// New builds an X publisher from its configuration.
func New(cfg publish.Config) (publish.Publisher, error) {
	var c Config
	if cfg.Decode != nil {
		if err := cfg.Decode(&c); err != nil {
			return nil, err
		}
	}
	if c.AccessToken == "" {
		return nil, errors.New(`access_token is required: an OAuth 2.0 user access token with the tweet.write scope; set "access_token: ${X_ACCESS_TOKEN}" with the token in that environment variable`)
	}
	if c.RefreshToken != "" && c.ClientID == "" {
		return nil, errors.New(`client_id is required with refresh_token: the OAuth 2.0 client id of your X app (developer portal → your app → Keys and tokens); set "client_id: ${X_CLIENT_ID}"`)
	}
	username := strings.TrimPrefix(strings.TrimSpace(c.Username), "@")
	if username != "" && !usernameRe.MatchString(username) {
		return nil, fmt.Errorf("username %q is not an X username (letters, digits and _, up to 15)", c.Username)
	}
	base := strings.TrimRight(strings.TrimSpace(c.API), "/")
	if base == "" {
		base = DefaultAPI
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("api %q is not an http(s) URL (default %s)", c.API, DefaultAPI)
	}
	log := cfg.Logger
	if log == nil {
		log = discard{}
	}
	return &Publisher{
		target:       cfg.Name,
		username:     username,
		base:         base,
		clientID:     c.ClientID,
		clientSecret: c.ClientSecret,
		client:       &http.Client{Timeout: 30 * time.Second},
		log:          log,
		now:          time.Now,
		access:       c.AccessToken,
		refresh:      c.RefreshToken,
	}, nil
}

// Preview returns the text exactly as it is sent: the text, and the
// request's link on a line of its own unless the text holds it. X shows
// links shortened to t.co; they count 23 whatever their length.
func (p *Publisher) Preview(req publish.Request) string {
	return publish.TextWithLink(req.Text, req.Link)
}

// Validate checks X's weighted limit.
func (p *Publisher) Validate(req publish.Request) []publish.Problem {
	var probs []publish.Problem
	text := p.Preview(req)
	if strings.TrimSpace(text) == "" {
		probs = append(probs, publish.Problem{Message: "the post is empty: X needs text"})
	}
	if n := textlen.X(text); n > textlen.XLimit {
		probs = append(probs, publish.Problem{Message: fmt.Sprintf("%d/%d characters on X (weighted: links 23, CJK and emoji 2)", n, textlen.XLimit)})
	}
	if len(req.Media) > 0 {
		probs = append(probs, publish.Problem{Message: "heed does not upload images to X: remove the image from the X variant or the X target"})
	}
	return probs
}

// Publish posts the text. It is not idempotent: see the package doc.
func (p *Publisher) Publish(ctx context.Context, req publish.Request) (publish.Result, error) {
	if probs := p.Validate(req); len(probs) > 0 {
		msgs := make([]string, len(probs))
		for i, pr := range probs {
			msgs[i] = pr.Message
		}
		return publish.Result{}, publish.PermanentError(errors.New(strings.Join(msgs, "; ")))
	}
	body, _ := json.Marshal(map[string]string{"text": p.Preview(req)})
	var out struct {
		Data struct {
			ID   string `json:"id"`
			Text string `json:"text"`
		} `json:"data"`
	}
	err := p.withToken(ctx, func(token string) error {
		return p.call(ctx, token, http.MethodPost, "/2/tweets", body, &out)
	})
	if err == nil && out.Data.ID == "" {
		err = publish.AmbiguousError(errors.New("X answered without the post's id"))
	}
	if err != nil {
		err = p.explain(err)
		p.log.Warn("x publish failed", "target", p.target, "error", err)
		return publish.Result{}, err
	}
	res := publish.Result{RemoteID: out.Data.ID, URL: p.postURL(out.Data.ID)}
	p.log.Info("published to x", "target", p.target, "id", res.RemoteID, "url", res.URL)
	return res, nil
}

// Retract deletes a post (DELETE /2/tweets/:id).
func (p *Publisher) Retract(ctx context.Context, target string, res publish.Result) error {
	if res.RemoteID == "" || strings.Trim(res.RemoteID, "0123456789") != "" {
		return publish.PermanentError(fmt.Errorf("%q is not an X post id", res.RemoteID))
	}
	var out struct {
		Data struct {
			Deleted bool `json:"deleted"`
		} `json:"data"`
	}
	err := p.withToken(ctx, func(token string) error {
		return p.call(ctx, token, http.MethodDelete, "/2/tweets/"+res.RemoteID, nil, &out)
	})
	if err != nil {
		p.log.Warn("x retract failed", "target", p.target, "id", res.RemoteID, "error", err)
		return err
	}
	// deleted:false means there was nothing to delete: the post is gone
	// either way.
	p.log.Info("retracted from x", "target", p.target, "id", res.RemoteID, "deleted", out.Data.Deleted)
	return nil
}

func (p *Publisher) postURL(id string) string {
	if p.username == "" {
		return "https://x.com/i/web/status/" + id
	}
	return "https://x.com/" + p.username + "/status/" + id
}

// accountURL is where a person checks what the account posted.
func (p *Publisher) accountURL() string {
	if p.username == "" {
		return "https://x.com/home"
	}
	return "https://x.com/" + p.username
}

// explain adds what a person needs to the errors X gives: for a timeout, where
// to look; for a duplicate, that it is not a token problem.
func (p *Publisher) explain(err error) error {
	kind, _ := publish.Classify(err)
	var se *httpx.StatusError
	switch {
	case kind == publish.Ambiguous:
		return publish.AmbiguousError(fmt.Errorf("%w; X takes no idempotency key, so check %s to see whether the post went out before publishing again", err, p.accountURL()))
	case errors.As(err, &se) && se.StatusCode == http.StatusForbidden && strings.Contains(strings.ToLower(se.Message), "duplicate content"):
		// X's own words; the 403 is about the text, not the token.
		return publish.PermanentError(fmt.Errorf("X refused the post: %s (X answered 403)", se.Message))
	}
	return err
}

// withToken runs fn with the access token. On a 401 with a refresh token
// configured, it refreshes once and runs fn again: a 401 means X did not act
// on the request.
func (p *Publisher) withToken(ctx context.Context, fn func(token string) error) error {
	p.mu.Lock()
	token, canRefresh := p.access, p.refresh != ""
	p.mu.Unlock()
	err := fn(token)
	if !canRefresh || statusOf(err) != http.StatusUnauthorized {
		return err
	}
	fresh, rerr := p.refreshToken(ctx, token)
	if rerr != nil {
		return rerr
	}
	return fn(fresh)
}

// refreshToken exchanges the refresh token for a new pair, unless another
// publish already did since used was the access token.
func (p *Publisher) refreshToken(ctx context.Context, used string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.access != used {
		return p.access, nil
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {p.refresh}}
	if p.clientSecret == "" {
		form.Set("client_id", p.clientID) // a public client names itself in the body
	}
	req, err := http.NewRequest(http.MethodPost, p.base+"/2/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", publish.PermanentError(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "heed")
	if p.clientSecret != "" {
		req.SetBasicAuth(url.QueryEscape(p.clientID), url.QueryEscape(p.clientSecret))
	}
	_, body, err := httpx.Do(ctx, p.client, req, httpx.WithSecrets(p.secretsLocked()...), httpx.WithNow(p.now))
	if err != nil {
		if k, _ := publish.Classify(err); k == publish.Permanent {
			return "", publish.PermanentError(fmt.Errorf("the access token was refused and refreshing it failed: %w; refresh the token: authorise heed again and set new access_token and refresh_token values", err))
		}
		return "", fmt.Errorf("refreshing the access token: %w", err)
	}
	var out struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.AccessToken == "" {
		return "", publish.PermanentError(errors.New("X's token endpoint answered without an access token; refresh the token by authorising heed again"))
	}
	p.spent = append(p.spent, p.access, p.refresh)
	p.access = out.AccessToken
	if out.RefreshToken != "" {
		p.refresh = out.RefreshToken
	}
	p.log.Info("x access token refreshed", "target", p.target)
	if p.OnTokenRefresh != nil {
		p.OnTokenRefresh(p.access, p.refresh)
	}
	return p.access, nil
}

// call makes one API call with token; out receives the JSON answer.
func (p *Publisher) call(ctx context.Context, token, method, path string, body []byte, out any) error {
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, p.base+path, rd)
	if err != nil {
		return publish.PermanentError(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("User-Agent", "heed")
	_, respBody, err := httpx.Do(ctx, p.client, req, httpx.WithSecrets(p.secrets()...), httpx.WithNow(p.now))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(respBody, out); err != nil {
		return publish.AmbiguousError(fmt.Errorf("X answered %s %s with JSON heed cannot read: %v", method, path, err))
	}
	return nil
}

func (p *Publisher) secrets() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.secretsLocked()
}

func (p *Publisher) secretsLocked() []string {
	return append([]string{p.access, p.refresh, p.clientSecret}, p.spent...)
}

func statusOf(err error) int {
	var se *httpx.StatusError
	if errors.As(err, &se) {
		return se.StatusCode
	}
	return 0
}

type discard struct{}

func (discard) Info(string, ...any)  {}
func (discard) Warn(string, ...any)  {}
func (discard) Error(string, ...any) {}
