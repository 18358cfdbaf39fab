//! Policies: named documents (JSON text, as put); each process compiles them. Every write is
//! recorded in the change feed, so every instance recompiles its set.

use bouncer_core::model::{ChangeKind, PolicyRecord};
use bouncer_core::store::StoreResult;

use crate::{SqlStore, backend_err, changes};

pub(crate) async fn list(store: &SqlStore) -> StoreResult<Vec<PolicyRecord>> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT name, document FROM policies ORDER BY name")
            .fetch_all(store.pool())
            .await
            .map_err(backend_err)?;
    Ok(rows
        .into_iter()
        .map(|(name, document)| PolicyRecord { name, document })
        .collect())
}

pub(crate) async fn put(store: &SqlStore, p: &PolicyRecord, now: i64) -> StoreResult<bool> {
    let mut tx = store.begin_write().await.map_err(backend_err)?;
    changes::record(store, &mut tx, ChangeKind::Policy, &p.name)
        .await
        .map_err(backend_err)?;
    let created = sqlx::query(
        "INSERT INTO policies (name, document, created_at, updated_at) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(p.name.clone())
    .bind(p.document.clone())
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(backend_err)?
    .rows_affected()
        > 0;
    if !created {
        sqlx::query("UPDATE policies SET document = $1, updated_at = $2 WHERE name = $3")
            .bind(p.document.clone())
            .bind(now)
            .bind(p.name.clone())
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
    }
    crate::audit::commit(store, tx).await.map_err(backend_err)?;
    Ok(created)
}

pub(crate) async fn delete(store: &SqlStore, name: &str) -> StoreResult<bool> {
    let mut tx = store.begin_write().await.map_err(backend_err)?;
    changes::record(store, &mut tx, ChangeKind::Policy, name)
        .await
        .map_err(backend_err)?;
    let gone = sqlx::query("DELETE FROM policies WHERE name = $1")
        .bind(name.to_owned())
        .execute(&mut *tx)
        .await
        .map_err(backend_err)?
        .rows_affected()
        > 0;
    if !gone {
        // Nothing changed: no feed entry, no audit event.
        tx.rollback().await.map_err(backend_err)?;
        return Ok(false);
    }
    crate::audit::commit(store, tx).await.map_err(backend_err)?;
    Ok(true)
}
