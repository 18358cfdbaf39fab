//! Argon2id hashing on a bounded pool. At most `workers` hashes run at once (each takes ~19 MiB and
//! a core for tens of milliseconds); at most `queue` more wait. Past that the caller gets
//! [`Error::Busy`] (503 + Retry-After) instead of the server growing without bound under a login
//! flood.

use std::sync::Arc;

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version,
};
use tokio::sync::Semaphore;

use crate::error::{Error, Result};
use crate::settings::PasswordSettings;

/// The OWASP minimum the defaults use; anything weaker starts with a warning.
pub const RECOMMENDED: (u32, u32, u32) = (19_456, 2, 1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub ok: bool,
    /// The stored hash used other parameters than the current ones: store a fresh hash.
    pub needs_rehash: bool,
}

pub struct PasswordHasher {
    params: Params,
    workers: Arc<Semaphore>,
    queue: Arc<Semaphore>,
    /// A real hash of a random password, verified against when the user does not exist so the
    /// answer takes as long as a wrong password.
    dummy: String,
}

impl PasswordHasher {
    pub fn new(s: &PasswordSettings) -> Result<Self> {
        let params = Params::new(s.argon2_m_kib, s.argon2_t, s.argon2_p, None)
            .map_err(|e| Error::validation("passwords.argon2", e.to_string()))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let mut random = [0u8; 32];
        rand::Rng::fill(&mut rand::rngs::OsRng, &mut random[..]);
        let dummy = argon
            .hash_password(&random)
            .map_err(Error::internal)?
            .to_string();
        Ok(Self {
            params,
            workers: Arc::new(Semaphore::new(s.workers.max(1))),
            queue: Arc::new(Semaphore::new(s.workers.max(1) + s.queue)),
            dummy,
        })
    }

    fn argon(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    /// Runs `f` on the blocking pool once a worker is free, or fails fast with `Busy`.
    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let _queued = self
            .queue
            .clone()
            .try_acquire_owned()
            .map_err(|_| Error::Busy)?;
        let _worker = self
            .workers
            .clone()
            .acquire_owned()
            .await
            .map_err(Error::internal)?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(Error::internal)
    }

    /// A PHC string for `password` with the current parameters and a fresh salt.
    pub async fn hash(&self, password: &str) -> Result<String> {
        let params = self.params.clone();
        let pw = password.as_bytes().to_vec();
        self.run(move || {
            Self::argon(params)
                .hash_password(&pw)
                .map(|h| h.to_string())
        })
        .await?
        .map_err(Error::internal)
    }

    /// Verifies `password` against `stored`; with `None` (no such user) verifies against the dummy
    /// hash and reports failure, taking the same time.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<Verified> {
        let exists = stored.is_some();
        let hash = stored.unwrap_or(&self.dummy).to_owned();
        let params = self.params.clone();
        let pw = password.as_bytes().to_vec();
        self.run(move || {
            let Ok(parsed) = PasswordHash::new(&hash) else {
                return Verified {
                    ok: false,
                    needs_rehash: false,
                };
            };
            let ok = Self::argon(params.clone())
                .verify_password(&pw, &parsed)
                .is_ok()
                && exists;
            let current = Params::try_from(&parsed).ok();
            let needs_rehash = ok
                && (parsed.algorithm.as_str() != "argon2id"
                    || current.is_none_or(|c| {
                        (c.m_cost(), c.t_cost(), c.p_cost())
                            != (params.m_cost(), params.t_cost(), params.p_cost())
                    }));
            Verified { ok, needs_rehash }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(m: u32) -> PasswordSettings {
        PasswordSettings {
            min_length: 8,
            argon2_m_kib: m,
            argon2_t: 1,
            argon2_p: 1,
            workers: 1,
            queue: 1,
        }
    }

    #[tokio::test]
    async fn hash_verify_rehash() {
        let h = PasswordHasher::new(&settings(1024)).unwrap();
        let stored = h.hash("correct horse").await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert_eq!(
            h.verify("correct horse", Some(&stored)).await.unwrap(),
            Verified {
                ok: true,
                needs_rehash: false
            }
        );
        assert!(!h.verify("wrong", Some(&stored)).await.unwrap().ok);
        assert!(!h.verify("correct horse", None).await.unwrap().ok);
        assert!(!h.verify("x", Some("not a phc string")).await.unwrap().ok);
        let stronger = PasswordHasher::new(&settings(2048)).unwrap();
        assert_eq!(
            stronger
                .verify("correct horse", Some(&stored))
                .await
                .unwrap(),
            Verified {
                ok: true,
                needs_rehash: true
            }
        );
    }

    #[tokio::test]
    async fn full_queue_is_busy_not_unbounded() {
        let h = Arc::new(PasswordHasher::new(&settings(1024)).unwrap());
        // Occupy the only worker, so hash requests queue up deterministically.
        let worker = h.workers.clone().acquire_owned().await.unwrap();
        let waiting: Vec<_> = (0..2)
            .map(|_| {
                let h = h.clone();
                tokio::spawn(async move { h.hash("password1").await })
            })
            .collect();
        while h.queue.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(h.hash("password1").await, Err(Error::Busy)));
        drop(worker);
        for t in waiting {
            assert!(t.await.unwrap().is_ok());
        }
        assert!(h.hash("password1").await.is_ok());
    }
}
