-- Row counts kept with the rows they count, so a page of a big table reports its total without
-- scanning it (`SELECT COUNT(*)` over a million users takes tens of milliseconds a page). A
-- table's count is the sum of its slots: each write adds its delta to one slot picked at random,
-- so concurrent writers on PostgreSQL seldom wait on the same row lock.
CREATE TABLE row_counts (
    name TEXT NOT NULL,
    slot BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (name, slot)
);
INSERT INTO row_counts (name, slot, n) SELECT 'users', 0, COUNT(*) FROM users;
