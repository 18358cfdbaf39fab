-- Opaque access tokens (tokens.format = "opaque"): the SHA-256 digest of the token and the claims
-- it stands for, as JSON. Rows past `expires_at` are pruned.
CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY,
    jti TEXT NOT NULL,
    claims TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX access_tokens_by_expiry ON access_tokens (expires_at);
