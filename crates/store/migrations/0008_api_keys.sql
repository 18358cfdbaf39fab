-- API keys of users: stored as SHA-256 digests (the key is 256 random bits); `prefix` is the first
-- 8 characters, for people to recognise a key in a listing. `scopes` and `client_ips` are
-- space-separated; `expires_at` NULL is never.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    prefix TEXT NOT NULL,
    scopes TEXT NOT NULL,
    client_ips TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    expires_at BIGINT,
    CONSTRAINT api_keys_hash_unique UNIQUE (key_hash)
);
CREATE INDEX api_keys_by_user ON api_keys (user_id);
