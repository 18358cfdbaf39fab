-- Throttling counters shared by instances (failed password and secret checks, registrations per
-- address). `key` is a digest: no username or address is stored. A window starts at a key's first
-- failure and lasts `window_ms`; `updated_at` lets each instance read what the others added.
CREATE TABLE throttle_counts (
    key TEXT PRIMARY KEY,
    count BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    window_ms BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX throttle_counts_by_update ON throttle_counts (updated_at);
