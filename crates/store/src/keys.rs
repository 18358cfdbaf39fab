//! Signing keys. Private keys stay in the database, so every instance sharing it signs with the same
//! key and verifies every other's tokens.

use bouncer_core::model::SigningKeyRecord;
use bouncer_core::store::{StoreError, StoreResult};
use sqlx::Row;

use crate::{SqlStore, backend_err};

pub(crate) async fn list(store: &SqlStore) -> StoreResult<Vec<SigningKeyRecord>> {
    let rows = sqlx::query(
        "SELECT kid, alg, private_pem, public_jwk, created_at FROM signing_keys \
         WHERE retired_at IS NULL ORDER BY generation",
    )
    .fetch_all(store.pool())
    .await
    .map_err(backend_err)?;
    rows.iter()
        .map(|r| {
            Ok(SigningKeyRecord {
                kid: r.try_get("kid")?,
                alg: r.try_get("alg")?,
                private_pem: r.try_get("private_pem")?,
                public_jwk: r.try_get("public_jwk")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(backend_err)
}

pub(crate) async fn insert(store: &SqlStore, key: &SigningKeyRecord) -> StoreResult<()> {
    let result = sqlx::query(
        "INSERT INTO signing_keys (kid, alg, generation, private_pem, public_jwk, created_at) \
         SELECT $1, $2, COALESCE(MAX(generation), 0) + 1, $3, $4, $5 FROM signing_keys WHERE alg = $6",
    )
    .bind(key.kid.clone())
    .bind(key.alg.clone())
    .bind(key.private_pem.clone())
    .bind(key.public_jwk.clone())
    .bind(key.created_at)
    .bind(key.alg.clone())
    .execute(store.pool())
    .await;
    match result.map_err(backend_err) {
        Ok(_) | Err(StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
