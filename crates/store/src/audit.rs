//! The audit trail. Administrative changes write their event inside their own transaction
//! ([`commit`], through a store made by `Store::audited`), so a change and its record commit
//! together or not at all; request-path events (logins, tokens, denials) arrive in batches
//! ([`insert_batch`]). Pages are read newest first by id (UUIDv7: time order), keyset-paginated.

use bouncer_core::model::{AuditEvent, AuditQuery, Outcome};
use bouncer_core::store::StoreResult;
use sqlx::{Any, Row, Transaction};
use uuid::Uuid;

use crate::{SqlStore, backend_err};

const INSERT: &str = "INSERT INTO audit_events (id, at, actor, subject, action, outcome, reason, client_ip, request_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING";

async fn insert_one(tx: &mut Transaction<'static, Any>, e: &AuditEvent) -> Result<(), sqlx::Error> {
    sqlx::query(INSERT)
        .bind(e.id.to_string())
        .bind(e.at)
        .bind(e.actor.clone())
        .bind(e.subject.clone())
        .bind(e.action.clone())
        .bind(e.outcome.as_str())
        .bind(e.reason.clone())
        .bind(e.client_ip.clone())
        .bind(e.request_id.clone())
        .execute(&mut **tx)
        .await
        .map(drop)
}

/// Writes the event this store was made to carry (if any) inside `tx`, just before [`commit`].
/// Idempotent (the id is the key), so a write that is retried records its event once.
async fn pending(store: &SqlStore, tx: &mut Transaction<'static, Any>) -> Result<(), sqlx::Error> {
    match store.audit.as_deref() {
        Some(e) => insert_one(tx, e).await,
        None => Ok(()),
    }
}

/// Commits an administrative write with the event its store view carries: the one way such a
/// write ends, so none can forget its record.
pub(crate) async fn commit(
    store: &SqlStore,
    mut tx: Transaction<'static, Any>,
) -> Result<(), sqlx::Error> {
    pending(store, &mut tx).await?;
    tx.commit().await
}

pub(crate) async fn insert_batch(store: &SqlStore, events: &[AuditEvent]) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut tx = store.begin_write().await.map_err(backend_err)?;
    for e in events {
        insert_one(&mut tx, e).await.map_err(backend_err)?;
    }
    tx.commit().await.map_err(backend_err)
}

pub(crate) async fn page(store: &SqlStore, q: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
    // One SQL text: absent filters compare against NULL and pass.
    let rows = sqlx::query(
        "SELECT id, at, actor, subject, action, outcome, reason, client_ip, request_id FROM audit_events \
         WHERE ($1 IS NULL OR actor = $1) AND ($2 IS NULL OR action = $2) AND ($3 IS NULL OR outcome = $3) \
         AND ($4 IS NULL OR at >= $4) AND ($5 IS NULL OR id < $5) ORDER BY id DESC LIMIT $6",
    )
    .bind(q.actor.clone())
    .bind(q.action.clone())
    .bind(q.outcome.map(Outcome::as_str))
    .bind(q.since)
    .bind(q.before.map(|u| u.to_string()))
    .bind(i64::from(q.limit))
    .fetch_all(store.pool())
    .await
    .map_err(backend_err)?;
    rows.iter()
        .map(|r| {
            let id: String = r.try_get(0)?;
            let outcome: String = r.try_get(5)?;
            Ok(AuditEvent {
                id: Uuid::parse_str(&id).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                at: r.try_get(1)?,
                actor: r.try_get(2)?,
                subject: r.try_get(3)?,
                action: r.try_get(4)?,
                outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Failure),
                reason: r.try_get(6)?,
                client_ip: r.try_get(7)?,
                request_id: r.try_get(8)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(backend_err)
}

pub(crate) async fn prune(store: &SqlStore, before: i64) -> StoreResult<u64> {
    sqlx::query("DELETE FROM audit_events WHERE at < $1")
        .bind(before)
        .execute(store.pool())
        .await
        .map(|r| r.rows_affected())
        .map_err(backend_err)
}
