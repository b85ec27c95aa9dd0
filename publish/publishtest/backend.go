package publishtest

import (
	"bytes"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
)

// Recorder is the bookkeeping half of a fake backend, safe for concurrent
// use. Embed it in a fake to get Posts, Calls and FailNext; the fake's
// handler calls Called on every request, TakeFailure on a post-creating one,
// and Record to store the post. A fake served through Serve has Called done
// for it and keeps every exchange for Exchanges.
type Recorder struct {
	mu        sync.Mutex
	posts     []Post
	calls     int
	next      Failure
	exchanges []Exchange
}

// Posts returns a copy of the posts recorded, oldest first.
func (r *Recorder) Posts() []Post {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Post(nil), r.posts...)
}

// Calls returns how many times Called was called.
func (r *Recorder) Calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// FailNext arms f for the next TakeFailure.
func (r *Recorder) FailNext(f Failure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next = f
}

// Called counts one request received by the fake.
func (r *Recorder) Called() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
}

// TakeFailure returns the armed failure, or 0 if none, and disarms it.
func (r *Recorder) TakeFailure() Failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.next
	r.next = 0
	return f
}

// Record stores p and returns it, with RemoteID set to its position ("1",
// "2", ...) if p had none. If a post with p's non-empty IdempotencyKey is
// already stored, Record stores nothing and returns that post with
// duplicate set: the fake then answers as the network answers a repeated
// key, usually with the original post.
func (r *Recorder) Record(p Post) (stored Post, duplicate bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p.IdempotencyKey != "" {
		for _, q := range r.posts {
			if q.IdempotencyKey == p.IdempotencyKey {
				return q, true
			}
		}
	}
	if p.RemoteID == "" {
		p.RemoteID = strconv.Itoa(len(r.posts) + 1)
	}
	r.posts = append(r.posts, p)
	return p, false
}

// Stall blocks until the client that sent req gives up and the server
// notices the dropped connection. A fake calls it for TimeoutAfterSend,
// after recording the post, instead of sleeping.
func Stall(req *http.Request) {
	<-req.Context().Done()
}

// LogBuffer collects what publishers log, for Harness.Logs. The zero value
// is ready to use and safe for concurrent use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p to the buffer.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything logged so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Logger returns a logger, at debug level, that writes to b. It satisfies
// publish.Logger.
func (b *LogBuffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
