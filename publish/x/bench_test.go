package x

import (
	"context"
	"strconv"
	"testing"

	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/publishtest"
	"github.com/heed-dev/heed/publish/x/xfake"
)

// BenchmarkPublish measures one publish against the fake X API on loopback.
func BenchmarkPublish(b *testing.B) {
	fake := xfake.New(b, accessToken, "", "")
	fake.SetRateLimit(1<<30, fake.Now())
	p, err := New(publish.Config{Name: "bench", Kind: "x", Logger: (&publishtest.LogBuffer{}).Logger(),
		Decode: publishtest.Decoder("api: " + fake.URL + "\n" + plain)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++ // X refuses duplicates: each text differs
		req := publish.Request{Text: "heed 2.0 is out 🎉 #heed " + strconv.Itoa(i), Link: "https://example.com/heed-2.0"}
		if _, err := p.Publish(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
