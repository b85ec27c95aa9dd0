package approvals

import "time"

// FeedItem is an item of a configured feed that heed has seen: by the
// feed's name and the item's key (its GUID, else its link), with the hash
// of its content, to tell an edit, and the post it became (0 when none:
// the items already in a feed when heed first read it, or an item whose
// post was refused).
type FeedItem struct {
	Feed      string
	Key       string
	Hash      string
	PostID    int64
	FirstSeen time.Time
}
