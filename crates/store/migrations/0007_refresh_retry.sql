-- The refresh retry window: the claims of the access token a rotation issued, kept on the rotated
-- token, so the same client presenting it again within the window gets the same pair back.
ALTER TABLE refresh_tokens ADD COLUMN successor_claims TEXT;
