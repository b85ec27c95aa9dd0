package x

import (
	"bytes"
	"context"
	"flag"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/httpx"
	"github.com/heed-dev/heed/publish/publishtest"
	"github.com/heed-dev/heed/publish/x/xfake"
)

var update = flag.Bool("update", false, "rewrite the recorded payloads in testdata/")

const (
	accessToken  = "x-access-token-0123456789abcdef"
	refreshToken = "x-refresh-token-fedcba9876543210"
	clientID     = "heed-client-id-42"
)

func newPublisher(t *testing.T, fake *xfake.Server, logs *publishtest.LogBuffer, settings string) *Publisher {
	t.Helper()
	p, err := publish.New(publish.Config{
		Name: "x-main", Kind: "x", Logger: logs.Logger(),
		Decode: publishtest.Decoder("api: " + fake.URL + "\n" + settings),
	})
	if err != nil {
		t.Fatalf("publish.New: %v", err)
	}
	pub := p.(*Publisher)
	pub.client = &http.Client{Timeout: publishtest.ClientTimeout}
	pub.now = fake.Now
	return pub
}

const (
	plain       = "access_token: " + accessToken + "\nusername: heeddev\n"
	withRefresh = plain + "refresh_token: " + refreshToken + "\nclient_id: " + clientID + "\n"
)

func TestConformance(t *testing.T) {
	for name, settings := range map[string]string{"AccessTokenOnly": plain, "WithRefresh": withRefresh} {
		t.Run(name, func(t *testing.T) {
			logs := &publishtest.LogBuffer{}
			publishtest.Run(t, publishtest.Harness{
				New: func(t *testing.T) (publish.Publisher, publishtest.Backend) {
					fake := xfake.New(t, accessToken, refreshToken, clientID)
					return newPublisher(t, fake, logs, settings), fake
				},
				Idempotent:       false, // X takes no idempotency key
				Token:            accessToken,
				Logs:             logs.String,
				OverLimitText:    strings.Repeat("日", 141),
				OverLimitProblem: "282/280 characters on X",
			})
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		settings string
		want     []string
	}{
		{"username: heeddev", []string{"access_token is required", "${X_ACCESS_TOKEN}"}},
		{"access_token: t\nrefresh_token: r", []string{"client_id is required with refresh_token", "${X_CLIENT_ID}"}},
		{"access_token: t\nusername: not a name", []string{`username "not a name"`}},
		{"access_token: t\napi: api.x.com", []string{`api "api.x.com"`}},
		{"access_token: t\ntoken: t", []string{"token"}},
	} {
		publishtest.WantConfigError(t, "x", c.settings, c.want...)
	}
}

func TestPublishSendsTweet(t *testing.T) {
	fake := xfake.New(t, accessToken, "", "")
	p := newPublisher(t, fake, &publishtest.LogBuffer{}, plain)
	req := publish.Request{Text: "heed 2.0 is out 🚀", Link: "https://example.com/heed-2.0"}
	res, err := p.Publish(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.RemoteID != "1900000000000000001" || res.URL != "https://x.com/heeddev/status/1900000000000000001" {
		t.Errorf("result %+v", res)
	}
	ex := fake.Exchanges()
	if len(ex) != 1 {
		t.Fatalf("%d calls, want 1", len(ex))
	}
	e := ex[0]
	if e.Method != http.MethodPost || e.Path != "/2/tweets" {
		t.Errorf("%s %s, want POST /2/tweets", e.Method, e.Path)
	}
	if got := e.Header.Get("Authorization"); got != "Bearer "+accessToken {
		t.Errorf("Authorization = %q", got)
	}
	if got := e.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	golden(t, "tweets.request.json", e.Body)
	golden(t, "tweets.response.json", e.Response)
	if tw := fake.Tweets(); len(tw) != 1 || tw[0].Text != "heed 2.0 is out 🚀\n\nhttps://example.com/heed-2.0" {
		t.Errorf("tweets %+v", tw)
	}
}

func TestRefreshOn401(t *testing.T) {
	for _, confidential := range []bool{false, true} {
		name := "public client"
		if confidential {
			name = "confidential client"
		}
		t.Run(name, func(t *testing.T) {
			fake := xfake.New(t, accessToken, refreshToken, clientID)
			settings := withRefresh
			if confidential {
				fake.ClientSecret = "s3cret-client-secret"
				settings += "client_secret: s3cret-client-secret\n"
			}
			logs := &publishtest.LogBuffer{}
			p := newPublisher(t, fake, logs, settings)
			var gotAccess, gotRefresh string
			p.OnTokenRefresh = func(a, r string) { gotAccess, gotRefresh = a, r }

			fake.ExpireAccessTokens()
			if _, err := p.Publish(context.Background(), publish.Request{Text: "after two hours"}); err != nil {
				t.Fatalf("Publish with an expired access token: %v", err)
			}
			issued := fake.Issued()
			if len(issued) != 2 || gotAccess != issued[0] || gotRefresh != issued[1] {
				t.Errorf("OnTokenRefresh got (%q, %q), fake issued %q", gotAccess, gotRefresh, issued)
			}
			ex := fake.Exchanges()
			if len(ex) != 3 || ex[0].Status != 401 || ex[1].Path != "/2/oauth2/token" || ex[2].Status != 201 {
				t.Fatalf("exchanges: %v", paths(ex))
			}
			form, _ := url.ParseQuery(string(ex[1].Body))
			want := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}, "client_id": {clientID}}
			if confidential {
				want.Del("client_id")
				if id, secret, ok := basicAuth(ex[1].Header); !ok || id != clientID || secret != "s3cret-client-secret" {
					t.Errorf("token request Basic auth = %q %q %v", id, secret, ok)
				}
			}
			if form.Encode() != want.Encode() {
				t.Errorf("token request form %q, want %q", form.Encode(), want.Encode())
			}
			if got := ex[2].Header.Get("Authorization"); got != "Bearer "+issued[0] {
				t.Errorf("retry used %q, want the new access token", got)
			}
			golden(t, "oauth2-token.response.json", redactTokens(ex[1].Response, issued))
			// The next publish uses the new token straight away.
			if _, err := p.Publish(context.Background(), publish.Request{Text: "next"}); err != nil {
				t.Fatal(err)
			}
			if n := len(fake.Exchanges()); n != 4 {
				t.Errorf("%d exchanges, want 4", n)
			}
			secrets := append(issued, accessToken, refreshToken, "s3cret-client-secret")
			if l := logs.String(); httpx.Redact(l, secrets...) != l {
				t.Errorf("a token is in the logs:\n%s", l)
			}
		})
	}
}

func TestSpentRefreshToken(t *testing.T) {
	fake := xfake.New(t, accessToken, refreshToken, clientID)
	logs := &publishtest.LogBuffer{}
	first := newPublisher(t, fake, logs, withRefresh)
	fake.ExpireAccessTokens()
	if _, err := first.Publish(context.Background(), publish.Request{Text: "one"}); err != nil {
		t.Fatal(err)
	}
	// A restart without OnTokenRefresh: the configured refresh token is spent.
	fake.ExpireAccessTokens()
	second := newPublisher(t, fake, logs, withRefresh)
	_, err := second.Publish(context.Background(), publish.Request{Text: "two"})
	if k, _ := publish.Classify(err); k != publish.Permanent {
		t.Fatalf("kind %v, want permanent: %v", k, err)
	}
	for _, w := range []string{"refresh the token", "Value passed for the token was invalid"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if e := err.Error(); httpx.Redact(e, refreshToken, accessToken) != e {
		t.Errorf("a token is in the error: %s", e)
	}
}

func TestDuplicateContentIsPermanentWithXsMessage(t *testing.T) {
	fake := xfake.New(t, accessToken, "", "")
	p := newPublisher(t, fake, &publishtest.LogBuffer{}, plain)
	req := publish.Request{Text: "same words"}
	if _, err := p.Publish(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	_, err := p.Publish(context.Background(), req)
	if k, _ := publish.Classify(err); k != publish.Permanent {
		t.Fatalf("kind %v, want permanent: %v", k, err)
	}
	if !strings.Contains(err.Error(), "You are not allowed to create a Tweet with duplicate content.") {
		t.Errorf("error %q does not pass X's message on", err)
	}
	if strings.Contains(err.Error(), "refresh the token") {
		t.Errorf("error %q blames the token for a duplicate", err)
	}
	golden(t, "tweets.duplicate.response.json", fake.Exchanges()[1].Response)
}

func TestRateLimitResetIsHonoured(t *testing.T) {
	fake := xfake.New(t, accessToken, "", "")
	p := newPublisher(t, fake, &publishtest.LogBuffer{}, plain)
	fake.SetRateLimit(0, fake.Now().Add(15*time.Minute))
	_, err := p.Publish(context.Background(), publish.Request{Text: "too soon"})
	k, after := publish.Classify(err)
	if k != publish.Retryable || after != 15*time.Minute {
		t.Fatalf("got %v after %v, want retryable after 15m: %v", k, after, err)
	}
	golden(t, "tweets.429.response.json", fake.Exchanges()[0].Response)
}

func TestTimeoutIsAmbiguousAndNamesTheAccount(t *testing.T) {
	fake := xfake.New(t, accessToken, "", "")
	p := newPublisher(t, fake, &publishtest.LogBuffer{}, plain)
	publishtest.WantAmbiguousTimeout(t, p, fake, publish.Request{Text: "did it go out?"}, "check https://x.com/heeddev")
}

func TestValidate(t *testing.T) {
	p := &Publisher{}
	for _, c := range []struct {
		name string
		req  publish.Request
		want string
	}{
		{"at the limit", publish.Request{Text: strings.Repeat("a", 280)}, ""},
		{"over", publish.Request{Text: strings.Repeat("a", 281)}, "281/280 characters on X (weighted: links 23, CJK and emoji 2)"},
		{"cjk weighs 2", publish.Request{Text: strings.Repeat("日", 141)}, "282/280 characters on X (weighted: links 23, CJK and emoji 2)"},
		{"a link weighs 23", publish.Request{Text: strings.Repeat("a", 255), Link: "https://example.com/a/very/long/path/indeed"}, ""},
		{"a link over", publish.Request{Text: strings.Repeat("a", 256), Link: "https://example.com/a/very/long/path/indeed"}, "281/280 characters on X (weighted: links 23, CJK and emoji 2)"},
		{"empty", publish.Request{Text: " "}, "the post is empty: X needs text"},
		{"image", publish.Request{Text: "x", Media: []publish.Media{{Path: "a.png", Alt: "a"}}}, "heed does not upload images to X: remove the image from the X variant or the X target"},
	} {
		if got := publishtest.Problems(p, c.req); got != c.want {
			t.Errorf("%s: Validate = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestRetract(t *testing.T) {
	fake := xfake.New(t, accessToken, "", "")
	p := newPublisher(t, fake, &publishtest.LogBuffer{}, plain)
	res, err := p.Publish(context.Background(), publish.Request{Text: "oops"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Retract(context.Background(), "x-main", res); err != nil {
		t.Fatalf("Retract: %v", err)
	}
	if n := len(fake.Tweets()); n != 0 {
		t.Errorf("%d tweets left", n)
	}
	ex := fake.Exchanges()
	if last := ex[len(ex)-1]; last.Method != http.MethodDelete || last.Path != "/2/tweets/"+res.RemoteID {
		t.Errorf("last call %s %s", last.Method, last.Path)
	}
	golden(t, "tweets-delete.response.json", ex[len(ex)-1].Response)
	if err := p.Retract(context.Background(), "x-main", publish.Result{RemoteID: "../2/users"}); err == nil {
		t.Error("Retract of a bad id succeeded")
	}
}

func paths(ex []publishtest.Exchange) []string {
	var out []string
	for _, e := range ex {
		out = append(out, e.Method+" "+e.Path+" "+http.StatusText(e.Status))
	}
	return out
}

func basicAuth(h http.Header) (string, string, bool) {
	r := &http.Request{Header: h}
	return r.BasicAuth()
}

func redactTokens(b []byte, tokens []string) []byte {
	for _, t := range tokens {
		b = bytes.ReplaceAll(b, []byte(t), []byte("REDACTED"))
	}
	return b
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	publishtest.Golden(t, name, got, *update)
}
