package facebook

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/facebook/facebookfake"
	"github.com/heed-dev/heed/publish/httpx"
	"github.com/heed-dev/heed/publish/publishtest"
)

var update = flag.Bool("update", false, "rewrite the recorded payloads in testdata/")

const (
	pageID = "104526875123456"
	token  = "EAAGm0PX4ZCpsBAPageToken0123456789"
)

func newPublisher(t *testing.T, fake *facebookfake.Server, logs *publishtest.LogBuffer, extra string) *Publisher {
	t.Helper()
	p, err := publish.New(publish.Config{
		Name: "facebook-page", Kind: "facebook", Logger: logs.Logger(),
		Decode: publishtest.Decoder("page_id: \"" + pageID + "\"\naccess_token: " + token + "\napi: " + fake.URL + "\n" + extra),
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
			fake := facebookfake.New(t, pageID, token)
			return newPublisher(t, fake, logs, ""), fake
		},
		Token:            token,
		Logs:             logs.String,
		OverLimitText:    strings.Repeat("a", MaxChars+1),
		OverLimitProblem: "63207/63206 characters on Facebook",
	})
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		settings string
		want     []string
	}{
		{"access_token: t", []string{"page_id is required"}},
		{"page_id: '1'", []string{"access_token is required", "${FACEBOOK_PAGE_TOKEN}"}},
		{"page_id: my-page\naccess_token: t", []string{`page_id "my-page"`}},
		{"page_id: '1'\naccess_token: t\ngraph_version: '24'", []string{`graph_version "24"`}},
		{"page_id: '1'\naccess_token: t\npage_token: t", []string{"page_token"}},
	} {
		publishtest.WantConfigError(t, "facebook", c.settings, c.want...)
	}
}

func TestPublishSendsMessageAndLink(t *testing.T) {
	fake := facebookfake.New(t, pageID, token)
	p := newPublisher(t, fake, &publishtest.LogBuffer{}, "graph_version: v24.0")
	req := publish.Request{Text: "Our spring release is out 🌱", Link: "https://example.com/spring"}
	res, err := p.Publish(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	id := pageID + "_122100000000000001"
	if res.RemoteID != id || res.URL != "https://www.facebook.com/"+id {
		t.Errorf("result %+v", res)
	}
	e := fake.Exchanges()[0]
	if e.Method != http.MethodPost || e.Path != "/v24.0/"+pageID+"/feed" {
		t.Errorf("%s %s", e.Method, e.Path)
	}
	if e.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || len(e.Query) != 0 {
		t.Errorf("Content-Type %q, query %v: the token belongs in the body", e.Header.Get("Content-Type"), e.Query)
	}
	form := e.Form()
	if form.Get("access_token") != token || form.Get("message") != req.Text || form.Get("link") != req.Link {
		t.Errorf("form %v", redactForm(form))
	}
	golden(t, "feed.request.json", redactForm(form))
	golden(t, "feed.response.json", e.Response)
	if got := fake.Stored(); len(got) != 1 || got[0].Message != p.Preview(req) || got[0].Link != req.Link {
		t.Errorf("stored %+v", got)
	}
}

func TestExpiredTokenIsPermanentWithAdvice(t *testing.T) {
	fake := facebookfake.New(t, pageID, token)
	logs := &publishtest.LogBuffer{}
	p := newPublisher(t, fake, logs, "")
	fake.ExpireToken()
	_, err := p.Publish(context.Background(), publish.Request{Text: "hello"})
	if k, _ := publish.Classify(err); k != publish.Permanent {
		t.Fatalf("kind %v: %v", k, err)
	}
	var ge *GraphError
	if !errors.As(err, &ge) || ge.Code != 190 || ge.Subcode != 463 {
		t.Fatalf("error %v is not Graph error 190/463", err)
	}
	for _, w := range []string{"Session has expired", "refresh the token"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	golden(t, "feed.190.response.json", fake.Exchanges()[0].Response)
	if l := logs.String() + err.Error(); httpx.Redact(l, token) != l {
		t.Errorf("the token leaked: %s", l)
	}
}

func TestPageRateLimitIsRetryableWithEstimate(t *testing.T) {
	fake := facebookfake.New(t, pageID, token)
	p := newPublisher(t, fake, &publishtest.LogBuffer{}, "")
	fake.Throttle(12)
	_, err := p.Publish(context.Background(), publish.Request{Text: "hello"})
	k, after := publish.Classify(err)
	if k != publish.Retryable || after != 12*time.Minute {
		t.Fatalf("got %v after %v, want retryable after 12m: %v", k, after, err)
	}
	golden(t, "feed.32.response.json", fake.Exchanges()[0].Response)
}

func TestDuplicateIsPermanentWithFacebooksMessage(t *testing.T) {
	fake := facebookfake.New(t, pageID, token)
	p := newPublisher(t, fake, &publishtest.LogBuffer{}, "")
	p.Publish(context.Background(), publish.Request{Text: "same"})
	_, err := p.Publish(context.Background(), publish.Request{Text: "same"})
	if k, _ := publish.Classify(err); k != publish.Permanent || !strings.Contains(err.Error(), "(#506) Duplicate status message") {
		t.Fatalf("got %v: %v", k, err)
	}
}

func TestTimeoutIsAmbiguousAndNamesThePage(t *testing.T) {
	fake := facebookfake.New(t, pageID, token)
	p := newPublisher(t, fake, &publishtest.LogBuffer{}, "")
	publishtest.WantAmbiguousTimeout(t, p, fake, publish.Request{Text: "hello"}, "check https://www.facebook.com/"+pageID)
}

func TestValidate(t *testing.T) {
	p := &Publisher{}
	for _, c := range []struct {
		name string
		req  publish.Request
		want string
	}{
		{"text", publish.Request{Text: "hello"}, ""},
		{"link only", publish.Request{Link: "https://example.com"}, ""},
		{"empty", publish.Request{Text: " "}, "the post is empty: a Facebook post needs a message or a link"},
		{"bad link", publish.Request{Text: "x", Link: "example.com"}, `link "example.com" is not an http(s) URL, which Facebook needs`},
		{"long", publish.Request{Text: strings.Repeat("😀", 31604)}, "63208/63206 characters on Facebook"},
		{"image", publish.Request{Text: "x", Media: []publish.Media{{Path: "a.png"}}}, "heed does not upload images to Facebook: remove the image from the Facebook variant or the Facebook target"},
	} {
		if got := publishtest.Problems(p, c.req); got != c.want {
			t.Errorf("%s: Validate = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestRetract(t *testing.T) {
	fake := facebookfake.New(t, pageID, token)
	p := newPublisher(t, fake, &publishtest.LogBuffer{}, "")
	res, err := p.Publish(context.Background(), publish.Request{Text: "oops"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Retract(context.Background(), "facebook-page", res); err != nil {
		t.Fatalf("Retract: %v", err)
	}
	ex := fake.Exchanges()
	del := ex[len(ex)-1]
	if del.Method != http.MethodDelete || del.Path != "/"+res.RemoteID || del.Query.Get("access_token") != token {
		t.Errorf("DELETE %s %v", del.Path, redactForm(del.Query))
	}
	golden(t, "delete.response.json", del.Response)
	if len(fake.Stored()) != 0 {
		t.Error("post still stored")
	}
	if err := p.Retract(context.Background(), "facebook-page", res); err != nil {
		t.Errorf("Retract of a post already gone: %v", err)
	}
	if err := p.Retract(context.Background(), "facebook-page", publish.Result{RemoteID: "../me"}); err == nil {
		t.Error("Retract of a bad id succeeded")
	}
}

func redactForm(f map[string][]string) []byte {
	c := map[string]any{}
	for k, v := range f {
		c[k] = v
	}
	if _, ok := c["access_token"]; ok {
		c["access_token"] = "REDACTED"
	}
	b, _ := json.Marshal(c)
	return b
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	publishtest.Golden(t, name, got, *update)
}
