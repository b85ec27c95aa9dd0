package bluesky

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"

	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/httpx"
)

// session is com.atproto.server.createSession's (and refreshSession's)
// output, the fields heed uses.
type session struct {
	AccessJwt  string `json:"accessJwt"`
	RefreshJwt string `json:"refreshJwt"`
	Handle     string `json:"handle"`
	DID        string `json:"did"`
}

// postRecord is app.bsky.feed.post.
type postRecord struct {
	Type      string   `json:"$type"`
	Text      string   `json:"text"`
	Facets    []facet  `json:"facets,omitempty"`
	Langs     []string `json:"langs,omitempty"`
	Embed     *embed   `json:"embed,omitempty"`
	CreatedAt string   `json:"createdAt"`
}

// embed is app.bsky.embed.images.
type embed struct {
	Type   string       `json:"$type"`
	Images []embedImage `json:"images"`
}

type embedImage struct {
	Alt   string          `json:"alt"`
	Image json.RawMessage `json:"image"` // the blob object uploadBlob returned, as it returned it
}

// strongRef is com.atproto.repo.strongRef, createRecord's output.
type strongRef struct {
	URI string `json:"uri"`
	CID string `json:"cid"`
}

// rawBody is a call's input sent as is, not as JSON (a blob).
type rawBody struct {
	contentType string
	data        []byte
}

// call makes one XRPC call. A nil in sends no body; in of type rawBody is
// sent as is, anything else as JSON. out, if not nil, receives the JSON
// answer. s, if not nil, authenticates the call.
func (p *Publisher) call(ctx context.Context, s *session, method, nsid string, query url.Values, in, out any) error {
	u := p.base + "/xrpc/" + nsid
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	contentType := ""
	switch v := in.(type) {
	case nil:
	case rawBody:
		body, contentType = bytes.NewReader(v.data), v.contentType
	default:
		b, err := json.Marshal(in)
		if err != nil {
			return publish.PermanentError(fmt.Errorf("encoding %s: %w", nsid, err))
		}
		body, contentType = bytes.NewReader(b), "application/json"
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return publish.PermanentError(fmt.Errorf("%s: %w", nsid, err))
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "heed")
	if s != nil {
		req.Header.Set("Authorization", "Bearer "+s.AccessJwt)
	}
	_, respBody, err := httpx.Do(ctx, p.client, req, httpx.WithSecrets(p.secrets(s)...))
	if err != nil {
		return fmt.Errorf("%s: %w", nsid, err)
	}
	if out != nil {
		if err := json.Unmarshal(respBody, out); err != nil {
			// The call went through but its answer is unreadable: for a
			// write, heed cannot tell what happened.
			return publish.AmbiguousError(fmt.Errorf("%s: the PDS answered with JSON heed cannot read: %v", nsid, err))
		}
	}
	return nil
}

// secrets are the values no error may carry: the app password and the
// session tokens.
func (p *Publisher) secrets(s *session) []string {
	out := []string{p.password}
	p.mu.Lock()
	if p.sess != nil {
		out = append(out, p.sess.AccessJwt, p.sess.RefreshJwt)
	}
	p.mu.Unlock()
	if s != nil {
		out = append(out, s.AccessJwt, s.RefreshJwt)
	}
	return out
}

// authed runs fn with a session. If the PDS says the access token expired,
// it renews the session once (refreshSession, or a new createSession if the
// refresh token is spent too) and runs fn again: an expired token means the
// request was refused, so repeating it is safe.
func (p *Publisher) authed(ctx context.Context, fn func(*session) error) error {
	s, err := p.session(ctx)
	if err != nil {
		return err
	}
	err = fn(s)
	if !isXRPCError(err, "ExpiredToken") {
		if status(err) == http.StatusUnauthorized {
			// The session was refused outright: log in afresh next time.
			p.dropSession(s)
		}
		return err
	}
	if s, err = p.renew(ctx, s); err != nil {
		return err
	}
	return fn(s)
}

// session returns the current session, logging in if there is none.
func (p *Publisher) session(ctx context.Context) (*session, error) {
	p.mu.Lock()
	s := p.sess
	p.mu.Unlock()
	if s != nil {
		return s, nil
	}
	return p.login(ctx)
}

func (p *Publisher) login(ctx context.Context) (*session, error) {
	var s session
	in := map[string]string{"identifier": p.ident, "password": p.password}
	if err := p.call(ctx, nil, http.MethodPost, "com.atproto.server.createSession", nil, in, &s); err != nil {
		return nil, loginError(err)
	}
	if s.AccessJwt == "" || s.DID == "" {
		return nil, publish.PermanentError(errors.New("com.atproto.server.createSession: the PDS answered without a session"))
	}
	p.mu.Lock()
	p.sess = &s
	p.mu.Unlock()
	return &s, nil
}

// loginError turns a refused login into advice: createSession answers a
// wrong app password with 401 AuthenticationRequired.
func loginError(err error) error {
	switch status(err) {
	case http.StatusUnauthorized, http.StatusBadRequest:
		if kind, _ := publish.Classify(err); kind == publish.Permanent {
			return publish.PermanentError(fmt.Errorf("%w: check handle and app_password; create a new app password if this one was revoked, and refresh the token in the configuration", err))
		}
	}
	return err
}

// renew replaces the expired session old, unless another publish already
// did. Renewals are serialised: refresh tokens are single-use, so two at
// once would spend the session.
func (p *Publisher) renew(ctx context.Context, old *session) (*session, error) {
	p.renewMu.Lock()
	defer p.renewMu.Unlock()
	p.mu.Lock()
	cur := p.sess
	p.mu.Unlock()
	if cur != nil && cur != old {
		return cur, nil
	}
	var s session
	refresh := &session{AccessJwt: old.RefreshJwt}
	err := p.call(ctx, refresh, http.MethodPost, "com.atproto.server.refreshSession", nil, nil, &s)
	switch {
	case err == nil && s.AccessJwt != "":
		if s.DID == "" {
			s.DID, s.Handle = old.DID, old.Handle
		}
		p.mu.Lock()
		p.sess = &s
		p.mu.Unlock()
		return &s, nil
	case err == nil, isXRPCError(err, "ExpiredToken"), isXRPCError(err, "InvalidToken"), status(err) == http.StatusUnauthorized:
		// The refresh token is spent too: the app password still works.
		p.dropSession(old)
		return p.login(ctx)
	default:
		return nil, err
	}
}

func (p *Publisher) dropSession(s *session) {
	p.mu.Lock()
	if p.sess == s {
		p.sess = nil
	}
	p.mu.Unlock()
}

// createRecord creates the post at rkey. If the PDS refuses because a record
// already sits there (today's PDS answers 500, see bluesky-social/atproto
// issue #3718; a newer one may answer 4xx), the record is read back: the
// same post means an earlier attempt succeeded.
func (p *Publisher) createRecord(ctx context.Context, s *session, rkey string, rec postRecord) (strongRef, error) {
	in := map[string]any{
		"repo":       s.DID,
		"collection": "app.bsky.feed.post",
		"rkey":       rkey,
		"validate":   true,
		"record":     rec,
	}
	var ref strongRef
	err := p.call(ctx, s, http.MethodPost, "com.atproto.repo.createRecord", nil, in, &ref)
	if err == nil {
		if ref.URI == "" {
			return ref, publish.AmbiguousError(errors.New("com.atproto.repo.createRecord: the PDS answered without the record's URI"))
		}
		return ref, nil
	}
	if !mayExist(err) {
		return ref, err
	}
	existing, ok, gerr := p.getRecord(ctx, s, rkey)
	switch {
	case gerr != nil:
		p.log.Warn("bluesky: could not read back the record after a failed create", "target", p.target, "rkey", rkey, "error", gerr)
		return ref, err
	case !ok:
		return ref, err
	case !samePost(existing.Value, rec):
		return ref, publish.PermanentError(fmt.Errorf("a different post already has record key %s on this account (%s); heed will not overwrite it", rkey, existing.URI))
	}
	p.log.Info("bluesky: the post already existed, an earlier attempt made it", "target", p.target, "uri", existing.URI)
	return strongRef{URI: existing.URI, CID: existing.CID}, nil
}

// mayExist reports a createRecord failure that can mean "a record already
// has this key".
func mayExist(err error) bool {
	var se *httpx.StatusError
	if !errors.As(err, &se) {
		return false
	}
	return se.StatusCode >= 500 || se.StatusCode == http.StatusConflict ||
		se.Code == "RecordAlreadyExists" || se.Code == "InvalidSwap"
}

type gotRecord struct {
	URI   string          `json:"uri"`
	CID   string          `json:"cid"`
	Value json.RawMessage `json:"value"`
}

// getRecord reads the post at rkey; ok is false if there is none.
func (p *Publisher) getRecord(ctx context.Context, s *session, rkey string) (gotRecord, bool, error) {
	q := url.Values{"repo": {s.DID}, "collection": {"app.bsky.feed.post"}, "rkey": {rkey}}
	var out gotRecord
	err := p.call(ctx, s, http.MethodGet, "com.atproto.repo.getRecord", q, nil, &out)
	if isXRPCError(err, "RecordNotFound") || status(err) == http.StatusNotFound {
		return out, false, nil
	}
	return out, err == nil, err
}

// samePost compares a stored record with the one heed meant to create,
// leaving out createdAt, which each attempt sets afresh.
func samePost(stored json.RawMessage, rec postRecord) bool {
	var a, b map[string]any
	mine, err := json.Marshal(rec)
	if err != nil || json.Unmarshal(stored, &a) != nil || json.Unmarshal(mine, &b) != nil {
		return false
	}
	delete(a, "createdAt")
	delete(b, "createdAt")
	return reflect.DeepEqual(a, b)
}

type image struct {
	alt  string
	mime string
	data []byte
}

// readImages loads the attachments before any network call, so a missing or
// oversized file fails the publish without side effects.
func readImages(media []publish.Media) ([]image, error) {
	var out []image
	for i, m := range media {
		data, err := m.Bytes() // the approved bytes, from heed's media store
		if err != nil {
			return nil, publish.PermanentError(fmt.Errorf("%s: %w", mediaName(i, m), err))
		}
		if len(data) > MaxImageBytes {
			return nil, publish.PermanentError(fmt.Errorf("%s is %d bytes; Bluesky takes images up to %d bytes", mediaName(i, m), len(data), MaxImageBytes))
		}
		out = append(out, image{alt: m.Alt, mime: mediaType(m), data: data})
	}
	return out, nil
}

// uploadImages uploads each image (com.atproto.repo.uploadBlob) and returns
// the app.bsky.embed.images embed that attaches them.
func (p *Publisher) uploadImages(ctx context.Context, s *session, images []image) (*embed, error) {
	if len(images) == 0 {
		return nil, nil
	}
	e := &embed{Type: "app.bsky.embed.images"}
	for _, img := range images {
		var out struct {
			Blob json.RawMessage `json:"blob"`
		}
		err := p.call(ctx, s, http.MethodPost, "com.atproto.repo.uploadBlob", nil, rawBody{contentType: img.mime, data: img.data}, &out)
		if err != nil {
			return nil, err
		}
		if len(out.Blob) == 0 {
			return nil, publish.RetryableError(errors.New("com.atproto.repo.uploadBlob: the PDS answered without a blob"), 0)
		}
		e.Images = append(e.Images, embedImage{Alt: img.alt, Image: out.Blob})
	}
	return e, nil
}

// isXRPCError reports an XRPC error answer with the given error name.
func isXRPCError(err error, name string) bool {
	var se *httpx.StatusError
	return errors.As(err, &se) && se.Code == name
}

func status(err error) int {
	var se *httpx.StatusError
	if errors.As(err, &se) {
		return se.StatusCode
	}
	return 0
}
