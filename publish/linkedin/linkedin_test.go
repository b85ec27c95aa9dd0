package linkedin

import (
	"context"
	"flag"
	"net/http"
	"strings"
	"testing"

	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/linkedin/linkedinfake"
	"github.com/heed-dev/heed/publish/publishtest"
)

var update = flag.Bool("update", false, "rewrite the recorded payloads in testdata/")

const (
	token  = "AQV-linkedin-token-0123456789abcdef"
	org    = "urn:li:organization:2414183"
	person = "urn:li:person:8675309abc"
)

func newFake(t testing.TB) *linkedinfake.Server {
	return linkedinfake.New(t, token, []string{org, person}, DefaultVersion, "202610")
}

func newPublisher(t *testing.T, fake *linkedinfake.Server, logs *publishtest.LogBuffer, settings string) *Publisher {
	t.Helper()
	p, err := publish.New(publish.Config{
		Name: "linkedin-company", Kind: "linkedin", Logger: logs.Logger(),
		Decode: publishtest.Decoder("access_token: " + token + "\napi: " + fake.URL + "\n" + settings),
	})
	if err != nil {
		t.Fatalf("publish.New: %v", err)
	}
	pub := p.(*Publisher)
	pub.client = &http.Client{Timeout: publishtest.ClientTimeout}
	return pub
}

func TestConformance(t *testing.T) {
	logs := &publishtest.LogBuffer{}
	publishtest.Run(t, publishtest.Harness{
		New: func(t *testing.T) (publish.Publisher, publishtest.Backend) {
			fake := newFake(t)
			return newPublisher(t, fake, logs, "author: "+org), fake
		},
		Token:            token,
		Logs:             logs.String,
		OverLimitText:    strings.Repeat("a", 3001),
		OverLimitProblem: "3001/3000 characters on LinkedIn",
	})
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		settings string
		want     []string
	}{
		{"author: " + org, []string{"access_token is required", "${LINKEDIN_ACCESS_TOKEN}"}},
		{"access_token: t", []string{"author is required", "urn:li:organization:{id}"}},
		{"access_token: t\nauthor: 2414183", []string{`author "2414183"`}},
		{"access_token: t\nauthor: " + org + "\nversion: '2026-05'", []string{`version "2026-05"`}},
		{"access_token: t\nauthor: " + org + "\nlinkedin_version: '202605'", []string{"linkedin_version"}},
	} {
		publishtest.WantConfigError(t, "linkedin", c.settings, c.want...)
	}
}

func TestPublishSendsPostsAPIRequest(t *testing.T) {
	fake := newFake(t)
	p := newPublisher(t, fake, &publishtest.LogBuffer{}, "author: "+org)
	req := publish.Request{
		Text: "Q&A (live) at 10:00 — bring your [questions] & {ideas}! Ask @heed, #heed #Go2026 *bold* _under_ ~tilde~ <b> a|b \\ done #",
		Link: "https://example.com/q_a?x=(1)",
	}
	res, err := p.Publish(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.RemoteID != "urn:li:share:7300000000000000001" || res.URL != "https://www.linkedin.com/feed/update/urn:li:share:7300000000000000001/" {
		t.Errorf("result %+v", res)
	}
	e := fake.Exchanges()[0]
	for h, want := range map[string]string{
		"Authorization": "Bearer " + token, "LinkedIn-Version": DefaultVersion,
		"X-Restli-Protocol-Version": "2.0.0", "Content-Type": "application/json",
	} {
		if got := e.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	golden(t, "posts.request.json", e.Body)
	if e.Status != http.StatusCreated || len(e.Response) != 0 || e.ResponseHeader.Get("x-restli-id") == "" {
		t.Errorf("fake answered %d %q %v", e.Status, e.Response, e.ResponseHeader)
	}
	// The post shows exactly the approved text: nothing cut at a "(".
	if got := fake.Stored()[0].Text; got != p.Preview(req) {
		t.Errorf("LinkedIn shows\n%q\nwant\n%q", got, p.Preview(req))
	}
}

func TestUnescapedMarkupWouldCutThePost(t *testing.T) {
	// What the fake does with raw text, the reason for EscapeLittle.
	if got := linkedinfake.Shown("Join us (online) today"); got != "Join us " {
		t.Errorf("Shown = %q", got)
	}
	if got := linkedinfake.Shown(EscapeLittle("Join us (online) today")); got != "Join us (online) today" {
		t.Errorf("Shown(escaped) = %q", got)
	}
	for _, c := range []struct{ in, want string }{
		{"#heed rocks", "#heed rocks"},
		{"C# and F#", `C\# and F\#`},
		{"a_b", `a\_b`},
		{"@you", `\@you`},
		{`back\slash`, `back\\slash`},
		{"(#tag)", `\(\#tag\)`},
	} {
		if got := EscapeLittle(c.in); got != c.want {
			t.Errorf("EscapeLittle(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestPersonAuthorAndVersion(t *testing.T) {
	fake := newFake(t)
	p := newPublisher(t, fake, &publishtest.LogBuffer{}, "author: "+person+"\nversion: '202610'")
	if _, err := p.Publish(context.Background(), publish.Request{Text: "hello"}); err != nil {
		t.Fatal(err)
	}
	e := fake.Exchanges()[0]
	if e.Header.Get("LinkedIn-Version") != "202610" || !strings.Contains(string(e.Body), `"author":"`+person+`"`) {
		t.Errorf("sent version %q, body %s", e.Header.Get("LinkedIn-Version"), e.Body)
	}
}

func TestRetiredVersion(t *testing.T) {
	fake := newFake(t)
	p := newPublisher(t, fake, &publishtest.LogBuffer{}, "author: "+org+"\nversion: '202401'")
	_, err := p.Publish(context.Background(), publish.Request{Text: "hello"})
	if k, _ := publish.Classify(err); k != publish.Permanent {
		t.Fatalf("kind %v: %v", k, err)
	}
	for _, w := range []string{"Requested version 202401 is not active", "set version to a recent release"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	golden(t, "posts.426.response.json", fake.Exchanges()[0].Response)
}

func TestAuthorNotPermitted(t *testing.T) {
	fake := newFake(t)
	p := newPublisher(t, fake, &publishtest.LogBuffer{}, "author: urn:li:organization:1")
	_, err := p.Publish(context.Background(), publish.Request{Text: "hello"})
	if k, _ := publish.Classify(err); k != publish.Permanent || !strings.Contains(err.Error(), "ACCESS_DENIED") {
		t.Fatalf("got %v: %v", k, err)
	}
}

func TestTimeoutIsAmbiguousAndNamesThePage(t *testing.T) {
	fake := newFake(t)
	p := newPublisher(t, fake, &publishtest.LogBuffer{}, "author: "+org)
	publishtest.WantAmbiguousTimeout(t, p, fake, publish.Request{Text: "hello"}, "https://www.linkedin.com/company/2414183/admin/page-posts/published/")
}

func TestValidate(t *testing.T) {
	p := &Publisher{}
	for _, c := range []struct {
		name string
		req  publish.Request
		want string
	}{
		{"limit", publish.Request{Text: strings.Repeat("a", 3000)}, ""},
		{"emoji at the limit", publish.Request{Text: strings.Repeat("😀", 1500)}, ""},
		{"emoji over", publish.Request{Text: strings.Repeat("😀", 1501)}, "3002/3000 characters on LinkedIn"},
		{"link counts", publish.Request{Text: strings.Repeat("a", 2990), Link: "https://example.com"}, "3011/3000 characters on LinkedIn"},
		{"escapes push it over", publish.Request{Text: strings.Repeat("a", 2990) + strings.Repeat("(", 10)}, "3010/3000 characters on LinkedIn once its markup characters are escaped"},
		{"empty", publish.Request{}, "the post is empty: LinkedIn needs text"},
		{"image", publish.Request{Text: "x", Media: []publish.Media{{Path: "a.png"}}}, "heed does not upload images to LinkedIn: remove the image from the LinkedIn variant or the LinkedIn target"},
	} {
		if got := publishtest.Problems(p, c.req); got != c.want {
			t.Errorf("%s: Validate = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestRetract(t *testing.T) {
	fake := newFake(t)
	p := newPublisher(t, fake, &publishtest.LogBuffer{}, "author: "+org)
	res, err := p.Publish(context.Background(), publish.Request{Text: "oops"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Retract(context.Background(), "linkedin-company", res); err != nil {
		t.Fatalf("Retract: %v", err)
	}
	ex := fake.Exchanges()
	del := ex[len(ex)-1]
	if del.Method != http.MethodDelete || del.Path != "/rest/posts/urn%3Ali%3Ashare%3A7300000000000000001" || del.Status != http.StatusNoContent {
		t.Errorf("DELETE %s → %d", del.Path, del.Status)
	}
	if del.Header.Get("LinkedIn-Version") == "" || del.Header.Get("X-Restli-Protocol-Version") != "2.0.0" {
		t.Errorf("DELETE headers %v", del.Header)
	}
	if len(fake.Stored()) != 0 {
		t.Error("post still stored")
	}
	// Already gone: still retracted.
	if err := p.Retract(context.Background(), "linkedin-company", res); err != nil {
		t.Errorf("second Retract: %v", err)
	}
	if err := p.Retract(context.Background(), "linkedin-company", publish.Result{RemoteID: "urn:li:person:1"}); err == nil {
		t.Error("Retract of a person URN succeeded")
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	publishtest.Golden(t, name, got, *update)
}
