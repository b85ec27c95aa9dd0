package matrix

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/heed-dev/heed/bot/matrix/matrixtest"
	"github.com/heed-dev/heed/sqlite"
)

// BenchmarkEncryptedReactionToEdit measures, on one Dendrite in one run,
// from a reaction being sent until another member's client sees heed's
// card edit, in a plain room and in an encrypted room (the reaction
// encrypted, the edit encrypted and decrypted by the watching client),
// alternating, with 30 s long polls as in production. It reports both
// medians and their ratio (docs/PERFORMANCE.md).
//
// Run: go test -tags goolm ./bot/matrix -run '^$' -bench EncryptedReactionToEdit -benchtime 30x
func BenchmarkEncryptedReactionToEdit(b *testing.B) {
	srv := matrixtest.Shared(b)
	plain := newWorldSync(b, srv, 30*time.Second)
	enc := newWorldWith(b, srv, worldOptions{syncTimeout: 30 * time.Second, crypto: &cryptoOptions{encrypted: true}})
	var p, e []time.Duration
	measure := func(w *world, i int, encrypted bool) time.Duration {
		b.StopTimer()
		_, card := w.card(fmt.Sprintf("Latency card %d", i), time.Hour)
		b.StartTimer()
		start := time.Now()
		if encrypted {
			w.reactEncrypted(w.alice, card, "✅")
		} else {
			w.react(w.alice, card, "✅")
		}
		seen := w.watch.Wait(b, "the edit", realWait, func(ev *event.Event) bool {
			return isEditOf(ev, card) && strings.Contains(newBody(ev), "approved by")
		})
		if encrypted && !seen.Event.Mautrix.WasEncrypted {
			b.Fatal("the edit in the encrypted room was not encrypted")
		}
		return seen.At.Sub(start)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p = append(p, measure(plain, i, false))
		e = append(e, measure(enc, i, true))
	}
	b.StopTimer()
	pm, em := percentile(p, 50), percentile(e, 50)
	b.ReportMetric(float64(pm.Microseconds())/1000, "plain-p50-ms")
	b.ReportMetric(float64(em.Microseconds())/1000, "encrypted-p50-ms")
	b.ReportMetric(float64(em)/float64(pm), "encrypted/plain")
	b.Logf("n=%d plain p50 %v p90 %v · encrypted p50 %v p90 %v · ratio %.2f×",
		len(p), pm, percentile(p, 90), em, percentile(e, 90), float64(em)/float64(pm))
}

// BenchmarkMegolm measures one decrypt by a member's client of a card heed
// encrypted, and one encrypt by heed (a card-sized m.notice; the room's
// session is rotated and shared again every 100 messages, as mautrix does,
// which is part of the average), both mautrix-go's crypto on goolm.
//
// Run: go test -tags goolm ./bot/matrix -run '^$' -bench Megolm -benchmem
func BenchmarkMegolm(b *testing.B) {
	w := newWorldWith(b, matrixtest.Shared(b), worldOptions{crypto: &cryptoOptions{encrypted: true}})
	w.card("Shares heed's session with eve", time.Hour)
	ctx := context.Background()
	heed := w.a.crypt().mach
	content := cardContent(sampleCard())
	enc, err := heed.EncryptMegolmEvent(ctx, w.room, event.EventMessage, content)
	if err != nil {
		b.Fatal(err)
	}
	evt := &event.Event{ID: "$bench", Sender: w.bot.ID, RoomID: w.room, Type: event.EventEncrypted,
		Timestamp: time.Now().UnixMilli(), Content: event.Content{Parsed: enc}}
	b.Run("decrypt", func(b *testing.B) {
		for b.Loop() {
			if _, err := w.eve.Crypto.Mach.DecryptMegolmEvent(ctx, evt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encrypt", func(b *testing.B) {
		for b.Loop() {
			// As heed sends: a new session is shared every 100 messages.
			if _, err := w.a.crypt().Encrypt(ctx, w.room, event.EventMessage, content); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCryptoState1000Sessions stores 1,000 inbound Megolm sessions in
// heed's database through the crypto store heed uses, decrypts one message
// of each, and reports the Go heap they add (after a GC) and the growth of
// the database file.
//
// Run: go test -tags goolm ./bot/matrix -run '^$' -bench CryptoState1000Sessions -benchtime 1x
func BenchmarkCryptoState1000Sessions(b *testing.B) {
	for b.Loop() {
		heap, disk := cryptoState1000(b)
		b.ReportMetric(float64(heap)/1024, "heap-KiB")
		b.ReportMetric(float64(disk)/1024, "db-KiB")
	}
}

func cryptoState1000(b *testing.B) (heapDelta, diskDelta int64) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "heed.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	a, err := New(Config{Homeserver: "http://127.0.0.1:1", AccessToken: "x", PickleKey: strings.Repeat("k", 32)}, []string{"!r:heed.test"}, st, WithRecoveryKeyOut(io.Discard))
	if err != nil {
		b.Fatal(err)
	}
	srv := matrixtest.Shared(b)
	u := srv.Register(b, "heed")
	u.Client.UserID = u.ID
	if err := a.setupCrypto(ctx, u.Client); err != nil {
		b.Fatal(err)
	}
	mach := a.crypt().mach
	room := id.RoomID("!r:heed.test")
	size := func() int64 {
		var n int64
		for _, p := range []string{path, path + "-wal"} {
			if fi, err := os.Stat(p); err == nil {
				n += fi.Size()
			}
		}
		return n
	}
	heap := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	// Each session's first message, encrypted by a sender made here.
	var msgs []*event.Event
	var keys []string
	for i := 0; i < 1000; i++ {
		out, err := crypto.NewOutboundGroupSession(room, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		key := out.Internal.Key() // before the first message
		ct, err := out.Internal.Encrypt([]byte(fmt.Sprintf(`{"room_id":%q,"type":"m.room.message","content":{"msgtype":"m.text","body":"pause %d"}}`, room, i)))
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, &event.Event{ID: id.EventID(fmt.Sprintf("$e%d", i)), Sender: "@s:heed.test", RoomID: room, Type: event.EventEncrypted,
			Timestamp: time.Now().UnixMilli(), Content: event.Content{Parsed: &event.EncryptedEventContent{Algorithm: id.AlgorithmMegolmV1,
				SenderKey: "sender", SessionID: out.ID(), MegolmCiphertext: ct}}})
		keys = append(keys, key)
	}
	heapDelta, diskDelta = -heap(), -size()
	for _, key := range keys {
		in, err := crypto.NewInboundGroupSession("sender", "signing", room, key, 0, 0, nil, false)
		if err != nil {
			b.Fatal(err)
		}
		if err := mach.CryptoStore.PutGroupSession(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	for _, m := range msgs {
		if _, err := mach.DecryptMegolmEvent(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	heapDelta += heap()
	diskDelta += size()
	runtime.KeepAlive(msgs)
	runtime.KeepAlive(keys)
	return heapDelta, diskDelta
}
