package matrix

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
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
// from a reaction being sent until another member's client shows heed's
// card edit, in a plain room and in an encrypted room (the reaction
// encrypted by alice's client, the edit encrypted by heed and decrypted by
// eve's client), alternating, with 30 s long polls as in production. It
// reports both rooms' p50 and p90 and their ratio, each iteration cut into
// the parts the people's clients, the homeserver and heed spend (p50 of
// each), and the work heed does per reaction: SQL statements on its
// database and HTTP requests, counted until heed has also handled its own
// edit coming back (docs/PERFORMANCE.md).
//
// Each iteration starts once heed has handled its new card coming back
// through /sync, so no room's measurement carries work left over from
// posting the card. The first reaction in each room is not in the figures
// (in the encrypted room it is the one for which alice's client makes and
// shares her Megolm session, once per session); it is logged on its own.
//
// Run: go test -tags goolm ./bot/matrix -run '^$' -bench EncryptedReactionToEdit -benchtime 30x
func BenchmarkEncryptedReactionToEdit(b *testing.B) { benchReactionToEdit(b, false) }

// BenchmarkEncryptedReactionToEditQuietServer is the same with the
// homeserver's default push rule for encrypted events (.m.rule.encrypted)
// turned off for every member of both rooms. The homeserver cannot see
// that an encrypted event is a reaction or a notice, so by default it
// makes each one a notification for every other member, which it does not
// for the plain room's m.reaction and m.notice; with the rule off, that
// work is gone and what is left of the gap is the rest. A control for
// docs/PERFORMANCE.md, not a setting heed makes.
func BenchmarkEncryptedReactionToEditQuietServer(b *testing.B) { benchReactionToEdit(b, true) }

func benchReactionToEdit(b *testing.B, quiet bool) {
	srv := matrixtest.Shared(b)
	rooms := []struct {
		name      string
		encrypted bool
		p         *probe
		s         summary
	}{{name: "plain"}, {name: "encrypted", encrypted: true}}
	for i := range rooms {
		rooms[i].p = newProbedWorld(b, srv, rooms[i].name, rooms[i].encrypted)
		if quiet {
			w := rooms[i].p.w
			for _, u := range []*matrixtest.User{w.bot, w.admin, w.alice, w.carol, w.eve} {
				url := u.Client.BuildClientURL("v3", "pushrules", "global", "underride", ".m.rule.encrypted", "enabled")
				if _, err := u.Client.MakeRequest(context.Background(), http.MethodPut, url, map[string]bool{"enabled": false}, nil); err != nil {
					b.Fatalf("turn off %s's notifications of encrypted events: %v", u.ID, err)
				}
			}
		}
	}
	var sb strings.Builder
	for _, r := range rooms {
		first := r.p.iteration(b, -1, r.encrypted)
		fmt.Fprintf(&sb, "%s room, first reaction (not in the figures): %.1f ms; heed: %d SQL statements (%d crypto/state store), HTTP %v\n",
			r.name, ms(first.total), first.work.SQL, first.work.Crypto, first.work.HTTP)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range rooms {
			rooms[j].s = append(rooms[j].s, rooms[j].p.iteration(b, i, rooms[j].encrypted))
		}
	}
	b.StopTimer()
	if n := rooms[1].p.w.watch.Undecryptable(); n != 0 {
		b.Errorf("eve's client could not decrypt %d events: its watcher tried them again at every sync", n)
	}
	plain, enc := rooms[0].s, rooms[1].s
	pm, em := percentile(plain.totals(), 50), percentile(enc.totals(), 50)
	b.ReportMetric(ms(pm), "plain-p50-ms")
	b.ReportMetric(ms(em), "encrypted-p50-ms")
	b.ReportMetric(float64(em)/float64(pm), "encrypted/plain")
	fmt.Fprintf(&sb, "n=%d · plain p50 %.1f ms p90 %.1f ms · encrypted p50 %.1f ms p90 %.1f ms · ratio %.2f×\n",
		len(plain), ms(pm), ms(percentile(plain.totals(), 90)), ms(em), ms(percentile(enc.totals(), 90)), float64(em)/float64(pm))
	fmt.Fprintf(&sb, "%-30s %10s %10s %10s\n", "part (p50)", "plain", "encrypted", "added")
	for _, part := range sampleParts {
		a, c := percentile(plain.part(part), 50), percentile(enc.part(part), 50)
		fmt.Fprintf(&sb, "%-30s %7.2f ms %7.2f ms %+7.2f ms\n", part, ms(a), ms(c), ms(c-a))
	}
	fmt.Fprintf(&sb, "heed's work per reaction (mean)      plain  encrypted\n")
	for _, row := range []struct {
		name string
		f    func(probeWork) float64
	}{
		{"SQL statements", func(w probeWork) float64 { return float64(w.SQL) }},
		{"  of which writes", func(w probeWork) float64 { return float64(w.Writes) }},
		{"  of which crypto/state store", func(w probeWork) float64 { return float64(w.Crypto) }},
		{"transactions", func(w probeWork) float64 { return float64(w.Tx) }},
		{"SQL time (ms)", func(w probeWork) float64 { return ms(w.SQLTime) }},
		{"SQL steps taking ≥ 1 ms", func(w probeWork) float64 { return float64(w.Slow) }},
		{"HTTP requests", func(w probeWork) float64 { return float64(w.requests()) }},
	} {
		fmt.Fprintf(&sb, "%-34s %8.1f %10.1f\n", row.name, plain.mean(row.f), enc.mean(row.f))
	}
	kinds := plain.httpKinds()
	for _, k := range enc.httpKinds() {
		if !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		f := func(w probeWork) float64 { return float64(w.HTTP[k]) }
		fmt.Fprintf(&sb, "%-34s %8.2f %10.2f\n", "  HTTP "+k, plain.mean(f), enc.mean(f))
	}
	b.ReportMetric(plain.mean(func(w probeWork) float64 { return float64(w.SQL) }), "plain-sql/op")
	b.ReportMetric(enc.mean(func(w probeWork) float64 { return float64(w.SQL) }), "encrypted-sql/op")
	b.ReportMetric(plain.mean(func(w probeWork) float64 { return float64(w.requests()) }), "plain-http/op")
	b.ReportMetric(enc.mean(func(w probeWork) float64 { return float64(w.requests()) }), "encrypted-http/op")
	// The table is longer than the testing package keeps of a benchmark's
	// log, so it goes to the standard output.
	fmt.Printf("%s: %s", b.Name(), sb.String())
}

// BenchmarkMegolm measures, with mautrix-go's crypto on goolm: one
// decrypt by a member's client (in-memory store) of a card heed
// encrypted; one decrypt by heed (its SQL store in heed's database) of a
// reaction a member encrypted, each a new message of her session, as
// heed's sync loop decrypts it; and one encrypt by heed (a card-sized
// m.notice; the room's session is rotated and shared again every 100
// messages, as mautrix does, which is part of the average).
//
// Run: go test -tags goolm ./bot/matrix -run '^$' -bench Megolm -benchmem
func BenchmarkMegolm(b *testing.B) {
	w := newWorldWith(b, matrixtest.Shared(b), worldOptions{crypto: &cryptoOptions{encrypted: true}})
	_, card := w.card("Shares heed's session with eve", time.Hour)
	// alice's first encrypted reaction shares her session with heed.
	w.reactEncrypted(w.alice, card, "✅")
	w.waitEdit(card, "approved by "+string(w.alice.ID))
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
	b.Run("decrypt-by-heed", func(b *testing.B) {
		// Each message once: a message index seen before is a replay.
		// alice's session is replaced every 100 messages; heed is given
		// each new one (through its /sync) before the clock starts.
		evts := make([]*event.Event, b.N)
		sessions := map[id.SessionID]id.SenderKey{}
		for i := range evts {
			c, err := w.alice.Crypto.Encrypt(ctx, w.room, event.EventReaction, &event.ReactionEventContent{
				RelatesTo: event.RelatesTo{Type: event.RelAnnotation, EventID: card, Key: "👀"}})
			if err != nil {
				b.Fatal(err)
			}
			evts[i] = &event.Event{ID: id.EventID(fmt.Sprintf("$r%d-%s", i, matrixtest.Random(4))), Sender: w.alice.ID, RoomID: w.room,
				Type: event.EventEncrypted, Timestamp: time.Now().UnixMilli(), Content: event.Content{Parsed: c}}
			sessions[c.SessionID] = c.SenderKey
		}
		for s, key := range sessions {
			if !heed.WaitForSession(ctx, w.room, key, s, realWait) {
				b.Fatalf("heed did not receive alice's session %s", s)
			}
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := heed.DecryptMegolmEvent(ctx, evts[i]); err != nil {
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
// heed's database through the crypto store heed uses and decrypts one
// message of each, with the store and the Olm machine alive throughout. It
// reports what they add: to the Go heap (live bytes after two GCs, so that
// sync.Pool's victim cache is gone too), to the process's resident memory
// (after the Go runtime returns what it can to the OS: this includes
// SQLite's page cache, which lives outside the Go heap), and to the
// database (the file and its WAL).
//
// Run: go test -tags goolm ./bot/matrix -run '^$' -bench CryptoState1000Sessions -benchtime 1x -count 3
func BenchmarkCryptoState1000Sessions(b *testing.B) {
	for b.Loop() {
		heap, rss, disk := cryptoState1000(b)
		b.ReportMetric(float64(heap)/1024, "heap-KiB")
		b.ReportMetric(float64(rss)/1024, "rss-KiB")
		b.ReportMetric(float64(disk)/1024, "db-KiB")
	}
}

func cryptoState1000(b *testing.B) (heapDelta, rssDelta, diskDelta int64) {
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
	mem := func() (heap, rss int64) {
		runtime.GC()
		runtime.GC() // what sync.Pool kept through the first
		debug.FreeOSMemory()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc), residentBytes(b)
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
	heap0, rss0 := mem()
	disk0 := size()
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
	heap1, rss1 := mem()
	// The store, the adapter and its machine, and the inputs stay alive
	// until both measurements are taken, so neither counts their freeing.
	runtime.KeepAlive(st)
	runtime.KeepAlive(a)
	runtime.KeepAlive(mach)
	runtime.KeepAlive(msgs)
	runtime.KeepAlive(keys)
	return heap1 - heap0, rss1 - rss0, size() - disk0
}

// residentBytes is the process's resident set size, from /proc.
func residentBytes(b *testing.B) int64 {
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		b.Fatalf("resident memory: %v", err)
	}
	f := strings.Fields(string(raw))
	if len(f) < 2 {
		b.Fatalf("resident memory: unreadable /proc/self/statm %q", raw)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		b.Fatalf("resident memory: %v", err)
	}
	return pages * int64(os.Getpagesize())
}
