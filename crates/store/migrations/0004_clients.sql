-- Machine clients (RFC 6749 §2). The secret is stored as a SHA-256 digest: it is 256 random bits.
CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    first_party BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
