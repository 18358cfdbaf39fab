//! The storage contract's runs: each case of `store_contract` on every available store, and the
//! compare-and-set and normal-form cases added with the security fixes.

use bouncer_core::store::{Store, StoreError};
use bouncer_store::SqlStore;

use crate::support::postgres::postgres;

use crate::store_contract::*;

/// A delete checked against one version of the row (the caller held everything the user held
/// then) is refused once the row moved on (say, the user was promoted meanwhile).
async fn delete_is_compare_and_set(store: &dyn Store) {
    let u = user("cas-delete", &["user"]);
    store.insert_user(&u).await.unwrap();
    let mut promoted = u.clone();
    promoted.roles = vec!["moderator".into()];
    promoted.updated_at = u.updated_at + 1;
    assert!(store.update_user(&promoted, u.updated_at).await.unwrap());
    assert!(matches!(
        store.delete_user(u.id, Some(u.updated_at)).await,
        Err(StoreError::Stale)
    ));
    assert!(get(store, u.id).await.has_role("moderator"));
    assert!(
        store
            .delete_user(u.id, Some(promoted.updated_at))
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_user(u.id, Some(promoted.updated_at))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn users_delete_is_compare_and_set() {
    for s in stores().await {
        delete_is_compare_and_set(&s.store).await;
    }
}

/// An update that leaves the email alone leaves its stored normal form alone too, so a row kept in
/// an older form (a look-alike left by the one-off re-normalization) can still be disabled.
async fn email_norm_follows_email_changes_only(store: &dyn Store) {
    let mut a = user("norm-a", &["user"]);
    a.email = "ａｌｉｃｅ@example.com".into();
    store.insert_user(&a).await.unwrap();
    let mut b = user("norm-b", &["user"]);
    b.email = "alice@example.com".into();
    assert!(matches!(
        store.insert_user(&b).await,
        Err(StoreError::Conflict { field: "email" })
    ));
    let mut changed = a.clone();
    changed.email = "bob@example.com".into();
    changed.updated_at = a.updated_at + 1;
    assert!(store.update_user(&changed, a.updated_at).await.unwrap());
    store.insert_user(&b).await.unwrap();
    let mut disabled = changed.clone();
    disabled.disabled = true;
    disabled.updated_at = changed.updated_at + 1;
    assert!(
        store
            .update_user(&disabled, changed.updated_at)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn users_email_norm_is_nfkc() {
    for s in stores().await {
        email_norm_follows_email_changes_only(&s.store).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Tests: each case on every available store
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn migrations_create_the_builtin_roles() {
    for s in stores().await {
        eprintln!("store contract on {}", s.name);
        migrated_store_has_builtin_roles_and_no_users(&s.store).await;
    }
}

#[tokio::test]
async fn users_insert_and_get() {
    for s in stores().await {
        eprintln!("store contract on {}", s.name);
        insert_and_get_user_by_id_and_normalized_username(&s.store).await;
    }
}

#[tokio::test]
async fn users_unique_case_insensitively() {
    for s in stores().await {
        eprintln!("store contract on {}", s.name);
        username_and_email_are_unique_case_insensitively(&s.store).await;
    }
}

#[tokio::test]
async fn users_update_writes_roles_and_permissions() {
    for s in stores().await {
        eprintln!("store contract on {}", s.name);
        update_user_writes_every_mutable_field_roles_and_permissions(&s.store).await;
    }
}

#[tokio::test]
async fn users_update_is_atomic() {
    for s in stores().await {
        eprintln!("store contract on {}", s.name);
        update_user_with_unknown_role_is_refused_and_changes_nothing(&s.store).await;
    }
}

#[tokio::test]
async fn users_last_admin() {
    for s in stores().await {
        eprintln!("store contract on {}", s.name);
        the_last_enabled_admin_cannot_be_disabled_deleted_or_demoted(&s.store).await;
    }
}

#[tokio::test]
async fn users_pagination() {
    for s in stores().await {
        eprintln!("store contract on {}", s.name);
        list_users_paginates_in_creation_order_with_total(&s.store).await;
    }
}

#[tokio::test]
async fn users_total() {
    for s in stores().await {
        eprintln!("store contract on {}", s.name);
        user_total_follows_every_write(&s.store).await;
    }
}

#[tokio::test]
async fn roles_put() {
    for s in stores().await {
        eprintln!("store contract on {}", s.name);
        put_role_creates_then_replaces(&s.store).await;
    }
}

#[tokio::test]
async fn roles_delete_in_use() {
    for s in stores().await {
        eprintln!("store contract on {}", s.name);
        delete_role_in_use_needs_force_which_removes_it_from_users(&s.store).await;
    }
}

#[tokio::test]
async fn items_crud() {
    for s in stores().await {
        eprintln!("store contract on {}", s.name);
        items_crud_and_pagination(&s.store).await;
    }
}

#[tokio::test]
async fn signing_keys() {
    for s in stores().await {
        eprintln!("store contract on {}", s.name);
        signing_keys_insert_list_and_generation_race(&s.store).await;
    }
}

#[tokio::test]
async fn revision_bumps() {
    for s in stores().await {
        eprintln!("store contract on {}", s.name);
        revision_increases_on_user_and_role_writes(&s.store).await;
    }
}

/// Two instances starting at once on a fresh database: both migrations succeed and the schema is
/// created once (PostgreSQL takes an advisory lock around the run).
#[tokio::test]
async fn concurrent_migrate_on_a_fresh_postgres_database() {
    let Some(pg) = postgres() else { return };
    for round in 0..3 {
        let url = pg.fresh_database();
        let a = SqlStore::connect(&url).await.expect("connect a");
        let b = SqlStore::connect(&url).await.expect("connect b");
        let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
        ra.unwrap_or_else(|e| panic!("round {round}: migrate a: {e}"));
        rb.unwrap_or_else(|e| panic!("round {round}: migrate b: {e}"));
        assert_eq!(a.revision().await.unwrap(), 0);
        assert_eq!(b.list_roles().await.unwrap().len(), 4);
        a.close().await;
        b.close().await;
    }
}

/// The same on one SQLite file (`migrate` promises to be safe from several instances at once).
#[tokio::test]
async fn concurrent_migrate_on_a_fresh_sqlite_file() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let url = sqlite_url(&dir);
        let a = SqlStore::connect(&url).await.expect("connect a");
        let b = SqlStore::connect(&url).await.expect("connect b");
        let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
        ra.unwrap_or_else(|e| panic!("round {round}: migrate a: {e}"));
        rb.unwrap_or_else(|e| panic!("round {round}: migrate b: {e}"));
        assert_eq!(a.revision().await.unwrap(), 0);
        assert_eq!(b.list_roles().await.unwrap().len(), 4);
        a.close().await;
        b.close().await;
    }
}
