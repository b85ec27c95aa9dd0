// Package logpub is the `log` publisher: heed's embedded default target. It
// writes what would be posted, with its idempotency key, to stdout or a
// file, so heed can be tried without any network account.
package logpub

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heed-dev/heed/publish"
)

func init() { publish.Register("log", New) }

// Config is the `log` target's settings.
type Config struct {
	// File to append to; empty or "-" means standard output.
	File string `yaml:"file"`
}

// Publisher writes one line per publish.
type Publisher struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

// New builds a log publisher from its configuration.
func New(cfg publish.Config) (publish.Publisher, error) {
	var c Config
	if cfg.Decode != nil {
		if err := cfg.Decode(&c); err != nil {
			return nil, err
		}
	}
	if c.File == "" || c.File == "-" {
		if cfg.Stdout != nil {
			return NewWriter(cfg.Stdout), nil
		}
		return NewWriter(os.Stdout), nil
	}
	f, err := os.OpenFile(c.File, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	return NewWriter(f), nil
}

// NewWriter returns a log publisher writing to w.
func NewWriter(w io.Writer) *Publisher { return &Publisher{w: w, now: time.Now} }

// Publish writes the request as one line and returns a local id.
func (p *Publisher) Publish(ctx context.Context, req publish.Request) (publish.Result, error) {
	if err := ctx.Err(); err != nil {
		return publish.Result{}, publish.RetryableError(err, 0)
	}
	line := fmt.Sprintf("[published] %s #%d → %s key=%s text=%s", p.now().UTC().Format(time.RFC3339),
		req.OccurrenceID, req.Target, req.IdempotencyKey, strconv.Quote(req.Text))
	if req.Link != "" {
		line += " link=" + req.Link
	}
	for _, m := range req.Media {
		line += " media=" + m.Path + " alt=" + strconv.Quote(m.Alt)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := io.WriteString(p.w, strings.ReplaceAll(line, "\n", " ")+"\n"); err != nil {
		return publish.Result{}, publish.RetryableError(err, 0)
	}
	return publish.Result{RemoteID: req.IdempotencyKey}, nil
}
