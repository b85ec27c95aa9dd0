// Package linkedin is the `linkedin` publisher: it posts as a member or an
// organization through LinkedIn's Posts API (POST /rest/posts) and deletes
// with DELETE /rest/posts/{urn}.
//
// Every call carries LinkedIn-Version (a YYYYMM release; LinkedIn retires
// each after about a year, answering 426, so the version is configurable)
// and X-Restli-Protocol-Version: 2.0.0. The new post's URN comes back in the
// x-restli-id header.
//
// Commentary is LinkedIn's "little" text format, where \ | { } @ [ ] ( ) < >
// # * _ ~ are markup: an unescaped one can cut the post short. heed
// backslash-escapes them all, except a "#" that starts a hashtag, so the
// post shows exactly the approved text (Preview) with clickable hashtags.
//
// LinkedIn takes no idempotency key: a request that timed out after it was
// sent is ambiguous, and a person checks the account.
//
// Configuration:
//
//	targets:
//	  linkedin-company:
//	    kind: linkedin
//	    access_token: ${LINKEDIN_ACCESS_TOKEN} # scope w_member_social (member) or w_organization_social (organization)
//	    author: urn:li:organization:2414183    # or urn:li:person:{id}
//	    version: "202605"                      # LinkedIn-Version, YYYYMM
//	    api: https://api.linkedin.com          # default
package linkedin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/httpx"
	"github.com/heed-dev/heed/publish/textlen"
)

func init() { publish.Register("linkedin", New) }

const (
	// DefaultAPI is LinkedIn's API host.
	DefaultAPI = "https://api.linkedin.com"
	// DefaultVersion is the LinkedIn-Version sent unless configured: the
	// May 2026 release, documented as li-lms-2026-05.
	DefaultVersion = "202605"
	// MaxChars is the commentary limit, in UTF-16 units (textlen.Chars).
	MaxChars = 3000
)

// Config is the `linkedin` target's settings.
type Config struct {
	AccessToken string `yaml:"access_token"`
	Author      string `yaml:"author"`
	Version     string `yaml:"version"`
	API         string `yaml:"api"`
}

// Publisher posts to one LinkedIn member or organization.
type Publisher struct {
	target  string
	token   string
	author  string
	version string
	base    string
	client  *http.Client
	log     publish.Logger
	now     func() time.Time
}

var (
	_ publish.Publisher = (*Publisher)(nil)
	_ publish.Validator = (*Publisher)(nil)
	_ publish.Previewer = (*Publisher)(nil)
	_ publish.Retractor = (*Publisher)(nil)
)

var (
	authorRe  = regexp.MustCompile(`^urn:li:(person|organization):[A-Za-z0-9_-]+$`)
	versionRe = regexp.MustCompile(`^20[0-9]{2}(0[1-9]|1[0-2])$`)
	postURNRe = regexp.MustCompile(`^urn:li:(share|ugcPost):[0-9]+$`)
)

// New builds a LinkedIn publisher from its configuration.
func New(cfg publish.Config) (publish.Publisher, error) {
	var c Config
	if cfg.Decode != nil {
		if err := cfg.Decode(&c); err != nil {
			return nil, err
		}
	}
	if c.AccessToken == "" {
		return nil, errors.New(`access_token is required: a LinkedIn OAuth 2.0 access token with w_member_social (or w_organization_social to post as an organization); set "access_token: ${LINKEDIN_ACCESS_TOKEN}" with the token in that environment variable`)
	}
	author := strings.TrimSpace(c.Author)
	if author == "" {
		return nil, errors.New(`author is required: "urn:li:person:{id}" to post as a member, or "urn:li:organization:{id}" to post as a company page`)
	}
	if !authorRe.MatchString(author) {
		return nil, fmt.Errorf("author %q is not a member or organization URN (urn:li:person:{id} or urn:li:organization:{id})", c.Author)
	}
	version := strings.TrimSpace(c.Version)
	if version == "" {
		version = DefaultVersion
	}
	if !versionRe.MatchString(version) {
		return nil, fmt.Errorf("version %q is not a LinkedIn-Version (YYYYMM, e.g. %s)", c.Version, DefaultVersion)
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
		target: cfg.Name, token: c.AccessToken, author: author, version: version, base: base,
		client: &http.Client{Timeout: 30 * time.Second}, log: log, now: time.Now,
	}, nil
}

// Preview returns the text as the post shows it: the text, and the
// request's link on a line of its own unless the text holds it. What goes
// over the wire is the same text with LinkedIn's markup characters escaped.
func (p *Publisher) Preview(req publish.Request) string {
	return publish.TextWithLink(req.Text, req.Link)
}

// Validate checks the commentary limit.
func (p *Publisher) Validate(req publish.Request) []publish.Problem {
	var probs []publish.Problem
	add := func(format string, args ...any) {
		probs = append(probs, publish.Problem{Message: fmt.Sprintf(format, args...)})
	}
	text := p.Preview(req)
	if strings.TrimSpace(text) == "" {
		add("the post is empty: LinkedIn needs text")
	}
	n, escaped := textlen.Chars(text), textlen.Chars(EscapeLittle(text))
	switch {
	case n > MaxChars:
		add("%d/%d characters on LinkedIn", n, MaxChars)
	case escaped > MaxChars:
		add("%d/%d characters on LinkedIn once its markup characters are escaped", escaped, MaxChars)
	}
	if len(req.Media) > 0 {
		add("heed does not upload images to LinkedIn: remove the image from the LinkedIn variant or the LinkedIn target")
	}
	return probs
}

// post is the Posts API's create body for a text post.
type post struct {
	Author                    string       `json:"author"`
	Commentary                string       `json:"commentary"`
	Visibility                string       `json:"visibility"`
	Distribution              distribution `json:"distribution"`
	LifecycleState            string       `json:"lifecycleState"`
	IsReshareDisabledByAuthor bool         `json:"isReshareDisabledByAuthor"`
}

type distribution struct {
	FeedDistribution               string   `json:"feedDistribution"`
	TargetEntities                 []string `json:"targetEntities"`
	ThirdPartyDistributionChannels []string `json:"thirdPartyDistributionChannels"`
}

// Publish creates the post. It is not idempotent: see the package doc.
func (p *Publisher) Publish(ctx context.Context, req publish.Request) (publish.Result, error) {
	if probs := p.Validate(req); len(probs) > 0 {
		msgs := make([]string, len(probs))
		for i, pr := range probs {
			msgs[i] = pr.Message
		}
		return publish.Result{}, publish.PermanentError(errors.New(strings.Join(msgs, "; ")))
	}
	body, _ := json.Marshal(post{
		Author:         p.author,
		Commentary:     EscapeLittle(p.Preview(req)),
		Visibility:     "PUBLIC",
		Distribution:   distribution{FeedDistribution: "MAIN_FEED", TargetEntities: []string{}, ThirdPartyDistributionChannels: []string{}},
		LifecycleState: "PUBLISHED",
	})
	resp, err := p.do(ctx, http.MethodPost, "/rest/posts", body)
	if err == nil {
		if urn := resp.Header.Get("x-restli-id"); urn != "" {
			res := publish.Result{RemoteID: urn, URL: PostURL(urn)}
			p.log.Info("published to linkedin", "target", p.target, "urn", urn, "url", res.URL)
			return res, nil
		}
		err = publish.AmbiguousError(errors.New("LinkedIn answered without the post's URN (x-restli-id)"))
	}
	err = p.explain(err)
	p.log.Warn("linkedin publish failed", "target", p.target, "error", err)
	return publish.Result{}, err
}

// PostURL is where a post can be seen.
func PostURL(urn string) string { return "https://www.linkedin.com/feed/update/" + urn + "/" }

// Retract deletes a post. A post already gone counts as retracted.
func (p *Publisher) Retract(ctx context.Context, target string, res publish.Result) error {
	if !postURNRe.MatchString(res.RemoteID) {
		return publish.PermanentError(fmt.Errorf("%q is not a LinkedIn post URN", res.RemoteID))
	}
	// The URN is one path segment, its colons percent-encoded as LinkedIn
	// asks.
	_, err := p.do(ctx, http.MethodDelete, "/rest/posts/"+url.QueryEscape(res.RemoteID), nil)
	var se *httpx.StatusError
	if errors.As(err, &se) && se.StatusCode == http.StatusNotFound {
		p.log.Info("linkedin post was already gone", "target", p.target, "urn", res.RemoteID)
		return nil
	}
	if err != nil {
		err = p.explain(err)
		p.log.Warn("linkedin retract failed", "target", p.target, "urn", res.RemoteID, "error", err)
		return err
	}
	p.log.Info("retracted from linkedin", "target", p.target, "urn", res.RemoteID)
	return nil
}

func (p *Publisher) do(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	req, err := http.NewRequest(method, p.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, publish.PermanentError(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("LinkedIn-Version", p.version)
	req.Header.Set("X-Restli-Protocol-Version", "2.0.0")
	req.Header.Set("User-Agent", "heed")
	resp, _, err := httpx.Do(ctx, p.client, req, httpx.WithSecrets(p.token), httpx.WithNow(p.now))
	return resp, err
}

// explain adds what a person needs to LinkedIn's errors.
func (p *Publisher) explain(err error) error {
	kind, _ := publish.Classify(err)
	var se *httpx.StatusError
	switch {
	case kind == publish.Ambiguous:
		return publish.AmbiguousError(fmt.Errorf("%w; LinkedIn takes no idempotency key, so check %s to see whether the post went out before publishing again", err, p.activityURL()))
	case errors.As(err, &se) && se.StatusCode == http.StatusUpgradeRequired:
		return publish.PermanentError(fmt.Errorf("%w; LinkedIn-Version %s is no longer served: set version to a recent release (YYYYMM) in this target's configuration", err, p.version))
	}
	return err
}

// activityURL is where the author's recent posts are listed.
func (p *Publisher) activityURL() string {
	if id, ok := strings.CutPrefix(p.author, "urn:li:organization:"); ok {
		return "https://www.linkedin.com/company/" + id + "/admin/page-posts/published/"
	}
	return "https://www.linkedin.com/in/me/recent-activity/all/"
}

// littleReserved are the characters LinkedIn's little text format reserves.
const littleReserved = `\|{}@[]()<>#*_~`

// EscapeLittle escapes text for a commentary in LinkedIn's little format so
// that it shows as written: each reserved character gets a backslash,
// except "#" at the start of a word followed by a letter, digit or "_",
// which stays a hashtag.
func EscapeLittle(text string) string {
	var b strings.Builder
	b.Grow(len(text) + len(text)/8)
	prev := ' '
	for i, r := range text {
		if strings.ContainsRune(littleReserved, r) && !(r == '#' && startsTag(prev, text[i+1:])) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}

func startsTag(prev rune, after string) bool {
	if !unicode.IsSpace(prev) {
		return false
	}
	next, _ := utf8.DecodeRuneInString(after)
	return unicode.IsLetter(next) || unicode.IsDigit(next) || next == '_'
}

type discard struct{}

func (discard) Info(string, ...any)  {}
func (discard) Warn(string, ...any)  {}
func (discard) Error(string, ...any) {}
