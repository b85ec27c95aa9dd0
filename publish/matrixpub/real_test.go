package matrixpub

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/heed-dev/heed/bot/matrix/matrixtest"
	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/publishtest"
)

// The TestReal* tests run against a real Dendrite started by
// scripts/dendrite.sh (see matrixtest); they fail, never skip, without it.
func TestMain(m *testing.M) { os.Exit(matrixtest.Main(m)) }

// roomPosts reads a room's messages back, oldest first. Dendrite makes a
// sent event readable through /messages a moment after the send returns,
// so it first sends a barrier event and waits until that is readable:
// everything sent before it is then readable too.
func roomPosts(t testing.TB, u *matrixtest.User, room id.RoomID) []publishtest.Post {
	t.Helper()
	barrier, err := u.Client.SendMessageEvent(context.Background(), room, event.Type{Type: "org.heed.test.barrier", Class: event.MessageEventType}, map[string]any{})
	if err != nil {
		t.Fatalf("send a barrier: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !hasEvent(t, u, room, barrier.EventID) {
		if time.Now().After(deadline) {
			t.Fatalf("the barrier event did not become readable within 30 s")
		}
		time.Sleep(10 * time.Millisecond) // polling a real server, bounded by the deadline
	}
	var posts []publishtest.Post
	from := ""
	for page := 0; page < 20; page++ {
		resp, err := u.Client.Messages(context.Background(), room, from, "", mautrix.DirectionBackward, nil, 100)
		if err != nil {
			t.Fatalf("read the room back: %v", err)
		}
		for _, evt := range resp.Chunk {
			if evt.Type.Type != "m.room.message" {
				continue
			}
			body, _ := evt.Content.Raw["body"].(string)
			posts = append(posts, publishtest.Post{Text: body, RemoteID: evt.ID.String()})
		}
		if resp.End == "" || len(resp.Chunk) == 0 {
			break
		}
		from = resp.End
	}
	for i, j := 0, len(posts)-1; i < j; i, j = i+1, j-1 {
		posts[i], posts[j] = posts[j], posts[i]
	}
	return posts
}

func hasEvent(t testing.TB, u *matrixtest.User, room id.RoomID, ev id.EventID) bool {
	resp, err := u.Client.Messages(context.Background(), room, "", "", mautrix.DirectionBackward, nil, 10)
	if err != nil {
		t.Fatalf("read the room back: %v", err)
	}
	for _, evt := range resp.Chunk {
		if evt.ID == ev {
			return true
		}
	}
	return false
}

// isSend tells an announcement, plain or encrypted, from the other calls.
func isSend(r *http.Request) bool {
	return r.Method == http.MethodPut &&
		(strings.Contains(r.URL.Path, "/send/m.room.message/") || strings.Contains(r.URL.Path, "/send/m.room.encrypted/"))
}

// The conformance suite through a proxy in front of Dendrite: the real
// homeserver's answers, and its transaction-id idempotency.
func TestRealConformance(t *testing.T) {
	srv := matrixtest.Shared(t)
	poster := srv.Register(t, "announce")
	var logs publishtest.LogBuffer
	publishtest.Run(t, publishtest.Harness{
		New: func(t *testing.T) (publish.Publisher, publishtest.Backend) {
			room := poster.CreateRoom(t, false)
			proxy := publishtest.NewProxy(t, srv.URL, isSend, func() []publishtest.Post { return roomPosts(t, poster, room) })
			return newPublisher(t, proxy.URL, poster.Client.AccessToken, string(room), "timeout: "+publishtest.ClientTimeout.String(), &logs), proxy
		},
		Idempotent:       true,
		Token:            poster.Client.AccessToken,
		Logs:             logs.String,
		OverLimitText:    strings.Repeat("a", MaxTextBytes+1),
		OverLimitProblem: "30001/30000",
	})
}

// dropFirstAnswer forwards every request to upstream, but the answer to the
// first announcement is thrown away and the connection cut, as when a
// timeout strikes after the homeserver has acted.
func dropFirstAnswer(t *testing.T, upstream string) (string, *atomic.Int32) {
	return spoilFirst(t, upstream, isSend, spoilDrop)
}

// countSends forwards every request to upstream and counts the
// announcements.
func countSends(t *testing.T, upstream string) (string, *atomic.Int32) {
	return spoilFirst(t, upstream, isSend, spoilNone)
}

// spoil is what spoilFirst does to the first request it picks.
type spoil int

const (
	spoilNone spoil = iota
	// spoilDrop: the homeserver acts on it, the answer is thrown away and
	// the connection cut.
	spoilDrop
	// spoil500: it never reaches the homeserver, and is answered HTTP 500.
	spoil500
)

// spoilFirst forwards every request to upstream but the first that match
// picks, which it spoils as how says. It counts the requests match picks.
func spoilFirst(t *testing.T, upstream string, match func(*http.Request) bool, how spoil) (string, *atomic.Int32) {
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) }}
	var picked atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !match(r) || picked.Add(1) > 1 || how == spoilNone {
			rp.ServeHTTP(w, r)
			return
		}
		if how == spoil500 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"errcode":"M_UNKNOWN","error":"spoilt by the test"}`)
			return
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
		if rec.Code != http.StatusOK {
			t.Errorf("the homeserver refused %s %s: %d %s", r.Method, r.URL.Path, rec.Code, rec.Body)
		}
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		conn.Close()
	}))
	t.Cleanup(s.Close)
	return s.URL, &picked
}

// Issue item 9: an announcement retried after a timeout that struck once
// the homeserver had acted appears once in the room.
func TestRealAnnouncementRetriedAfterTimeoutAppearsOnce(t *testing.T) {
	srv := matrixtest.Shared(t)
	poster := srv.Register(t, "announce")
	reader := srv.Register(t, "reader")
	room := poster.CreateRoom(t, true, reader)
	proxyURL, sends := dropFirstAnswer(t, srv.URL)
	p := newPublisher(t, proxyURL, poster.Client.AccessToken, string(room), "", nil)

	req := publish.Request{OccurrenceID: 7, Target: "announce", Text: "heed 2.0 is out 🎉 https://example.org/2.0",
		IdempotencyKey: "inst1/occ7/announce/" + matrixtest.Random(4)}
	_, err := p.Publish(context.Background(), req)
	if kind, _ := publish.Classify(err); err == nil || kind != publish.Ambiguous {
		t.Fatalf("first publish: %v, want an ambiguous error (the answer was lost)", err)
	}
	res, err := p.Publish(context.Background(), req)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if n := sends.Load(); n != 2 {
		t.Fatalf("%d sends reached the proxy, want 2", n)
	}
	var same []publishtest.Post
	for _, post := range roomPosts(t, reader, room) {
		if post.Text == req.Text {
			same = append(same, post)
		}
	}
	if len(same) != 1 {
		t.Fatalf("the announcement appears %d times in the room, want once: %+v", len(same), same)
	}
	if res.RemoteID != same[0].RemoteID {
		t.Errorf("the retry returned %s, but the message in the room is %s", res.RemoteID, same[0].RemoteID)
	}
}

func TestRealRetract(t *testing.T) {
	srv := matrixtest.Shared(t)
	poster := srv.Register(t, "announce")
	room := poster.CreateRoom(t, false)
	p := newPublisher(t, srv.URL, poster.Client.AccessToken, string(room), "", nil)
	res, err := p.Publish(context.Background(), publish.Request{Text: "oops, wrong room", IdempotencyKey: "k-" + matrixtest.Random(4)})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Retract(context.Background(), "announce", res); err != nil {
		t.Fatal(err)
	}
	// Dendrite applies the redaction a moment after answering the PUT.
	deadline := time.Now().Add(30 * time.Second)
	for {
		evt, err := poster.Client.GetEvent(context.Background(), room, id.EventID(res.RemoteID))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := evt.Content.Raw["body"].(string)
		if body == "" && evt.Unsigned.RedactedBecause != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after Retract the event still has body %q (redacted_because %v)", body, evt.Unsigned.RedactedBecause)
		}
		time.Sleep(20 * time.Millisecond) // polling a real server, bounded by the deadline
	}
}
