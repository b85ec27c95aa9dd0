-- +goose Up
-- Bearer tokens of the HTTP API, one person each. Only the SHA-256 of a
-- token's secret is kept; the secret is shown once, when it is made.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    person       TEXT    NOT NULL,
    hash         TEXT    NOT NULL UNIQUE, -- hex SHA-256 of the secret
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);

-- The posts made through the API with an Idempotency-Key: a retry with the
-- same key from the same person answers with the same post; with another
-- body it is refused.
CREATE TABLE api_idempotency (
    person       TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    post_id      INTEGER NOT NULL REFERENCES posts (id),
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (person, key)
);

-- +goose Down
DROP TABLE api_idempotency;
DROP TABLE api_tokens;
