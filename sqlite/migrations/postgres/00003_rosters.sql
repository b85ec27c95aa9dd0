-- +goose Up
-- What each review room's chat says about who may approve beyond the
-- configured approvers (Slack user-group members, Matrix power levels),
-- recorded by the daemon as a fact with the time it was read, so that every
-- process judges reactions with the same roster.
CREATE TABLE rosters (
    room    TEXT PRIMARY KEY, -- the review room's name in heed's configuration
    roster  TEXT NOT NULL,    -- approvals.Roster as JSON
    read_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE rosters;
