//! Signing keys. Private keys stay in the database (sealed when a key-encryption key is
//! configured), so every instance sharing it signs with the same keys and verifies every other's
//! tokens. A rotation retires the current keys and adds the next in one transaction, recorded in
//! the change feed so every instance reloads.

use bouncer_core::model::{ChangeKind, SigningKeyRecord};
use bouncer_core::store::{StoreError, StoreResult};
use sqlx::Row;

use crate::{SqlStore, backend_err, changes};

pub(crate) async fn list(store: &SqlStore, now: i64) -> StoreResult<Vec<SigningKeyRecord>> {
    let rows = sqlx::query(
        "SELECT kid, alg, generation, private_pem, public_jwk, created_at, activates_at, retired_at \
         FROM signing_keys WHERE retired_at IS NULL OR retired_at > $1 ORDER BY alg, generation",
    )
    .bind(now)
    .fetch_all(store.pool())
    .await
    .map_err(backend_err)?;
    rows.iter()
        .map(|r| {
            Ok(SigningKeyRecord {
                kid: r.try_get("kid")?,
                alg: r.try_get("alg")?,
                generation: r.try_get("generation")?,
                private_pem: r.try_get("private_pem")?,
                public_jwk: r.try_get("public_jwk")?,
                created_at: r.try_get("created_at")?,
                activates_at: r.try_get("activates_at")?,
                retires_at: r.try_get("retired_at")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(backend_err)
}

const INSERT: &str = "INSERT INTO signing_keys (kid, alg, generation, private_pem, public_jwk, created_at, activates_at) \
     SELECT $1, $2, COALESCE(MAX(generation), 0) + 1, $3, $4, $5, $6 FROM signing_keys WHERE alg = $7";

/// The first key of an algorithm. A concurrent insert by another instance starting at once is not
/// an error: the `(alg, generation)` constraint keeps one, and callers re-read.
pub(crate) async fn insert(store: &SqlStore, key: &SigningKeyRecord) -> StoreResult<()> {
    let result = sqlx::query(INSERT)
        .bind(key.kid.clone())
        .bind(key.alg.clone())
        .bind(key.private_pem.clone())
        .bind(key.public_jwk.clone())
        .bind(key.created_at)
        .bind(key.activates_at)
        .bind(key.alg.clone())
        .execute(store.pool())
        .await;
    match result.map_err(backend_err) {
        Ok(_) | Err(StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Adds `next` and retires every unretired key of its algorithm at `retire_at`.
pub(crate) async fn rotate(
    store: &SqlStore,
    next: &SigningKeyRecord,
    retire_at: i64,
) -> StoreResult<()> {
    let mut tx = store.begin_write().await.map_err(backend_err)?;
    changes::record(store, &mut tx, ChangeKind::Keys, &next.kid)
        .await
        .map_err(backend_err)?;
    sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE alg = $2 AND retired_at IS NULL")
        .bind(retire_at)
        .bind(next.alg.clone())
        .execute(&mut *tx)
        .await
        .map_err(backend_err)?;
    sqlx::query(INSERT)
        .bind(next.kid.clone())
        .bind(next.alg.clone())
        .bind(next.private_pem.clone())
        .bind(next.public_jwk.clone())
        .bind(next.created_at)
        .bind(next.activates_at)
        .bind(next.alg.clone())
        .execute(&mut *tx)
        .await
        .map_err(backend_err)?;
    crate::audit::commit(store, tx).await.map_err(backend_err)
}

/// Replaces a key's stored private part (sealing it under a key-encryption key).
pub(crate) async fn set_private(store: &SqlStore, kid: &str, private_pem: &str) -> StoreResult<()> {
    sqlx::query("UPDATE signing_keys SET private_pem = $1 WHERE kid = $2")
        .bind(private_pem.to_owned())
        .bind(kid.to_owned())
        .execute(store.pool())
        .await
        .map(drop)
        .map_err(backend_err)
}

/// A server-wide secret named `name`: `fresh` is stored if there is none yet; the stored one is
/// returned either way (the first instance to start decides).
pub(crate) async fn server_secret(
    store: &SqlStore,
    name: &str,
    fresh: &str,
) -> StoreResult<String> {
    sqlx::query("INSERT INTO store_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
        .bind(name.to_owned())
        .bind(fresh.to_owned())
        .execute(store.pool())
        .await
        .map_err(backend_err)?;
    sqlx::query_scalar("SELECT value FROM store_meta WHERE key = $1")
        .bind(name.to_owned())
        .fetch_one(store.pool())
        .await
        .map_err(backend_err)
}
