//! Roles and their permissions.

use std::collections::BTreeMap;

use bouncer_core::model::{ChangeKind, Role};
use bouncer_core::store::{RoleDeletion, StoreError, StoreResult};
use sqlx::Row;

use crate::users::AdminGuard;
use crate::{SqlStore, backend_err, changes};

pub(crate) async fn list(store: &SqlStore) -> StoreResult<Vec<Role>> {
    let rows = sqlx::query(
        "SELECT r.name, p.permission FROM roles r LEFT JOIN role_permissions p ON p.role = r.name \
         ORDER BY r.name, p.permission",
    )
    .fetch_all(store.pool())
    .await
    .map_err(backend_err)?;
    let mut roles: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in rows {
        let name: String = row.try_get(0).map_err(backend_err)?;
        let perm: Option<String> = row.try_get(1).map_err(backend_err)?;
        let e = roles.entry(name).or_default();
        e.extend(perm);
    }
    Ok(roles
        .into_iter()
        .map(|(name, permissions)| Role { name, permissions })
        .collect())
}

pub(crate) async fn get(store: &SqlStore, name: &str) -> StoreResult<Option<Role>> {
    let exists: Option<String> = sqlx::query_scalar("SELECT name FROM roles WHERE name = $1")
        .bind(name.to_owned())
        .fetch_optional(store.pool())
        .await
        .map_err(backend_err)?;
    if exists.is_none() {
        return Ok(None);
    }
    let permissions = sqlx::query_scalar(
        "SELECT permission FROM role_permissions WHERE role = $1 ORDER BY permission",
    )
    .bind(name.to_owned())
    .fetch_all(store.pool())
    .await
    .map_err(backend_err)?;
    Ok(Some(Role {
        name: name.to_owned(),
        permissions,
    }))
}

pub(crate) async fn put(store: &SqlStore, role: &Role) -> StoreResult<bool> {
    let mut tx = store.begin_write().await.map_err(backend_err)?;
    changes::record(store, &mut tx, ChangeKind::Role, &role.name)
        .await
        .map_err(backend_err)?;
    // Insert-or-nothing in one statement: the same text works on SQLite and PostgreSQL.
    let created = sqlx::query(
        "INSERT INTO roles (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(role.name.clone())
    .bind(0_i64)
    .execute(&mut *tx)
    .await
    .map_err(backend_err)?
    .rows_affected()
        > 0;
    sqlx::query("DELETE FROM role_permissions WHERE role = $1")
        .bind(role.name.clone())
        .execute(&mut *tx)
        .await
        .map_err(backend_err)?;
    for p in &role.permissions {
        sqlx::query("INSERT INTO role_permissions (role, permission) VALUES ($1, $2)")
            .bind(role.name.clone())
            .bind(p.clone())
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
    }
    crate::audit::commit(store, tx).await.map_err(backend_err)?;
    Ok(created)
}

pub(crate) async fn delete(store: &SqlStore, name: &str, force: bool) -> StoreResult<RoleDeletion> {
    let mut guard = AdminGuard::begin(store, ChangeKind::Role, name).await?;
    let holders: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_roles WHERE role = $1")
        .bind(name.to_owned())
        .fetch_one(&mut *guard.tx)
        .await
        .map_err(backend_err)?;
    if holders > 0 && !force {
        return Err(StoreError::RoleInUse(holders));
    }
    // user_roles rows go with it (ON DELETE CASCADE).
    let done = sqlx::query("DELETE FROM roles WHERE name = $1")
        .bind(name.to_owned())
        .execute(&mut *guard.tx)
        .await
        .map_err(backend_err)?;
    if done.rows_affected() == 0 {
        return Ok(RoleDeletion::NotFound);
    }
    guard.commit().await?;
    Ok(RoleDeletion::Deleted)
}
