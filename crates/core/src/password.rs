//! Argon2id hashing on a dedicated pool: `workers` threads (default: one per core), running at a
//! lower CPU priority than the API so a login flood cannot starve token checks, fed by a queue of
//! at most `queue` waiting jobs. Past that the caller gets [`Error::Busy`] (503 + Retry-After)
//! instead of the server growing without bound: each hash holds ~19 MiB while it runs.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version,
};

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

type Job = Box<dyn FnOnce() + Send>;

/// Nice value of hashing threads: the API's threads win the CPU when both want it.
const HASH_THREAD_NICE: i32 = 10;

fn worker(jobs: Arc<Mutex<Receiver<Job>>>) {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority with who = 0 changes only the calling thread on Linux; no memory involved.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, HASH_THREAD_NICE);
    }
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        match job {
            Ok(job) => job(),
            Err(_) => return, // the hasher was dropped
        }
    }
}

pub struct PasswordHasher {
    params: Params,
    jobs: SyncSender<Job>,
    /// A real hash of a random password, verified against when the user does not exist so the
    /// answer takes as long as a wrong password.
    dummy: String,
}

impl PasswordHasher {
    pub fn new(s: &PasswordSettings) -> Result<Self> {
        let params = Params::new(s.argon2_m_kib, s.argon2_t, s.argon2_p, None)
            .map_err(|e| Error::validation("passwords.argon2", e.to_string()))?;
        let mut random = [0u8; 32];
        rand::Rng::fill(&mut rand::rngs::OsRng, &mut random[..]);
        let dummy = Self::argon(params.clone())
            .hash_password(&random)
            .map_err(Error::internal)?
            .to_string();
        let (jobs, rx) = sync_channel::<Job>(s.queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..s.workers.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || worker(rx))
                .map_err(Error::internal)?;
        }
        Ok(Self {
            params,
            jobs,
            dummy,
        })
    }

    fn argon(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    /// Runs `f` on the pool, or fails fast with `Busy` when the queue is full.
    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        self.jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => Error::Busy,
            TrySendError::Disconnected(_) => Error::internal("password pool stopped"),
        })?;
        rx.await
            .map_err(|_| Error::internal("password job dropped"))
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
        // One worker, one queue slot.
        let h = Arc::new(PasswordHasher::new(&settings(1024)).unwrap());
        // Occupy the worker with a job that waits for us, and fill the queue slot.
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
        let blocker = {
            let h = h.clone();
            tokio::spawn(async move {
                h.run(move || {
                    let _ = started_tx.send(());
                    let _ = wait.recv();
                })
                .await
            })
        };
        started.await.unwrap();
        // The worker is busy; fill the one queue slot.
        assert!(h.jobs.try_send(Box::new(|| {})).is_ok());
        assert!(matches!(h.hash("password1").await, Err(Error::Busy)));
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        assert!(h.hash("password1").await.is_ok());
    }
}
