-- +goose Up
-- Which images each card's thread shows, so that a re-render or a restart
-- never posts one twice.
CREATE TABLE card_images (
    adapter   TEXT NOT NULL,
    room      TEXT NOT NULL,
    ref       TEXT NOT NULL, -- the card's message, in the adapter's terms
    sha256    TEXT NOT NULL, -- the image's SHA-256, hex
    posted_at BIGINT NOT NULL,
    PRIMARY KEY (adapter, room, ref, sha256)
);

-- +goose Down
DROP TABLE card_images;
