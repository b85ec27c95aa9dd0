package slack

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	slackapi "github.com/slack-go/slack"

	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/bot/slack/slackfake"
)

// Benchmarks for docs/PERFORMANCE.md:
//
//	go test -run '^$' -bench . -benchmem -cpu 1,2,4 ./bot/slack/
//
// The latency benchmarks report p50 and p99 per operation next to ns/op.

// reportPercentiles adds p50 and p99 of ds (in µs) to b's results.
func reportPercentiles(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	at := func(q float64) float64 { return float64(ds[int(q*float64(len(ds)-1))].Microseconds()) }
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}

// BenchmarkFakeWebAPIRoundTrip is the fake's own bare round trip: one Web
// API call (chat.update of a card) through slack-go, nothing else.
func BenchmarkFakeWebAPIRoundTrip(b *testing.B) {
	f := slackfake.New(b, slackfake.Options{NoEcho: true})
	f.AddChannel(chReview, "social-review")
	api := slackapi.New(f.Options().BotToken, slackapi.OptionAPIURL(f.APIURL()))
	ctx := context.Background()
	_, ts, err := api.PostMessageContext(ctx, chReview, slackapi.MsgOptionText("card", false))
	if err != nil {
		b.Fatal(err)
	}
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, _, _, err := api.UpdateMessageContext(ctx, chReview, ts, slackapi.MsgOptionText("card "+strconv.Itoa(i), false)); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	reportPercentiles(b, ds)
}

// BenchmarkFakeSocketRoundTrip is the fake's bare Socket Mode round trip: a
// reaction_added envelope pushed to a bare websocket client that acks at
// once.
func BenchmarkFakeSocketRoundTrip(b *testing.B) {
	f := slackfake.New(b, slackfake.Options{NoEcho: true})
	f.AddUser(slackfake.User{ID: alice, Name: "alice"})
	f.AddChannel(chReview, "social-review", alice)
	api := slackapi.New(f.Options().BotToken, slackapi.OptionAPIURL(f.APIURL()), slackapi.OptionAppLevelToken(f.Options().AppToken))
	_, ts, _ := api.PostMessageContext(context.Background(), chReview, slackapi.MsgOptionText("card", false))
	_, wsURL, err := api.StartSocketModeContext(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	conn, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	go func() {
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			if i := bytes.Index(msg, []byte(`"envelope_id":"`)); i >= 0 {
				id := msg[i+len(`"envelope_id":"`):]
				id = id[:bytes.IndexByte(id, '"')]
				_ = conn.WriteMessage(websocket.TextMessage, []byte(`{"envelope_id":"`+string(id)+`"}`))
			}
		}
	}()
	f.WaitConnections(b, 1)
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if i%2 == 0 {
			f.React(alice, chReview, ts, "white_check_mark")
		} else {
			f.Unreact(alice, chReview, ts, "white_check_mark")
		}
		ds = append(ds, time.Since(start))
	}
	reportPercentiles(b, ds)
}

// updater is a stand-in engine that answers every reaction by updating the
// card, so the benchmark measures the adapter's own path.
type updater struct {
	a *Adapter
	n atomic.Int64
}

func (u *updater) HandleEvent(ctx context.Context, ev bot.Event) error {
	if ev.Kind != bot.Reaction && ev.Kind != bot.Unreaction {
		return nil
	}
	c := sampleCard(1)
	c.Notes = []string{fmt.Sprint("reaction ", u.n.Add(1))}
	return u.a.UpdateCard(ctx, ev.Room, ev.Card, c)
}

// BenchmarkReactionToUpdateAdapter: a person reacts (Socket Mode envelope)
// → the adapter acks, resolves the user and hands the event over → a
// stand-in engine calls chat.update → the fake holds the edited card.
func BenchmarkReactionToUpdateAdapter(b *testing.B) {
	e := newEnv(b, setup{noRun: true, fake: slackfake.Options{NoEcho: true}})
	e.h = &updater{a: e.a}
	e.start(b)
	m := e.card(b, sampleCard(1))
	benchReactions(b, e.f, m)
}

// BenchmarkReactionToUpdateEngine is the same with the whole heed: the
// engine records the decision in SQLite, derives the state again and
// renders the card.
func BenchmarkReactionToUpdateEngine(b *testing.B) {
	x := newStack(b, stackSetup{fakeOpts: slackfake.Options{NoEcho: true}})
	x.s.Add("benchmark post", time.Hour)
	x.s.Cycle()
	m := x.f.LastMessage(chReview)
	benchReactions(b, x.f, m)
}

func benchReactions(b *testing.B, f *slackfake.Fake, m slackfake.Message) {
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if i%2 == 0 {
			f.React(alice, chReview, m.TS, "white_check_mark")
		} else {
			f.Unreact(alice, chReview, m.TS, "white_check_mark")
		}
		m = m.ExpectUpdate(b)
		ds = append(ds, time.Since(start))
	}
	reportPercentiles(b, ds)
}

// handledAt hands every event to the engine, then reports when the engine
// was done with it.
type handledAt struct {
	h  bot.Handler
	ch chan handledEvent
}

type handledEvent struct {
	ev bot.Event
	at time.Time
}

func (w *handledAt) HandleEvent(ctx context.Context, ev bot.Event) error {
	err := w.h.HandleEvent(ctx, ev)
	if !ev.FromSelf && ev.Kind != bot.PolicyChanged {
		w.ch <- handledEvent{ev, time.Now()}
	}
	return err
}

// BenchmarkPause: a person types pause → its receipt is in the channel
// (pause-p50/p99); an approver then types resume and reacts ✅ on a card
// right after → the engine has handled each (resume-…, approve-…), from
// the moment it was typed. The whole heed runs against the fake, which
// enforces chat.update's Tier 3 limit (50 a minute): once the pause has
// marked every open card for an edit, the edits wait out Retry-After
// while the events go on.
//
//	go test -run '^$' -bench Pause -benchtime 50x ./bot/slack/
func BenchmarkPause(b *testing.B) {
	for _, n := range []int{1, 1000} {
		b.Run(fmt.Sprintf("cards=%d", n), func(b *testing.B) { benchPause(b, n) })
	}
}

func benchPause(b *testing.B, cards int) {
	x := newStack(b, stackSetup{noStart: true, fakeOpts: slackfake.Options{NoEcho: true, Wait: time.Minute,
		Limits: map[string]int{"chat.update": 50}}})
	w := &handledAt{h: x.s.Engine, ch: make(chan handledEvent, 4096)}
	x.h = w
	x.start(b)
	for i := 1; i <= cards; i++ {
		x.s.Add(fmt.Sprintf("bench post %d", i), time.Duration(i)*time.Minute)
	}
	x.s.Cycle()
	x.f.ExpectMessage(b, chReview, func(m slackfake.Message) bool {
		return m.Metadata != nil && strings.Contains(m.AllText(), fmt.Sprintf("bench post %d\n", cards))
	})
	list := x.f.Messages(chReview)
	if len(list) != cards {
		b.Fatalf("%d cards, want %d", len(list), cards)
	}
	// A first pause and resume mark every open card for an edit; at 1,000
	// cards that is past chat.update's limit, and the measured events come
	// while the cards' edits wait out Retry-After.
	x.f.Say(bob, chReview, "pause warm-up")
	x.f.ExpectMessage(b, chReview, says("reason: warm-up."))
	x.f.Say(alice, chReview, "resume")
	x.f.ExpectMessage(b, chReview, says("Resumed by @alice"))
	if cards > 50 {
		x.f.WaitCall(b, "chat.update", func(c slackfake.Call) bool { return c.Status == http.StatusTooManyRequests })
	}
	var pause, resume, approve []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		x.f.Say(bob, chReview, fmt.Sprintf("pause bench %d", i))
		x.f.ExpectMessage(b, chReview, func(m slackfake.Message) bool {
			return strings.Contains(m.Text, fmt.Sprintf("reason: bench %d.", i))
		})
		pause = append(pause, time.Since(start))

		typed := time.Now()
		x.f.Say(alice, chReview, "resume")
		reacted := time.Now()
		card := list[i%len(list)]
		if (i/len(list))%2 == 0 {
			x.f.React(alice, chReview, card.TS, "white_check_mark")
		} else {
			x.f.Unreact(alice, chReview, card.TS, "white_check_mark")
		}
		var resumed, decided time.Time
		deadline := time.After(time.Minute)
		for resumed.IsZero() || decided.IsZero() {
			select {
			case h := <-w.ch:
				switch {
				case h.ev.User == alice && h.ev.Kind == bot.Message && h.ev.Text == "resume":
					resumed = h.at
				case h.ev.User == alice && h.ev.Kind != bot.Message && h.ev.Card == bot.MessageRef(card.TS):
					decided = h.at
				}
			case <-deadline:
				b.Fatal("the engine did not handle resume and ✅ within a minute")
			}
		}
		resume = append(resume, resumed.Sub(typed))
		approve = append(approve, decided.Sub(reacted))
	}
	b.StopTimer()
	reportNamed(b, "pause", pause)
	reportNamed(b, "resume", resume)
	reportNamed(b, "approve", approve)
}

// reportNamed adds p50 and p99 of ds (in µs) to b's results, named.
func reportNamed(b *testing.B, name string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	at := func(q float64) float64 { return float64(ds[int(q*float64(len(ds)-1))].Microseconds()) }
	b.ReportMetric(at(0.50), name+"-p50-µs")
	b.ReportMetric(at(0.99), name+"-p99-µs")
}

// BenchmarkEventsAPI is the Events API endpoint in-process: signature
// verification (HMAC-SHA256), parsing, de-duplication and queueing of a
// reaction_added delivery, with the queue drained as the engine would.
// Every request has its own event_id. Run with -cpu 1,2,4 to see how it
// scales.
func BenchmarkEventsAPI(b *testing.B) {
	a, reqs := eventsBenchSetup(b)
	h := a.EventsHandler()
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := reqs[int(next.Add(1))%len(reqs)]
			req := httptest.NewRequest(http.MethodPost, "/slack/events", bytes.NewReader(r.body))
			req.Header = r.header
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Errorf("status %d", w.Code)
				return
			}
		}
	})
}

// BenchmarkEventsAPIHTTP is the same over loopback HTTP with keep-alive
// connections, one client per goroutine.
func BenchmarkEventsAPIHTTP(b *testing.B) {
	a, reqs := eventsBenchSetup(b)
	srv := httptest.NewServer(a.EventsHandler())
	defer srv.Close()
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		for pb.Next() {
			r := reqs[int(next.Add(1))%len(reqs)]
			req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(r.body))
			req.Header = r.header.Clone()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

type signedReq struct {
	body   []byte
	header http.Header
}

// eventsBenchSetup builds an events-mode adapter whose queue is drained,
// and 65536 signed deliveries with distinct event_ids: more than the
// de-duplication window holds, so every request takes the full path.
func eventsBenchSetup(b *testing.B) (*Adapter, []signedReq) {
	const secret = "bench-signing-secret"
	a, err := New(Config{Mode: ModeEvents, BotToken: "xoxb-bench", SigningSecret: secret,
		APIURL: "http://127.0.0.1:1/api/", Channels: []ChannelConfig{{ID: chReview}}},
		// Room for a burst: with one CPU the drainer below runs only now
		// and then, and a full queue would (rightly) answer 503.
		WithQueueSize(1<<18))
	if err != nil {
		b.Fatal(err)
	}
	a.id = &identity{UserID: "U0HEEDBOT1", BotID: "B0HEEDBOT1"}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	go func() {
		for {
			select {
			case <-a.queue:
			case <-ctx.Done():
				return
			}
		}
	}()
	tmpl := string(fixture(b, "events/reaction_added-skin-tone.json"))
	now := time.Now().Unix()
	reqs := make([]signedReq, 1<<16)
	for i := range reqs {
		body := []byte(strings.Replace(tmpl, "Ev0FIXTURE01", "EvBENCH"+strconv.Itoa(i), 1))
		reqs[i] = signedReq{body: body, header: http.Header{
			"Content-Type":              {"application/json"},
			"X-Slack-Request-Timestamp": {strconv.FormatInt(now, 10)},
			"X-Slack-Signature":         {slackfake.Sign(secret, now, body)},
		}}
	}
	return a, reqs
}
