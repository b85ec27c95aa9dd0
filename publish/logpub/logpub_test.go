package logpub

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/publish"
)

func TestPublishWritesTextAndKey(t *testing.T) {
	var out bytes.Buffer
	p, err := New(publish.Config{Name: "log", Kind: "log", Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Publish(t.Context(), publish.Request{OccurrenceID: 7, Target: "log", Text: "two\nlines ✅",
		Link: "https://example.org", IdempotencyKey: "heed-abc", ScheduledAt: time.Now()})
	if err != nil || res.RemoteID != "heed-abc" {
		t.Fatalf("publish: %+v %v", res, err)
	}
	line := out.String()
	for _, want := range []string{"#7 → log", "key=heed-abc", `text="two\nlines ✅"`, "link=https://example.org"} {
		if !strings.Contains(line, want) {
			t.Errorf("line lacks %q: %s", want, line)
		}
	}
	if strings.Count(line, "\n") != 1 {
		t.Errorf("a publish must be one line: %q", line)
	}
}

func TestPublishToFileAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "published.log")
	cfg := publish.Config{Name: "log", Kind: "log", Decode: func(v any) error { v.(*Config).File = path; return nil }}
	for i := range 2 {
		p, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Publish(t.Context(), publish.Request{OccurrenceID: int64(i + 1), Text: "x", IdempotencyKey: "k"}); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(path)
	if strings.Count(string(b), "[published]") != 2 {
		t.Fatalf("file: %s", b)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteFailureIsRetryable(t *testing.T) {
	p := NewWriter(failingWriter{})
	_, err := p.Publish(t.Context(), publish.Request{Text: "x"})
	if k, _ := publish.Classify(err); k != publish.Retryable {
		t.Fatalf("kind %v, err %v; a write that failed sent nothing, so it is retryable", k, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := p.Publish(ctx, publish.Request{Text: "x"}); err == nil {
		t.Fatal("a canceled publish succeeded")
	}
}
