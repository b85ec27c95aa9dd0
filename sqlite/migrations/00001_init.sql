-- +goose Up
-- Times are unix milliseconds (UTC). JSON columns hold small lists and maps.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One counter for post and occurrence ids, so that a one-shot post's single
-- occurrence can take the post's own id: the number people type is the same.
CREATE TABLE seq (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    next INTEGER NOT NULL
);
INSERT INTO seq (id, next) VALUES (1, 1);

CREATE TABLE posts (
    id         INTEGER PRIMARY KEY,
    key        TEXT UNIQUE,
    text       TEXT NOT NULL,
    variants   TEXT NOT NULL DEFAULT '{}',
    link       TEXT NOT NULL DEFAULT '',
    media      TEXT NOT NULL DEFAULT '[]',
    targets    TEXT NOT NULL,
    author     TEXT NOT NULL,
    room       TEXT NOT NULL DEFAULT '',
    at         INTEGER,
    cron       TEXT NOT NULL DEFAULT '',
    tz         TEXT NOT NULL,
    until      INTEGER,
    -- The next time not yet turned into an occurrence; NULL when none is left.
    next_at    INTEGER,
    canceled   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX posts_next_at ON posts (next_at) WHERE next_at IS NOT NULL;

CREATE TABLE occurrences (
    id         INTEGER PRIMARY KEY,
    post_id    INTEGER NOT NULL REFERENCES posts (id),
    at         INTEGER NOT NULL,
    state      TEXT NOT NULL,
    hash       TEXT NOT NULL,
    note       TEXT NOT NULL DEFAULT '',
    -- Counts changes since the card was last rendered; the chat engine
    -- re-renders the card and clears it only if nothing changed meanwhile.
    dirty      INTEGER NOT NULL DEFAULT 1,
    updated_at INTEGER NOT NULL
);
CREATE INDEX occurrences_due ON occurrences (state, at);
CREATE UNIQUE INDEX occurrences_post ON occurrences (post_id, at);
CREATE INDEX occurrences_dirty ON occurrences (id) WHERE dirty > 0;

CREATE TABLE deliveries (
    occurrence_id   INTEGER NOT NULL REFERENCES occurrences (id),
    target          TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    idempotency_key TEXT NOT NULL,
    remote_id       TEXT NOT NULL DEFAULT '',
    url             TEXT NOT NULL DEFAULT '',
    error           TEXT NOT NULL DEFAULT '',
    claimed_by      TEXT NOT NULL DEFAULT '',
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (occurrence_id, target)
);
CREATE INDEX deliveries_state ON deliveries (state, next_attempt_at);

CREATE TABLE reactions (
    id            INTEGER PRIMARY KEY,
    occurrence_id INTEGER NOT NULL REFERENCES occurrences (id),
    user          TEXT NOT NULL,
    user_name     TEXT NOT NULL,
    emoji         TEXT NOT NULL,
    hashes        TEXT NOT NULL,
    at            INTEGER NOT NULL,
    from_bot      INTEGER NOT NULL DEFAULT 0,
    from_self     INTEGER NOT NULL DEFAULT 0,
    reaction_id   TEXT NOT NULL DEFAULT '',
    source        TEXT NOT NULL DEFAULT '',
    withdrawn_at  INTEGER
);
CREATE INDEX reactions_live ON reactions (occurrence_id) WHERE withdrawn_at IS NULL;
CREATE INDEX reactions_rid ON reactions (reaction_id) WHERE reaction_id <> '';

CREATE TABLE pauses (
    id         INTEGER PRIMARY KEY,
    target     TEXT NOT NULL DEFAULT '', -- '' pauses everything
    by         TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    at         INTEGER NOT NULL,
    resumed_by TEXT,
    resumed_at INTEGER
);
CREATE INDEX pauses_active ON pauses (target) WHERE resumed_at IS NULL;

CREATE TABLE cards (
    occurrence_id INTEGER NOT NULL REFERENCES occurrences (id),
    adapter       TEXT NOT NULL,
    room          TEXT NOT NULL,
    ref           TEXT NOT NULL,
    PRIMARY KEY (occurrence_id, adapter, room)
);
CREATE INDEX cards_ref ON cards (adapter, room, ref);

CREATE TABLE seen_events (
    adapter TEXT NOT NULL,
    id      TEXT NOT NULL,
    at      INTEGER NOT NULL,
    PRIMARY KEY (adapter, id)
);

CREATE TABLE audit (
    id            INTEGER PRIMARY KEY,
    at            INTEGER NOT NULL,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    post_id       INTEGER,
    occurrence_id INTEGER,
    target        TEXT NOT NULL DEFAULT '',
    place         TEXT NOT NULL DEFAULT '',
    detail        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_occurrence ON audit (occurrence_id);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;

-- Chat adapters' own state: sync tokens, device ids.
CREATE TABLE kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- A daemon holds the dispatcher lease while it runs, renewing it.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);

-- +goose Down
SELECT RAISE(ABORT, 'heed does not migrate down; restore a backup instead');
