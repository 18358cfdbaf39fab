//! The storage contract, users: insert and get, uniqueness in any case, updates (every field, atomic,
//! compare-and-set), the last-admin guard, and pagination.

use bouncer_core::store::{Store, StoreError};
use uuid::Uuid;

use super::{
    assert_conflict, assert_last_admin, assert_same_user, get, now, page, stored_at, stores,
    strings, user,
};

// Cases (run by `store_contract_runs`).

pub(crate) async fn insert_and_get_user_by_id_and_normalized_username(store: &dyn Store) {
    let mut u = user("Alice.Smith", &["moderator", "user"]);
    u.email = "Alice.Smith@Example.COM".into();
    u.permissions = strings(&["audit:read", "items:delete"]);
    store.insert_user(&u).await.expect("insert");

    assert_same_user(&get(store, u.id).await, &u);
    let by_name = store
        .user_by_username("alice.smith")
        .await
        .unwrap()
        .expect("found by normalized username");
    assert_same_user(&by_name, &u);

    assert!(store.user_by_id(Uuid::new_v4()).await.unwrap().is_none());
    assert!(store.user_by_username("nobody").await.unwrap().is_none());
    assert_eq!(store.count_users().await.unwrap(), 1);
    assert!(store.has_users().await.unwrap());

    // No roles, no permissions, no full name: empty lists and None, not errors.
    let mut bare = user("bare", &[]);
    bare.full_name = None;
    store.insert_user(&bare).await.unwrap();
    assert_same_user(&get(store, bare.id).await, &bare);
}

pub(crate) async fn username_and_email_are_unique_case_insensitively(store: &dyn Store) {
    let bob = user("bob", &["user"]);
    store.insert_user(&bob).await.unwrap();

    let mut same_name = user("BOB", &["user"]);
    same_name.email = "other@example.com".into();
    assert_conflict(store.insert_user(&same_name).await, "username");

    let mut same_email = user("carol", &["user"]);
    same_email.email = "BOB@EXAMPLE.COM".into();
    assert_conflict(store.insert_user(&same_email).await, "email");

    // A refused insert leaves nothing behind (no user, no orphaned role rows).
    assert_eq!(store.count_users().await.unwrap(), 1);
    assert!(store.user_by_username("carol").await.unwrap().is_none());
    assert!(store.user_by_id(same_email.id).await.unwrap().is_none());

    // Changing an email to someone else's (in another case) is a conflict too.
    let dave = user("dave", &["user"]);
    store.insert_user(&dave).await.unwrap();
    let mut changed = dave.clone();
    changed.email = "Bob@Example.com".into();
    assert_conflict(
        store
            .update_user(&changed, stored_at(store, changed.id).await)
            .await,
        "email",
    );
    assert_eq!(get(store, dave.id).await.email, "dave@example.com");
}

pub(crate) async fn update_user_writes_every_mutable_field_roles_and_permissions(
    store: &dyn Store,
) {
    let u = user("erin", &["user"]);
    store.insert_user(&u).await.unwrap();

    let mut changed = u.clone();
    changed.email = "Erin@New.example".into();
    changed.full_name = None;
    changed.disabled = true;
    changed.roles = strings(&["guest", "moderator"]);
    changed.permissions = strings(&["items:delete", "users:read"]);
    changed.password_hash = "$argon2id$v=19$m=8,t=1,p=1$bmV3c2FsdA$new-hash".into();
    changed.password_changed_at = now();
    changed.updated_at = now();
    assert!(
        store
            .update_user(&changed, stored_at(store, changed.id).await)
            .await
            .unwrap()
    );
    assert_same_user(&get(store, u.id).await, &changed);

    // The new email is the one that is taken now; the old one is free again.
    let mut other = user("frank", &["user"]);
    other.email = "erin@new.EXAMPLE".into();
    assert_conflict(store.insert_user(&other).await, "email");
    other.email = "erin@example.com".into();
    store.insert_user(&other).await.expect("old email is free");

    // Emptying the lists works too.
    let mut emptied = changed.clone();
    emptied.roles.clear();
    emptied.permissions.clear();
    assert!(
        store
            .update_user(&emptied, stored_at(store, emptied.id).await)
            .await
            .unwrap()
    );
    let got = get(store, u.id).await;
    assert!(got.roles.is_empty() && got.permissions.is_empty());

    // A user that does not exist: false, nothing created.
    let ghost = user("ghost", &["user"]);
    assert!(
        !store
            .update_user(&ghost, stored_at(store, ghost.id).await)
            .await
            .unwrap()
    );
    assert!(store.user_by_id(ghost.id).await.unwrap().is_none());
}

pub(crate) async fn update_user_with_unknown_role_is_refused_and_changes_nothing(
    store: &dyn Store,
) {
    let u = user("gina", &["user"]);
    store.insert_user(&u).await.unwrap();
    let mut bad = u.clone();
    bad.email = "gina@changed.example".into();
    bad.roles = strings(&["no-such-role"]);
    let r = store
        .update_user(&bad, stored_at(store, bad.id).await)
        .await;
    assert!(r.is_err(), "a role that does not exist: {r:?}");
    // One transaction: the email change went with the refused roles.
    assert_same_user(&get(store, u.id).await, &u);
}

pub(crate) async fn the_last_enabled_admin_cannot_be_disabled_deleted_or_demoted(
    store: &dyn Store,
) {
    let a = user("admin-a", &["admin"]);
    store.insert_user(&a).await.unwrap();

    let mut disabled = a.clone();
    disabled.disabled = true;
    assert_last_admin(
        store
            .update_user(&disabled, stored_at(store, disabled.id).await)
            .await,
    );
    let mut demoted = a.clone();
    demoted.roles = strings(&["user"]);
    assert_last_admin(
        store
            .update_user(&demoted, stored_at(store, demoted.id).await)
            .await,
    );
    assert_last_admin(store.delete_user(a.id, None).await);
    assert_last_admin(store.delete_role("admin", true).await);
    // Each refusal rolled back completely.
    assert_same_user(&get(store, a.id).await, &a);
    assert!(store.role("admin").await.unwrap().is_some());

    // With a second enabled admin, one of them can go.
    let b = user("admin-b", &["admin", "user"]);
    store.insert_user(&b).await.unwrap();
    assert!(
        store
            .update_user(&disabled, stored_at(store, disabled.id).await)
            .await
            .expect("disable a")
    );
    assert!(get(store, a.id).await.disabled);

    // A disabled admin does not count: b is the last enabled one now.
    let mut b_disabled = b.clone();
    b_disabled.disabled = true;
    assert_last_admin(
        store
            .update_user(&b_disabled, stored_at(store, b_disabled.id).await)
            .await,
    );
    let mut b_demoted = b.clone();
    b_demoted.roles = strings(&["user"]);
    assert_last_admin(
        store
            .update_user(&b_demoted, stored_at(store, b_demoted.id).await)
            .await,
    );
    assert_last_admin(store.delete_user(b.id, None).await);
    assert_same_user(&get(store, b.id).await, &b);

    // Re-enabling a restores two; then demoting and deleting b are fine.
    let mut a_enabled = a.clone();
    a_enabled.disabled = false;
    assert!(
        store
            .update_user(&a_enabled, stored_at(store, a_enabled.id).await)
            .await
            .unwrap()
    );
    assert!(
        store
            .update_user(&b_demoted, stored_at(store, b_demoted.id).await)
            .await
            .expect("demote b")
    );
    assert_eq!(get(store, b.id).await.roles, strings(&["user"]));
    assert!(store.delete_user(b.id, None).await.expect("delete b"));
    assert!(!store.delete_user(b.id, None).await.expect("delete again"));
    assert_last_admin(store.delete_user(a.id, None).await);
}

pub(crate) async fn list_users_paginates_in_creation_order_with_total(store: &dyn Store) {
    let mut made = Vec::new();
    for i in 0..7 {
        let u = user(&format!("page-user-{i}"), &["user"]);
        store.insert_user(&u).await.unwrap();
        made.push(u.id);
    }
    let mut seen = Vec::new();
    for (offset, expect_len, more) in [(0, 3, true), (3, 3, true), (6, 1, false), (9, 0, false)] {
        let p = store.list_users(page(3, offset)).await.unwrap();
        assert_eq!(p.total, 7, "total at offset {offset}");
        assert_eq!((p.limit, p.offset), (3, offset));
        assert_eq!(p.items.len(), expect_len, "page at offset {offset}");
        assert_eq!(p.more, more, "more after offset {offset}");
        for u in &p.items {
            assert_eq!(u.roles, strings(&["user"]), "roles attached in listings");
        }
        seen.extend(p.items.iter().map(|u| u.id));
    }
    assert_eq!(seen, made, "pages cover every user once, in creation order");
    let all = store.list_users(page(100, 0)).await.unwrap();
    assert_eq!(all.items.len(), 7);
    // Keyset: each page starts after the last row of the one before (created_at, then id: these
    // users share one creation time, so the id alone orders them), and skips `offset` from there.
    let mut by_key = Vec::new();
    let mut after = None;
    loop {
        let mut req = page(3, 0);
        req.after = after;
        let p = store.list_users(req).await.unwrap();
        assert_eq!(p.total, 7);
        by_key.extend(p.items.iter().map(|u| u.id));
        let last = p
            .items
            .last()
            .expect("a page before the end is never empty");
        after = Some(bouncer_core::model::PageKey {
            created_at: last.created_at,
            id: last.id,
        });
        if !p.more {
            break;
        }
    }
    assert_eq!(
        by_key, made,
        "keyset pages cover every user once, in creation order"
    );
    let mut req = page(2, 1);
    req.after = Some(bouncer_core::model::PageKey {
        created_at: all.items[1].created_at,
        id: all.items[1].id,
    });
    let p = store.list_users(req).await.unwrap();
    let ids: Vec<_> = p.items.iter().map(|u| u.id).collect();
    assert_eq!(ids, made[3..5], "offset counts from the key");
    assert!(p.more);
}

/// The total a page reports is kept with the rows: every insert and delete moves it, a refused
/// one (a taken name, a stale or repeated delete) does not, and concurrent inserts all count.
pub(crate) async fn user_total_follows_every_write(store: &dyn Store) {
    let total = || async { store.list_users(page(1, 0)).await.unwrap().total };
    assert_eq!(total().await, 0);
    let a = user("count-a", &["user"]);
    let b = user("count-b", &["user"]);
    store.insert_user(&a).await.unwrap();
    store.insert_user(&b).await.unwrap();
    assert_eq!(total().await, 2);
    let mut taken = user("COUNT-A", &["user"]);
    taken.email = "someone-else@example.com".into();
    assert_conflict(store.insert_user(&taken).await, "username");
    assert_eq!(total().await, 2, "a refused insert is not counted");
    assert!(matches!(
        store.delete_user(a.id, Some(a.updated_at - 1)).await,
        Err(StoreError::Stale)
    ));
    assert_eq!(total().await, 2, "a stale delete is not counted");
    assert!(store.delete_user(a.id, None).await.unwrap());
    assert!(!store.delete_user(a.id, None).await.unwrap());
    assert_eq!(total().await, 1, "one delete, counted once");
    let many: Vec<_> = (0..24)
        .map(|i| user(&format!("count-many-{i}"), &["user"]))
        .collect();
    let inserts = many.iter().map(|u| store.insert_user(u));
    for r in futures_util::future::join_all(inserts).await {
        r.unwrap();
    }
    assert_eq!(total().await, 25);
    assert_eq!(store.count_users().await.unwrap(), 25);
}

/// A read-modify-write that lost a race is refused (`Stale`), never written over the winner.
pub(crate) async fn update_is_compare_and_set(store: &dyn Store) {
    let u = user("cas-user", &["user"]);
    store.insert_user(&u).await.unwrap();
    let read_at = u.updated_at;
    // The winner: an admin disables the user and demotes them.
    let mut admin_change = u.clone();
    admin_change.disabled = true;
    admin_change.roles = vec!["guest".into()];
    admin_change.updated_at = read_at + 1;
    assert!(store.update_user(&admin_change, read_at).await.unwrap());
    // The loser read the row before that change and tries to write its stale copy back.
    let mut stale = u.clone();
    stale.full_name = Some("Changed".into());
    stale.updated_at = read_at + 2;
    assert!(matches!(
        store.update_user(&stale, read_at).await,
        Err(StoreError::Stale)
    ));
    let now = get(store, u.id).await;
    assert!(now.disabled);
    assert_eq!(now.roles, vec!["guest".to_owned()]);
    assert_eq!(now.full_name, u.full_name);
}

#[tokio::test]
pub(crate) async fn users_update_is_compare_and_set() {
    for s in stores().await {
        update_is_compare_and_set(&s.store).await;
    }
}
