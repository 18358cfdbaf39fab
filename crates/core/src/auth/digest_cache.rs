//! Records looked up by the digest of a secret (API keys, sessions): the found ones cached for at
//! most `max_age`, unknown digests remembered briefly (bounded), so random secrets cannot turn
//! every request into a query. A lookup that raced an invalidation does not refill the cache.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::sync::Cache;

use crate::error::{AuthFailure, Error, Result};

pub(crate) struct DigestCache<T: Send + Sync + 'static> {
    found: Cache<String, Arc<T>>,
    unknown: Cache<String, ()>,
    /// Bumped by every invalidation.
    generation: AtomicU64,
}

impl<T: Send + Sync + 'static> DigestCache<T> {
    pub(crate) fn new(max_age: Duration) -> Self {
        DigestCache {
            found: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(max_age)
                .build(),
            unknown: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(30))
                .build(),
            generation: AtomicU64::new(0),
        }
    }

    /// The record for `digest`: from memory, or from `load` (`None`: unknown, refused as
    /// `UnknownKey` and remembered as such).
    pub(crate) async fn get<F, Fut>(&self, digest: String, load: F) -> Result<Arc<T>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<T>>>,
    {
        if let Some(v) = self.found.get(&digest) {
            return Ok(v);
        }
        if self.unknown.contains_key(&digest) {
            return Err(Error::InvalidCredentials(AuthFailure::UnknownKey));
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let Some(v) = load().await? else {
            self.unknown.insert(digest, ());
            return Err(Error::InvalidCredentials(AuthFailure::UnknownKey));
        };
        let v = Arc::new(v);
        if self.generation.load(Ordering::SeqCst) == generation {
            self.found.insert(digest, v.clone());
        }
        Ok(v)
    }

    /// Drops every cached record (one was revoked or changed, here or elsewhere).
    pub(crate) fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.found.invalidate_all();
    }
}
