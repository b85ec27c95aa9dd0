-- +goose Up
-- The state whose people were last told about it in a card's thread (held,
-- missed, unknown), so that they are told once, also across restarts.
ALTER TABLE cards ADD COLUMN notified TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE cards DROP COLUMN notified;
