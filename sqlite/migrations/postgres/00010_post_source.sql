-- +goose Up
-- Where a post came from when not from the CLI or a calendar file
-- ("chat: @alice in review"), shown on its card.
ALTER TABLE posts ADD COLUMN source TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE posts DROP COLUMN source;
