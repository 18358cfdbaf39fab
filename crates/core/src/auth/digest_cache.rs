//! Records looked up by the digest of a secret (API keys, sessions): the found ones cached for at
//! most `max_age`, unknown digests remembered briefly (bounded), so random secrets cannot turn
//! every request into a query. A record is invalidated by its id (one key revoked, one session
//! ended) without dropping the others; a lookup that raced an invalidation does not refill the
//! cache.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::sync::Cache;

use super::expiring::{Expiring, Life};
use uuid::Uuid;

use crate::error::{AuthFailure, Error, Result};
use crate::telemetry::{CacheKind, cache_lookup};

/// What a digest cache holds, named for its hit and miss counters.
pub(crate) trait Counted: Send + Sync + 'static {
    const KIND: CacheKind;
}

impl Counted for super::VerifiedKey {
    const KIND: CacheKind = CacheKind::ApiKey;
}

impl Counted for crate::model::Session {
    const KIND: CacheKind = CacheKind::Session;
}

pub(crate) struct DigestCache<T: Counted> {
    found: Expiring<String, Arc<T>>,
    unknown: Cache<String, ()>,
    /// The digest each cached record was found under, by the record's id.
    digests: Cache<Uuid, String>,
    id_of: fn(&T) -> Uuid,
    /// Bumped by every invalidation.
    generation: AtomicU64,
    /// One store read per missing digest at a time.
    loads: super::refill::Loads,
}

impl<T: Counted> DigestCache<T> {
    /// `id_of` names a record's id, as the change feed reports it.
    pub(crate) fn new(max_age: Duration, id_of: fn(&T) -> Uuid) -> Self {
        DigestCache {
            found: Expiring::new(100_000, Life::Jittered(max_age)),
            digests: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(max_age)
                .build(),
            id_of,
            unknown: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(30))
                .build(),
            generation: AtomicU64::new(0),
            loads: super::refill::Loads::new(),
        }
    }

    /// The record for `digest`: from memory, or from `load` (`None`: unknown, refused as
    /// `UnknownKey` and remembered as such).
    pub(crate) async fn get<F, Fut>(&self, digest: String, load: F) -> Result<Arc<T>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<T>>>,
    {
        let found = self.found.get(&digest);
        let unknown = found.is_none() && self.unknown.contains_key(&digest);
        cache_lookup(T::KIND, found.is_some() || unknown);
        if let Some(v) = found {
            return Ok(v);
        }
        if unknown {
            return Err(Error::InvalidCredentials(AuthFailure::UnknownKey));
        }
        let _loading = self.loads.lock(&digest).await;
        // Loaded (or found unknown) by the request this one waited for.
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
            self.found.insert(digest.clone(), v.clone());
            self.digests.insert((self.id_of)(&v), digest.clone());
            // An invalidation between the check and the inserts either saw the id (and dropped
            // the entry) or bumped the generation before this second look.
            if self.generation.load(Ordering::SeqCst) != generation {
                self.found.invalidate(&digest);
            }
        }
        Ok(v)
    }

    /// Drops the cached record with this id (revoked or changed, here or elsewhere).
    pub(crate) fn invalidate(&self, id: Uuid) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(digest) = self.digests.remove(&id) {
            self.found.invalidate(&digest);
        }
    }

    /// Drops every cached record (the change feed could not say which one changed).
    pub(crate) fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.found.invalidate_all();
        self.digests.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    struct Rec {
        id: Uuid,
    }

    impl Counted for Rec {
        const KIND: CacheKind = CacheKind::ApiKey;
    }

    /// Looks `digest` up, counting the loads that reach the "store".
    async fn get(c: &DigestCache<Rec>, digest: &str, id: Uuid, loads: &AtomicUsize) -> Uuid {
        c.get(digest.to_owned(), || async {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok(Some(Rec { id }))
        })
        .await
        .expect("found")
        .id
    }

    #[tokio::test]
    async fn invalidating_one_id_keeps_the_others_and_a_racing_load_does_not_refill() {
        let c = DigestCache::new(Duration::from_secs(60), |r: &Rec| r.id);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let loads = AtomicUsize::new(0);
        get(&c, "da", a, &loads).await;
        get(&c, "db", b, &loads).await;
        get(&c, "da", a, &loads).await;
        assert_eq!(loads.load(Ordering::SeqCst), 2, "both cached");

        c.invalidate(a);
        get(&c, "db", b, &loads).await;
        assert_eq!(loads.load(Ordering::SeqCst), 2, "b is still cached");
        get(&c, "da", a, &loads).await;
        assert_eq!(loads.load(Ordering::SeqCst), 3, "a was loaded again");

        // A load that an invalidation overtakes answers, but is not cached.
        c.invalidate(a);
        let v = c
            .get("da".to_owned(), || async {
                c.invalidate(a);
                Ok(Some(Rec { id: a }))
            })
            .await
            .expect("found");
        assert_eq!(v.id, a);
        get(&c, "da", a, &loads).await;
        assert_eq!(
            loads.load(Ordering::SeqCst),
            4,
            "the raced load was not kept"
        );

        // An unknown digest is remembered: no second load.
        let misses = AtomicUsize::new(0);
        for _ in 0..2 {
            let r = c
                .get("nope".to_owned(), || async {
                    misses.fetch_add(1, Ordering::SeqCst);
                    Ok(None)
                })
                .await;
            assert!(matches!(
                r,
                Err(Error::InvalidCredentials(AuthFailure::UnknownKey))
            ));
        }
        assert_eq!(misses.load(Ordering::SeqCst), 1);
    }
}
