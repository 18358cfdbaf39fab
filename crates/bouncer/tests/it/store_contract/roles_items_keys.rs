//! The storage contract, roles, items and signing keys: roles put and deleted (in use: only with
//! force), items' CRUD and pagination, and signing keys (inserted, listed, the generation race).

use bouncer_core::model::{Item, Role, SigningKeyRecord};
use bouncer_core::store::{RoleDeletion, Store, StoreError};
use uuid::Uuid;

use super::{get, now, page, strings, user};

// Cases (run by `store_contract_runs`).

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
