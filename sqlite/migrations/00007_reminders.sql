-- +goose Up
-- One reminder to decide per occurrence, time and slot (approve_by,
-- remind_every): claimed before it is sent, so that it goes out at most
-- once, across restarts and processes.
CREATE TABLE reminders (
    occurrence_id INTEGER NOT NULL REFERENCES occurrences (id),
    at            INTEGER NOT NULL, -- the occurrence's time the reminder was for
    slot          INTEGER NOT NULL, -- 0 at approve_by before the time, then one per remind_every
    sent_at       INTEGER NOT NULL,
    PRIMARY KEY (occurrence_id, at, slot)
);

-- +goose Down
DROP TABLE reminders;
