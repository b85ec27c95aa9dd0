package matrix

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/bot/matrix/matrixtest"
	"github.com/heed-dev/heed/internal/heedtest"
)

// probe watches one heed under benchmark from the outside: the HTTP
// requests it makes (through the transport it is given), the SQL
// statements its store runs (heedtest.ObserveSQL), the engine's handling
// of reactions, and the HTTP requests of the room's people. From these a
// reaction's way to the visible edit is cut into the parts each side
// spends, and the work heed does for it is counted.
type probe struct {
	name string
	w    *world

	mu      sync.Mutex
	changed chan struct{} // a record was added
	heed    []*httpRec    // heed's requests, in the order they ended
	people  []*httpRec    // the people's requests, in the order they ended
	handled []span        // the engine handling a reaction
	syncs   int           // heed's /sync requests started
	pending int           // heed's other requests not done yet
	work    probeWork     // counted so far
}

// probeWork is what heed did, counted.
type probeWork struct {
	SQL, Writes, Crypto, Tx int // statements, of which writes and crypto or state store ones; transactions
	SQLTime                 time.Duration
	Slow                    int            // statements, BEGINs and COMMITs that took 1 ms or more (waiting for SQLite's lock, or for the CPU)
	HTTP                    map[string]int // by kind (httpKind)
}

func (w probeWork) sub(o probeWork) probeWork {
	d := probeWork{SQL: w.SQL - o.SQL, Writes: w.Writes - o.Writes, Crypto: w.Crypto - o.Crypto, Tx: w.Tx - o.Tx,
		SQLTime: w.SQLTime - o.SQLTime, Slow: w.Slow - o.Slow, HTTP: map[string]int{}}
	for k, v := range w.HTTP {
		if n := v - o.HTTP[k]; n != 0 {
			d.HTTP[k] = n
		}
	}
	return d
}

func (w probeWork) requests() int {
	n := 0
	for _, v := range w.HTTP {
		n += v
	}
	return n
}

type span struct{ start, end time.Time }

// httpRec is one request: when it was sent, when its response was read to
// the end, and for /sync the response body and the request's number.
type httpRec struct {
	who        id.UserID // the person, for the people's requests
	method     string
	kind       string
	start, end time.Time
	body       []byte
	syncNo     int
}

// httpKind sorts a client-server API request.
func httpKind(method, path string) string {
	switch {
	case strings.HasSuffix(path, "/sync"):
		return "sync"
	case method == http.MethodPut && strings.Contains(path, "/send/"):
		return "send"
	case strings.Contains(path, "/sendToDevice/"):
		return "to-device"
	case strings.Contains(path, "/keys/"):
		return "keys"
	}
	return "other"
}

// newProbedWorld is a world whose heed (30 s long polls, as in
// production) and people are watched by a probe.
func newProbedWorld(b *testing.B, srv *matrixtest.Server, name string, encrypted bool) *probe {
	p := &probe{name: name, changed: make(chan struct{}, 1), work: probeWork{HTTP: map[string]int{}}}
	o := worldOptions{syncTimeout: 30 * time.Second, countSQL: true,
		transport: probeRT{p: p},
		peopleRT:  func(u *matrixtest.User) http.RoundTripper { return probeRT{p: p, who: u.ID} },
		wrap:      func(h bot.Handler) bot.Handler { return probeHandler{p, h} }}
	if encrypted {
		o.crypto = &cryptoOptions{encrypted: true}
	}
	p.w = newWorldWith(b, srv, o)
	stop := heedtest.ObserveSQL(p.w.s.DBPath, p.sql)
	b.Cleanup(stop)
	return p
}

func (p *probe) signal() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

func (p *probe) sql(query string, took time.Duration) {
	q := strings.ToUpper(strings.TrimSpace(query))
	p.mu.Lock()
	defer p.mu.Unlock()
	p.work.SQLTime += took
	if took >= time.Millisecond {
		p.work.Slow++
	}
	switch q {
	case "BEGIN":
		p.work.Tx++
		return
	case "COMMIT", "ROLLBACK":
		return
	}
	p.work.SQL++
	if isWriteSQL(q) {
		p.work.Writes++
	}
	if strings.Contains(q, "CRYPTO_") || strings.Contains(q, "MX_") {
		p.work.Crypto++
	}
}

func isWriteSQL(q string) bool {
	for _, w := range []string{"INSERT", "UPDATE", "DELETE", "REPLACE"} {
		if strings.HasPrefix(q, w) {
			return true
		}
	}
	return false
}

// probeRT is the transport of heed (who empty) or of a person.
type probeRT struct {
	p   *probe
	who id.UserID
}

func (t probeRT) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := &httpRec{who: t.who, method: r.Method, kind: httpKind(r.Method, r.URL.Path), start: time.Now()}
	if t.who == "" {
		t.p.mu.Lock()
		t.p.work.HTTP[rec.kind]++
		if rec.kind == "sync" {
			t.p.syncs++
			rec.syncNo = t.p.syncs
		} else {
			t.p.pending++
		}
		t.p.mu.Unlock()
		t.p.signal()
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		t.p.done(rec)
		return nil, err
	}
	resp.Body = &probeBody{ReadCloser: resp.Body, p: t.p, rec: rec}
	return resp, nil
}

// probeBody records its request as done once the body is read to the end
// or closed.
type probeBody struct {
	io.ReadCloser
	p    *probe
	rec  *httpRec
	once sync.Once
}

func (b *probeBody) Read(buf []byte) (int, error) {
	n, err := b.ReadCloser.Read(buf)
	if b.rec.kind == "sync" {
		b.rec.body = append(b.rec.body, buf[:n]...)
	}
	if err == io.EOF {
		b.once.Do(func() { b.p.done(b.rec) })
	}
	return n, err
}

func (b *probeBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() { b.p.done(b.rec) })
	return err
}

func (p *probe) done(rec *httpRec) {
	rec.end = time.Now()
	p.mu.Lock()
	if rec.who == "" {
		p.heed = append(p.heed, rec)
		if rec.kind != "sync" {
			p.pending--
		}
	} else {
		p.people = append(p.people, rec)
	}
	p.mu.Unlock()
	p.signal()
}

// probeHandler times the engine's handling of reactions.
type probeHandler struct {
	p     *probe
	inner bot.Handler
}

func (h probeHandler) HandleEvent(ctx context.Context, ev bot.Event) error {
	start := time.Now()
	err := h.inner.HandleEvent(ctx, ev)
	if ev.Kind == bot.Reaction {
		h.p.mu.Lock()
		h.p.handled = append(h.p.handled, span{start, time.Now()})
		h.p.mu.Unlock()
	}
	return err
}

func (p *probe) snapshot() probeWork {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.work
	w.HTTP = map[string]int{}
	for k, v := range p.work.HTTP {
		w.HTTP[k] = v
	}
	return w
}

// waitHandled waits until heed has handled the /sync response that
// brought ev (its sync loop has asked for the next one) and has no other
// request under way.
func (p *probe) waitHandled(b *testing.B, ev id.EventID) {
	b.Helper()
	deadline := time.NewTimer(realWait)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		handled := false
		for _, r := range p.heed {
			if r.kind == "sync" && strings.Contains(string(r.body), string(ev)) {
				handled = p.syncs > r.syncNo && p.pending == 0
				break
			}
		}
		p.mu.Unlock()
		if handled {
			return
		}
		select {
		case <-p.changed:
		case <-deadline.C:
			b.Fatalf("%s: heed did not handle the sync that brought %s within %v", p.name, ev, realWait)
		}
	}
}

// sample is one reaction's way to the visible edit, cut into parts, and
// the work heed did for it.
type sample struct {
	total time.Duration
	parts map[string]time.Duration
	work  probeWork
}

// Parts of a sample, in the order they happen. Together they make the
// total.
var sampleParts = []string{
	"alice's client: encrypt",     // from the start until alice's PUT is sent
	"homeserver: reaction → heed", // alice's PUT sent until heed's /sync response has it
	"heed: receive",               // heed's /sync response read until the engine has the reaction (decrypt included)
	"heed: engine + send",         // the engine has it until heed's PUT of the edit is sent (encrypt included)
	"homeserver: edit → eve",      // heed's PUT sent until eve's /sync response has the edit
	"eve's client: read",          // eve's /sync response read until her watcher shows the edit (decrypt included)
}

// iteration posts a card, waits until heed is idle, then times alice's ✅
// until eve's client shows heed's edit, and counts heed's work until heed
// has also handled its own edit coming back through /sync.
func (p *probe) iteration(b *testing.B, i int, encrypted bool) sample {
	b.Helper()
	w := p.w
	b.StopTimer()
	_, card := w.card(fmt.Sprintf("Latency card %d", i), time.Hour)
	p.waitHandled(b, card)
	before := p.snapshot()
	b.StartTimer()
	start := time.Now()
	var reaction id.EventID
	if encrypted {
		reaction = w.reactEncrypted(w.alice, card, "✅")
	} else {
		reaction = w.react(w.alice, card, "✅")
	}
	seen := w.watch.Wait(b, "the edit", realWait, func(ev *event.Event) bool {
		return isEditOf(ev, card) && strings.Contains(newBody(ev), "approved by")
	})
	b.StopTimer()
	if encrypted && !seen.Event.Mautrix.WasEncrypted {
		b.Fatal("the edit in the encrypted room was not encrypted")
	}
	p.waitHandled(b, seen.Event.ID)
	s := sample{total: seen.At.Sub(start), work: p.snapshot().sub(before)}
	s.parts = p.cut(b, start, seen.At, reaction, seen.Event.ID)
	b.StartTimer()
	return s
}

// cut finds the moments of one iteration in what the probe recorded.
func (p *probe) cut(b *testing.B, start, seen time.Time, reaction, edit id.EventID) map[string]time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var alicePut, heedSync, heedPut, eveSync *httpRec
	for _, r := range p.people {
		if alicePut == nil && r.who == p.w.alice.ID && r.kind == "send" && !r.start.Before(start) {
			alicePut = r
		}
		// eve's long poll may have been asked for before the reaction.
		if eveSync == nil && r.who == p.w.eve.ID && r.kind == "sync" && strings.Contains(string(r.body), string(edit)) {
			eveSync = r
		}
	}
	for _, r := range p.heed {
		if heedSync == nil && r.kind == "sync" && strings.Contains(string(r.body), string(reaction)) {
			heedSync = r
		}
	}
	var handled *span
	if heedSync != nil {
		for i := range p.handled {
			if !p.handled[i].start.Before(heedSync.end) {
				handled = &p.handled[i]
				break
			}
		}
	}
	if handled != nil {
		for _, r := range p.heed {
			if r.kind == "send" && !r.start.Before(handled.start) && (heedPut == nil || r.start.Before(heedPut.start)) {
				heedPut = r
			}
		}
	}
	if alicePut == nil || heedSync == nil || handled == nil || heedPut == nil || eveSync == nil {
		b.Fatalf("%s: could not find every step of the iteration (alice's PUT %v, heed's sync %v, handling %v, heed's PUT %v, eve's sync %v)",
			p.name, alicePut != nil, heedSync != nil, handled != nil, heedPut != nil, eveSync != nil)
	}
	return map[string]time.Duration{
		sampleParts[0]: alicePut.start.Sub(start),
		sampleParts[1]: heedSync.end.Sub(alicePut.start),
		sampleParts[2]: handled.start.Sub(heedSync.end),
		sampleParts[3]: heedPut.start.Sub(handled.start),
		sampleParts[4]: eveSync.end.Sub(heedPut.start),
		sampleParts[5]: seen.Sub(eveSync.end),
	}
}

// summary is the samples of one room.
type summary []sample

func (s summary) totals() []time.Duration {
	var d []time.Duration
	for _, x := range s {
		d = append(d, x.total)
	}
	return d
}

func (s summary) part(name string) []time.Duration {
	var d []time.Duration
	for _, x := range s {
		d = append(d, x.parts[name])
	}
	return d
}

// mean returns the mean of f over the samples.
func (s summary) mean(f func(probeWork) float64) float64 {
	if len(s) == 0 {
		return 0
	}
	t := 0.0
	for _, x := range s {
		t += f(x.work)
	}
	return t / float64(len(s))
}

// httpKinds lists the kinds of request in the samples, sorted.
func (s summary) httpKinds() []string {
	var out []string
	for _, x := range s {
		for k := range x.work.HTTP {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
