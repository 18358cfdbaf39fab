//! Throttling of failed password and secret checks, and of registrations, per client address.
//!
//! Counters are fixed windows that start at a key's first failure. A key is a digest of what it
//! counts, so neither memory nor the database holds usernames or addresses for it:
//! - `l:` one username (or client id) from one address: the limit that stops guessing one
//!   account's password without locking its owner out (another address has its own counter);
//! - `a:` every failure from one address, whatever the username (password spraying);
//! - `r:` registrations from one address per hour.
//!
//! Decisions are made from memory only (no I/O on the request path). Several instances share the
//! counts through the store: [`Throttle::sync`] writes this instance's new failures in one batch and
//! reads what the others wrote; the server runs it every 250 ms, so a failure counts everywhere
//! within a second. Memory is bounded: counters live in a size-capped cache and expire with their
//! window.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use moka::sync::Cache;
use sha2::{Digest, Sha256};

use crate::clock::{Clock, Millis};
use crate::store::{Store, StoreResult};

/// `[throttle]`. A limit of 0 is off.
#[derive(Debug, Clone)]
pub struct ThrottleSettings {
    /// Failures per (username, address) in `window`; from the next attempt on, 429.
    pub per_user_address: u32,
    /// Failures per address in `window`, whatever the usernames.
    pub per_address: u32,
    pub window: Duration,
    /// Registrations per address per hour.
    pub registrations_per_hour: u32,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings {
            per_user_address: 10,
            per_address: 100,
            window: Duration::from_secs(900),
            registrations_per_hour: 20,
        }
    }
}

/// One counter as the store keeps it: `count` failures in the window starting at `window_start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleCount {
    pub key: String,
    pub count: i64,
    pub window_start: Millis,
    pub window_ms: i64,
}

/// Refused: try again after this many seconds (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after_s: u64,
}

/// What a check counts against: a username (or a client id) from an address.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    User(&'a str),
    Client(&'a str),
}

#[derive(Debug, Default)]
struct Counter {
    /// The count as the store last said (this instance's flushed failures included).
    global: u32,
    /// This instance's failures not yet written to the store.
    pending: u32,
    window_start: Millis,
    window_ms: i64,
}

impl Counter {
    fn live(&self, now: Millis) -> bool {
        now < self.window_start + self.window_ms
    }
    fn count(&self, now: Millis) -> u32 {
        if self.live(now) {
            self.global.saturating_add(self.pending)
        } else {
            0
        }
    }
}

type Slot = Arc<Mutex<Counter>>;

pub struct Throttle {
    settings: ThrottleSettings,
    clock: Arc<dyn Clock>,
    counters: Cache<String, Slot>,
    /// Keys with failures not yet written to the store.
    dirty: Mutex<HashSet<String>>,
    /// When the store was last read (the next read starts a little before it).
    seen: Mutex<Millis>,
}

const HOUR_MS: i64 = 3_600_000;
/// How far back each read of the store looks beyond the previous read: other instances' clocks
/// and commit order may put their changes slightly in the past. Rows read twice are harmless.
const OVERLAP_MS: i64 = 2_000;

fn key(kind: &str, parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    let digest = h.finalize();
    format!(
        "{kind}:{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..18])
    )
}

fn address(ip: IpAddr) -> Vec<u8> {
    let group = crate::context::RequestContext {
        client_ip: Some(ip),
        ..Default::default()
    }
    .client_group()
    .unwrap_or(ip);
    group.to_string().into_bytes()
}

fn who(subject: Subject<'_>) -> Vec<u8> {
    match subject {
        // Case and Unicode forms of one username count as one.
        Subject::User(u) => {
            let norm = crate::validate::username(u).unwrap_or_else(|_| u.to_lowercase());
            let mut v = b"user\0".to_vec();
            v.extend(norm.chars().take(256).collect::<String>().into_bytes());
            v
        }
        Subject::Client(c) => {
            let mut v = b"client\0".to_vec();
            v.extend(c.chars().take(256).collect::<String>().into_bytes());
            v
        }
    }
}

impl Throttle {
    pub fn new(settings: ThrottleSettings, clock: Arc<dyn Clock>) -> Self {
        let longest = settings.window.max(Duration::from_secs(3600));
        Throttle {
            settings,
            clock,
            // A flood of distinct addresses evicts the least recently used counters first; each
            // entry is about 200 bytes.
            counters: Cache::builder()
                .max_capacity(200_000)
                .time_to_idle(longest)
                .build(),
            dirty: Mutex::default(),
            seen: Mutex::new(0),
        }
    }

    pub fn settings(&self) -> &ThrottleSettings {
        &self.settings
    }

    fn window_ms(&self) -> i64 {
        i64::try_from(self.settings.window.as_millis()).unwrap_or(i64::MAX / 4)
    }

    fn keys(&self, subject: Subject<'_>, ip: IpAddr) -> [(String, u32, i64); 2] {
        let addr = address(ip);
        let w = self.window_ms();
        [
            (
                key("l", &[&addr, &who(subject)]),
                self.settings.per_user_address,
                w,
            ),
            (key("a", &[&addr]), self.settings.per_address, w),
        ]
    }

    fn refused(&self, keys: &[(String, u32, i64)]) -> Option<Limited> {
        let now = self.clock.now_ms();
        keys.iter()
            .filter(|(_, limit, _)| *limit > 0)
            .filter_map(|(k, limit, _)| {
                let slot = self.counters.get(k)?;
                let c = slot.lock().unwrap_or_else(|e| e.into_inner());
                (c.count(now) >= *limit).then(|| {
                    let left_ms = (c.window_start + c.window_ms - now).max(1);
                    Limited {
                        retry_after_s: u64::try_from(left_ms).unwrap_or(1).div_ceil(1000),
                    }
                })
            })
            .max_by_key(|l| l.retry_after_s)
    }

    /// Adds one to each key; true when a key reached its limit with this failure.
    fn add(&self, keys: &[(String, u32, i64)]) -> bool {
        let now = self.clock.now_ms();
        let mut reached = false;
        let mut dirty = self.dirty.lock().unwrap_or_else(|e| e.into_inner());
        for (k, limit, window_ms) in keys {
            if *limit == 0 {
                continue;
            }
            let slot = self.counters.get_with(k.clone(), Slot::default);
            let mut c = slot.lock().unwrap_or_else(|e| e.into_inner());
            if !c.live(now) {
                *c = Counter {
                    window_start: now,
                    window_ms: *window_ms,
                    ..Counter::default()
                };
            }
            c.pending = c.pending.saturating_add(1);
            reached |= c.count(now) == *limit;
            dirty.insert(k.clone());
        }
        reached
    }

    /// Before a password or secret check: `Err` when this subject from this address, or this
    /// address, has used up its failures. Without an address (the CLI) nothing is throttled.
    pub fn check(&self, subject: Subject<'_>, ip: Option<IpAddr>) -> Result<(), Limited> {
        match ip {
            Some(ip) => self.refused(&self.keys(subject, ip)).map_or(Ok(()), Err),
            None => Ok(()),
        }
    }

    /// After a failed check. True when this failure used up a limit (worth an audit event).
    pub fn failed(&self, subject: Subject<'_>, ip: Option<IpAddr>) -> bool {
        ip.is_some_and(|ip| self.add(&self.keys(subject, ip)))
    }

    fn registration_key(&self, ip: IpAddr) -> [(String, u32, i64); 1] {
        [(
            key("r", &[&address(ip)]),
            self.settings.registrations_per_hour,
            HOUR_MS,
        )]
    }

    /// Before a registration: `Err` when this address registered its most this hour.
    pub fn check_registration(&self, ip: Option<IpAddr>) -> Result<(), Limited> {
        match ip {
            Some(ip) => self.refused(&self.registration_key(ip)).map_or(Ok(()), Err),
            None => Ok(()),
        }
    }

    /// A registration attempt that reached the store (created, or refused as taken).
    pub fn registered(&self, ip: Option<IpAddr>) {
        if let Some(ip) = ip {
            self.add(&self.registration_key(ip));
        }
    }

    /// Writes this instance's new failures to the store and reads the other instances'. A write
    /// that fails is retried at the next call; nothing is lost from memory meanwhile.
    pub async fn sync(&self, store: &dyn Store) -> StoreResult<()> {
        let now = self.clock.now_ms();
        let keys: Vec<String> =
            std::mem::take(&mut *self.dirty.lock().unwrap_or_else(|e| e.into_inner()))
                .into_iter()
                .collect();
        let mut batch = Vec::with_capacity(keys.len());
        for k in &keys {
            if let Some(slot) = self.counters.get(k) {
                let c = slot.lock().unwrap_or_else(|e| e.into_inner());
                if c.pending > 0 && c.live(now) {
                    batch.push(ThrottleCount {
                        key: k.clone(),
                        count: i64::from(c.pending),
                        window_start: c.window_start,
                        window_ms: c.window_ms,
                    });
                }
            }
        }
        if !batch.is_empty() {
            if let Err(e) = store.add_throttle_counts(&batch, now).await {
                self.dirty
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(keys);
                return Err(e);
            }
            for b in &batch {
                if let Some(slot) = self.counters.get(&b.key) {
                    let mut c = slot.lock().unwrap_or_else(|e| e.into_inner());
                    if c.window_start == b.window_start {
                        let n = u32::try_from(b.count).unwrap_or(u32::MAX);
                        c.pending = c.pending.saturating_sub(n);
                        c.global = c.global.saturating_add(n);
                    }
                }
            }
        }
        let since = {
            let seen = *self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if seen == 0 {
                // First read: every window still open.
                now - self.window_ms().max(HOUR_MS)
            } else {
                seen - OVERLAP_MS
            }
        };
        for row in store.throttle_counts_since(since).await? {
            if now >= row.window_start + row.window_ms {
                continue;
            }
            let slot = self.counters.get_with(row.key.clone(), Slot::default);
            let mut c = slot.lock().unwrap_or_else(|e| e.into_inner());
            let count = u32::try_from(row.count).unwrap_or(u32::MAX);
            if row.window_start > c.window_start || !c.live(now) {
                let pending = if c.live(now) { c.pending } else { 0 };
                *c = Counter {
                    global: count,
                    pending,
                    window_start: row.window_start,
                    window_ms: row.window_ms,
                };
            } else if row.window_start == c.window_start {
                c.global = c.global.max(count);
            }
        }
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
