package app

import (
	"context"
	"time"

	"github.com/heed-dev/heed/feeds"
)

// RunFeeds polls the feeds posts come from until ctx ends, on the
// system's clock: each feed when it is due, and saves their health for
// `heed status` and the metrics after every pass. polled, when set, is
// told what each pass did. A feed that fails backs off on its own;
// nothing here waits on the dispatcher or the chat, nor they on it.
func (s *System) RunFeeds(ctx context.Context, src *feeds.Source, polled func(feeds.Result)) {
	log := s.log.With("part", "feeds")
	for {
		now := s.now()
		res := src.Poll(ctx, now)
		if ctx.Err() != nil {
			return
		}
		if err := src.SaveStatus(ctx, s.Store, now); err != nil && ctx.Err() == nil {
			log.Error("could not save the feeds' status", "err", err)
		}
		if polled != nil {
			polled(res)
		}
		t := time.NewTimer(max(src.Next().Sub(s.now()), time.Second))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
