//! Users' API keys: digests only. Revoking and rolling are recorded in the change feed, so every
//! instance drops the key from its cache.

use bouncer_core::model::{ApiKey, ChangeKind};
use bouncer_core::store::StoreResult;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};
use uuid::Uuid;

use crate::{AnyQuery, SqlStore, backend_err, changes, insert_rows};

const COLUMNS: &str =
    "id, user_id, name, key_hash, prefix, scopes, client_ips, created_at, last_used_at, expires_at";

fn words(s: String) -> Vec<String> {
    s.split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

fn from_row(r: &AnyRow) -> Result<ApiKey, sqlx::Error> {
    let uuid = |c: &str| -> Result<Uuid, sqlx::Error> {
        let s: String = r.try_get(c)?;
        Uuid::parse_str(&s).map_err(|e| sqlx::Error::Decode(Box::new(e)))
    };
    Ok(ApiKey {
        id: uuid("id")?,
        user_id: uuid("user_id")?,
        name: r.try_get("name")?,
        key_hash: r.try_get("key_hash")?,
        prefix: r.try_get("prefix")?,
        scopes: words(r.try_get("scopes")?),
        client_ips: words(r.try_get("client_ips")?),
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

/// The columns a new key's row fills, in [`bind_new`]'s order (the bulk seed fills the same).
pub(crate) const NEW_COLUMNS: &[&str] = &[
    "id",
    "user_id",
    "name",
    "key_hash",
    "prefix",
    "scopes",
    "client_ips",
    "created_at",
    "expires_at",
];

/// Binds `k`'s row, [`NEW_COLUMNS`] in order.
pub(crate) fn bind_new<'q>(q: AnyQuery<'q>, k: &ApiKey) -> AnyQuery<'q> {
    q.bind(k.id.to_string())
        .bind(k.user_id.to_string())
        .bind(k.name.clone())
        .bind(k.key_hash.clone())
        .bind(k.prefix.clone())
        .bind(k.scopes.join(" "))
        .bind(k.client_ips.join(" "))
        .bind(k.created_at)
        .bind(k.expires_at)
}

async fn insert_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    k: &ApiKey,
) -> Result<(), sqlx::Error> {
    let sql = insert_rows("api_keys", NEW_COLUMNS, 1);
    bind_new(sqlx::query(AssertSqlSafe(sql)), k)
        .execute(&mut **tx)
        .await
        .map(drop)
}

pub(crate) async fn insert(store: &SqlStore, k: &ApiKey) -> StoreResult<()> {
    let mut tx = store.begin_write().await.map_err(backend_err)?;
    insert_in(&mut tx, k).await.map_err(backend_err)?;
    crate::audit::commit(store, tx).await.map_err(backend_err)
}

async fn one(store: &SqlStore, column: &str, value: String) -> StoreResult<Option<ApiKey>> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE {column} = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(value)
        .fetch_optional(store.pool())
        .await
        .map_err(backend_err)?
        .as_ref()
        .map(from_row)
        .transpose()
        .map_err(backend_err)
}

pub(crate) async fn by_hash(store: &SqlStore, key_hash: &str) -> StoreResult<Option<ApiKey>> {
    one(store, "key_hash", key_hash.to_owned()).await
}

pub(crate) async fn by_id(store: &SqlStore, id: Uuid) -> StoreResult<Option<ApiKey>> {
    one(store, "id", id.to_string()).await
}

pub(crate) async fn list(store: &SqlStore, user_id: Uuid) -> StoreResult<Vec<ApiKey>> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY created_at, id");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user_id.to_string())
        .fetch_all(store.pool())
        .await
        .map_err(backend_err)?
        .iter()
        .map(from_row)
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend_err)
}

pub(crate) async fn delete(store: &SqlStore, id: Uuid) -> StoreResult<bool> {
    let mut tx = store.begin_write().await.map_err(backend_err)?;
    changes::record(store, &mut tx, ChangeKind::ApiKey, &id.to_string())
        .await
        .map_err(backend_err)?;
    let done = sqlx::query("DELETE FROM api_keys WHERE id = $1")
        .bind(id.to_string())
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

pub(crate) async fn roll(
    store: &SqlStore,
    old: Uuid,
    old_expires_at: i64,
    new: &ApiKey,
    now: i64,
) -> StoreResult<()> {
    let mut tx = store.begin_write().await.map_err(backend_err)?;
    changes::record(store, &mut tx, ChangeKind::ApiKey, &old.to_string())
        .await
        .map_err(backend_err)?;
    if old_expires_at <= now {
        sqlx::query("DELETE FROM api_keys WHERE id = $1")
            .bind(old.to_string())
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
    } else {
        sqlx::query("UPDATE api_keys SET expires_at = $1 WHERE id = $2")
            .bind(old_expires_at)
            .bind(old.to_string())
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
    }
    insert_in(&mut tx, new).await.map_err(backend_err)?;
    crate::audit::commit(store, tx).await.map_err(backend_err)
}

pub(crate) async fn touch(store: &SqlStore, uses: &[(Uuid, i64)]) -> StoreResult<()> {
    if uses.is_empty() {
        return Ok(());
    }
    let mut tx = store.begin_write().await.map_err(backend_err)?;
    for (id, at) in uses {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 \
             AND (last_used_at IS NULL OR last_used_at < $1)",
        )
        .bind(*at)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(backend_err)?;
    }
    tx.commit().await.map_err(backend_err)
}
