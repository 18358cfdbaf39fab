//! High-entropy secrets that Bouncer hands out (refresh tokens, later client secrets, opaque tokens
//! and API keys): 256 random bits behind a recognisable prefix, stored only as a SHA-256 digest.
//! Such secrets need no slow hash: nobody can guess their way through 2^256.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sha2::{Digest, Sha256};

/// Refresh tokens: `bnr_` + 43 characters.
pub const REFRESH_PREFIX: &str = "bnr_";
/// Opaque access tokens: `bno_` + 43 characters.
pub const OPAQUE_PREFIX: &str = "bno_";

/// A new secret: `prefix` followed by 32 random bytes in base64url.
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::Rng::fill(&mut rand::rngs::OsRng, &mut bytes[..]);
    format!("{prefix}{}", B64.encode(bytes))
}

/// The digest stored in place of a secret (hex SHA-256). Lookups are by digest, so comparing
/// digests in the database reveals nothing about the secret.
pub fn digest(secret: &str) -> String {
    let d = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(64);
    for b in d {
        use std::fmt::Write as _;
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_prefixed_and_digested() {
        let a = generate(REFRESH_PREFIX);
        let b = generate(REFRESH_PREFIX);
        assert_ne!(a, b);
        assert!(a.starts_with("bnr_") && a.len() == 4 + 43);
        assert_eq!(digest(&a).len(), 64);
        assert_eq!(digest(&a), digest(&a));
        assert_ne!(digest(&a), digest(&b));
    }
}
