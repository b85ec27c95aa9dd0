package matrixpub

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot/matrix/matrixtest"
	"github.com/heed-dev/heed/internal/heedtest"
	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/publishtest"
)

// Encrypted announcements rooms, on a real Dendrite. The members read
// with mautrix's Olm machine (matrixtest.Crypto), as Element would.

// decryptWait bounds how long a member's client may take to decrypt an
// announcement (a sync or two on a loaded machine).
const decryptWait = 60 * time.Second

func pickleKey() string { return "pickle_key: " + matrixtest.Random(16) }

// wired builds p into a heed (internal/heedtest, through app.Build as heed
// run builds it), which hands it heed's database.
func wired(t *testing.T, ps ...*Publisher) *heedtest.Stack {
	t.Helper()
	var ts []publish.Target
	for _, p := range ps {
		ts = append(ts, publish.Target{Name: p.name, Kind: "matrix", Publisher: p})
	}
	return heedtest.New(t, heedtest.Options{Targets: ts})
}

// hasText matches a message whose body is text.
func hasText(text string) func(*event.Event) bool {
	return func(e *event.Event) bool {
		body, _ := e.Content.Raw["body"].(string)
		return e.Type == event.EventMessage && body == text
	}
}

// readsEncrypted waits until w's client has decrypted the announcement
// text, and fails unless it came encrypted.
func readsEncrypted(t *testing.T, who string, w *matrixtest.Watcher, text string) *event.Event {
	t.Helper()
	got := w.Wait(t, who+" reads the announcement", decryptWait, hasText(text)).Event
	if !got.Mautrix.WasEncrypted {
		t.Fatalf("%s read the announcement %s in the clear", who, got.ID)
	}
	return got
}

// serverEvent is an event as the homeserver holds it.
type serverEvent struct {
	ID     id.EventID `json:"event_id"`
	Type   string     `json:"type"`
	Sender id.UserID  `json:"sender"`
	Raw    json.RawMessage
}

// serverEvents reads the room's recent events as the homeserver keeps
// them, raw, once everything sent so far is readable (see roomPosts).
func serverEvents(t *testing.T, u *matrixtest.User, room id.RoomID) []serverEvent {
	t.Helper()
	roomPosts(t, u, room) // waits for a barrier
	cli := u.Client
	raw, err := cli.MakeRequest(context.Background(), http.MethodGet,
		cli.BuildURLWithQuery(mautrix.ClientURLPath{"v3", "rooms", room, "messages"}, map[string]string{"dir": "b", "limit": "100"}), nil, nil)
	if err != nil {
		t.Fatalf("read the room back: %v", err)
	}
	var resp struct {
		Chunk []json.RawMessage `json:"chunk"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Fatal(err)
	}
	var out []serverEvent
	for _, r := range resp.Chunk {
		var e serverEvent
		if err := json.Unmarshal(r, &e); err != nil {
			t.Fatal(err)
		}
		e.Raw = r
		out = append(out, e)
	}
	return out
}

// announcements are the events p's account sent into the room, and fails
// if any of them holds text in the clear.
func announcements(t *testing.T, reader *matrixtest.User, poster id.UserID, room id.RoomID, texts ...string) []serverEvent {
	t.Helper()
	var out []serverEvent
	for _, e := range serverEvents(t, reader, room) {
		for _, text := range texts {
			if strings.Contains(string(e.Raw), text) {
				t.Errorf("the homeserver holds the text in the clear in %s (%s)", e.ID, e.Type)
			}
		}
		if e.Sender == poster && (e.Type == event.EventMessage.Type || e.Type == event.EventEncrypted.Type) {
			out = append(out, e)
		}
	}
	return out
}

// An approved announcement for an encrypted room goes out through heed's
// dispatcher encrypted: a member's client decrypts it and reads the exact
// text, and the homeserver holds only an m.room.encrypted event.
func TestRealEncryptedAnnouncement(t *testing.T) {
	srv := matrixtest.Shared(t)
	poster := srv.Register(t, "announce")
	member := srv.Register(t, "member")
	member.EnableCrypto(t)
	room := poster.CreateEncryptedRoom(t, true, member)
	w := member.Watch(t)
	p := newPublisher(t, srv.URL, poster.Client.AccessToken, string(room), pickleKey(), nil)
	s := wired(t, p)

	text := "heed 3.0 is out 🎉 " + matrixtest.Random(4) + "\nnotes: https://example.org/3.0"
	post := s.Add(text, 10*time.Minute, "announce")
	s.Cycle()
	if err := s.Chat.React("alice", post.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	s.WantState(post.ID, approvals.StateApproved)
	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	s.WantState(post.ID, approvals.StatePublished)

	got := readsEncrypted(t, "the member", w, text)
	if f, _ := got.Content.Raw["formatted_body"].(string); !strings.Contains(f, `<a href="https://example.org/3.0">`) {
		t.Errorf("formatted_body %q lost the link", f)
	}
	sent := announcements(t, member, poster.ID, room, text, "heed 3.0 is out")
	if len(sent) != 1 || sent[0].Type != event.EventEncrypted.Type || sent[0].ID != got.ID {
		t.Errorf("the homeserver holds %+v from heed, want the one m.room.encrypted event %s", sent, got.ID)
	}
}

// A retry with the same idempotency key after the answer to an encrypted
// send was lost posts once, and that once is readable.
func TestRealEncryptedRetryAfterLostAnswerPostsOnce(t *testing.T) {
	srv := matrixtest.Shared(t)
	poster := srv.Register(t, "announce")
	member := srv.Register(t, "member")
	member.EnableCrypto(t)
	room := poster.CreateEncryptedRoom(t, true, member)
	w := member.Watch(t)
	proxyURL, sends := dropFirstAnswer(t, srv.URL)
	p := newPublisher(t, proxyURL, poster.Client.AccessToken, string(room), pickleKey(), nil)
	wired(t, p)

	req := publish.Request{OccurrenceID: 7, Target: "announce", Text: "heed 2.1 is out " + matrixtest.Random(4),
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
	got := readsEncrypted(t, "the member", w, req.Text)
	sent := announcements(t, member, poster.ID, room, req.Text)
	if len(sent) != 1 || sent[0].Type != event.EventEncrypted.Type {
		t.Fatalf("the homeserver holds %d events from heed, want one m.room.encrypted: %+v", len(sent), sent)
	}
	if res.RemoteID != string(sent[0].ID) || got.ID != sent[0].ID {
		t.Errorf("the retry returned %s and the member read %s, but the event in the room is %s", res.RemoteID, got.ID, sent[0].ID)
	}
}

// An encrypted room and no pickle_key: publishing fails for good, saying
// what to set, and nothing reaches the room.
func TestRealEncryptedRoomWithoutPickleKeySendsNothing(t *testing.T) {
	srv := matrixtest.Shared(t)
	poster := srv.Register(t, "announce")
	member := srv.Register(t, "member")
	room := poster.CreateEncryptedRoom(t, true, member)
	proxyURL, sends := countSends(t, srv.URL)
	p := newPublisher(t, proxyURL, poster.Client.AccessToken, string(room), "", nil)
	wired(t, p)

	text := "no key, no post " + matrixtest.Random(4)
	_, err := p.Publish(context.Background(), publish.Request{Text: text, IdempotencyKey: "k-" + matrixtest.Random(4)})
	if kind, _ := publish.Classify(err); err == nil || kind != publish.Permanent || !strings.Contains(err.Error(), "pickle_key") {
		t.Fatalf("err = %v, want a permanent error saying to set pickle_key", err)
	}
	if n := sends.Load(); n != 0 {
		t.Errorf("%d sends reached the homeserver, want none", n)
	}
	if sent := announcements(t, member, poster.ID, room, text); len(sent) != 0 {
		t.Errorf("the room holds %+v from heed, want nothing", sent)
	}
}

// A room that turns encryption on after a plain announcement gets the next
// one encrypted.
func TestRealRoomTurnsEncrypted(t *testing.T) {
	srv := matrixtest.Shared(t)
	poster := srv.Register(t, "announce")
	member := srv.Register(t, "member")
	member.EnableCrypto(t)
	room := poster.CreateRoom(t, true, member)
	w := member.Watch(t)
	p := newPublisher(t, srv.URL, poster.Client.AccessToken, string(room), pickleKey(), nil)
	wired(t, p)

	first := "before encryption " + matrixtest.Random(4)
	if _, err := p.Publish(context.Background(), publish.Request{Text: first, IdempotencyKey: "k1-" + matrixtest.Random(4)}); err != nil {
		t.Fatal(err)
	}
	if got := w.Wait(t, "the plain announcement", decryptWait, hasText(first)).Event; got.Mautrix.WasEncrypted {
		t.Errorf("the announcement into a plain room came encrypted")
	}
	poster.EncryptRoom(t, room)
	second := "after encryption " + matrixtest.Random(4)
	res, err := p.Publish(context.Background(), publish.Request{Text: second, IdempotencyKey: "k2-" + matrixtest.Random(4)})
	if err != nil {
		t.Fatal(err)
	}
	got := readsEncrypted(t, "the member", w, second)
	sent := announcements(t, member, poster.ID, room, second)
	if len(sent) != 2 || sent[0].ID != got.ID || sent[0].Type != event.EventEncrypted.Type || res.RemoteID != string(got.ID) {
		t.Errorf("the homeserver holds %+v from heed, want the plain one and then %s encrypted", sent, got.ID)
	}
}

// newDevice logs u in again: a second device of the same person, with an
// encrypting client of its own.
func newDevice(t *testing.T, srv *matrixtest.Server, u *matrixtest.User) *matrixtest.User {
	t.Helper()
	cli, err := mautrix.NewClient(srv.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Login(context.Background(), &mautrix.ReqLogin{Type: mautrix.AuthTypePassword,
		Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: string(u.ID)}, Password: u.Password,
		StoreCredentials: true}); err != nil {
		t.Fatalf("log %s in again: %v", u.ID, err)
	}
	d := &matrixtest.User{ID: u.ID, Password: u.Password, Client: cli}
	d.EnableCrypto(t)
	return d
}

// A member who joined after an announcement, and a member's device added
// after it, both read the next one: every announcement's room key goes to
// the devices of the members at that time.
func TestRealLateMemberAndNewDeviceReadTheNextAnnouncement(t *testing.T) {
	srv := matrixtest.Shared(t)
	poster := srv.Register(t, "announce")
	early := srv.Register(t, "early")
	early.EnableCrypto(t)
	room := poster.CreateEncryptedRoom(t, true, early)
	wEarly := early.Watch(t)
	p := newPublisher(t, srv.URL, poster.Client.AccessToken, string(room), pickleKey(), nil)
	wired(t, p)

	first := "first announcement " + matrixtest.Random(4)
	if _, err := p.Publish(context.Background(), publish.Request{Text: first, IdempotencyKey: "k1-" + matrixtest.Random(4)}); err != nil {
		t.Fatal(err)
	}
	readsEncrypted(t, "the early member", wEarly, first)

	late := srv.Register(t, "late")
	late.EnableCrypto(t)
	if _, err := poster.Client.InviteUser(context.Background(), room, &mautrix.ReqInviteUser{UserID: late.ID}); err != nil {
		t.Fatalf("invite: %v", err)
	}
	if _, err := late.Client.JoinRoomByID(context.Background(), room); err != nil {
		t.Fatalf("join: %v", err)
	}
	wLate := late.Watch(t)
	phone := newDevice(t, srv, early)
	wPhone := phone.Watch(t)

	second := "second announcement " + matrixtest.Random(4)
	if _, err := p.Publish(context.Background(), publish.Request{Text: second, IdempotencyKey: "k2-" + matrixtest.Random(4)}); err != nil {
		t.Fatal(err)
	}
	readsEncrypted(t, "the member who joined later", wLate, second)
	readsEncrypted(t, "the early member's new device", wPhone, second)
	readsEncrypted(t, "the early member", wEarly, second)
}

// readBack is the room's announcements as a member's client shows them,
// oldest first, once everything sent so far has reached it: a barrier is
// sent and waited for, then every encrypted event of the poster's is given
// until the deadline to be decrypted. One that cannot be is returned with
// a text saying so.
func readBack(t *testing.T, poster *matrixtest.User, w *matrixtest.Watcher, room id.RoomID) []publishtest.Post {
	t.Helper()
	barrier, err := poster.Client.SendMessageEvent(context.Background(), room, event.Type{Type: "org.heed.test.barrier", Class: event.MessageEventType}, map[string]any{})
	if err != nil {
		t.Fatalf("send a barrier: %v", err)
	}
	w.Wait(t, "the barrier", decryptWait, func(e *event.Event) bool { return e.ID == barrier.EventID })
	deadline := time.Now().Add(decryptWait)
	for {
		var posts []publishtest.Post
		undecrypted := 0
		for _, s := range w.Events() {
			e := s.Event
			if e.RoomID != room || e.Sender != poster.ID {
				continue
			}
			switch e.Type {
			case event.EventMessage:
				body, _ := e.Content.Raw["body"].(string)
				if !e.Mautrix.WasEncrypted {
					body = "(in the clear) " + body
				}
				posts = append(posts, publishtest.Post{Text: body, RemoteID: e.ID.String()})
			case event.EventEncrypted:
				undecrypted++
				posts = append(posts, publishtest.Post{Text: "(not decrypted)", RemoteID: e.ID.String()})
			}
		}
		if undecrypted == 0 || time.Now().After(deadline) {
			return posts
		}
		time.Sleep(10 * time.Millisecond) // a real client's syncs, bounded by the deadline
	}
}

// The conformance suite in encrypted rooms, through a proxy in front of
// Dendrite: the same answers, and the same transaction-id idempotency,
// for encrypted sends; a member's client reads the posts back.
func TestRealConformanceEncrypted(t *testing.T) {
	srv := matrixtest.Shared(t)
	poster := srv.Register(t, "announce")
	member := srv.Register(t, "member")
	member.EnableCrypto(t)
	w := member.Watch(t)
	var logs publishtest.LogBuffer
	// The suite asks for a publisher 11 times; they are all built first,
	// so that heed's wiring hands each the database, as heed run does.
	type setup struct {
		p     *Publisher
		proxy *publishtest.Proxy
	}
	var setups []setup
	var ps []*Publisher
	cur := t           // the subtest under way, for readBack
	key := pickleKey() // one device, one pickle_key
	for i := range 11 {
		room := poster.CreateEncryptedRoom(t, true, member)
		proxy := publishtest.NewProxy(t, srv.URL, isSend, func() []publishtest.Post { return readBack(cur, poster, w, room) })
		p := newPublisher(t, proxy.URL, poster.Client.AccessToken, string(room), "timeout: "+publishtest.ClientTimeout.String()+"\n"+key, &logs)
		p.name = fmt.Sprintf("announce%d", i)
		setups = append(setups, setup{p, proxy})
		ps = append(ps, p)
	}
	wired(t, ps...)
	next := 0
	publishtest.Run(t, publishtest.Harness{
		New: func(t *testing.T) (publish.Publisher, publishtest.Backend) {
			if next == len(setups) {
				t.Fatalf("the suite asked for more than %d publishers", len(setups))
			}
			s := setups[next]
			next++
			cur = t
			return s.p, s.proxy
		},
		Idempotent:       true,
		Token:            poster.Client.AccessToken,
		Logs:             logs.String,
		OverLimitText:    strings.Repeat("a", MaxTextBytes+1),
		OverLimitProblem: "30001/30000",
	})
}

// Two targets that post with one token (one device) into two rooms share
// that device's Olm sessions: announcements taking turns between them are
// all readable. Two targets that name different pickle_keys for one
// device are refused.
func TestRealTwoTargetsOneDevice(t *testing.T) {
	srv := matrixtest.Shared(t)
	poster := srv.Register(t, "announce")
	member := srv.Register(t, "member")
	member.EnableCrypto(t)
	en := poster.CreateEncryptedRoom(t, true, member)
	de := poster.CreateEncryptedRoom(t, true, member)
	w := member.Watch(t)
	key := pickleKey()
	pEN := newPublisher(t, srv.URL, poster.Client.AccessToken, string(en), key, nil)
	pDE := newPublisher(t, srv.URL, poster.Client.AccessToken, string(de), key, nil)
	pOther := newPublisher(t, srv.URL, poster.Client.AccessToken, string(de), pickleKey(), nil)
	pEN.name, pDE.name, pOther.name = "announce-en", "announce-de", "announce-other"
	wired(t, pEN, pDE, pOther)

	for i, p := range []*Publisher{pEN, pDE, pEN, pDE} {
		text := fmt.Sprintf("announcement %d in %s %s", i, p.name, matrixtest.Random(4))
		if _, err := p.Publish(context.Background(), publish.Request{Text: text, IdempotencyKey: "k-" + matrixtest.Random(4)}); err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		readsEncrypted(t, "the member", w, text)
	}
	_, err := pOther.Publish(context.Background(), publish.Request{Text: "other key", IdempotencyKey: "k-" + matrixtest.Random(4)})
	if kind, _ := publish.Classify(err); err == nil || kind != publish.Permanent || !strings.Contains(err.Error(), "must share its pickle_key") {
		t.Errorf("a second pickle_key for one device: %v, want a permanent error", err)
	}
}

func pathHas(part string) func(*http.Request) bool {
	return func(r *http.Request) bool { return strings.Contains(r.URL.Path, part) }
}

// A failure while the room key is shared, or while the device's keys are
// uploaded, leaves nothing in the room and is retryable; the next attempt
// posts once, and the member reads it.
func TestRealKeyFailuresSendNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		path string
		how  spoil
	}{
		{"room key not delivered", "/sendToDevice/m.room.encrypted/", spoil500},
		{"one-time keys not claimed", "/keys/claim", spoil500},
		{"members' devices not read", "/keys/query", spoil500},
		{"device keys upload answer lost", "/keys/upload", spoilDrop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := matrixtest.Shared(t)
			poster := srv.Register(t, "announce")
			member := srv.Register(t, "member")
			member.EnableCrypto(t)
			room := poster.CreateEncryptedRoom(t, true, member)
			w := member.Watch(t)
			faulty, picked := spoilFirst(t, srv.URL, pathHas(tc.path), tc.how)
			sendsURL, sends := countSends(t, faulty)
			p := newPublisher(t, sendsURL, poster.Client.AccessToken, string(room), pickleKey(), nil)
			wired(t, p)

			req := publish.Request{Text: "after a key failure " + matrixtest.Random(4), IdempotencyKey: "k-" + matrixtest.Random(4)}
			_, err := p.Publish(context.Background(), req)
			if kind, _ := publish.Classify(err); err == nil || kind != publish.Retryable || !strings.Contains(err.Error(), "nothing was sent") {
				t.Fatalf("err = %v, want a retryable error saying nothing was sent", err)
			}
			if picked.Load() == 0 {
				t.Fatalf("no request for %s was made", tc.path)
			}
			if n := sends.Load(); n != 0 {
				t.Fatalf("%d sends reached the homeserver after the failure, want none", n)
			}
			res, err := p.Publish(context.Background(), req)
			if err != nil {
				t.Fatalf("retry: %v", err)
			}
			got := readsEncrypted(t, "the member", w, req.Text)
			if sent := announcements(t, member, poster.ID, room, req.Text); len(sent) != 1 || res.RemoteID != string(got.ID) {
				t.Errorf("the room holds %+v from heed, want the one event %s", sent, res.RemoteID)
			}
		})
	}
}
