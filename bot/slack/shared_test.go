package slack

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/bot/slack/slackfake"
)

// TestSharedListenerOpensNoListenerOfItsOwn: in events mode with heed's
// listener shared, the chat serves its endpoint through HTTPEndpoint and
// never listens on its own address (here held by someone else): its
// events arrive, and Run ends cleanly. While the chat is not running the
// endpoint answers 503, so that Slack sends the request again.
func TestSharedListenerOpensNoListenerOfItsOwn(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	f := slackfake.New(t, slackfake.Options{})
	f.AddUser(slackfake.User{ID: alice, Name: "alice"})
	f.AddChannel(chReview, "social-review", alice)
	o := f.Options()
	a, err := New(Config{Mode: ModeEvents, BotToken: o.BotToken, SigningSecret: o.SigningSecret, APIURL: f.APIURL(),
		Listen: held.Addr().String(), Channels: []ChannelConfig{{ID: chReview}}}, WithSharedListener())
	if err != nil {
		t.Fatal(err)
	}
	path, h := a.HTTPEndpoint()
	if path != "/slack/events" || h == nil {
		t.Fatalf("endpoint %q", path)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	f.DeliverTo(srv.URL)
	unsigned := func() int {
		resp, err := srv.Client().Post(srv.URL, "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := unsigned(); code != http.StatusServiceUnavailable {
		t.Fatalf("before Run: %d, want 503", code)
	}
	rec := newRecorder()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, rec) }()
	(&env{a: a}).waitReconciled(t) // Run has started
	if code := unsigned(); code != http.StatusUnauthorized {
		t.Fatalf("an unsigned request while running: %d, want 401", code)
	}
	ref, err := a.PostCard(ctx, chReview, sampleCard(1))
	if err != nil {
		t.Fatal(err)
	}
	f.React(alice, chReview, string(ref), "white_check_mark")
	if ev := rec.next(t); ev.Kind != bot.Reaction {
		t.Fatalf("event %+v", ev)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if code := unsigned(); code != http.StatusServiceUnavailable {
		t.Fatalf("after Run: %d, want 503", code)
	}
	// Without the shared listener the chat has no endpoint to mount.
	b, err := New(Config{Mode: ModeEvents, BotToken: o.BotToken, SigningSecret: o.SigningSecret, APIURL: f.APIURL(),
		Channels: []ChannelConfig{{ID: chReview}}})
	if err != nil {
		t.Fatal(err)
	}
	if path, _ := b.HTTPEndpoint(); path != "" {
		t.Fatalf("an unshared chat offers %q", path)
	}
}
