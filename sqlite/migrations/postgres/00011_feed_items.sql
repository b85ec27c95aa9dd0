-- +goose Up
-- The items of each configured feed heed has seen, by the feed's name and
-- the item's key (its GUID, else its link), so that an item becomes a post
-- at most once, across restarts and processes. content_hash tells an
-- edited item; post_id is the post it became (NULL for an item recorded
-- without a post: the baseline of a feed's first fetch, or an item whose
-- post was refused). The row with an empty item_key records that the
-- feed's baseline was taken.
CREATE TABLE feed_items (
    feed         TEXT NOT NULL,
    item_key     TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    post_id      BIGINT REFERENCES posts (id),
    first_seen   BIGINT NOT NULL,
    PRIMARY KEY (feed, item_key)
);

-- +goose Down
DROP TABLE feed_items;
