//! Bulk seeding, for the scale benchmark (`scripts/bench-scale.sh` through
//! `crates/bouncer/examples/seed.rs`): a million users in minutes instead of a million
//! transactions. Not used by the server.
//!
//! The rows are those of the normal insert paths (`users::insert`,
//! `api_keys::insert`): the same columns, `username_norm` lower-cased in ASCII and
//! `email_norm` from [`email_norm`](bouncer_core::validate::email_norm) (what the domain's validation returns), roles and direct
//! permissions in their tables, and the same constraints checked by the database. What differs: many
//! rows per `INSERT` (one SQL text, `$N` placeholders, for both databases) and many statements per
//! transaction, and no audit event per row. No change-feed entry either, like the normal inserts: a
//! new user or key changes no credential anyone holds. The caller validates what it inserts (the
//! seeding tool makes names that pass `validate::username` and `validate::email`).

use bouncer_core::model::{ApiKey, User};
use bouncer_core::secret::{API_KEY_PREFIX, digest};
use bouncer_core::store::StoreResult;
use sqlx::{Any, AssertSqlSafe, Transaction};

use crate::{SqlStore, api_keys, backend_err, counts, insert_rows, users};

/// Rows per statement. More would save round trips to PostgreSQL, but SQLite finds a `$N`
/// parameter's name by a linear scan of the statement's parameters, so binding costs grow with
/// the square of a statement's parameters: 100 rows (1,200 parameters for users) is past the knee.
const ROWS: usize = 100;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

async fn insert_users(tx: &mut Transaction<'static, Any>, chunk: &[User]) -> sqlx::Result<()> {
    let sql = insert_rows("users", users::NEW_COLUMNS, chunk.len());
    let q = chunk
        .iter()
        .fold(sqlx::query(AssertSqlSafe(sql)), users::bind_new);
    q.execute(&mut **tx).await.map(drop)
}

/// `(user_id, value)` pairs into a two-column grant table.
async fn insert_pairs(
    tx: &mut Transaction<'static, Any>,
    table: &str,
    column: &str,
    pairs: &[(String, String)],
) -> sqlx::Result<()> {
    for chunk in pairs.chunks(ROWS) {
        let sql = insert_rows(table, &["user_id", column], chunk.len());
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (id, v) in chunk {
            q = q.bind(id.clone()).bind(v.clone());
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

async fn insert_keys(tx: &mut Transaction<'static, Any>, chunk: &[ApiKey]) -> sqlx::Result<()> {
    let sql = insert_rows("api_keys", api_keys::NEW_COLUMNS, chunk.len());
    let q = chunk
        .iter()
        .fold(sqlx::query(AssertSqlSafe(sql)), api_keys::bind_new);
    q.execute(&mut **tx).await.map(drop)
}

impl SqlStore {
    /// Inserts `users`, with their roles and direct permissions, in one transaction of multi-row
    /// `INSERT`s. All or nothing: a taken username or email fails the whole batch
    /// (`StoreError::Conflict`). Meant for batches of some ten thousand users.
    pub async fn insert_users_bulk(&self, users: &[User]) -> StoreResult<()> {
        let mut tx = self.begin_write().await.map_err(backend_err)?;
        for chunk in users.chunks(ROWS) {
            insert_users(&mut tx, chunk).await.map_err(backend_err)?;
        }
        let pairs = |f: fn(&User) -> &Vec<String>| -> Vec<(String, String)> {
            users
                .iter()
                .flat_map(|u| f(u).iter().map(|v| (u.id.to_string(), v.clone())))
                .collect()
        };
        insert_pairs(&mut tx, "user_roles", "role", &pairs(|u| &u.roles))
            .await
            .map_err(backend_err)?;
        insert_pairs(
            &mut tx,
            "user_permissions",
            "permission",
            &pairs(|u| &u.permissions),
        )
        .await
        .map_err(backend_err)?;
        counts::add(&mut tx, counts::USERS, users.len() as i64)
            .await
            .map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)
    }

    /// Inserts API keys (digests, as [`ApiKey`] holds them) in one transaction of multi-row
    /// `INSERT`s; their owners must exist.
    pub async fn insert_api_keys_bulk(&self, keys: &[ApiKey]) -> StoreResult<()> {
        let mut tx = self.begin_write().await.map_err(backend_err)?;
        for chunk in keys.chunks(ROWS) {
            insert_keys(&mut tx, chunk).await.map_err(backend_err)?;
        }
        tx.commit().await.map_err(backend_err)
    }
}

/// The checksum that ends an API key: the first 32 bits of SHA-256 of its body in 6 base62
/// digits. The same rule as `bouncer_core::secret`'s (private) one; the test below holds them
/// together through `secret::api_key_well_formed`.
fn api_key_check(body: &str) -> String {
    let hex = digest(body);
    let mut n = u32::from_str_radix(&hex[..8], 16).unwrap_or(0);
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The API key number `index` of a seeded database: a real, well-formed key (`bnc_`, 43 base62
/// characters, checksum) derived from `seed` and `index` (SHA-256 of `"{seed}/{index}/0"` and
/// `".../1"`, each byte mod 62), so a benchmark can make the plaintext keys again from the seed
/// instead of storing them. Predictable by design: for benchmark databases only, never for keys
/// anyone relies on.
pub fn derived_api_key(seed: &str, index: u64) -> String {
    let bytes: Vec<u8> = (0..2)
        .flat_map(|half| {
            let hex = digest(&format!("{seed}/{index}/{half}"));
            (0..32)
                .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0))
                .collect::<Vec<_>>()
        })
        .collect();
    let body: String = bytes[..43]
        .iter()
        .map(|b| BASE62[usize::from(b % 62)] as char)
        .collect();
    let check = api_key_check(&body);
    format!("{API_KEY_PREFIX}{body}{check}")
}

#[cfg(test)]
mod tests {
    use bouncer_core::secret::api_key_well_formed;
    use bouncer_core::store::{Store, StoreError};
    use uuid::Uuid;

    use super::*;

    #[test]
    fn derived_keys_are_well_formed_distinct_and_repeatable() {
        let a = derived_api_key("s", 0);
        assert!(api_key_well_formed(&a), "{a}");
        assert_eq!(a, derived_api_key("s", 0));
        assert_ne!(a, derived_api_key("s", 1));
        assert_ne!(a, derived_api_key("t", 0));
        for i in 0..200 {
            assert!(api_key_well_formed(&derived_api_key("seed", i)));
        }
    }

    fn user(i: u64, hash: &str) -> User {
        User {
            id: Uuid::now_v7(),
            username: format!("Bulk{i}"),
            email: format!("Bulk{i}@Example.COM"),
            full_name: i.is_multiple_of(2).then(|| format!("Bulk {i}")),
            disabled: false,
            roles: vec!["user".into()],
            permissions: if i == 0 {
                vec!["items:read".into()]
            } else {
                Vec::new()
            },
            password_hash: hash.into(),
            password_changed_at: 1000 + i as i64,
            credential_gen: 1,
            created_at: 1000 + i as i64,
            updated_at: 1000 + i as i64,
        }
    }

    /// What the bulk path writes reads back like a row from the normal path, on SQLite (the
    /// store contract tests run both databases; this path is only the benchmark's).
    #[tokio::test]
    async fn bulk_rows_read_back_like_normal_ones() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("b.db").display());
        let store = SqlStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let users: Vec<User> = (0..2500).map(|i| user(i, "$argon2id$x")).collect();
        store.insert_users_bulk(&users).await.unwrap();
        let key = derived_api_key("seed", 7);
        let record = ApiKey {
            id: Uuid::now_v7(),
            user_id: users[7].id,
            name: "k7".into(),
            key_hash: digest(&key),
            prefix: key[..8].into(),
            scopes: vec!["*".into()],
            client_ips: Vec::new(),
            created_at: 5,
            last_used_at: None,
            expires_at: None,
        };
        store
            .insert_api_keys_bulk(std::slice::from_ref(&record))
            .await
            .unwrap();

        assert_eq!(store.count_users().await.unwrap(), 2500);
        let u = store.user_by_username("bulk0").await.unwrap().unwrap();
        assert_eq!(u.id, users[0].id);
        assert_eq!(u.username, "Bulk0");
        assert_eq!(u.full_name.as_deref(), Some("Bulk 0"));
        assert_eq!(u.roles, ["user"]);
        assert_eq!(u.permissions, ["items:read"]);
        let u = store.user_by_id(users[2499].id).await.unwrap().unwrap();
        assert_eq!((u.full_name, u.roles), (None, vec!["user".to_owned()]));
        let k = store.api_key_by_hash(&digest(&key)).await.unwrap().unwrap();
        assert_eq!(
            (k.id, k.user_id, k.scopes),
            (record.id, users[7].id, record.scopes)
        );

        // The normal path's constraints hold: the same email in another case is taken.
        let mut again = user(9999, "h");
        again.email = "BULK3@example.com".into();
        assert!(matches!(
            store.insert_users_bulk(&[again]).await,
            Err(StoreError::Conflict { field: "email" })
        ));
        assert_eq!(store.count_users().await.unwrap(), 2500);
    }
}
