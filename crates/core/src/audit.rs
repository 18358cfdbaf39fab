//! The audit trail's writer. Administrative changes carry their event into the store's own
//! transaction (`Store::audited`); request-path events (logins, token events, denials) are
//! queued here and written in batches off the hot path ([`Audit::flush`], called by a background
//! task, before every read of the trail, and at shutdown, so none is lost on a graceful stop).

use std::sync::{Arc, Mutex};

use uuid::Uuid;

use crate::clock::{Clock, Millis};
use crate::context::RequestContext;
use crate::error::Result;
use crate::model::{AuditEvent, Outcome};
use crate::store::Store;

/// Events queued at most; past it the oldest are dropped (and counted in a warning) rather than
/// letting an unreachable database exhaust memory.
const MAX_QUEUED: usize = 100_000;
/// A queue this long wakes the writer at once instead of at its next tick.
pub const WAKE_AT: usize = 256;

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
    queue: Mutex<Vec<AuditEvent>>,
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
            queue: Mutex::new(Vec::new()),
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
            actor: actor.to_owned(),
            subject: subject.map(str::to_owned),
            action: action.to_owned(),
            outcome,
            reason: reason.map(str::to_owned),
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
            if q.len() >= MAX_QUEUED {
                q.remove(0);
                tracing::warn!(
                    "the audit queue is full (is the database reachable?); dropped its oldest event"
                );
            }
            q.push(event);
            q.len()
        };
        if len >= WAKE_AT {
            self.wake.notify_one();
        }
    }

    /// Resolves when the queue asks to be written early.
    pub async fn wanted(&self) {
        self.wake.notified().await;
    }

    /// Writes every queued event in one transaction. On failure they go back to the front of the
    /// queue for the next try.
    pub async fn flush(&self) -> Result<()> {
        let _one = self.flushing.lock().await;
        let batch = std::mem::take(&mut *self.queue.lock().unwrap_or_else(|e| e.into_inner()));
        if batch.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.store.insert_audit_events(&batch).await {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            let newer = std::mem::replace(&mut *q, batch);
            q.extend(newer);
            return Err(e.into());
        }
        Ok(())
    }

    /// Forgets events older than `retention_days`; returns how many.
    pub async fn prune(&self, retention_days: u32) -> Result<u64> {
        let before: Millis = self.clock.now_ms() - i64::from(retention_days) * 86_400_000;
        Ok(self.store.prune_audit_events(before).await?)
    }
}
