package mastodon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heed-dev/heed/publish"
)

// The bytes the dispatcher hands over (Data, read from heed's media store
// and checked against the approved hash) are what is uploaded, under the
// name the person gave: no file is read, and a store path that does not
// exist here is no problem.
func TestMediaSendsTheBytesHandedOver(t *testing.T) {
	fake := newFake(t, testToken)
	p := newTestPublisher(t, fake.URL, "", nil)
	p.readFile = func(path string) ([]byte, error) {
		t.Errorf("read %s although the bytes were handed over", path)
		return nil, errors.New("not to be read")
	}
	data, err := os.ReadFile(writePNG(t))
	if err != nil {
		t.Fatal(err)
	}
	req := publish.Request{Text: "cat", IdempotencyKey: "heed-media", Media: []publish.Media{{
		Path: filepath.Join(t.TempDir(), strings.Repeat("ab", 32)), Name: "cat.png", MIME: "image/png",
		Alt: "a cat on a mat", SHA256: strings.Repeat("ab", 32), Data: data,
	}}}
	if probs := p.Validate(req); len(probs) != 0 {
		t.Fatalf("Validate = %v", probs)
	}
	res, err := p.Publish(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := fake.Status(res.RemoteID)
	if len(st.MediaIDs) != 1 {
		t.Fatalf("status media %v", st.MediaIDs)
	}
	fake.mu.Lock()
	m := fake.media[st.MediaIDs[0]]
	fake.mu.Unlock()
	if m.Size != len(data) || m.Filename != "cat.png" || m.MIME != "image/png" || m.Description != "a cat on a mat" {
		t.Errorf("attachment %+v, want %d bytes named cat.png", m, len(data))
	}
}
