//! The audit trail's writer. Administrative changes carry their event into the store's own
//! transaction (`Store::audited`); request-path events (logins, token events, denials) are
//! queued here and written in batches off the hot path ([`Audit::flush`], called by a background
//! task, before every read of the trail, and at shutdown, so none is lost on a graceful stop).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use crate::clock::{Clock, Millis};
use crate::context::RequestContext;
use crate::error::Result;
use crate::model::{AuditEvent, Outcome};
use crate::store::{Store, StoreError};

/// Events queued at most; past it the oldest are dropped (and counted in a warning) rather than
/// letting an unreachable database exhaust memory.
const MAX_QUEUED: usize = 100_000;
/// A queue this long wakes the writer at once instead of at its next tick.
pub const WAKE_AT: usize = 256;
/// Longest actor and subject kept, in characters; longer ones are cut.
const NAME_MAX: usize = 200;
/// Longest reason kept, in characters.
const REASON_MAX: usize = 1000;

/// A value as an event may hold it: control characters (a NUL that PostgreSQL refuses, a line
/// break that would forge log lines) replaced, and cut to `max` characters.
fn clean(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// The request facts an event records.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
}

impl Origin {
    pub fn of(ctx: &RequestContext) -> Self {
        Origin {
            client_ip: ctx
                .client_ip
                .map(|ip| crate::context::unmapped(ip).to_string()),
            request_id: ctx.request_id.as_deref().map(str::to_owned),
        }
    }
    /// The origin of a change made by `actor` (none for the CLI).
    pub fn of_actor(actor: crate::authz::Actor<'_>) -> Self {
        actor.context().map(Origin::of).unwrap_or_default()
    }
}

pub struct Audit {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    queue: Mutex<VecDeque<AuditEvent>>,
    /// Events dropped because the queue was full (the database unreachable for long).
    dropped: AtomicU64,
    /// One flush at a time: when `flush` returns, everything queued before the call is written.
    flushing: tokio::sync::Mutex<()>,
    wake: tokio::sync::Notify,
    json_log: bool,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit").finish_non_exhaustive()
    }
}

impl Audit {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, json_log: bool) -> Self {
        Audit {
            store,
            clock,
            queue: Mutex::new(VecDeque::new()),
            dropped: AtomicU64::new(0),
            flushing: tokio::sync::Mutex::new(()),
            wake: tokio::sync::Notify::new(),
            json_log,
        }
    }

    /// A new event at the current time.
    pub fn event(
        &self,
        origin: Origin,
        actor: &str,
        action: &str,
        outcome: Outcome,
        subject: Option<&str>,
        reason: Option<&str>,
    ) -> AuditEvent {
        AuditEvent {
            id: Uuid::now_v7(),
            at: self.clock.now_ms(),
            actor: clean(actor, NAME_MAX),
            subject: subject.map(|s| clean(s, NAME_MAX)),
            action: clean(action, NAME_MAX),
            outcome,
            reason: reason.map(|r| clean(r, REASON_MAX)),
            client_ip: origin.client_ip,
            request_id: origin.request_id,
        }
    }

    /// Writes `event` as a JSON log line when `audit.json_log` is on. Administrative events call
    /// this once their transaction committed; queued events when they are queued.
    pub fn log(&self, event: &AuditEvent) {
        if !self.json_log {
            return;
        }
        // Structured fields: with `log.format = "json"` each event is one JSON line.
        tracing::info!(
            target: "bouncer::audit",
            id = %event.id,
            time = %crate::clock::rfc3339(event.at),
            actor = %event.actor,
            subject = event.subject.as_deref(),
            action = %event.action,
            outcome = event.outcome.as_str(),
            reason = event.reason.as_deref(),
            client_ip = event.client_ip.as_deref(),
            request_id = event.request_id.as_deref(),
            "audit"
        );
    }

    /// Queues a request-path event (no I/O here).
    pub fn record(&self, event: AuditEvent) {
        self.log(&event);
        let len = {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            q.push_back(event);
            self.bound(&mut q);
            q.len()
        };
        if len >= WAKE_AT {
            self.wake.notify_one();
        }
    }

    /// Keeps the queue within [`MAX_QUEUED`], dropping the oldest events (counted; one warning
    /// per thousand).
    fn bound(&self, q: &mut VecDeque<AuditEvent>) {
        while q.len() > MAX_QUEUED {
            q.pop_front();
            if self
                .dropped
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(1000)
            {
                tracing::warn!(
                    dropped = self.dropped.load(Ordering::Relaxed),
                    "the audit queue is full (is the database reachable?); dropping its oldest events"
                );
            }
        }
    }

    /// Puts events back at the front of the queue (a write that failed or was cancelled).
    fn requeue(&self, batch: Vec<AuditEvent>) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        for e in batch.into_iter().rev() {
            q.push_front(e);
        }
        self.bound(&mut q);
    }

    /// Resolves when the queue asks to be written early.
    pub async fn wanted(&self) {
        self.wake.notified().await;
    }

    /// Writes every queued event, in one transaction. When the database refuses the batch, the
    /// events are tried one by one: a row the database refuses as a row (a constraint, a value it
    /// cannot store) is dropped (and logged) so it cannot block the others; a row it could not
    /// take for now (locked past the busy timeout, unreachable: [`StoreError::Unavailable`]) goes
    /// back to the queue with everything not yet written, for the next flush. A flush cancelled
    /// halfway puts its batch back too (rewriting an event is harmless: the id is the key).
    pub async fn flush(&self) -> Result<()> {
        let _one = self.flushing.lock().await;
        let batch: Vec<AuditEvent> = self
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        if batch.is_empty() {
            return Ok(());
        }
        let mut pending = Pending { audit: self, batch };
        let Err(first) = self.store.insert_audit_events(&pending.batch).await else {
            pending.batch.clear();
            return Ok(());
        };
        if matches!(first, StoreError::Unavailable(_)) {
            // The database, not a row, is the problem. Keep them all.
            return Err(first.into());
        }
        let mut refused = 0usize;
        let mut left = Vec::new();
        let mut later: Option<StoreError> = None;
        for e in pending.batch.drain(..) {
            if later.is_some() {
                left.push(e);
                continue;
            }
            match self
                .store
                .insert_audit_events(std::slice::from_ref(&e))
                .await
            {
                Ok(()) => {}
                Err(err @ StoreError::Unavailable(_)) => {
                    later = Some(err);
                    left.push(e);
                }
                Err(_) => refused += 1,
            }
        }
        if refused > 0 {
            tracing::error!(refused, error = %first, "the database refused some audit events; dropped them");
        }
        pending.batch = left;
        match later {
            Some(err) => Err(err.into()),
            None => Ok(()),
        }
    }

    /// Forgets events older than `retention_days`; returns how many.
    pub async fn prune(&self, retention_days: u32) -> Result<u64> {
        let before: Millis = self.clock.now_ms() - i64::from(retention_days) * 86_400_000;
        Ok(self.store.prune_audit_events(before).await?)
    }
}

/// A batch being written: put back on the queue unless cleared (written), also when the flush is
/// cancelled mid-write.
struct Pending<'a> {
    audit: &'a Audit,
    batch: Vec<AuditEvent>,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.batch.is_empty() {
            self.audit.requeue(std::mem::take(&mut self.batch));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn event_values_lose_control_characters_and_are_cut() {
        assert_eq!(clean("a\u{0}b\nc", 10), "a\u{FFFD}b\u{FFFD}c");
        assert_eq!(clean("abcdef", 3), "abc…");
        assert_eq!(clean("abc", 3), "abc");
    }
}
