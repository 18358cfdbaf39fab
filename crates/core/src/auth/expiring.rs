//! The caches every authenticated request reads (user states, verified tokens, API keys and
//! sessions by digest): quick_cache's sharded table (S3-FIFO eviction, bounded by count or by
//! weight) with the instant each entry dies kept beside it. A hit is one shard's read lock and one
//! clock read; moka, which these caches used before, kept an epoch guard, a read log and its own
//! clock per read, ~900 instructions each, two of them on every `/users/me`.
//!
//! An entry past its instant is never returned (and is dropped when met); entries nobody asks
//! for again leave through eviction, so memory stays within the bound either way.

use std::hash::Hash;
use std::time::{Duration, Instant};

use quick_cache::Equivalent;

use super::FastHash;
use super::refill::Jittered;

/// How long an entry lives once written.
#[derive(Clone, Copy)]
pub(crate) enum Life {
    /// Exactly this long.
    Fixed(Duration),
    /// At a random point of the last quarter of this (so entries written together do not all
    /// die, and miss, together; never longer than it).
    Jittered(Duration),
}

impl Life {
    fn until(self, now: Instant) -> Instant {
        let life = match self {
            Life::Fixed(d) => d,
            Life::Jittered(d) => Jittered(d).pick(),
        };
        now.checked_add(life).unwrap_or(now)
    }
}

#[derive(Clone)]
struct Entry<V> {
    value: V,
    until: Instant,
}

/// What one key weighs against the cache's capacity.
#[derive(Clone)]
struct Weigh<K>(fn(&K) -> u64);

impl<K, V> quick_cache::Weighter<K, Entry<V>> for Weigh<K> {
    fn weight(&self, key: &K, _: &Entry<V>) -> u64 {
        (self.0)(key)
    }
}

/// A bounded cache whose entries expire (see the module's documentation).
pub(crate) struct Expiring<K, V> {
    entries: quick_cache::sync::Cache<K, Entry<V>, Weigh<K>, FastHash>,
    life: Life,
}

impl<K: Eq + Hash + Clone, V: Clone> Expiring<K, V> {
    /// At most `capacity` entries, each living `life`.
    pub(crate) fn new(capacity: usize, life: Life) -> Self {
        Self::weighed(capacity, capacity as u64, |_| 1, life)
    }

    /// At most `capacity` in weight (`weigh` of each key), about `items` entries.
    pub(crate) fn weighed(items: usize, capacity: u64, weigh: fn(&K) -> u64, life: Life) -> Self {
        Expiring {
            entries: quick_cache::sync::Cache::with(
                items,
                capacity,
                Weigh(weigh),
                FastHash::default(),
                Default::default(),
            ),
            life,
        }
    }

    pub(crate) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let entry = self.entries.get(key)?;
        if entry.until <= Instant::now() {
            self.entries.remove(key);
            return None;
        }
        Some(entry.value)
    }

    pub(crate) fn insert(&self, key: K, value: V) {
        let until = self.life.until(Instant::now());
        self.entries.insert(key, Entry { value, until });
    }

    pub(crate) fn invalidate<Q>(&self, key: &Q)
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        self.entries.remove(key);
    }

    pub(crate) fn invalidate_all(&self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_gone_at_its_instant_and_invalidation_drops_it() {
        let c: Expiring<String, u32> = Expiring::new(10, Life::Fixed(Duration::from_millis(50)));
        c.insert("a".into(), 1);
        c.insert("b".into(), 2);
        assert_eq!(c.get("a"), Some(1));
        c.invalidate("b");
        assert_eq!(c.get("b"), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(c.get("a"), None, "past its life");
        c.insert("a".into(), 3);
        assert_eq!(c.get("a"), Some(3), "written again, alive again");
        c.invalidate_all();
        assert_eq!(c.get("a"), None);
    }

    #[test]
    fn a_jittered_life_is_never_longer_than_its_bound() {
        let now = Instant::now();
        let bound = Duration::from_secs(40);
        for _ in 0..1000 {
            let until = Life::Jittered(bound).until(now);
            assert!(until <= now + bound);
            assert!(until > now + bound * 3 / 4);
        }
    }

    #[test]
    fn the_weight_bounds_what_is_kept() {
        let c: Expiring<String, ()> = Expiring::weighed(
            4,
            1_000,
            |k| k.len() as u64,
            Life::Fixed(Duration::from_secs(60)),
        );
        for i in 0..100 {
            c.insert(format!("{i:0>100}"), ());
        }
        let kept = (0..100)
            .filter(|i| c.get(&format!("{i:0>100}")).is_some())
            .count();
        assert!(
            (1..=10).contains(&kept),
            "{kept} entries of 100 bytes in 1,000"
        );
    }
}
