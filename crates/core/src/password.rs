//! Argon2id hashing on a dedicated pool: `workers` threads (default: one per core), running at a
//! lower CPU priority than the API so a login flood cannot starve token checks, fed by a queue of
//! at most `queue` waiting jobs. Past that the caller gets [`Error::Busy`] (503 + Retry-After)
//! instead of the server growing without bound. Each worker keeps one Argon2 buffer (~19 MiB)
//! while jobs are queued and frees it when the queue runs dry.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};

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

thread_local! {
    /// This thread's Argon2 working memory (m_cost KiB), reused from hash to hash: no allocation
    /// and no page faults per login, and one buffer per worker instead of whatever the allocator
    /// keeps after many.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    MEMORY.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() != blocks {
            *m = Vec::new(); // free the old one before allocating the new
            *m = vec![Block::default(); blocks];
        }
        f(&mut m[..])
    })
}

fn release_memory() {
    MEMORY.with(|m| *m.borrow_mut() = Vec::new());
}

/// Argon2id of `password` with `salt` under `params`, as a PHC string.
fn compute_hash(params: &Params, password: &[u8], salt: &[u8]) -> Result<String> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; 32];
    with_memory(params.block_count(), |mem| {
        argon.hash_password_into_with_memory(password, salt, &mut out, mem)
    })
    .map_err(Error::internal)?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(Error::internal)?,
        salt: Some(Salt::new(salt).map_err(Error::internal)?),
        hash: Some(Output::new(&out).map_err(Error::internal)?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `stored` (any Argon2 variant and parameters),
/// comparing in constant time; `None` when `stored` is not an Argon2 PHC string.
fn check_hash(stored: &PasswordHash, password: &[u8]) -> Option<bool> {
    let algorithm = Algorithm::try_from(stored.algorithm.as_str()).ok()?;
    let version = stored
        .version
        .map(Version::try_from)
        .transpose()
        .ok()?
        .unwrap_or_default();
    let params = Params::try_from(stored).ok()?;
    let (salt, expected) = (stored.salt.as_ref()?, stored.hash.as_ref()?);
    let argon = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    with_memory(params.block_count(), |mem| {
        argon.hash_password_into_with_memory(password, salt, &mut out, mem)
    })
    .ok()?;
    Some(Output::new(&out).ok()? == *expected)
}

fn worker(jobs: Arc<Mutex<Receiver<Job>>>) {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority with who = 0 changes only the calling thread on Linux; no memory involved.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, HASH_THREAD_NICE);
    }
    let take = |wait: bool| {
        let rx = jobs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if wait {
            rx.recv().map_err(|_| ())
        } else {
            rx.try_recv().map_err(|_| ())
        }
    };
    loop {
        // While jobs keep coming the buffer is reused; when the queue runs dry it goes back to
        // the system, so an idle server holds no Argon2 memory.
        let job = match take(false) {
            Ok(job) => job,
            Err(()) => {
                release_memory();
                match take(true) {
                    Ok(job) => job,
                    Err(()) => return, // the hasher was dropped
                }
            }
        };
        job();
    }
}

pub struct PasswordHasher {
    params: Params,
    jobs: SyncSender<Job>,
    workers: usize,
    /// Jobs waiting in the queue (not yet taken by a worker), for the metrics.
    queued: Arc<AtomicUsize>,
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
        let dummy = compute_hash(&params, &random, &random[..16])?;
        release_memory();
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
            workers: s.workers.max(1),
            queued: Arc::default(),
            dummy,
        })
    }

    /// Threads hashing at once.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Jobs waiting for a worker now (the queue holds at most `passwords.queue`).
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Runs `f` on the pool, or fails fast with `Busy` when the queue is full. For CPU-heavy work
    /// on behalf of a request (hashing, password-strength estimates), so it never runs on the
    /// async runtime's threads and its concurrency stays bounded.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let queued = self.queued.clone();
        let job: Job = Box::new(move || {
            queued.fetch_sub(1, Ordering::Relaxed);
            let _ = tx.send(f());
        });
        // Counted before it can be taken, so a worker's decrement never comes first.
        self.queued.fetch_add(1, Ordering::Relaxed);
        self.jobs.try_send(job).map_err(|e| {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            match e {
                TrySendError::Full(_) => Error::Busy,
                TrySendError::Disconnected(_) => Error::internal("password pool stopped"),
            }
        })?;
        rx.await
            .map_err(|_| Error::internal("password job dropped"))
    }

    /// A PHC string for `password` with the current parameters and a fresh salt.
    pub async fn hash(&self, password: &str) -> Result<String> {
        let params = self.params.clone();
        let pw = password.as_bytes().to_vec();
        let mut salt = [0u8; 16];
        rand::Rng::fill(&mut rand::rngs::OsRng, &mut salt[..]);
        self.run(move || compute_hash(&params, &pw, &salt)).await?
    }

    /// Runs `check` on `password` (CPU work such as a strength estimate), then hashes it, as one
    /// job on the pool: a refused password costs no hash, and the pair never waits for a slot twice.
    pub async fn hash_checked(
        &self,
        password: &str,
        check: impl FnOnce(&str) -> Result<()> + Send + 'static,
    ) -> Result<String> {
        let params = self.params.clone();
        let pw = password.to_owned();
        let mut salt = [0u8; 16];
        rand::Rng::fill(&mut rand::rngs::OsRng, &mut salt[..]);
        self.run(move || {
            check(&pw)?;
            compute_hash(&params, pw.as_bytes(), &salt)
        })
        .await?
    }

    /// Verifies `password` against `stored`; with `None` (no such user) verifies against the dummy
    /// hash and reports failure, taking the same time.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<Verified> {
        self.verify_holding::<()>(password, stored, None).await
    }

    /// [`PasswordHasher::verify`], keeping `hold` (a per-client slot) until the job has run, even
    /// if the caller stops waiting.
    pub async fn verify_holding<H: Send + 'static>(
        &self,
        password: &str,
        stored: Option<&str>,
        hold: Option<H>,
    ) -> Result<Verified> {
        let exists = stored.is_some();
        let hash = stored.unwrap_or(&self.dummy).to_owned();
        let params = self.params.clone();
        let pw = password.as_bytes().to_vec();
        self.run(move || {
            let _hold = hold;
            let Ok(parsed) = PasswordHash::new(&hash) else {
                return Verified {
                    ok: false,
                    needs_rehash: false,
                };
            };
            let ok = check_hash(&parsed, &pw) == Some(true) && exists;
            let stored_params = Params::try_from(&parsed).ok();
            let needs_rehash = ok
                && (parsed.algorithm != argon2::ARGON2ID_IDENT
                    || stored_params.is_none_or(|c| {
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
            max_length: 1024,
            min_score: 2,
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
        // Hashes made by the argon2 crate's own hasher (and other Argon2 variants) verify too.
        use argon2::PasswordHasher as _;
        let standard = Argon2::default()
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
        assert!(h.verify("correct horse", Some(&standard)).await.unwrap().ok);
        let argon2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"correct horse")
        .unwrap()
        .to_string();
        assert_eq!(
            h.verify("correct horse", Some(&argon2i)).await.unwrap(),
            Verified {
                ok: true,
                needs_rehash: true
            }
        );
        assert!(!h.verify("wrong", Some(&argon2i)).await.unwrap().ok);
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
        assert_eq!(h.queued(), 0, "a job taken by a worker is not queued");
        // The worker is busy; fill the one queue slot.
        let (filler_ran, filler_done) = std::sync::mpsc::channel::<()>();
        assert!(
            h.jobs
                .try_send(Box::new(move || filler_ran.send(()).unwrap()))
                .is_ok()
        );
        assert!(matches!(h.hash("password1").await, Err(Error::Busy)));
        assert_eq!(h.queued(), 0, "a refused job is not counted");
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        filler_done.recv().unwrap();
        assert!(h.hash("password1").await.is_ok());
    }
}
