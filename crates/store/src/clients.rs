//! Machine clients. Deleting one revokes the refresh-token families issued to it, in the same
//! transaction, and tells every process through the change feed (their access tokens die there).

use bouncer_core::model::{ChangeKind, Client};
use bouncer_core::store::StoreResult;
use sqlx::Row;

use crate::{SqlStore, backend_err, changes};

pub(crate) async fn insert(store: &SqlStore, c: &Client) -> StoreResult<()> {
    let mut tx = store.begin_write().await.map_err(backend_err)?;
    changes::record(store, &mut tx, ChangeKind::Client, &c.id)
        .await
        .map_err(backend_err)?;
    sqlx::query(
        "INSERT INTO clients (id, name, secret_hash, scopes, first_party, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(c.id.clone())
    .bind(c.name.clone())
    .bind(c.secret_hash.clone())
    .bind(c.scopes.join(" "))
    .bind(i64::from(c.first_party))
    .bind(c.created_at)
    .execute(&mut *tx)
    .await
    .map_err(backend_err)?;
    crate::audit::commit(store, tx).await.map_err(backend_err)
}

pub(crate) async fn list(store: &SqlStore) -> StoreResult<Vec<Client>> {
    let rows = sqlx::query(
        "SELECT id, name, secret_hash, scopes, first_party, created_at FROM clients ORDER BY created_at, id",
    )
    .fetch_all(store.pool())
    .await
    .map_err(backend_err)?;
    rows.iter()
        .map(|r| {
            let scopes: String = r.try_get("scopes")?;
            Ok(Client {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                secret_hash: r.try_get("secret_hash")?,
                scopes: scopes
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                first_party: r.try_get::<i64, _>("first_party")? != 0,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(backend_err)
}

pub(crate) async fn delete(store: &SqlStore, id: &str, now: i64) -> StoreResult<bool> {
    let mut tx = store.begin_write().await.map_err(backend_err)?;
    changes::record(store, &mut tx, ChangeKind::Client, id)
        .await
        .map_err(backend_err)?;
    let done = sqlx::query("DELETE FROM clients WHERE id = $1")
        .bind(id.to_owned())
        .execute(&mut *tx)
        .await
        .map_err(backend_err)?;
    if done.rows_affected() == 0 {
        tx.rollback().await.map_err(backend_err)?;
        return Ok(false);
    }
    sqlx::query(
        "UPDATE token_families SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(id.to_owned())
    .execute(&mut *tx)
    .await
    .map_err(backend_err)?;
    crate::audit::commit(store, tx).await.map_err(backend_err)?;
    Ok(true)
}

pub(crate) async fn update(store: &SqlStore, c: &Client) -> StoreResult<bool> {
    let mut tx = store.begin_write().await.map_err(backend_err)?;
    changes::record(store, &mut tx, ChangeKind::Client, &c.id)
        .await
        .map_err(backend_err)?;
    let done = sqlx::query("UPDATE clients SET scopes = $1, first_party = $2 WHERE id = $3")
        .bind(c.scopes.join(" "))
        .bind(i64::from(c.first_party))
        .bind(c.id.clone())
        .execute(&mut *tx)
        .await
        .map_err(backend_err)?;
    if done.rows_affected() == 0 {
        tx.rollback().await.map_err(backend_err)?;
        return Ok(false);
    }
    crate::audit::commit(store, tx).await.map_err(backend_err)?;
    Ok(true)
}
