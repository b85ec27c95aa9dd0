-- +goose Up
-- The web view's sign-in sessions: the cookie's secret is never stored,
-- only its SHA-256 (id_hash), so a copy of the database signs nobody in.
CREATE TABLE web_sessions (
    id_hash    TEXT PRIMARY KEY,
    person     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);
-- The calendar reads a month of occurrences by time.
CREATE INDEX occurrences_at ON occurrences (at);

-- +goose Down
DROP INDEX occurrences_at;
DROP TABLE web_sessions;
