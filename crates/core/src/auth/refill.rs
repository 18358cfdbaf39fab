//! How the credential caches refill: entries expire at spread-out times, and a missing entry is
//! loaded once for all the requests that want it at that moment.
//!
//! Without this, the entries a burst of traffic cached in its first seconds all expired together
//! `cache_max_age` later, every request in the next seconds missed, and concurrent misses for one
//! user each ran their own query: with 1,000 connections the queries queued for the pool past its
//! acquire timeout and requests got 503 in waves (`docs/benchmarks.md`, "Soak").

use std::hash::{BuildHasher, Hash, RandomState};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, MutexGuard};

/// Expiry at a random point of the last quarter of `max_age` after an entry is written (so never
/// later than `max_age`, the bound the caches promise).
pub(crate) struct Jittered(pub Duration);

impl Jittered {
    pub(crate) fn pick(&self) -> Duration {
        let quarter = u64::try_from(self.0.as_millis() / 4).unwrap_or(u64::MAX);
        let off = if quarter == 0 {
            0
        } else {
            rand::random::<u64>() % quarter
        };
        self.0.saturating_sub(Duration::from_millis(off))
    }
}

impl<K, V> moka::Expiry<K, V> for Jittered {
    fn expire_after_create(&self, _: &K, _: &V, _: Instant) -> Option<Duration> {
        Some(self.pick())
    }

    fn expire_after_update(
        &self,
        _: &K,
        _: &V,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.pick())
    }
}

/// Striped locks taken around a cache miss's load: the first request to miss a key loads it;
/// the others that missed it meanwhile wait, then find it cached. Keys that share a stripe wait
/// for each other's loads too, which at [`STRIPES`] stripes costs little.
pub(crate) struct Loads {
    stripes: Vec<Mutex<()>>,
    hasher: RandomState,
}

const STRIPES: usize = 64;

impl Loads {
    pub(crate) fn new() -> Self {
        Loads {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: RandomState::new(),
        }
    }

    /// Waits for the loads of `key`'s stripe in progress; held while loading.
    pub(crate) async fn lock<K: Hash + ?Sized>(&self, key: &K) -> MutexGuard<'_, ()> {
        let i = usize::try_from(self.hasher.hash_one(key) % STRIPES as u64).unwrap_or(0);
        self.stripes[i].lock().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_stays_within_the_last_quarter_of_the_bound() {
        let j = Jittered(Duration::from_secs(30));
        let picks: Vec<_> = (0..1000).map(|_| j.pick()).collect();
        assert!(picks.iter().all(|d| *d <= Duration::from_secs(30)));
        assert!(picks.iter().all(|d| *d > Duration::from_millis(22_500)));
        let distinct: std::collections::HashSet<_> = picks.iter().collect();
        assert!(distinct.len() > 100, "spread out, not one instant");
        assert_eq!(Jittered(Duration::ZERO).pick(), Duration::ZERO);
    }

    #[tokio::test]
    async fn a_key_is_loaded_by_one_request_at_a_time() {
        let loads = std::sync::Arc::new(Loads::new());
        let first = loads.lock("user-1").await;
        let waiter = {
            let loads = loads.clone();
            tokio::spawn(async move {
                let _g = loads.lock("user-1").await;
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiter.is_finished(),
            "the second miss waits for the first load"
        );
        drop(first);
        waiter.await.unwrap();
    }
}
