//! Users, with their roles and direct permissions, written in one transaction.

use std::collections::HashMap;

use bouncer_core::model::{ChangeKind, Page, PageRequest, User};
use bouncer_core::store::{StoreError, StoreResult};
use bouncer_core::validate::email_norm;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, AssertSqlSafe, Row, Transaction};
use uuid::Uuid;

use crate::{
    AnyQuery, COUNT_ENABLED_ADMINS, SqlStore, backend_err, changes, counts, insert_rows,
    placeholders,
};

const COLUMNS: &str = "id, username, email, full_name, disabled, password_hash, password_changed_at, credential_gen, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<User, sqlx::Error> {
    let id: String = row.try_get("id")?;
    Ok(User {
        id: Uuid::parse_str(&id).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        username: row.try_get("username")?,
        email: row.try_get("email")?,
        full_name: row.try_get("full_name")?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        roles: Vec::new(),
        permissions: Vec::new(),
        password_hash: row.try_get("password_hash")?,
        password_changed_at: row.try_get("password_changed_at")?,
        credential_gen: row.try_get("credential_gen")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The roles and direct permissions of the users with `ids`, with two queries.
async fn fetch_grants(
    conn: &mut AnyConnection,
    ids: &[String],
) -> StoreResult<[HashMap<String, Vec<String>>; 2]> {
    let mut out: [HashMap<String, Vec<String>>; 2] = Default::default();
    for (i, (table, column)) in [("user_roles", "role"), ("user_permissions", "permission")]
        .into_iter()
        .enumerate()
    {
        let sql = format!(
            "SELECT user_id, {column} FROM {table} WHERE user_id IN ({}) ORDER BY {column}",
            placeholders(1, ids.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for id in ids {
            q = q.bind(id.clone());
        }
        for row in q.fetch_all(&mut *conn).await.map_err(backend_err)? {
            let uid: String = row.try_get(0).map_err(backend_err)?;
            out[i]
                .entry(uid)
                .or_default()
                .push(row.try_get(1).map_err(backend_err)?);
        }
    }
    Ok(out)
}

/// Fills `roles` and `permissions` for `users`.
async fn attach_grants(conn: &mut AnyConnection, users: &mut [User]) -> StoreResult<()> {
    if users.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = users.iter().map(|u| u.id.to_string()).collect();
    let [mut roles, mut perms] = fetch_grants(conn, &ids).await?;
    for (u, id) in users.iter_mut().zip(&ids) {
        u.roles = roles.remove(id).unwrap_or_default();
        u.permissions = perms.remove(id).unwrap_or_default();
    }
    Ok(())
}

async fn write_grants(tx: &mut Transaction<'static, Any>, user: &User) -> Result<(), sqlx::Error> {
    let id = user.id.to_string();
    sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
        .bind(id.clone())
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM user_permissions WHERE user_id = $1")
        .bind(id.clone())
        .execute(&mut **tx)
        .await?;
    for r in &user.roles {
        sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
            .bind(id.clone())
            .bind(r.clone())
            .execute(&mut **tx)
            .await?;
    }
    for p in &user.permissions {
        sqlx::query("INSERT INTO user_permissions (user_id, permission) VALUES ($1, $2)")
            .bind(id.clone())
            .bind(p.clone())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn enabled_admins(tx: &mut Transaction<'static, Any>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(COUNT_ENABLED_ADMINS)
        .fetch_one(&mut **tx)
        .await
}

/// The columns a new user's row fills, in [`bind_new`]'s order (the bulk seed fills the same).
pub(crate) const NEW_COLUMNS: &[&str] = &[
    "id",
    "username",
    "username_norm",
    "email",
    "email_norm",
    "full_name",
    "disabled",
    "password_hash",
    "password_changed_at",
    "credential_gen",
    "created_at",
    "updated_at",
];

/// Binds `user`'s row, [`NEW_COLUMNS`] in order: the normalized username and email are derived
/// here, so every way a user is inserted stores them alike.
pub(crate) fn bind_new<'q>(q: AnyQuery<'q>, user: &User) -> AnyQuery<'q> {
    q.bind(user.id.to_string())
        .bind(user.username.clone())
        .bind(user.username.to_ascii_lowercase())
        .bind(user.email.clone())
        .bind(email_norm(&user.email))
        .bind(user.full_name.clone())
        .bind(i64::from(user.disabled))
        .bind(user.password_hash.clone())
        .bind(user.password_changed_at)
        .bind(user.credential_gen)
        .bind(user.created_at)
        .bind(user.updated_at)
}

pub(crate) async fn insert(store: &SqlStore, user: &User) -> StoreResult<()> {
    let mut tx = store.begin_write().await.map_err(backend_err)?;
    let sql = insert_rows("users", NEW_COLUMNS, 1);
    bind_new(sqlx::query(AssertSqlSafe(sql)), user)
        .execute(&mut *tx)
        .await
        .map_err(backend_err)?;
    write_grants(&mut tx, user).await.map_err(backend_err)?;
    counts::add(&mut tx, counts::USERS, 1)
        .await
        .map_err(backend_err)?;
    crate::audit::commit(store, tx).await.map_err(backend_err)
}

pub(crate) async fn by_key(
    store: &SqlStore,
    column: &'static str,
    value: &str,
) -> StoreResult<Option<User>> {
    // One connection for the three queries: under load, each acquisition waits its turn in the
    // pool's queue, and a cache miss should wait once, not three times.
    let mut conn = store.pool().acquire().await.map_err(backend_err)?;
    let sql = format!("SELECT {COLUMNS} FROM users WHERE {column} = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(value.to_owned())
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend_err)?;
    let Some(row) = row else {
        // The same queries as for a user that exists, so a login for an unknown username takes
        // as long as one for a known username (no enumeration by timing).
        fetch_grants(&mut conn, &[value.to_owned()]).await?;
        return Ok(None);
    };
    let mut users = [from_row(&row).map_err(backend_err)?];
    attach_grants(&mut conn, &mut users).await?;
    let [user] = users;
    Ok(Some(user))
}

/// A page of users in creation order: from the start, or after `page.after` (keyset: the
/// `users_by_created` index finds the first row, whatever the page's depth), then past `offset`.
pub(crate) async fn list(store: &SqlStore, page: PageRequest) -> StoreResult<Page<User>> {
    let mut conn = store.pool().acquire().await.map_err(backend_err)?;
    let total = counts::read(&mut conn, counts::USERS)
        .await
        .map_err(backend_err)?;
    // One row more than the page, to know whether another follows.
    let rows = match page.after {
        None => {
            let sql =
                format!("SELECT {COLUMNS} FROM users ORDER BY created_at, id LIMIT $1 OFFSET $2");
            sqlx::query(AssertSqlSafe(sql))
                .bind(page.limit + 1)
                .bind(page.offset)
                .fetch_all(&mut *conn)
                .await
        }
        Some(key) => {
            let sql = format!(
                "SELECT {COLUMNS} FROM users WHERE (created_at, id) > ($1, $2) \
                 ORDER BY created_at, id LIMIT $3 OFFSET $4"
            );
            sqlx::query(AssertSqlSafe(sql))
                .bind(key.created_at)
                .bind(key.id.to_string())
                .bind(page.limit + 1)
                .bind(page.offset)
                .fetch_all(&mut *conn)
                .await
        }
    }
    .map_err(backend_err)?;
    let mut users = rows
        .iter()
        .map(from_row)
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend_err)?;
    let more = users.len() as i64 > page.limit;
    users.truncate(usize::try_from(page.limit).unwrap_or(0));
    attach_grants(&mut conn, &mut users).await?;
    Ok(Page {
        items: users,
        total,
        limit: page.limit,
        offset: page.offset,
        more,
    })
}

/// A write transaction that may change who is an enabled admin. It starts by recording the change
/// in the feed, which bumps the revision (the row lock that serializes these writes on PostgreSQL;
/// SQLite has one writer anyway), counts enabled admins, and [`AdminGuard::commit`] refuses to
/// leave none.
pub(crate) struct AdminGuard {
    pub(crate) tx: Transaction<'static, Any>,
    before: i64,
    /// The store (view) the write came through: its audit event commits with the change.
    store: SqlStore,
}

impl AdminGuard {
    pub(crate) async fn begin(store: &SqlStore, kind: ChangeKind, key: &str) -> StoreResult<Self> {
        let mut tx = store.begin_write().await.map_err(backend_err)?;
        changes::record(store, &mut tx, kind, key)
            .await
            .map_err(backend_err)?;
        let before = enabled_admins(&mut tx).await.map_err(backend_err)?;
        Ok(Self {
            tx,
            before,
            store: store.clone(),
        })
    }

    pub(crate) async fn commit(mut self) -> StoreResult<()> {
        let after = enabled_admins(&mut self.tx).await.map_err(backend_err)?;
        if self.before > 0 && after == 0 {
            self.tx.rollback().await.map_err(backend_err)?;
            return Err(StoreError::LastAdmin);
        }
        crate::audit::commit(&self.store, self.tx)
            .await
            .map_err(backend_err)
    }
}

/// A compare-and-set write matched no row: `Stale` if the row exists (it moved on since the
/// caller read it), `Ok(false)` if it does not.
async fn stale_or_missing(tx: &mut Transaction<'static, Any>, id: Uuid) -> StoreResult<bool> {
    let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id = $1")
        .bind(id.to_string())
        .fetch_one(&mut **tx)
        .await
        .map_err(backend_err)?;
    if exists > 0 {
        Err(StoreError::Stale)
    } else {
        Ok(false)
    }
}

pub(crate) async fn update(store: &SqlStore, user: &User, read_at: i64) -> StoreResult<bool> {
    let mut guard = AdminGuard::begin(store, ChangeKind::User, &user.id.to_string()).await?;
    let done = sqlx::query(
        "UPDATE users SET email = $1, email_norm = CASE WHEN email = $1 THEN email_norm ELSE $2 END, full_name = $3, disabled = $4, password_hash = $5, \
         password_changed_at = $6, credential_gen = $7, updated_at = $8 WHERE id = $9 AND updated_at = $10",
    )
    .bind(user.email.clone())
    .bind(email_norm(&user.email))
    .bind(user.full_name.clone())
    .bind(i64::from(user.disabled))
    .bind(user.password_hash.clone())
    .bind(user.password_changed_at)
    .bind(user.credential_gen)
    .bind(user.updated_at)
    .bind(user.id.to_string())
    .bind(read_at)
    .execute(&mut *guard.tx)
    .await
    .map_err(backend_err)?;
    if done.rows_affected() == 0 {
        return stale_or_missing(&mut guard.tx, user.id).await;
    }
    write_grants(&mut guard.tx, user)
        .await
        .map_err(backend_err)?;
    guard.commit().await?;
    Ok(true)
}

pub(crate) async fn delete(store: &SqlStore, id: Uuid, read_at: Option<i64>) -> StoreResult<bool> {
    let mut guard = AdminGuard::begin(store, ChangeKind::User, &id.to_string()).await?;
    let done = match read_at {
        None => sqlx::query("DELETE FROM users WHERE id = $1").bind(id.to_string()),
        Some(at) => sqlx::query("DELETE FROM users WHERE id = $1 AND updated_at = $2")
            .bind(id.to_string())
            .bind(at),
    }
    .execute(&mut *guard.tx)
    .await
    .map_err(backend_err)?;
    if done.rows_affected() == 0 {
        return stale_or_missing(&mut guard.tx, id).await;
    }
    counts::add(&mut guard.tx, counts::USERS, -1)
        .await
        .map_err(backend_err)?;
    guard.commit().await?;
    Ok(true)
}
