-- +goose Up
-- Deliveries by state and target, counted at every /metrics scrape: a
-- covering index makes that one index scan, without a sort.
CREATE INDEX deliveries_state_target ON deliveries (state, target);

-- +goose Down
DROP INDEX deliveries_state_target;
