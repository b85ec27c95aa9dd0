package sqlite

import (
	"context"
	"database/sql"

	"github.com/heed-dev/heed/approvals"
)

// The items of configured feeds heed has seen (feed_items): a feed's item
// becomes a post at most once, across restarts and processes, because it
// is claimed here before its post is added.

// FeedItems returns the items of one feed heed has seen, by key.
func (s *Store) FeedItems(ctx context.Context, feed string) (map[string]approvals.FeedItem, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT item_key, content_hash, coalesce(post_id, 0), first_seen FROM feed_items WHERE feed = ?`, feed)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]approvals.FeedItem{}
	for rows.Next() {
		it := approvals.FeedItem{Feed: feed}
		var first int64
		if err := rows.Scan(&it.Key, &it.Hash, &it.PostID, &first); err != nil {
			return nil, err
		}
		it.FirstSeen = fromMS(first)
		out[it.Key] = it
	}
	return out, rows.Err()
}

// ClaimFeedItems records items of one feed as seen, in one transaction,
// and returns the keys of those it claimed: an item seen before (by this
// process or another) is not claimed again.
func (s *Store) ClaimFeedItems(ctx context.Context, items []approvals.FeedItem) (map[string]bool, error) {
	var claimed map[string]bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		claimed = map[string]bool{} // the transaction may run again (PostgreSQL)
		for _, it := range items {
			res, err := tx.ExecContext(ctx, `INSERT INTO feed_items (feed, item_key, content_hash, post_id, first_seen) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
				it.Feed, it.Key, it.Hash, nullID(it.PostID), ms(it.FirstSeen))
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				claimed[it.Key] = true
			}
		}
		return nil
	})
	return claimed, err
}

// SetFeedItem records the content hash and the post of an item claimed
// before.
func (s *Store) SetFeedItem(ctx context.Context, feed, key, hash string, postID int64) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE feed_items SET content_hash = ?, post_id = ? WHERE feed = ? AND item_key = ?`, hash, nullID(postID), feed, key)
		return err
	})
}

// ReleaseFeedItem forgets an item claimed before whose post could not be
// stored, so that the next fetch tries again.
func (s *Store) ReleaseFeedItem(ctx context.Context, feed, key string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM feed_items WHERE feed = ? AND item_key = ?`, feed, key)
		return err
	})
}
