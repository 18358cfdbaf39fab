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

/// API keys: `bnc_` + 43 base62 characters (256 random bits) + a 6-character checksum.
pub const API_KEY_PREFIX: &str = "bnc_";
const API_KEY_BODY: usize = 43;
const API_KEY_CHECK: usize = 6;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The 6 base62 characters that end an API key: the first 32 bits of SHA-256 of its body, so a
/// typo (or a made-up key) is refused without a database lookup, and secret scanners can tell a
/// real key from noise.
fn api_key_check(body: &str) -> String {
    let d = Sha256::digest(body.as_bytes());
    let mut n = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
    let mut out = [b'0'; API_KEY_CHECK];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).unwrap_or_default()
}

/// A new API key.
pub fn generate_api_key() -> String {
    use rand::Rng as _;
    let mut rng = rand::rngs::OsRng;
    // 43 uniform base62 characters: 256 bits.
    let body: String = (0..API_KEY_BODY)
        .map(|_| BASE62[rng.gen_range(0..BASE62.len())] as char)
        .collect();
    let check = api_key_check(&body);
    format!("{API_KEY_PREFIX}{body}{check}")
}

/// Whether `key` has an API key's shape and a valid checksum.
pub fn api_key_well_formed(key: &str) -> bool {
    let Some(rest) = key.strip_prefix(API_KEY_PREFIX) else {
        return false;
    };
    if rest.len() != API_KEY_BODY + API_KEY_CHECK || !rest.bytes().all(|b| BASE62.contains(&b)) {
        return false;
    }
    let (body, check) = rest.split_at(API_KEY_BODY);
    subtle::ConstantTimeEq::ct_eq(api_key_check(body).as_bytes(), check.as_bytes()).into()
}

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
    fn api_keys_carry_a_checksum() {
        let k = generate_api_key();
        assert!(k.starts_with("bnc_") && k.len() == 4 + 43 + 6, "{k}");
        assert!(api_key_well_formed(&k));
        assert_ne!(k, generate_api_key());
        // One character changed, truncated, lengthened, another prefix: refused.
        let mut typo = k.clone().into_bytes();
        typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
        assert!(!api_key_well_formed(&String::from_utf8(typo).unwrap()));
        assert!(!api_key_well_formed(&k[..k.len() - 1]));
        assert!(!api_key_well_formed(&format!("{k}0")));
        assert!(!api_key_well_formed(&k.replacen("bnc_", "bnx_", 1)));
        assert!(!api_key_well_formed(&format!("bnc_{}", "A".repeat(49))));
    }

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
