-- +goose Up
-- Several heed runs on one PostgreSQL database: each registers as a
-- replica and heartbeats; what it holds is listed for `heed status`.
CREATE TABLE replicas (
    id         TEXT PRIMARY KEY,
    host       TEXT NOT NULL,
    pid        BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    seen_at    BIGINT NOT NULL,
    holds      TEXT NOT NULL DEFAULT ''
);

-- One replica at a time holds each chat's connection (and the news
-- tripwire's poller): the holder renews its row (renewed_at) before
-- expires_at, and writes there what its connection last heard (alive_at)
-- or why it cannot hear (deaf), which every replica's deaf guard reads.
CREATE TABLE chat_leases (
    chat       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    since      BIGINT NOT NULL,
    renewed_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    alive_at   BIGINT NOT NULL DEFAULT 0,
    deaf       TEXT NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE chat_leases;
DROP TABLE replicas;
