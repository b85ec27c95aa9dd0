package publishtest

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
)

// Exchange is one request a fake received and its answer, kept so a network
// package's tests can check what went over the wire.
type Exchange struct {
	Method string
	// Path is the path as sent, percent-encoding kept.
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
	// Status is the answer's status code; 200 if the handler set none.
	Status         int
	Response       []byte
	ResponseHeader http.Header
}

// Form parses Body as a URL-encoded form; a malformed body gives what
// parsed before the error.
func (e Exchange) Form() url.Values {
	f, _ := url.ParseQuery(string(e.Body))
	return f
}

// Serve returns the handler of a fake: for every request it counts the
// call (Called), reads the body and hands it to h, and keeps the request
// and h's answer for Exchanges.
func (r *Recorder) Serve(h func(w http.ResponseWriter, req *http.Request, body []byte)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.Called()
		body, _ := io.ReadAll(req.Body)
		rec := &answer{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			e := Exchange{
				Method: req.Method, Path: req.URL.EscapedPath(), Query: req.URL.Query(),
				Header: req.Header.Clone(), Body: body,
				Status: rec.status, Response: rec.body.Bytes(), ResponseHeader: w.Header().Clone(),
			}
			r.mu.Lock()
			r.exchanges = append(r.exchanges, e)
			r.mu.Unlock()
		}()
		h(rec, req, body)
	})
}

// Exchanges returns every exchange the handler from Serve has kept, oldest
// first.
func (r *Recorder) Exchanges() []Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Exchange(nil), r.exchanges...)
}

// answer passes a handler's answer on and keeps a copy for the Exchange.
type answer struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (a *answer) WriteHeader(code int) { a.status = code; a.ResponseWriter.WriteHeader(code) }

func (a *answer) Write(b []byte) (int, error) {
	a.body.Write(b)
	return a.ResponseWriter.Write(b)
}
