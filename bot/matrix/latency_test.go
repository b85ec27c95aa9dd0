package matrix

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/bot/matrix/matrixtest"
)

// BenchmarkReactionToEdit measures, on one Dendrite in one run, for
// docs/PERFORMANCE.md:
//
//   - edit: from a reaction being sent until another client sees heed's
//     card edit through /sync;
//   - hop: one client sending an event until another sees it through
//     /sync (the plain round trip);
//   - echo: a client sending an event, a trivial bot answering it, and
//     another client seeing the answer (two hops with no work between);
//   - handle: inside heed, from the reaction reaching the engine until the
//     engine hands the chat's event worker back (the reaction stored and
//     decided in one transaction, the card queued); the edit itself is
//     sent by the engine's render loop and is part of edit.
//
// Every long poll, heed's included, uses a 30 s timeout, as in production.
// Run: go test ./bot/matrix -run '^$' -bench ReactionToEdit -benchtime 40x
func BenchmarkReactionToEdit(b *testing.B) {
	srv := matrixtest.Shared(b)
	th := &timedHandler{}
	w := newWorldSync(b, srv, 30*time.Second, func(h bot.Handler) bot.Handler { th.inner = h; return th })
	ctx := context.Background()
	echoBot := srv.Register(b, "echo")
	if _, err := w.admin.Client.InviteUser(ctx, w.room, inviteReq(echoBot.ID)); err != nil {
		b.Fatal(err)
	}
	if _, err := echoBot.Client.JoinRoomByID(ctx, w.room); err != nil {
		b.Fatal(err)
	}
	runEcho(b, echoBot, w.room)
	aliceWatch := w.alice.Watch(b)

	var hop, echo, edit []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		occ, card := w.card(fmt.Sprintf("Latency card %d", i), time.Hour)
		_ = occ
		b.StartTimer()

		// The plain hop: eve sends, alice sees.
		text := fmt.Sprintf("hop %d %s", i, matrixtest.Random(3))
		start := time.Now()
		w.say(w.eve, text)
		seen := aliceWatch.Wait(b, text, realWait, func(e *event.Event) bool { return bodyOf(e) == text })
		hop = append(hop, seen.At.Sub(start))

		// Echo: alice sends ping, the echo bot answers, eve sees the answer.
		ping := fmt.Sprintf("ping %d %s", i, matrixtest.Random(3))
		start = time.Now()
		w.say(w.alice, ping)
		seen = w.watch.Wait(b, "pong", realWait, func(e *event.Event) bool { return bodyOf(e) == "pong "+ping })
		echo = append(echo, seen.At.Sub(start))

		// heed: alice approves, eve sees the card edited.
		start = time.Now()
		w.react(w.alice, card, "✅")
		seen = w.watch.Wait(b, "the edit", realWait, func(e *event.Event) bool {
			return isEditOf(e, card) && strings.Contains(newBody(e), "approved by")
		})
		edit = append(edit, seen.At.Sub(start))
	}
	b.StopTimer()
	med := func(d []time.Duration) time.Duration { return percentile(d, 50) }
	b.ReportMetric(float64(med(hop).Microseconds())/1000, "hop-p50-ms")
	b.ReportMetric(float64(med(echo).Microseconds())/1000, "echo-p50-ms")
	b.ReportMetric(float64(med(edit).Microseconds())/1000, "edit-p50-ms")
	handle := th.reactions()
	b.ReportMetric(float64(med(handle).Microseconds())/1000, "handle-p50-ms")
	b.ReportMetric(float64(med(edit))/float64(med(hop)), "edit/hop")
	b.ReportMetric(float64(med(edit))/float64(med(echo)), "edit/echo")
	b.Logf("n=%d hop p50 %v p90 %v · echo p50 %v p90 %v · edit p50 %v p90 %v · handle p50 %v p90 %v · edit/hop %.2f× · edit/echo %.2f×",
		len(hop), med(hop), percentile(hop, 90), med(echo), percentile(echo, 90), med(edit), percentile(edit, 90),
		med(handle), percentile(handle, 90), float64(med(edit))/float64(med(hop)), float64(med(edit))/float64(med(echo)))
}

// timedHandler times the engine's handling of each reaction.
type timedHandler struct {
	inner bot.Handler
	mu    sync.Mutex
	took  []time.Duration
}

func (h *timedHandler) HandleEvent(ctx context.Context, ev bot.Event) error {
	start := time.Now()
	err := h.inner.HandleEvent(ctx, ev)
	if ev.Kind == bot.Reaction {
		h.mu.Lock()
		h.took = append(h.took, time.Since(start))
		h.mu.Unlock()
	}
	return err
}

func (h *timedHandler) reactions() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.took)
}

func percentile(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[(len(s)-1)*p/100]
}

func bodyOf(e *event.Event) string {
	s, _ := e.Content.Raw["body"].(string)
	return s
}

// runEcho answers every "ping …" text in room with "pong ping …", with a
// plain mautrix sync loop and nothing else: the floor for any bot.
func runEcho(b testing.TB, u *matrixtest.User, room id.RoomID) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	b.Cleanup(func() { cancel(); <-done })
	filter, err := u.Client.CreateFilter(ctx, matrixtest.TimelineOnly())
	if err != nil {
		b.Fatal(err)
	}
	first, err := u.Client.FullSyncRequest(ctx, mautrix.ReqSync{FilterID: filter.FilterID})
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		defer close(done)
		since := first.NextBatch
		for ctx.Err() == nil {
			resp, err := u.Client.FullSyncRequest(ctx, mautrix.ReqSync{Since: since, Timeout: 30000, FilterID: filter.FilterID})
			if err != nil {
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond): // a failing real server: retry soon
				}
				continue
			}
			since = resp.NextBatch
			jr := resp.Rooms.Join[room]
			if jr == nil {
				continue
			}
			for _, evt := range jr.Timeline.Events {
				if s := bodyOf(evt); strings.HasPrefix(s, "ping ") && evt.Sender != u.ID {
					u.Client.SendText(ctx, room, "pong "+s)
				}
			}
		}
	}()
}
