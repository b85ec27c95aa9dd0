package linkedin

import (
	"context"
	"testing"

	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/publishtest"
)

// BenchmarkPublish measures one publish against the fake Posts API on
// loopback.
func BenchmarkPublish(b *testing.B) {
	fake := newFake(b)
	p, err := New(publish.Config{Name: "bench", Kind: "linkedin", Logger: (&publishtest.LogBuffer{}).Logger(),
		Decode: publishtest.Decoder("access_token: " + token + "\napi: " + fake.URL + "\nauthor: " + org)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	req := publish.Request{Text: "heed 2.0 is out (finally) 🎉 #heed", Link: "https://example.com/heed-2.0"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Publish(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
