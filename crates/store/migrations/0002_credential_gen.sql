-- The user's credential generation: disabling a user and changing their password bump it, and an
-- access token is valid only while the `gen` it carries equals it. Exact where timestamps were not
-- (a token issued in the same second as a password change), and a re-enabled user's old tokens
-- stay dead.
ALTER TABLE users ADD COLUMN credential_gen BIGINT NOT NULL DEFAULT 1;

-- One-off data fixes done in Rust after the SQL migrations, each recorded here once done
-- (`email_norm`: emails re-normalized to NFKC + lower case).
CREATE TABLE store_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
