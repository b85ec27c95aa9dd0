-- +goose Up
-- Timing safeguards (issue 6): last call, 🛑 holds, staffed hours, on-duty
-- check, sensitive dates added from chat, retraction.

-- Reactions with an id up to this one were given before the occurrence was
-- last held: they no longer count, so a held occurrence needs a fresh
-- decision even when its time has not moved.
ALTER TABLE occurrences ADD COLUMN fresh_after INTEGER NOT NULL DEFAULT 0;
-- Who allowed this occurrence to go out outside staffed hours ('' = nobody).
ALTER TABLE occurrences ADD COLUMN allow_off_hours TEXT NOT NULL DEFAULT '';

-- One last call per occurrence and time: sent at most once, across restarts.
CREATE TABLE last_calls (
    occurrence_id INTEGER NOT NULL REFERENCES occurrences (id),
    at            INTEGER NOT NULL, -- the occurrence's time the call was for
    sent_at       INTEGER NOT NULL,
    PRIMARY KEY (occurrence_id, at)
);

-- When each person was last seen in a review room (a message or a reaction),
-- for the on-duty check.
CREATE TABLE room_presence (
    room TEXT NOT NULL, -- the review room's name
    user TEXT NOT NULL,
    at   INTEGER NOT NULL,
    PRIMARY KEY (room, user)
);

-- Sensitive days the team added from chat: `sensitive 2026-12-01 "recall"`.
CREATE TABLE sensitive_dates (
    id       INTEGER PRIMARY KEY,
    date     TEXT NOT NULL, -- YYYY-MM-DD or MM-DD
    name     TEXT NOT NULL,
    added_by TEXT NOT NULL,
    at       INTEGER NOT NULL
);

-- One row per occurrence × target that someone asked to retract.
CREATE TABLE retractions (
    occurrence_id INTEGER NOT NULL REFERENCES occurrences (id),
    target        TEXT NOT NULL,
    state         TEXT NOT NULL, -- retracting, retracted, failed, unsupported
    error         TEXT NOT NULL DEFAULT '',
    by            TEXT NOT NULL,
    at            INTEGER NOT NULL,
    PRIMARY KEY (occurrence_id, target)
);

-- `pause retract 2h`: the posts published in the window, offered for
-- retraction until an approver confirms or cancels.
CREATE TABLE retract_offers (
    id          INTEGER PRIMARY KEY,
    by          TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    since       INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    items       TEXT NOT NULL, -- JSON list of occurrence ids
    place       TEXT NOT NULL DEFAULT '',
    posted      INTEGER NOT NULL DEFAULT 0, -- announced in the review rooms
    state       TEXT NOT NULL DEFAULT 'open', -- open, confirmed, canceled
    decided_by  TEXT NOT NULL DEFAULT '',
    decided_at  INTEGER
);

-- +goose Down
SELECT RAISE(ABORT, 'heed does not migrate down; restore a backup instead');
