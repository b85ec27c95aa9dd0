-- +goose Up
-- Who acted, beyond the name shown: the identity used (a chat user id, a
-- CLI name) and the person the configuration's people say it belongs to
-- ('' when it is nobody's). The append-only triggers stay as they are:
-- adding a column changes no row.
ALTER TABLE audit ADD COLUMN identity TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN person TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE audit DROP COLUMN person;
ALTER TABLE audit DROP COLUMN identity;
