-- The change feed: every write that can change what a credential may do appends (seq, kind, key) in
-- its own transaction, `seq` being the revision it bumped (the revision row lock orders writers,
-- so seq order is commit order). Processes read `seq > last` and drop exactly what changed.
CREATE TABLE changes (
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX changes_by_seq ON changes (seq);

-- A refresh-token family: one login and everything refreshed from it. Its access tokens carry its
-- id (`sid`), so revoking the family ends them too.
CREATE TABLE token_families (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX token_families_by_user ON token_families (user_id);
CREATE INDEX token_families_by_revoked ON token_families (revoked_at);

-- Refresh tokens, stored as SHA-256 digests (256-bit random secrets need no slow hash). `used_at`
-- is set once, by compare-and-set: a second use is theft.
CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY,
    family_id TEXT NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL,
    credential_gen BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    CONSTRAINT refresh_tokens_hash_unique UNIQUE (token_hash)
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);

-- Access tokens revoked one by one (RFC 7009), until they would have expired anyway.
CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
