//! Refresh-token families, refresh tokens (digests only) and revoked access tokens.

use bouncer_core::model::{ChangeKind, RefreshToken, Revocations, TokenFamily};
use bouncer_core::store::StoreResult;
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::{SqlStore, backend_err, changes};

fn uuid(row: &AnyRow, col: &str) -> Result<Uuid, sqlx::Error> {
    let s: String = row.try_get(col)?;
    Uuid::parse_str(&s).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

pub(crate) async fn insert_family(
    store: &SqlStore,
    family: &TokenFamily,
    first: &RefreshToken,
) -> StoreResult<()> {
    let mut tx = store.begin_write().await.map_err(backend_err)?;
    sqlx::query(
        "INSERT INTO token_families (id, user_id, client_id, scope, auth_time, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(family.id.to_string())
    .bind(family.user_id.to_string())
    .bind(family.client_id.clone())
    .bind(family.scope.clone())
    .bind(family.auth_time)
    .bind(family.created_at)
    .bind(family.expires_at)
    .execute(&mut *tx)
    .await
    .map_err(backend_err)?;
    insert_token(&mut tx, first).await.map_err(backend_err)?;
    tx.commit().await.map_err(backend_err)
}

async fn insert_token(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    t: &RefreshToken,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, family_id, token_hash, credential_gen, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(t.id.to_string())
    .bind(t.family_id.to_string())
    .bind(t.token_hash.clone())
    .bind(t.credential_gen)
    .bind(t.created_at)
    .bind(t.expires_at)
    .execute(&mut **tx)
    .await
    .map(drop)
}

pub(crate) async fn by_hash(
    store: &SqlStore,
    token_hash: &str,
) -> StoreResult<Option<(RefreshToken, TokenFamily)>> {
    let row = sqlx::query(
        "SELECT t.id, t.family_id, t.token_hash, t.credential_gen, t.created_at AS t_created, \
         t.expires_at AS t_expires, t.used_at, t.successor_claims, f.user_id, f.client_id, f.scope, f.auth_time, \
         f.created_at AS f_created, f.expires_at AS f_expires, f.revoked_at \
         FROM refresh_tokens t JOIN token_families f ON f.id = t.family_id WHERE t.token_hash = $1",
    )
    .bind(token_hash.to_owned())
    .fetch_optional(store.pool())
    .await
    .map_err(backend_err)?;
    let Some(row) = row else { return Ok(None) };
    let decode = || -> Result<(RefreshToken, TokenFamily), sqlx::Error> {
        let family_id = uuid(&row, "family_id")?;
        Ok((
            RefreshToken {
                id: uuid(&row, "id")?,
                family_id,
                token_hash: row.try_get("token_hash")?,
                credential_gen: row.try_get("credential_gen")?,
                created_at: row.try_get("t_created")?,
                expires_at: row.try_get("t_expires")?,
                used_at: row.try_get("used_at")?,
                successor_claims: row.try_get("successor_claims")?,
            },
            TokenFamily {
                id: family_id,
                user_id: uuid(&row, "user_id")?,
                client_id: row.try_get("client_id")?,
                scope: row.try_get("scope")?,
                auth_time: row.try_get("auth_time")?,
                created_at: row.try_get("f_created")?,
                expires_at: row.try_get("f_expires")?,
                revoked_at: row.try_get("revoked_at")?,
            },
        ))
    };
    decode().map(Some).map_err(backend_err)
}

pub(crate) async fn rotate(
    store: &SqlStore,
    old: Uuid,
    new: &RefreshToken,
    successor_claims: &str,
    now: i64,
) -> StoreResult<bool> {
    let mut tx = store.begin_write().await.map_err(backend_err)?;
    // The compare-and-set that decides a race between two refreshes of one token: exactly one
    // sets `used_at`; the other finds it set and is a reuse.
    let won = sqlx::query(
        "UPDATE refresh_tokens SET used_at = $1, successor_claims = $4 WHERE id = $2 \
         AND used_at IS NULL \
         AND family_id IN (SELECT id FROM token_families WHERE id = $3 AND revoked_at IS NULL)",
    )
    .bind(now)
    .bind(old.to_string())
    .bind(new.family_id.to_string())
    .bind(successor_claims.to_owned())
    .execute(&mut *tx)
    .await
    .map_err(backend_err)?
    .rows_affected()
        == 1;
    if !won {
        tx.rollback().await.map_err(backend_err)?;
        return Ok(false);
    }
    insert_token(&mut tx, new).await.map_err(backend_err)?;
    tx.commit().await.map_err(backend_err)?;
    Ok(true)
}

pub(crate) async fn revoke_family(store: &SqlStore, id: Uuid, now: i64) -> StoreResult<()> {
    let mut tx = store.begin_write().await.map_err(backend_err)?;
    // The feed first, like every feed writer: one lock order (the revision row, then the rest).
    changes::record(store, &mut tx, ChangeKind::Family, &id.to_string())
        .await
        .map_err(backend_err)?;
    let done = sqlx::query(
        "UPDATE token_families SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(id.to_string())
    .execute(&mut *tx)
    .await
    .map_err(backend_err)?;
    if done.rows_affected() == 0 {
        return tx.rollback().await.map_err(backend_err);
    }
    tx.commit().await.map_err(backend_err)
}

pub(crate) async fn revoke_access(store: &SqlStore, jti: &str, expires_at: i64) -> StoreResult<()> {
    let mut tx = store.begin_write().await.map_err(backend_err)?;
    changes::record(store, &mut tx, ChangeKind::Token, jti)
        .await
        .map_err(backend_err)?;
    let done = sqlx::query(
        "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
    )
    .bind(jti.to_owned())
    .bind(expires_at)
    .execute(&mut *tx)
    .await
    .map_err(backend_err)?;
    if done.rows_affected() == 0 {
        return tx.rollback().await.map_err(backend_err);
    }
    tx.commit().await.map_err(backend_err)
}

pub(crate) async fn revocations(
    store: &SqlStore,
    since: i64,
    now: i64,
) -> StoreResult<Revocations> {
    let tokens = sqlx::query("SELECT jti, expires_at FROM revoked_tokens WHERE expires_at > $1")
        .bind(now)
        .fetch_all(store.pool())
        .await
        .map_err(backend_err)?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(backend_err)?;
    let families = sqlx::query("SELECT id FROM token_families WHERE revoked_at > $1")
        .bind(since)
        .fetch_all(store.pool())
        .await
        .map_err(backend_err)?
        .iter()
        .map(|r| uuid(r, "id"))
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(backend_err)?;
    // Expired rows are of no use to anyone.
    for sql in [
        "DELETE FROM revoked_tokens WHERE expires_at <= $1",
        "DELETE FROM access_tokens WHERE expires_at <= $1",
    ] {
        sqlx::query(sql)
            .bind(now)
            .execute(store.pool())
            .await
            .map_err(backend_err)?;
    }
    Ok(Revocations { tokens, families })
}

pub(crate) async fn insert_access(
    store: &SqlStore,
    token_hash: &str,
    jti: &str,
    claims: &str,
    expires_at: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO access_tokens (token_hash, jti, claims, expires_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (token_hash) DO NOTHING",
    )
    .bind(token_hash.to_owned())
    .bind(jti.to_owned())
    .bind(claims.to_owned())
    .bind(expires_at)
    .execute(store.pool())
    .await
    .map(drop)
    .map_err(backend_err)
}

pub(crate) async fn access_by_hash(
    store: &SqlStore,
    token_hash: &str,
) -> StoreResult<Option<String>> {
    sqlx::query_scalar("SELECT claims FROM access_tokens WHERE token_hash = $1")
        .bind(token_hash.to_owned())
        .fetch_optional(store.pool())
        .await
        .map_err(backend_err)
}
