//! The change feed. [`record`] is the first statement of every write transaction that can change
//! what a credential may do: it bumps the revision (on PostgreSQL that row lock serializes such
//! writers, so sequence order is commit order) and appends `(seq, kind, key)`. On PostgreSQL it also
//! queues a `NOTIFY`, delivered at commit, which wakes every instance's reader at once
//! ([`crate::listen`]); polling stays the safety net and is all SQLite has.

use bouncer_core::model::{Change, ChangeBatch, ChangeKind};
use bouncer_core::store::StoreResult;
use sqlx::{Any, Row, Transaction};

use crate::{Backend, SqlStore, backend_err};

/// The PostgreSQL channel the feed notifies on.
pub(crate) const CHANNEL: &str = "bouncer_changes";

/// Entries one read returns at most; a reader behind by more reads again.
const BATCH: i64 = 5000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Appends one entry to the feed inside `tx` (see the module docs).
pub(crate) async fn record(
    store: &SqlStore,
    tx: &mut Transaction<'static, Any>,
    kind: ChangeKind,
    key: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE revision SET value = value + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    sqlx::query("INSERT INTO changes (seq, kind, key, at) SELECT value, $1, $2, $3 FROM revision WHERE id = 1")
        .bind(kind.as_str())
        .bind(key.to_owned())
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    if store.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub(crate) async fn since(store: &SqlStore, seq: i64) -> StoreResult<ChangeBatch> {
    let latest: i64 = sqlx::query_scalar("SELECT value FROM revision WHERE id = 1")
        .fetch_one(store.pool())
        .await
        .map_err(backend_err)?;
    if latest <= seq {
        return Ok(ChangeBatch {
            latest: seq.max(latest),
            ..Default::default()
        });
    }
    let rows = sqlx::query(
        "SELECT seq, kind, key FROM changes WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
    )
    .bind(seq)
    .bind(latest)
    .bind(BATCH)
    .fetch_all(store.pool())
    .await
    .map_err(backend_err)?;
    let mut changes = Vec::with_capacity(rows.len());
    for row in rows {
        let kind: String = row.try_get(1).map_err(backend_err)?;
        changes.push(Change {
            seq: row.try_get(0).map_err(backend_err)?,
            kind: ChangeKind::parse(&kind),
            key: row.try_get(2).map_err(backend_err)?,
        });
    }
    // Sequence numbers have no holes: every bump appends an entry in the same transaction. A
    // hole (at the start or anywhere in between) means entries were pruned before this reader
    // saw them.
    let gap = changes.first().is_none_or(|c| c.seq != seq + 1)
        || changes.windows(2).any(|w| w[1].seq != w[0].seq + 1);
    let latest = changes.last().map_or(latest, |c| c.seq);
    Ok(ChangeBatch {
        latest,
        changes,
        gap,
    })
}

pub(crate) async fn prune(store: &SqlStore, before: i64) -> StoreResult<()> {
    // Keep the newest entry whatever its age, so `since` can tell "nothing new" from "pruned".
    sqlx::query(
        "DELETE FROM changes WHERE at < $1 AND seq < (SELECT value FROM revision WHERE id = 1)",
    )
    .bind(before)
    .execute(store.pool())
    .await
    .map(drop)
    .map_err(backend_err)
}
