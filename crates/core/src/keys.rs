//! Signing keys at rest and their rotation.
//!
//! With a key-encryption key configured (`keys.encryption_key_file` or `BOUNCER_KEY_ENCRYPTION_KEY`),
//! private keys are stored sealed with XChaCha20-Poly1305, the key's `kid` bound in as associated
//! data, so a stolen database (or backup) does not give away the signing keys. Keys stored in the
//! clear before a key-encryption key was configured are sealed at the next start.
//!
//! A rotation publishes the new key at once and signs with it only after `keys.publish_delay_s`
//! (the JWKS cache lifetime), so every verifier has it before the first token it signs; the keys it
//! replaces keep verifying until their last token has expired, then leave the JWKS.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::clock::Millis;
use crate::error::{Error, Result};
use crate::model::SigningKeyRecord;
use crate::service::Bouncer;
use crate::token;

const SEALED: &str = "sealed:v1:";

/// Seals and opens private keys under an optional key-encryption key.
pub struct KeyVault {
    cipher: Option<XChaCha20Poly1305>,
}

impl KeyVault {
    pub fn new(kek: Option<[u8; 32]>) -> Self {
        KeyVault {
            cipher: kek.map(|k| XChaCha20Poly1305::new(&k.into())),
        }
    }

    pub fn seals(&self) -> bool {
        self.cipher.is_some()
    }

    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(SEALED)
    }

    /// The stored form of a private key: sealed when a key-encryption key is configured.
    pub fn seal(&self, kid: &str, private: &str) -> Result<String> {
        let Some(cipher) = &self.cipher else {
            return Ok(private.to_owned());
        };
        let mut nonce = [0u8; 24];
        rand::Rng::fill(&mut rand::rngs::OsRng, &mut nonce[..]);
        let sealed = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: private.as_bytes(),
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| Error::internal("cannot seal a signing key"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{SEALED}{}", B64.encode(out)))
    }

    /// The private key from its stored form.
    pub fn open(&self, kid: &str, stored: &str) -> Result<String> {
        let Some(body) = stored.strip_prefix(SEALED) else {
            return Ok(stored.to_owned());
        };
        let Some(cipher) = &self.cipher else {
            return Err(Error::validation(
                "keys.encryption_key_file",
                "the signing keys are encrypted: set BOUNCER_KEY_ENCRYPTION_KEY or keys.encryption_key_file",
            ));
        };
        let raw = B64
            .decode(body)
            .map_err(|_| Error::internal("a sealed signing key is corrupt"))?;
        if raw.len() < 24 {
            return Err(Error::internal("a sealed signing key is corrupt"));
        }
        let (nonce, ct) = raw.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(Error::internal)?;
        let plain = cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| {
                Error::validation(
                    "keys.encryption_key_file",
                    "the key-encryption key does not open the stored signing keys (wrong key?)",
                )
            })?;
        String::from_utf8(plain).map_err(Error::internal)
    }

    /// `records` with their private parts opened.
    pub fn open_all(&self, records: &[SigningKeyRecord]) -> Result<Vec<SigningKeyRecord>> {
        records
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.private_pem = self.open(&r.kid, &r.private_pem)?;
                Ok(r)
            })
            .collect()
    }
}

/// A key as `bouncer keys list` shows it.
#[derive(Debug, Clone)]
pub struct KeyStatus {
    pub kid: String,
    pub alg: String,
    pub generation: i64,
    pub created_at: Millis,
    pub activates_at: Millis,
    pub retires_at: Option<Millis>,
    /// `signing`, `next` (published, not signing yet), or `verifying` (replaced, verifies its
    /// unexpired tokens until `retires_at`).
    pub state: &'static str,
}

impl Bouncer {
    /// Every key in force, with its state.
    pub async fn list_keys(&self) -> Result<Vec<KeyStatus>> {
        let now = self.clock.now_ms();
        let keys = self.store.signing_keys(now).await?;
        let signing = self.tokens.signing_kid(now);
        Ok(keys
            .into_iter()
            .map(|k| KeyStatus {
                state: if k.kid == signing {
                    "signing"
                } else if k.activates_at > now {
                    "next"
                } else {
                    "verifying"
                },
                kid: k.kid,
                alg: k.alg,
                generation: k.generation,
                created_at: k.created_at,
                activates_at: k.activates_at,
                retires_at: k.retires_at,
            })
            .collect())
    }

    /// Rotates the signing key of the configured algorithm: the new key is published at once and
    /// signs after `keys.publish_delay_s` (at once with `immediately`, for emergencies); the keys
    /// it replaces verify until `access_ttl + leeway` after that. Every instance reloads through
    /// the change feed. Returns the new key's `kid`.
    pub async fn rotate_keys(&self, immediately: bool) -> Result<String> {
        self.rotate_keys_with(immediately, false).await
    }

    /// [`Bouncer::rotate_keys`]; with `retire_old` (a leaked key), the replaced keys stop
    /// verifying at once: every token they signed is dead.
    pub async fn rotate_keys_with(&self, immediately: bool, retire_old: bool) -> Result<String> {
        let now = self.clock.now_ms();
        let delay = if immediately {
            0
        } else {
            millis(self.settings.keys.publish_delay)
        };
        let t = self.tokens.settings();
        let mut next = token::generate_key(t.algorithm, now)?;
        // Whole seconds, like `iat`: a token's `iat` then tells which key signed it (a replayed
        // rotation re-signs with the same key).
        next.activates_at = now.div_euclid(1000) * 1000 + delay;
        let retire_at = if retire_old {
            now
        } else {
            next.activates_at + millis(t.access_ttl + t.leeway)
        };
        next.private_pem = self.auth.vault().seal(&next.kid, &next.private_pem)?;
        let event = self.change_event(
            crate::authz::Actor::Operator,
            "signing_key.rotate",
            &next.kid,
            Some(if retire_old {
                "old keys retired at once"
            } else {
                "old keys retire after the token lifetime"
            }),
        );
        self.store
            .audited(event.clone())
            .rotate_signing_key(&next, retire_at)
            .await?;
        self.audit.log(&event);
        self.auth.reload_keys().await?;
        Ok(next.kid)
    }
}

fn millis(d: std::time::Duration) -> Millis {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_round_trips_binds_the_kid_and_needs_the_key() {
        let vault = KeyVault::new(Some([7u8; 32]));
        let sealed = vault.seal("kid-1", "-----BEGIN PRIVATE KEY-----").unwrap();
        assert!(KeyVault::is_sealed(&sealed));
        assert!(!sealed.contains("PRIVATE"));
        assert_eq!(
            vault.open("kid-1", &sealed).unwrap(),
            "-----BEGIN PRIVATE KEY-----"
        );
        assert!(
            vault.open("kid-2", &sealed).is_err(),
            "moved to another kid"
        );
        assert!(
            KeyVault::new(Some([8u8; 32]))
                .open("kid-1", &sealed)
                .is_err(),
            "wrong key"
        );
        assert!(
            KeyVault::new(None).open("kid-1", &sealed).is_err(),
            "no key"
        );
        // Without a key-encryption key, keys are stored (and read) as they are.
        let clear = KeyVault::new(None);
        assert_eq!(clear.seal("k", "pem").unwrap(), "pem");
        assert_eq!(vault.open("k", "pem").unwrap(), "pem");
    }
}
