// Package facebook is the `facebook` publisher: it posts to a Facebook Page
// through the Graph API (POST /{page-id}/feed with message and link, using a
// Page access token) and deletes with DELETE /{post-id}.
//
// Graph API errors are sorted by their code, not only their HTTP status:
// 190 (access token invalid or expired) is permanent and asks for a new
// token; 4, 17, 32 and 613 (rate limits) are retryable, after the wait the
// X-Business-Use-Case-Usage or X-App-Usage header estimates if there is one;
// 1 and 2 (temporary API trouble) are retryable; everything else is
// permanent with Facebook's own message. The Graph API takes no idempotency
// key: a request that timed out after it was sent is ambiguous, and a
// person checks the Page.
//
// The token travels in the form body (POST) or the query (DELETE), as the
// Graph API documents; errors name the host only and the token is redacted
// from everything.
//
// Configuration:
//
//	targets:
//	  facebook-page:
//	    kind: facebook
//	    page_id: "104526875123456"
//	    access_token: ${FACEBOOK_PAGE_TOKEN} # a Page access token with pages_manage_posts
//	    graph_version: v24.0                 # optional; default: the app's default version
//	    api: https://graph.facebook.com      # default
package facebook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/httpx"
	"github.com/heed-dev/heed/publish/textlen"
)

func init() { publish.Register("facebook", New) }

const (
	// DefaultAPI is the Graph API host.
	DefaultAPI = "https://graph.facebook.com"
	// MaxChars is the length Facebook allows a post's text.
	MaxChars = 63206
)

// Config is the `facebook` target's settings.
type Config struct {
	PageID       string `yaml:"page_id"`
	AccessToken  string `yaml:"access_token"`
	GraphVersion string `yaml:"graph_version"`
	API          string `yaml:"api"`
}

// Publisher posts to one Facebook Page.
type Publisher struct {
	target string
	page   string
	token  string
	base   string // API host plus the version segment, if any
	client *http.Client
	log    publish.Logger
	now    func() time.Time
}

var (
	_ publish.Publisher = (*Publisher)(nil)
	_ publish.Validator = (*Publisher)(nil)
	_ publish.Previewer = (*Publisher)(nil)
	_ publish.Retractor = (*Publisher)(nil)
)

var (
	pageIDRe  = regexp.MustCompile(`^[0-9]{1,32}$`)
	versionRe = regexp.MustCompile(`^v[0-9]{1,2}\.[0-9]$`)
	postIDRe  = regexp.MustCompile(`^[0-9]+(_[0-9]+)?$`)
)

// New builds a Facebook Page publisher from its configuration.
func New(cfg publish.Config) (publish.Publisher, error) {
	var c Config
	if cfg.Decode != nil {
		if err := cfg.Decode(&c); err != nil {
			return nil, err
		}
	}
	page := strings.TrimSpace(c.PageID)
	if page == "" {
		return nil, errors.New(`page_id is required: the numeric id of the Page (Page → About → Page transparency, or the Graph API Explorer), quoted: page_id: "104526875123456"`)
	}
	if !pageIDRe.MatchString(page) {
		return nil, fmt.Errorf("page_id %q is not a numeric Page id", c.PageID)
	}
	if c.AccessToken == "" {
		return nil, errors.New(`access_token is required: a Page access token with pages_manage_posts; set "access_token: ${FACEBOOK_PAGE_TOKEN}" with the token in that environment variable`)
	}
	base := strings.TrimRight(strings.TrimSpace(c.API), "/")
	if base == "" {
		base = DefaultAPI
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("api %q is not an http(s) URL (default %s)", c.API, DefaultAPI)
	}
	if v := strings.TrimSpace(c.GraphVersion); v != "" {
		if !versionRe.MatchString(v) {
			return nil, fmt.Errorf("graph_version %q is not a Graph API version (e.g. v24.0)", c.GraphVersion)
		}
		base += "/" + v
	}
	log := cfg.Logger
	if log == nil {
		log = discard{}
	}
	return &Publisher{
		target: cfg.Name, page: page, token: c.AccessToken, base: base,
		client: &http.Client{Timeout: 30 * time.Second}, log: log, now: time.Now,
	}, nil
}

// Preview returns the post's message exactly as sent. The request's link
// goes in the link field: Facebook shows it as a preview card under the
// message, not as text.
func (p *Publisher) Preview(req publish.Request) string { return req.Text }

// Validate checks what a Page post needs.
func (p *Publisher) Validate(req publish.Request) []publish.Problem {
	var probs []publish.Problem
	add := func(format string, args ...any) {
		probs = append(probs, publish.Problem{Message: fmt.Sprintf(format, args...)})
	}
	if strings.TrimSpace(req.Text) == "" && req.Link == "" {
		add("the post is empty: a Facebook post needs a message or a link")
	}
	if n := textlen.Chars(req.Text); n > MaxChars {
		add("%d/%d characters on Facebook", n, MaxChars)
	}
	if req.Link != "" {
		if u, err := url.Parse(req.Link); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("link %q is not an http(s) URL, which Facebook needs", req.Link)
		}
	}
	if len(req.Media) > 0 {
		add("heed does not upload images to Facebook: remove the image from the Facebook variant or the Facebook target")
	}
	return probs
}

// Publish creates the Page post. It is not idempotent: see the package doc.
func (p *Publisher) Publish(ctx context.Context, req publish.Request) (publish.Result, error) {
	if probs := p.Validate(req); len(probs) > 0 {
		msgs := make([]string, len(probs))
		for i, pr := range probs {
			msgs[i] = pr.Message
		}
		return publish.Result{}, publish.PermanentError(errors.New(strings.Join(msgs, "; ")))
	}
	form := url.Values{"access_token": {p.token}}
	if req.Text != "" {
		form.Set("message", req.Text)
	}
	if req.Link != "" {
		form.Set("link", req.Link)
	}
	hreq, err := http.NewRequest(http.MethodPost, p.base+"/"+p.page+"/feed", strings.NewReader(form.Encode()))
	if err != nil {
		return publish.Result{}, publish.PermanentError(err)
	}
	hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var out struct {
		ID string `json:"id"`
	}
	err = p.do(ctx, hreq, &out)
	if err == nil && out.ID == "" {
		err = publish.AmbiguousError(errors.New("Facebook answered without the post's id"))
	}
	if err != nil {
		p.log.Warn("facebook publish failed", "target", p.target, "error", err)
		return publish.Result{}, err
	}
	res := publish.Result{RemoteID: out.ID, URL: "https://www.facebook.com/" + out.ID}
	p.log.Info("published to facebook", "target", p.target, "id", out.ID, "url", res.URL)
	return res, nil
}

// Retract deletes a Page post. A post already gone counts as retracted.
func (p *Publisher) Retract(ctx context.Context, target string, res publish.Result) error {
	if !postIDRe.MatchString(res.RemoteID) {
		return publish.PermanentError(fmt.Errorf("%q is not a Facebook post id", res.RemoteID))
	}
	q := url.Values{"access_token": {p.token}}
	hreq, err := http.NewRequest(http.MethodDelete, p.base+"/"+res.RemoteID+"?"+q.Encode(), nil)
	if err != nil {
		return publish.PermanentError(err)
	}
	var out struct {
		Success bool `json:"success"`
	}
	err = p.do(ctx, hreq, &out)
	var ge *GraphError
	if errors.As(err, &ge) && ge.Code == 100 && ge.Subcode == 33 {
		p.log.Info("facebook post was already gone", "target", p.target, "id", res.RemoteID)
		return nil
	}
	if err == nil && !out.Success {
		err = publish.PermanentError(fmt.Errorf("Facebook did not delete post %s", res.RemoteID))
	}
	if err != nil {
		p.log.Warn("facebook retract failed", "target", p.target, "id", res.RemoteID, "error", err)
		return err
	}
	p.log.Info("retracted from facebook", "target", p.target, "id", res.RemoteID)
	return nil
}

// GraphError is the Graph API's error object, as it sits in the
// publish.Error a failed call returns.
type GraphError struct {
	Status    int
	Message   string
	Type      string
	Code      int
	Subcode   int
	FBTraceID string
	advice    string
}

func (e *GraphError) Error() string {
	s := fmt.Sprintf("Facebook answered HTTP %d: %s (%s, code %d", e.Status, e.Message, e.Type, e.Code)
	if e.Subcode != 0 {
		s += fmt.Sprintf(", subcode %d", e.Subcode)
	}
	s += ")"
	if e.advice != "" {
		s += "; " + e.advice
	}
	return s
}

// do sends req and sorts a failure by its Graph error code.
func (p *Publisher) do(ctx context.Context, req *http.Request, out any) error {
	req.Header.Set("User-Agent", "heed")
	resp, body, err := httpx.Do(ctx, p.client, req, httpx.WithSecrets(p.token), httpx.WithNow(p.now))
	if err != nil {
		kind, after := publish.Classify(err)
		if resp == nil {
			if kind == publish.Ambiguous {
				return publish.AmbiguousError(fmt.Errorf("%w; the Graph API takes no idempotency key, so check https://www.facebook.com/%s to see whether the post went out before publishing again", err, p.page))
			}
			return err
		}
		ge := graphError(resp.StatusCode, body, p.token)
		if ge == nil {
			return err // not the Graph API's shape: httpx's sorting stands
		}
		return p.classify(ge, resp.Header, kind, after)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return publish.AmbiguousError(fmt.Errorf("Facebook answered with JSON heed cannot read: %v", err))
	}
	return nil
}

func graphError(status int, body []byte, token string) *GraphError {
	var env struct {
		Error *struct {
			Message   string `json:"message"`
			Type      string `json:"type"`
			Code      int    `json:"code"`
			Subcode   int    `json:"error_subcode"`
			FBTraceID string `json:"fbtrace_id"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) != nil || env.Error == nil {
		return nil
	}
	e := env.Error
	return &GraphError{Status: status, Message: httpx.Redact(e.Message, token), Type: e.Type, Code: e.Code, Subcode: e.Subcode, FBTraceID: e.FBTraceID}
}

// classify sorts a Graph error by its code. kind and after are what httpx
// made of the HTTP status alone.
func (p *Publisher) classify(ge *GraphError, h http.Header, kind publish.ErrorKind, after time.Duration) error {
	switch ge.Code {
	case 190, 102:
		ge.advice = "the Page access token was refused or has expired: refresh the token (a new Page access token with pages_manage_posts) in this target's configuration"
		return publish.PermanentError(ge)
	case 4, 17, 32, 613:
		ge.advice = "Facebook's rate limit; heed will try again later"
		return publish.RetryableError(ge, max(after, usageWait(h)))
	case 1, 2:
		return publish.RetryableError(ge, after)
	case 10, 200, 210:
		ge.advice = "the token lacks a permission: it needs pages_manage_posts (and pages_read_engagement) for this Page"
		return publish.PermanentError(ge)
	}
	if kind == publish.Retryable && ge.Status >= 500 {
		return publish.RetryableError(ge, after)
	}
	return publish.PermanentError(ge)
}

// usageWait reads estimated_time_to_regain_access (minutes) from the
// Business Use Case usage header, or the app usage header.
func usageWait(h http.Header) time.Duration {
	var longest time.Duration
	if v := h.Get("X-Business-Use-Case-Usage"); v != "" {
		var buc map[string][]struct {
			Estimated float64 `json:"estimated_time_to_regain_access"`
		}
		if json.Unmarshal([]byte(v), &buc) == nil {
			for _, entries := range buc {
				for _, e := range entries {
					longest = max(longest, time.Duration(e.Estimated*float64(time.Minute)))
				}
			}
		}
	}
	if v := h.Get("X-App-Usage"); v != "" {
		var app struct {
			Estimated float64 `json:"estimated_time_to_regain_access"`
		}
		if json.Unmarshal([]byte(v), &app) == nil {
			longest = max(longest, time.Duration(app.Estimated*float64(time.Minute)))
		}
	}
	return longest
}

type discard struct{}

func (discard) Info(string, ...any)  {}
func (discard) Warn(string, ...any)  {}
func (discard) Error(string, ...any) {}
