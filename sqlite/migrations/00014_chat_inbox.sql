-- +goose Up
-- A chat whose requests may reach any heed replica (Slack's Events API
-- behind a load balancer): a replica that does not hold the chat keeps
-- each signed request here, once per key (its event_id), and the chat's
-- holder handles it and deletes it.
CREATE TABLE chat_inbox (
    chat         TEXT NOT NULL,
    key          TEXT NOT NULL,
    content_type TEXT NOT NULL,
    body         TEXT NOT NULL,
    received_at  BIGINT NOT NULL,
    PRIMARY KEY (chat, key)
);

-- +goose Down
DROP TABLE chat_inbox;
