-- Key rotation: a new key is published at once and signs from `activates_at` on; the keys it
-- replaces keep verifying until `retired_at` (their last token's expiry), then leave the JWKS.
ALTER TABLE signing_keys ADD COLUMN activates_at BIGINT NOT NULL DEFAULT 0;
