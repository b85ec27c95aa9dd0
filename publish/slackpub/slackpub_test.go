package slackpub

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/bot/slack/slackfake"
	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/publishtest"
)

const (
	token   = "xoxb-slackpub-secret-0042"
	channel = "CANNOUNCE"
)

// backend is the fake Slack seen as a publishtest.Backend.
type backend struct{ f *slackfake.Fake }

func (b backend) Posts() []publishtest.Post {
	var out []publishtest.Post
	for _, m := range b.f.Messages(channel) {
		p := publishtest.Post{Text: unescape(m.Text), RemoteID: m.TS}
		if m.Metadata != nil {
			p.IdempotencyKey, _ = m.Metadata.EventPayload["idempotency_key"].(string)
		}
		out = append(out, p)
	}
	return out
}

func (b backend) Calls() int { return len(b.f.Calls("")) }

func (b backend) FailNext(f publishtest.Failure) {
	switch f {
	case publishtest.Retryable:
		b.f.RateLimit(1, publishtest.RetryAfterSeconds)
	case publishtest.Permanent:
		b.f.FailNext("chat.postMessage", publishtest.PermanentMessage)
	case publishtest.Auth:
		b.f.FailNext("chat.postMessage", "invalid_auth")
	case publishtest.TimeoutAfterSend:
		b.f.StallNext("chat.postMessage")
	}
}

func unescape(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

func newFake(t *testing.T) *slackfake.Fake {
	f := slackfake.New(t, slackfake.Options{BotToken: token, NoEcho: true})
	f.AddChannel(channel, "announcements")
	return f
}

// newFromConfig builds the publisher the way the configuration does.
func newFromConfig(t *testing.T, f *slackfake.Fake, log publish.Logger, timeout string) publish.Publisher {
	t.Helper()
	p, err := publish.New(publish.Config{Name: "slack-announce", Kind: "slack", Logger: log, Decode: func(v any) error {
		c := v.(*Config)
		*c = Config{Channel: channel, BotToken: token, APIURL: f.APIURL(), Timeout: timeout}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConformance(t *testing.T) {
	var logs publishtest.LogBuffer
	publishtest.Run(t, publishtest.Harness{
		New: func(t *testing.T) (publish.Publisher, publishtest.Backend) {
			f := newFake(t)
			return newFromConfig(t, f, logs.Logger(), publishtest.ClientTimeout.String()), backend{f}
		},
		Idempotent:       true,
		Token:            token,
		Logs:             logs.String,
		OverLimitText:    strings.Repeat("a", MaxText+1),
		OverLimitProblem: "40001/40000",
	})
}

func request(key string) publish.Request {
	return publish.Request{OccurrenceID: 7, Target: "slack-announce", Text: "heed 1.0 is out <!channel> & more",
		Link: "https://heed.example/1.0", ScheduledAt: time.Now().Add(-time.Minute), IdempotencyKey: key}
}

func TestPostsWithMetadataAndEscapes(t *testing.T) {
	f := newFake(t)
	p := newFromConfig(t, f, nil, "")
	res, err := p.Publish(context.Background(), request("k1"))
	if err != nil {
		t.Fatal(err)
	}
	m := f.LastMessage(channel)
	if m.Text != "heed 1.0 is out &lt;!channel&gt; &amp; more\nhttps://heed.example/1.0" {
		t.Fatalf("text = %q", m.Text)
	}
	if m.Metadata == nil || m.Metadata.EventType != "heed_publish" || m.Metadata.EventPayload["idempotency_key"] != "k1" {
		t.Fatalf("metadata = %+v", m.Metadata)
	}
	if res.RemoteID != m.TS || res.URL != "https://heed-fake.slack.com/archives/"+channel+"/p"+strings.Replace(m.TS, ".", "", 1) {
		t.Fatalf("result = %+v", res)
	}
	if got := f.Calls("conversations.history"); len(got) != 1 || got[0].Params.Get("include_all_metadata") != "1" {
		t.Fatalf("history check = %+v", got)
	}
}

// A retry after a lost answer, from a fresh process, finds the first post
// in the channel's history and does not post again.
func TestRetryAfterLostAnswerFindsThePost(t *testing.T) {
	f := newFake(t)
	req := request("k-lost")
	f.BreakNext("chat.postMessage")
	_, err := newFromConfig(t, f, nil, "").Publish(context.Background(), req)
	if k, _ := publish.Classify(err); k != publish.Ambiguous {
		t.Fatalf("lost answer: %v (%v), want ambiguous", err, k)
	}
	// Other posts came after it; the key is still found.
	other := newFromConfig(t, f, nil, "")
	for i := 0; i < 3; i++ {
		if _, err := other.Publish(context.Background(), request("k-other-"+string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	res, err := newFromConfig(t, f, nil, "").Publish(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.Messages(channel)); n != 4 {
		t.Fatalf("%d posts, want 4", n)
	}
	if res.RemoteID != f.Messages(channel)[0].TS {
		t.Fatalf("result %+v is not the first post", res)
	}
}

func TestHistoryCheckPages(t *testing.T) {
	f := newFake(t)
	p := newFromConfig(t, f, nil, "")
	req := request("k-paged")
	if _, err := p.Publish(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	// 250 people's messages push the post to the second page.
	f.AddUser(slackfake.User{ID: "UCHATTY", Name: "chatty"})
	for i := 0; i < 250; i++ {
		f.Say("UCHATTY", channel, "message "+strconv.Itoa(i))
	}
	before := len(f.Messages(channel))
	if _, err := p.Publish(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if after := len(f.Messages(channel)); after != before {
		t.Fatalf("posted again: %d → %d messages", before, after)
	}
	calls := f.Calls("conversations.history")
	if last := calls[len(calls)-1]; last.Params.Get("cursor") == "" {
		t.Fatalf("the key was on the second page, but no cursor was sent: %v", last.Params)
	}
}

func TestRefusals(t *testing.T) {
	f := newFake(t)
	p := newFromConfig(t, f, nil, "")
	f.FailNext("chat.postMessage", "not_in_channel")
	_, err := p.Publish(context.Background(), request("k-nic"))
	if k, _ := publish.Classify(err); k != publish.Permanent || !strings.Contains(err.Error(), "/invite") {
		t.Fatalf("not_in_channel: %v", err)
	}
	f.FailNext("chat.postMessage", "internal_error")
	if _, err := p.Publish(context.Background(), request("k-ie")); !isKind(err, publish.Ambiguous) {
		t.Fatalf("internal_error on post: %v, want ambiguous", err)
	}
	f.FailNext("conversations.history", "internal_error")
	if _, err := p.Publish(context.Background(), request("k-ie2")); !isKind(err, publish.Retryable) {
		t.Fatalf("internal_error on history: %v, want retryable", err)
	}
	req := request("k-media")
	req.Media = []publish.Media{{Path: "a.png", MIME: "image/png", Alt: "a"}}
	calls := len(f.Calls(""))
	if _, err := p.Publish(context.Background(), req); !isKind(err, publish.Permanent) || len(f.Calls("")) != calls {
		t.Fatalf("media: %v", err)
	}

	for name, c := range map[string]Config{
		"channel name": {Channel: "#announce", BotToken: token},
		"user token":   {Channel: channel, BotToken: "xoxp-1"},
		"no token":     {Channel: channel},
		"bad timeout":  {Channel: channel, BotToken: token, Timeout: "soon"},
	} {
		if _, err := newPublisher("x", c, nil); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "xoxp-1") {
			t.Errorf("%s: error shows the token: %v", name, err)
		}
	}
}

func isKind(err error, k publish.ErrorKind) bool {
	kind, _ := publish.Classify(err)
	return err != nil && kind == k
}

func TestRetract(t *testing.T) {
	f := newFake(t)
	p := newFromConfig(t, f, nil, "")
	res, err := p.Publish(context.Background(), request("k-retract"))
	if err != nil {
		t.Fatal(err)
	}
	r := p.(publish.Retractor)
	if err := r.Retract(context.Background(), "slack-announce", res); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Message(channel, res.RemoteID); ok {
		t.Fatal("still there after Retract")
	}
	if err := r.Retract(context.Background(), "slack-announce", res); err != nil {
		t.Fatalf("second Retract: %v", err)
	}
	f.FailNext("chat.delete", "invalid_auth")
	var pe *publish.Error
	if err := r.Retract(context.Background(), "slack-announce", res); !errors.As(err, &pe) || pe.Kind != publish.Permanent {
		t.Fatalf("Retract with a refused token: %v", err)
	}
}
