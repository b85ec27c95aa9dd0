package bluesky

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/bluesky/blueskyfake"
	"github.com/heed-dev/heed/publish/httpx"
	"github.com/heed-dev/heed/publish/publishtest"
)

var update = flag.Bool("update", false, "rewrite the recorded payloads in testdata/")

const (
	appPassword = "abcd-efgh-ijkl-mnop"
	did         = "did:plc:heedtest5lyyy2ahmqbcsyhz"
	handle      = "heed.test"
)

var account = blueskyfake.Account{Handle: handle, DID: did, Email: "heed@example.com", AppPassword: appPassword}

type setup struct {
	fake *blueskyfake.Server
	pub  *Publisher
	logs *publishtest.LogBuffer
}

func newSetup(t *testing.T, extra string) setup {
	t.Helper()
	fake := blueskyfake.New(t, account)
	logs := &publishtest.LogBuffer{}
	pub := newPublisher(t, fake, logs, extra)
	return setup{fake: fake, pub: pub, logs: logs}
}

func newPublisher(t *testing.T, fake *blueskyfake.Server, logs *publishtest.LogBuffer, extra string) *Publisher {
	t.Helper()
	p, err := publish.New(publish.Config{
		Name:   "bluesky-main",
		Kind:   "bluesky",
		Decode: publishtest.Decoder("handle: " + handle + "\napp_password: " + appPassword + "\npds: " + fake.URL + "\n" + extra),
		Logger: logs.Logger(),
	})
	if err != nil {
		t.Fatalf("publish.New: %v", err)
	}
	pub := p.(*Publisher)
	pub.client = &http.Client{Timeout: publishtest.ClientTimeout}
	pub.now = func() time.Time { return time.Date(2026, 3, 14, 9, 0, 0, 123e6, time.UTC) }
	return pub
}

func TestConformance(t *testing.T) {
	logs := &publishtest.LogBuffer{}
	publishtest.Run(t, publishtest.Harness{
		New: func(t *testing.T) (publish.Publisher, publishtest.Backend) {
			fake := blueskyfake.New(t, account)
			return newPublisher(t, fake, logs, ""), fake
		},
		Idempotent:       true,
		Token:            appPassword,
		Logs:             logs.String,
		OverLimitText:    strings.Repeat("ä", 312),
		OverLimitProblem: "312/300 graphemes on Bluesky",
	})
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		settings string
		want     []string
	}{
		{"app_password: x", []string{"handle is required"}},
		{"handle: heed.test", []string{"app_password is required", "${BLUESKY_APP_PASSWORD}"}},
		{"handle: heed.test\napp_password: ''", []string{"app_password is required"}},
		{"handle: heed.test\napp_password: x\npds: ftp://pds.example", []string{`pds "ftp://pds.example"`}},
		{"handle: heed.test\napp_password: x\nlangs: [en, de, fr, it]", []string{"at most 3"}},
		{"handle: heed.test\napp_password: x\nlangs: ['not a tag']", []string{`"not a tag"`}},
		{"handle: heed.test\npassword: x", []string{"password"}}, // unknown key, refused by the strict decoder
	} {
		publishtest.WantConfigError(t, "bluesky", c.settings, c.want...)
	}
}

func TestPublishSendsLexiconShapedRecord(t *testing.T) {
	s := newSetup(t, "langs: [en, de]")
	s.fake.AddHandle("alice.bsky.social", "did:plc:alice0000000000000000000")
	req := publish.Request{
		OccurrenceID:   7,
		Target:         "bluesky-main",
		Text:           "Grüße ✨ @alice.bsky.social: Release 2.0 ist da! #heed #Go\n@nobody.example.com bleibt Text.",
		Link:           "https://example.com/release-2.0",
		IdempotencyKey: "occ7-bluesky-main-v1",
	}
	res, err := s.pub.Publish(context.Background(), req)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	rkey := RecordKey(req.IdempotencyKey)
	if want := "at://" + did + "/app.bsky.feed.post/" + rkey; res.RemoteID != want {
		t.Errorf("RemoteID = %q, want %q", res.RemoteID, want)
	}
	if want := "https://bsky.app/profile/" + handle + "/post/" + rkey; res.URL != want {
		t.Errorf("URL = %q, want %q", res.URL, want)
	}

	ex := exchanges(s.fake, "com.atproto.repo.createRecord")
	if len(ex) != 1 {
		t.Fatalf("%d createRecord calls, want 1", len(ex))
	}
	create := ex[0]
	checkHeaders(t, create, "application/json")
	if !strings.HasPrefix(create.Header.Get("Authorization"), "Bearer fake-access-jwt.") {
		t.Errorf("createRecord Authorization = %q, want the access token", create.Header.Get("Authorization"))
	}
	golden(t, "createRecord.request.json", create.Body)
	golden(t, "createRecord.response.json", create.Response)
	golden(t, "createSession.response.json", redactTokens(exchanges(s.fake, "com.atproto.server.createSession")[0].Response))

	// The facets point at exactly the right bytes.
	var body struct {
		Record postRecord `json:"record"`
	}
	if err := json.Unmarshal(create.Body, &body); err != nil {
		t.Fatal(err)
	}
	text := []byte(body.Record.Text)
	if body.Record.Text != s.pub.Preview(req) {
		t.Errorf("record text %q, want the preview %q", body.Record.Text, s.pub.Preview(req))
	}
	var got []string
	for _, f := range body.Record.Facets {
		seg := string(text[f.Index.ByteStart:f.Index.ByteEnd])
		ft := f.Features[0]
		got = append(got, seg+" → "+ft.Type[strings.IndexByte(ft.Type, '#')+1:]+":"+ft.DID+ft.URI+ft.Tag)
	}
	want := []string{
		"@alice.bsky.social → mention:did:plc:alice0000000000000000000",
		"#heed → tag:heed",
		"#Go → tag:Go",
		"https://example.com/release-2.0 → link:https://example.com/release-2.0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("facets:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// "Grüße ✨ " is 12 bytes but 8 characters: offsets are UTF-8 bytes.
	if f := body.Record.Facets[0]; f.Index.ByteStart != 12 || f.Index.ByteEnd != 30 {
		t.Errorf("mention facet %+v, want bytes 12–30", f.Index)
	}
	if got := strings.Join(body.Record.Langs, ","); got != "en,de" {
		t.Errorf("langs = %q, want en,de", got)
	}
	if resolved := exchanges(s.fake, "com.atproto.identity.resolveHandle"); len(resolved) != 2 {
		t.Errorf("%d resolveHandle calls, want 2 (alice, and the unknown handle)", len(resolved))
	}
}

func TestSessionRefreshOnExpiredToken(t *testing.T) {
	s := newSetup(t, "")
	ctx := context.Background()
	if _, err := s.pub.Publish(ctx, request("first")); err != nil {
		t.Fatal(err)
	}
	oldRefresh := sessionOf(t, s.pub).RefreshJwt
	s.fake.Advance(s.fake.AccessTTL + time.Minute)
	if _, err := s.pub.Publish(ctx, request("second")); err != nil {
		t.Fatalf("Publish after the access token expired: %v", err)
	}
	if n := s.fake.Count("com.atproto.server.createSession"); n != 1 {
		t.Errorf("%d createSession calls, want 1: a refresh should do", n)
	}
	refreshes := exchanges(s.fake, "com.atproto.server.refreshSession")
	if len(refreshes) != 1 {
		t.Fatalf("%d refreshSession calls, want 1", len(refreshes))
	}
	if got := refreshes[0].Header.Get("Authorization"); got != "Bearer "+oldRefresh {
		t.Errorf("refreshSession sent Authorization %q, want the refresh token", got)
	}
	creates := exchanges(s.fake, "com.atproto.repo.createRecord")
	if len(creates) != 3 || creates[1].Status != http.StatusBadRequest || creates[2].Status != http.StatusOK {
		t.Errorf("createRecord statuses %v, want 200, 400 ExpiredToken, 200", statuses(creates))
	}
	golden(t, "createRecord.expired.response.json", creates[1].Response)
	if n := len(s.fake.Records(did)); n != 2 {
		t.Errorf("%d records, want 2", n)
	}
}

func TestConcurrentPublishesRefreshOnce(t *testing.T) {
	s := newSetup(t, "")
	ctx := context.Background()
	if _, err := s.pub.Publish(ctx, request("first")); err != nil {
		t.Fatal(err)
	}
	s.fake.Advance(s.fake.AccessTTL + time.Minute)
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := s.pub.Publish(ctx, request("concurrent-"+strconv.Itoa(i)))
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("Publish: %v", err)
		}
	}
	if got := s.fake.Count("com.atproto.server.refreshSession"); got != 1 {
		t.Errorf("%d refreshSession calls, want 1: a refresh token is single-use", got)
	}
	if got := s.fake.Count("com.atproto.server.createSession"); got != 1 {
		t.Errorf("%d createSession calls, want 1", got)
	}
	if got := len(s.fake.Records(did)); got != n+1 {
		t.Errorf("%d records, want %d", got, n+1)
	}
}

func TestSessionLoginAgainWhenRefreshExpired(t *testing.T) {
	s := newSetup(t, "")
	ctx := context.Background()
	if _, err := s.pub.Publish(ctx, request("first")); err != nil {
		t.Fatal(err)
	}
	s.fake.Advance(s.fake.RefreshTTL + time.Minute)
	if _, err := s.pub.Publish(ctx, request("second")); err != nil {
		t.Fatalf("Publish after both tokens expired: %v", err)
	}
	if n := s.fake.Count("com.atproto.server.createSession"); n != 2 {
		t.Errorf("%d createSession calls, want 2", n)
	}
	if n := s.fake.Count("com.atproto.server.refreshSession"); n != 1 {
		t.Errorf("%d refreshSession calls, want 1 (refused, then a new login)", n)
	}
}

func TestWrongAppPassword(t *testing.T) {
	fake := blueskyfake.New(t, account)
	logs := &publishtest.LogBuffer{}
	p, err := New(publish.Config{Name: "b", Kind: "bluesky", Logger: logs.Logger(),
		Decode: publishtest.Decoder("handle: heed.test\napp_password: wrong-password-1234\npds: " + fake.URL)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Publish(context.Background(), request("x"))
	if k, _ := publish.Classify(err); k != publish.Permanent {
		t.Fatalf("error kind %v, want permanent: %v", k, err)
	}
	for _, w := range []string{"app_password", "refresh the token", "Invalid identifier or password"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if strings.Contains(err.Error()+logs.String(), "wrong-password-1234") {
		t.Errorf("the app password leaked: %s\n%s", err, logs.String())
	}
}

func TestExistingIdenticalRecordIsSuccess(t *testing.T) {
	s := newSetup(t, "")
	ctx := context.Background()
	req := request("retry")
	first, err := s.pub.Publish(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// A new process (no session, no memory) retries the same request.
	again := newPublisher(t, s.fake, s.logs, "")
	second, err := again.Publish(ctx, req)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if first != second {
		t.Errorf("retry returned %+v, want %+v", second, first)
	}
	creates := exchanges(s.fake, "com.atproto.repo.createRecord")
	if len(creates) != 2 || creates[1].Status != http.StatusInternalServerError {
		t.Errorf("createRecord statuses %v, want 200 then 500 (the PDS's answer to a taken record key)", statuses(creates))
	}
	golden(t, "createRecord.duplicate.response.json", creates[1].Response)
	golden(t, "getRecord.response.json", exchanges(s.fake, "com.atproto.repo.getRecord")[0].Response)
	if n := len(s.fake.Records(did)); n != 1 {
		t.Errorf("%d records, want 1", n)
	}
}

func TestDifferentRecordAtKeyIsRefused(t *testing.T) {
	s := newSetup(t, "")
	req := request("taken")
	s.fake.PutRecord(did, "app.bsky.feed.post", RecordKey(req.IdempotencyKey), map[string]any{
		"$type": "app.bsky.feed.post", "text": "something else", "createdAt": "2026-01-01T00:00:00.000Z",
	})
	_, err := s.pub.Publish(context.Background(), req)
	if k, _ := publish.Classify(err); k != publish.Permanent || !strings.Contains(fmtErr(err), "different post") {
		t.Fatalf("got %v (%v), want a permanent error about a different post", err, k)
	}
}

func TestImages(t *testing.T) {
	s := newSetup(t, "")
	dir := t.TempDir()
	png := filepath.Join(dir, "chart.png")
	data := []byte("\x89PNG\r\n\x1a\nnot really a png, but bytes")
	if err := os.WriteFile(png, data, 0o600); err != nil {
		t.Fatal(err)
	}

	req := request("images")
	req.Media = []publish.Media{{Path: png, MIME: "image/png"}}
	probs := s.pub.Validate(req)
	if len(probs) != 1 || probs[0].Message != "image 1 (chart.png) has no alt text: Bluesky posts need alt text for every image" {
		t.Errorf("Validate without alt = %v", probs)
	}
	if _, err := s.pub.Publish(context.Background(), req); err == nil || s.fake.Calls() != 0 {
		t.Errorf("Publish without alt: err %v, %d calls; want a refusal before any call", err, s.fake.Calls())
	}

	req.Media[0].Alt = "Downloads per month, rising"
	if _, err := s.pub.Publish(context.Background(), req); err != nil {
		t.Fatalf("Publish with alt: %v", err)
	}
	up := exchanges(s.fake, "com.atproto.repo.uploadBlob")
	if len(up) != 1 {
		t.Fatalf("%d uploadBlob calls, want 1", len(up))
	}
	checkHeaders(t, up[0], "image/png")
	if !bytes.Equal(up[0].Body, data) {
		t.Errorf("uploadBlob sent %q, want the file's bytes", up[0].Body)
	}
	golden(t, "uploadBlob.response.json", up[0].Response)
	var body struct {
		Record postRecord `json:"record"`
	}
	json.Unmarshal(exchanges(s.fake, "com.atproto.repo.createRecord")[0].Body, &body)
	e := body.Record.Embed
	if e == nil || e.Type != "app.bsky.embed.images" || len(e.Images) != 1 || e.Images[0].Alt != "Downloads per month, rising" {
		t.Fatalf("embed = %+v", e)
	}
	var blob struct {
		Ref struct {
			Link string `json:"$link"`
		} `json:"ref"`
	}
	json.Unmarshal(e.Images[0].Image, &blob)
	if _, ok := s.fake.Blobs()[blob.Ref.Link]; !ok {
		t.Errorf("embed refers to blob %q, which was not uploaded", blob.Ref.Link)
	}
}

func TestValidate(t *testing.T) {
	s := newSetup(t, "")
	long := strings.Repeat("👩‍👩‍👧", 300) // 300 graphemes, 5400 bytes
	for _, c := range []struct {
		name string
		req  publish.Request
		want []string
	}{
		{"ok", publish.Request{Text: strings.Repeat("a", 300)}, nil},
		{"graphemes", publish.Request{Text: strings.Repeat("é", 301)}, []string{"301/300 graphemes on Bluesky"}},
		{"link counts", publish.Request{Text: strings.Repeat("a", 280), Link: "https://example.com/x"}, []string{"303/300 graphemes on Bluesky"}},
		{"bytes", publish.Request{Text: long}, []string{"5400/3000 bytes on Bluesky (UTF-8)"}},
		{"empty", publish.Request{Text: "  "}, []string{"the post is empty: Bluesky needs text or an image"}},
		{"not an image", publish.Request{Text: "x", Media: []publish.Media{{Path: "/tmp/a.mp4", MIME: "video/mp4", Alt: "a"}}},
			[]string{`image 1 (a.mp4) is "video/mp4": heed posts only images to Bluesky`}},
		{"too many images", publish.Request{Text: "x", Media: make([]publish.Media, 5)}, []string{"5/4 images on Bluesky"}},
		{"type from the file name", publish.Request{Text: "x", Media: []publish.Media{{Path: "/tmp/photo.jpg", Alt: "a cat"}}}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, p := range s.pub.Validate(c.req) {
				got = append(got, p.Message)
			}
			if c.name == "too many images" {
				got = got[:1]
			}
			if strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Errorf("Validate = %q, want %q", got, c.want)
			}
		})
	}
}

func TestRecordKey(t *testing.T) {
	tid := regexp.MustCompile(`^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$`)
	seen := map[string]bool{}
	for i := range 2000 {
		key := "occ-" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "-" + time.Duration(i).String()
		k := RecordKey(key)
		if !tid.MatchString(k) {
			t.Fatalf("RecordKey(%q) = %q, not TID syntax", key, k)
		}
		if RecordKey(key) != k {
			t.Fatalf("RecordKey(%q) is not stable", key)
		}
		if seen[k] {
			t.Fatalf("RecordKey collision at %q", key)
		}
		seen[k] = true
	}
	// Pinned: a change here would make a retry after an upgrade post twice.
	if got := RecordKey("occ7-bluesky-main-v1"); got != pinnedKey {
		t.Errorf("RecordKey(occ7-bluesky-main-v1) = %q, was %q", got, pinnedKey)
	}
}

const pinnedKey = "3jup3v43phrc6"

func TestRetract(t *testing.T) {
	s := newSetup(t, "")
	ctx := context.Background()
	res, err := s.pub.Publish(ctx, request("gone"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.pub.Retract(ctx, "bluesky-main", res); err != nil {
		t.Fatalf("Retract: %v", err)
	}
	if n := len(s.fake.Records(did)); n != 0 {
		t.Errorf("%d records after Retract, want 0", n)
	}
	del := exchanges(s.fake, "com.atproto.repo.deleteRecord")
	if len(del) != 1 {
		t.Fatalf("%d deleteRecord calls", len(del))
	}
	golden(t, "deleteRecord.request.json", del[0].Body)
	if err := s.pub.Retract(ctx, "bluesky-main", publish.Result{RemoteID: "https://bsky.app/x"}); err == nil {
		t.Error("Retract of a non-URI succeeded")
	}
}

func TestSessionTokensNeverLogged(t *testing.T) {
	s := newSetup(t, "")
	ctx := context.Background()
	s.pub.Publish(ctx, request("one"))
	s.fake.Advance(s.fake.AccessTTL + time.Minute)
	for _, f := range []publishtest.Failure{publishtest.Auth, publishtest.Permanent, publishtest.Retryable} {
		s.fake.FailNext(f)
		_, err := s.pub.Publish(ctx, request("fail-"+f.String()))
		if err == nil {
			t.Fatalf("FailNext(%v): no error", f)
		}
		if httpx.Redact(fmtErr(err), s.fake.Tokens()...) != fmtErr(err) {
			t.Errorf("a session token is in the error: %v", err)
		}
	}
	if logs := s.logs.String(); httpx.Redact(logs, s.fake.Tokens()...) != logs {
		t.Errorf("a session token is in the logs:\n%s", httpx.Redact(logs, s.fake.Tokens()...))
	}
}

func request(name string) publish.Request {
	return publish.Request{OccurrenceID: 1, Target: "bluesky-main", Text: "heed test " + name, IdempotencyKey: "key-" + name}
}

func sessionOf(t *testing.T, p *Publisher) session {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sess == nil {
		t.Fatal("no session")
	}
	return *p.sess
}

func exchanges(f *blueskyfake.Server, nsid string) []publishtest.Exchange {
	var out []publishtest.Exchange
	for _, e := range f.Exchanges() {
		if e.Path == "/xrpc/"+nsid {
			out = append(out, e)
		}
	}
	return out
}

func statuses(ex []publishtest.Exchange) []int {
	var out []int
	for _, e := range ex {
		out = append(out, e.Status)
	}
	return out
}

func checkHeaders(t *testing.T, e publishtest.Exchange, contentType string) {
	t.Helper()
	if got := e.Header.Get("Content-Type"); got != contentType {
		t.Errorf("%s Content-Type = %q, want %q", e.Path, got, contentType)
	}
	if got := e.Header.Get("Accept"); got != "application/json" {
		t.Errorf("%s Accept = %q", e.Path, got)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

var tokenRe = regexp.MustCompile(`fake-(access|refresh)-jwt\.[0-9a-f]+`)

func redactTokens(b []byte) []byte {
	return tokenRe.ReplaceAll(b, []byte("fake-$1-jwt.REDACTED"))
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	publishtest.Golden(t, name, got, *update)
}
