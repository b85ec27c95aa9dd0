package heedtest

import (
	"time"

	"github.com/heed-dev/heed/approvals"
)

// AddWithImages schedules a one-shot post like Add, with images: each file
// (Path, Alt) is copied into the media store beside the database, as
// `heed post add --media FILE --alt TEXT` does.
func (s *Stack) AddWithImages(text string, in time.Duration, images ...approvals.Media) approvals.Post {
	s.T.Helper()
	ms, err := s.Store.Media().Attach(images, "", false)
	if err != nil {
		s.T.Fatalf("attach images: %v", err)
	}
	p, err := s.Service.Posts.AddPost(s.Ctx, approvals.NewPost{
		Text: text, Targets: []string{"rec"}, Author: "author", Media: ms,
		Schedule: approvals.Schedule{At: s.Clock.Now().Add(in), TZ: "UTC"},
	}, "author", "test")
	if err != nil {
		s.T.Fatalf("add post: %v", err)
	}
	return p
}
