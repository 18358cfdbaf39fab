-- Cookie sessions: the SHA-256 digest of the session id (the cookie's value), never the id. A
-- session ends at `expires_at` (absolute), after `idle` without use, or when the user's credential
-- generation moves (disable, password change).
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    id_hash TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_gen BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    CONSTRAINT sessions_hash_unique UNIQUE (id_hash)
);
CREATE INDEX sessions_by_user ON sessions (user_id);
