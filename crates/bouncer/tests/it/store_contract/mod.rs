//! The storage contract (`bouncer_core::store::Store`), checked on `bouncer_store::SqlStore`.
//!
//! Every case is one `async fn case(store: &dyn Store)`, run by the same test on SQLite (a fresh
//! file in a tempdir) and on PostgreSQL (a fresh database, when PostgreSQL is installed here).
//! Here: the stores to run on, the helpers the cases share, and the store-wide cases (a migrated
//! store, the revision). The user cases are in `users`; roles, items and signing keys in
//! `roles_items_keys`. All are re-exported here for `store_contract_runs`.

mod roles_items_keys;
mod users;

pub(crate) use roles_items_keys::*;
pub(crate) use users::*;

use std::sync::atomic::{AtomicI64, Ordering};

use bouncer_core::model::{PageRequest, Role, User};
use bouncer_core::store::{Store, StoreError};
use bouncer_store::SqlStore;
use uuid::Uuid;

use crate::support::postgres::postgres;

/// One migrated store to run a case on.
pub(crate) struct TestStore {
    pub(crate) name: &'static str,
    pub(crate) store: SqlStore,
    _dir: Option<tempfile::TempDir>,
}

/// Connects and migrates (twice: migrating must be idempotent).
pub(crate) async fn open(url: &str) -> SqlStore {
    let store = SqlStore::connect(url).await.expect("connect");
    store.migrate().await.expect("first migrate");
    store.migrate().await.expect("second migrate is a no-op");
    store
}

pub(crate) fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}/store.db", dir.path().display())
}

/// A fresh SQLite store, and a fresh PostgreSQL one when PostgreSQL is available.
pub(crate) async fn stores() -> Vec<TestStore> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut out = vec![TestStore {
        name: "sqlite",
        store: open(&sqlite_url(&dir)).await,
        _dir: Some(dir),
    }];
    if let Some(pg) = postgres() {
        out.push(TestStore {
            name: "postgres",
            store: open(&pg.fresh_database()).await,
            _dir: None,
        });
    }
    out
}

/// Monotonic fake timestamps, so listing order (created_at, id) is the insertion order.
pub(crate) fn now() -> i64 {
    static T: AtomicI64 = AtomicI64::new(1_700_000_000_000);
    T.fetch_add(1000, Ordering::Relaxed)
}

pub(crate) fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

pub(crate) fn user(name: &str, roles: &[&str]) -> User {
    let t = now();
    User {
        id: Uuid::new_v4(),
        username: name.to_owned(),
        email: format!("{name}@example.com"),
        full_name: Some(format!("{name} Example")),
        disabled: false,
        roles: strings(roles),
        permissions: Vec::new(),
        password_hash: format!("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$hash-of-{name}"),
        password_changed_at: t,
        credential_gen: 1,
        created_at: t,
        updated_at: t,
    }
}

pub(crate) fn page(limit: i64, offset: i64) -> PageRequest {
    PageRequest::new(Some(limit), Some(offset)).expect("valid page")
}

pub(crate) async fn get(store: &dyn Store, id: Uuid) -> User {
    store
        .user_by_id(id)
        .await
        .expect("user_by_id")
        .expect("user exists")
}

/// Every stored field comes back as written.
pub(crate) fn assert_same_user(got: &User, want: &User) {
    assert_eq!(got.id, want.id);
    assert_eq!(got.username, want.username);
    assert_eq!(got.email, want.email);
    assert_eq!(got.full_name, want.full_name);
    assert_eq!(got.disabled, want.disabled);
    assert_eq!(got.roles, want.roles);
    assert_eq!(got.permissions, want.permissions);
    assert_eq!(got.password_hash, want.password_hash);
    assert_eq!(got.password_changed_at, want.password_changed_at);
    assert_eq!(got.created_at, want.created_at);
    assert_eq!(got.updated_at, want.updated_at);
}

/// The row's current `updated_at` (what a caller that just read it would pass); 0 if absent.
pub(crate) async fn stored_at(store: &dyn Store, id: Uuid) -> i64 {
    store
        .user_by_id(id)
        .await
        .unwrap()
        .map_or(0, |u| u.updated_at)
}

pub(crate) fn assert_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>, field: &str) {
    match r {
        Err(StoreError::Conflict { field: f }) => assert_eq!(f, field, "conflict field"),
        other => panic!("expected Conflict {{ field: {field:?} }}, got {other:?}"),
    }
}

pub(crate) fn assert_last_admin<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    assert!(
        matches!(r, Err(StoreError::LastAdmin)),
        "expected LastAdmin, got {r:?}"
    );
}

// Store-wide cases (run by `store_contract_runs`).

pub(crate) async fn migrated_store_has_builtin_roles_and_no_users(store: &dyn Store) {
    store.ping().await.expect("ping");
    assert_eq!(store.count_users().await.unwrap(), 0);
    assert!(!store.has_users().await.unwrap());
    let roles = store.list_roles().await.unwrap();
    let want = vec![
        Role {
            name: "admin".into(),
            permissions: strings(&["*"]),
        },
        Role {
            name: "guest".into(),
            permissions: strings(&["items:read"]),
        },
        Role {
            name: "moderator".into(),
            permissions: strings(&["items:*", "users:read"]),
        },
        Role {
            name: "user".into(),
            permissions: strings(&["items:read", "items:write"]),
        },
    ];
    assert_eq!(roles, want);
    assert!(store.signing_keys(now()).await.unwrap().is_empty());
}

pub(crate) async fn revision_increases_on_user_and_role_writes(store: &dyn Store) {
    let start = store.revision().await.unwrap();
    let u = user("rev-user", &["user"]);
    store.insert_user(&u).await.unwrap();
    let mut last = store.revision().await.unwrap();
    assert!(last >= start);

    let mut bumped = |what: &str, now: i64| {
        assert!(
            now > last,
            "revision did not increase after {what}: {last} -> {now}"
        );
        last = now;
    };

    let mut changed = u.clone();
    changed.roles = strings(&["guest"]);
    store
        .update_user(&changed, stored_at(store, changed.id).await)
        .await
        .unwrap();
    bumped("update_user", store.revision().await.unwrap());

    store
        .put_role(&Role {
            name: "rev-role".into(),
            permissions: strings(&["items:read"]),
        })
        .await
        .unwrap();
    bumped("put_role (create)", store.revision().await.unwrap());

    store
        .put_role(&Role {
            name: "rev-role".into(),
            permissions: strings(&["items:write"]),
        })
        .await
        .unwrap();
    bumped("put_role (replace)", store.revision().await.unwrap());

    store.delete_role("rev-role", false).await.unwrap();
    bumped("delete_role", store.revision().await.unwrap());

    store.delete_user(u.id, None).await.unwrap();
    bumped("delete_user", store.revision().await.unwrap());

    // Documented: a re-hash on login does not bump the revision.
    let v = user("rev-hash", &["user"]);
    store.insert_user(&v).await.unwrap();
    let before = store.revision().await.unwrap();
    store
        .set_password_hash(v.id, "$argon2id$rehashed", &v.password_hash)
        .await
        .unwrap();
    assert_eq!(store.revision().await.unwrap(), before);
    assert_eq!(get(store, v.id).await.password_hash, "$argon2id$rehashed");
    // A re-hash computed from a hash that has since changed is dropped, not written.
    store
        .set_password_hash(v.id, "$argon2id$stale", &v.password_hash)
        .await
        .unwrap();
    assert_eq!(get(store, v.id).await.password_hash, "$argon2id$rehashed");
}
