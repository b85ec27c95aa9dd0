package bluesky

import (
	"context"
	"strconv"
	"testing"

	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/bluesky/blueskyfake"
	"github.com/heed-dev/heed/publish/publishtest"
)

// BenchmarkPublish measures one publish against the fake PDS on loopback:
// validation, facet detection with a handle lookup, the record, the call.
func BenchmarkPublish(b *testing.B) {
	fake := blueskyfake.New(b, account)
	fake.AddHandle("alice.bsky.social", "did:plc:alice0000000000000000000")
	p, err := New(publish.Config{Name: "bench", Kind: "bluesky", Logger: (&publishtest.LogBuffer{}).Logger(),
		Decode: publishtest.Decoder("handle: " + handle + "\napp_password: " + appPassword + "\npds: " + fake.URL)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	req := publish.Request{Text: "heed 2.0 is out 🎉 thanks @alice.bsky.social #heed", Link: "https://example.com/heed-2.0"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		req.IdempotencyKey = "bench-" + strconv.Itoa(i)
		if _, err := p.Publish(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPrepare is heed's own share of a publish: Validate, Preview and
// facet detection, without the network.
func BenchmarkPrepare(b *testing.B) {
	p := &Publisher{}
	req := publish.Request{Text: "heed 2.0 is out 🎉 thanks @alice.bsky.social #heed", Link: "https://example.com/heed-2.0"}
	b.ReportAllocs()
	for b.Loop() {
		p.Validate(req)
		detect(p.Preview(req))
		RecordKey("bench-key")
	}
}
