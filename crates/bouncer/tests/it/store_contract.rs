//! The storage contract (`bouncer_core::store::Store`), checked on `bouncer_store::SqlStore`.
//!
//! Every case is one `async fn case(store: &dyn Store)`, run by the same test on SQLite (a fresh
//! file in a tempdir) and on PostgreSQL (a fresh database, when PostgreSQL is installed here).

use std::sync::atomic::{AtomicI64, Ordering};

use bouncer_core::model::{Item, PageRequest, Role, SigningKeyRecord, User};
use bouncer_core::store::{RoleDeletion, Store, StoreError};
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

// Cases (run by `store_contract_runs`).

pub(crate) async fn migrated_store_has_builtin_roles_and_no_users(store: &dyn Store) {
    store.ping().await.expect("ping");
    assert_eq!(store.count_users().await.unwrap(), 0);
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
    for (offset, expect_len) in [(0, 3), (3, 3), (6, 1), (9, 0)] {
        let p = store.list_users(page(3, offset)).await.unwrap();
        assert_eq!(p.total, 7, "total at offset {offset}");
        assert_eq!((p.limit, p.offset), (3, offset));
        assert_eq!(p.items.len(), expect_len, "page at offset {offset}");
        for u in &p.items {
            assert_eq!(u.roles, strings(&["user"]), "roles attached in listings");
        }
        seen.extend(p.items.iter().map(|u| u.id));
    }
    assert_eq!(seen, made, "pages cover every user once, in creation order");
    let all = store.list_users(page(100, 0)).await.unwrap();
    assert_eq!(all.items.len(), 7);
}

pub(crate) async fn put_role_creates_then_replaces(store: &dyn Store) {
    let r1 = Role {
        name: "auditor".into(),
        permissions: strings(&["audit:read"]),
    };
    assert!(store.put_role(&r1).await.unwrap(), "created");
    assert_eq!(store.role("auditor").await.unwrap(), Some(r1.clone()));

    let r2 = Role {
        name: "auditor".into(),
        permissions: strings(&["audit:read", "users:read"]),
    };
    assert!(!store.put_role(&r2).await.unwrap(), "replaced, not created");
    assert_eq!(store.role("auditor").await.unwrap(), Some(r2.clone()));

    let empty = Role {
        name: "nothing".into(),
        permissions: Vec::new(),
    };
    assert!(store.put_role(&empty).await.unwrap());
    assert_eq!(store.role("nothing").await.unwrap(), Some(empty.clone()));

    let names: Vec<String> = store
        .list_roles()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(
        names,
        strings(&["admin", "auditor", "guest", "moderator", "nothing", "user"])
    );
    assert!(store.role("missing").await.unwrap().is_none());
}

pub(crate) async fn delete_role_in_use_needs_force_which_removes_it_from_users(store: &dyn Store) {
    let role = Role {
        name: "editor".into(),
        permissions: strings(&["items:write"]),
    };
    store.put_role(&role).await.unwrap();
    let u1 = user("ed1", &["editor", "user"]);
    let u2 = user("ed2", &["editor"]);
    store.insert_user(&u1).await.unwrap();
    store.insert_user(&u2).await.unwrap();

    match store.delete_role("editor", false).await {
        Err(StoreError::RoleInUse(n)) => assert_eq!(n, 2),
        other => panic!("expected RoleInUse(2), got {other:?}"),
    }
    assert_eq!(store.role("editor").await.unwrap(), Some(role));
    assert_eq!(get(store, u1.id).await.roles, strings(&["editor", "user"]));

    assert_eq!(
        store.delete_role("editor", true).await.unwrap(),
        RoleDeletion::Deleted
    );
    assert!(store.role("editor").await.unwrap().is_none());
    assert_eq!(get(store, u1.id).await.roles, strings(&["user"]));
    assert!(get(store, u2.id).await.roles.is_empty());
    assert_eq!(
        store.delete_role("editor", false).await.unwrap(),
        RoleDeletion::NotFound
    );

    // A role nobody holds goes without force.
    store
        .put_role(&Role {
            name: "unused".into(),
            permissions: Vec::new(),
        })
        .await
        .unwrap();
    assert_eq!(
        store.delete_role("unused", false).await.unwrap(),
        RoleDeletion::Deleted
    );
}

pub(crate) async fn items_crud_and_pagination(store: &dyn Store) {
    let owner = user("item-owner", &["user"]);
    store.insert_user(&owner).await.unwrap();
    let mut items = Vec::new();
    for i in 0..5 {
        let t = now();
        let item = Item {
            id: Uuid::new_v4(),
            owner_id: owner.id,
            name: format!("item {i}"),
            description: (i % 2 == 0).then(|| format!("description {i}")),
            created_at: t,
            updated_at: t,
        };
        store.insert_item(&item).await.unwrap();
        items.push(item);
    }
    let got = store.item(items[0].id).await.unwrap().expect("item");
    assert_eq!(got.id, items[0].id);
    assert_eq!(got.owner_id, owner.id);
    assert_eq!(got.name, "item 0");
    assert_eq!(got.description.as_deref(), Some("description 0"));
    assert_eq!(got.created_at, items[0].created_at);
    assert_eq!(
        store.item(items[1].id).await.unwrap().unwrap().description,
        None
    );
    assert!(store.item(Uuid::new_v4()).await.unwrap().is_none());

    let mut changed = items[1].clone();
    changed.name = "renamed".into();
    changed.description = Some("now described".into());
    changed.updated_at = now();
    assert!(store.update_item(&changed).await.unwrap());
    let got = store.item(changed.id).await.unwrap().unwrap();
    assert_eq!(got.name, "renamed");
    assert_eq!(got.description.as_deref(), Some("now described"));
    assert_eq!(got.updated_at, changed.updated_at);
    assert_eq!(got.created_at, items[1].created_at);
    let mut ghost = changed.clone();
    ghost.id = Uuid::new_v4();
    assert!(!store.update_item(&ghost).await.unwrap());

    let p1 = store.list_items(page(2, 0)).await.unwrap();
    let p2 = store.list_items(page(2, 2)).await.unwrap();
    let p3 = store.list_items(page(2, 4)).await.unwrap();
    assert_eq!((p1.total, p2.total, p3.total), (5, 5, 5));
    let ids: Vec<Uuid> = [p1.items, p2.items, p3.items]
        .concat()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, items.iter().map(|i| i.id).collect::<Vec<_>>());

    assert!(store.delete_item(items[2].id).await.unwrap());
    assert!(!store.delete_item(items[2].id).await.unwrap());
    assert!(store.item(items[2].id).await.unwrap().is_none());
    let p = store.list_items(page(50, 0)).await.unwrap();
    assert_eq!((p.total, p.items.len()), (4, 4));
}

pub(crate) fn key(kid: &str, alg: &str) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.to_owned(),
        alg: alg.to_owned(),
        private_pem: format!("-----BEGIN PRIVATE KEY-----\n{kid}\n-----END PRIVATE KEY-----\n"),
        public_jwk: format!(r#"{{"kid":"{kid}"}}"#),
        created_at: now(),
        generation: 0,
        activates_at: now(),
        retires_at: None,
    }
}

pub(crate) async fn signing_keys_insert_list_and_generation_race(store: &dyn Store) {
    // Sequential inserts of one algorithm: both kept, in generation order.
    let (k1, k2) = (key("k1", "EdDSA"), key("k2", "EdDSA"));
    store.insert_signing_key(&k1).await.expect("first");
    store.insert_signing_key(&k2).await.expect("second");
    let listed = store.signing_keys(now()).await.unwrap();
    let kids: Vec<&str> = listed.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(kids, ["k1", "k2"]);
    assert_eq!(listed[0].alg, "EdDSA");
    assert_eq!(listed[0].private_pem, k1.private_pem);
    assert_eq!(listed[0].public_jwk, k1.public_jwk);
    assert_eq!(listed[0].created_at, k1.created_at);

    // Another algorithm has its own generations: no clash with the EdDSA ones.
    let r1 = key("r1", "RS256");
    store.insert_signing_key(&r1).await.expect("RS256");
    let kids: Vec<String> = store
        .signing_keys(now())
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert!(kids.contains(&"r1".to_owned()), "{kids:?}");
    assert_eq!(kids.len(), 3);

    // Two instances starting at once on a fresh algorithm: both inserts succeed (the loser of the
    // generation race is told nothing), and what is listed afterwards is one of theirs.
    for round in 0..3 {
        let alg = format!("ES256-{round}");
        let (a, b) = (
            key(&format!("a{round}"), &alg),
            key(&format!("b{round}"), &alg),
        );
        let (ra, rb) = tokio::join!(store.insert_signing_key(&a), store.insert_signing_key(&b));
        ra.expect("insert a");
        rb.expect("insert b");
        let mine: Vec<SigningKeyRecord> = store
            .signing_keys(now())
            .await
            .unwrap()
            .into_iter()
            .filter(|k| k.alg == alg)
            .collect();
        assert!(
            (1..=2).contains(&mine.len()),
            "round {round}: {} keys listed",
            mine.len()
        );
        for k in &mine {
            let want = if k.kid == a.kid { &a } else { &b };
            assert_eq!(k.kid, want.kid);
            assert_eq!(k.private_pem, want.private_pem);
        }
    }
    // Re-inserting an existing kid is not an error and does not duplicate it.
    store.insert_signing_key(&k1).await.expect("same kid again");
    let n = store
        .signing_keys(now())
        .await
        .unwrap()
        .iter()
        .filter(|k| k.kid == "k1")
        .count();
    assert_eq!(n, 1);
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
