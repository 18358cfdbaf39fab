//! Cookie sessions: digests of their ids only.

use bouncer_core::model::{ChangeKind, Session};
use bouncer_core::store::StoreResult;
use sqlx::Row;
use uuid::Uuid;

use crate::{SqlStore, backend_err, changes};

pub(crate) async fn insert(store: &SqlStore, s: &Session) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sessions (id, id_hash, user_id, credential_gen, created_at, last_seen_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(s.id.to_string())
    .bind(s.id_hash.clone())
    .bind(s.user_id.to_string())
    .bind(s.credential_gen)
    .bind(s.created_at)
    .bind(s.last_seen_at)
    .bind(s.expires_at)
    .execute(store.pool())
    .await
    .map(drop)
    .map_err(backend_err)
}

pub(crate) async fn by_hash(store: &SqlStore, id_hash: &str) -> StoreResult<Option<Session>> {
    let row = sqlx::query(
        "SELECT id, id_hash, user_id, credential_gen, created_at, last_seen_at, expires_at \
         FROM sessions WHERE id_hash = $1",
    )
    .bind(id_hash.to_owned())
    .fetch_optional(store.pool())
    .await
    .map_err(backend_err)?;
    let Some(r) = row else { return Ok(None) };
    let uuid = |c: &str| -> Result<Uuid, sqlx::Error> {
        let s: String = r.try_get(c)?;
        Uuid::parse_str(&s).map_err(|e| sqlx::Error::Decode(Box::new(e)))
    };
    let decode = || -> Result<Session, sqlx::Error> {
        Ok(Session {
            id: uuid("id")?,
            id_hash: r.try_get("id_hash")?,
            user_id: uuid("user_id")?,
            credential_gen: r.try_get("credential_gen")?,
            created_at: r.try_get("created_at")?,
            last_seen_at: r.try_get("last_seen_at")?,
            expires_at: r.try_get("expires_at")?,
        })
    };
    decode().map(Some).map_err(backend_err)
}

pub(crate) async fn delete(store: &SqlStore, id: Uuid) -> StoreResult<()> {
    let mut tx = store.begin_write().await.map_err(backend_err)?;
    changes::record(store, &mut tx, ChangeKind::Session, &id.to_string())
        .await
        .map_err(backend_err)?;
    sqlx::query("DELETE FROM sessions WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(backend_err)?;
    tx.commit().await.map_err(backend_err)
}

pub(crate) async fn touch(
    store: &SqlStore,
    uses: &[(Uuid, i64)],
    expired_before: i64,
) -> StoreResult<()> {
    let mut tx = store.begin_write().await.map_err(backend_err)?;
    for (id, at) in uses {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1")
            .bind(*at)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
    }
    sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
        .bind(expired_before)
        .execute(&mut *tx)
        .await
        .map_err(backend_err)?;
    tx.commit().await.map_err(backend_err)
}
