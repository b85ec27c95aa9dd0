package facebook

import (
	"context"
	"strconv"
	"testing"

	"github.com/heed-dev/heed/publish"
	"github.com/heed-dev/heed/publish/facebook/facebookfake"
	"github.com/heed-dev/heed/publish/publishtest"
)

// BenchmarkPublish measures one publish against the fake Graph API on
// loopback.
func BenchmarkPublish(b *testing.B) {
	fake := facebookfake.New(b, pageID, token)
	p, err := New(publish.Config{Name: "bench", Kind: "facebook", Logger: (&publishtest.LogBuffer{}).Logger(),
		Decode: publishtest.Decoder("page_id: \"" + pageID + "\"\naccess_token: " + token + "\napi: " + fake.URL)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++ // Facebook refuses duplicate messages: each differs
		req := publish.Request{Text: "heed 2.0 is out 🎉 " + strconv.Itoa(i), Link: "https://example.com/heed-2.0"}
		if _, err := p.Publish(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
