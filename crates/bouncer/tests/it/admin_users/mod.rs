//! User administration through the HTTP API: listing, reading, patching and deleting users, the
//! last-admin guard, and direct permissions.
//!
//! Here: listing, reading, patching and deleting, and a direct permission. The last-admin guard
//! is in `last_admin`.

mod last_admin;

use serde_json::{Value, json};

use crate::support::http::{assert_problem, call};
use crate::support::{ADMIN, BOTH, TestApp};
use crate::users::{get_basic, register, strings, token_error};

#[tokio::test]
async fn admin_lists_users_paginated_in_creation_order() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let mut ids = Vec::new();
        for i in 1..=5 {
            // Time moves on between sign-ups, as it would.
            app.clock.advance_s(1);
            let u = register(
                &app,
                &format!("user{i}"),
                &format!("user{i}@example.com"),
                "Password-123",
            )
            .await;
            ids.push(u["id"].as_str().unwrap().to_owned());
        }
        let admin = app.admin_token().await;
        let (s, _, page) = call(
            app.client
                .get(app.at("/users?limit=2&offset=1"))
                .bearer_auth(&admin),
        )
        .await;
        assert_eq!(s, 200, "{db:?}: {page}");
        assert_eq!(page["total"], 6, "{db:?}: 5 users and the admin");
        assert_eq!(page["limit"], 2);
        assert_eq!(page["offset"], 1);
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{db:?}");
        assert_eq!(items[0]["username"], "user1", "{db:?}");
        assert_eq!(items[1]["username"], "user2", "{db:?}");
        assert_eq!(items[0]["id"], ids[0].as_str());

        // The default page: everything, admin first.
        let (s, _, page) = call(app.client.get(app.at("/users")).bearer_auth(&admin)).await;
        assert_eq!(s, 200);
        assert_eq!(page["limit"], 50);
        assert_eq!(page["offset"], 0);
        let names: Vec<&str> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [ADMIN, "user1", "user2", "user3", "user4", "user5"],
            "{db:?}"
        );

        // Past the end: empty page, same total.
        let (s, _, page) = call(
            app.client
                .get(app.at("/users?offset=10"))
                .bearer_auth(&admin),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(page["items"], json!([]));
        assert_eq!(page["total"], 6);

        // A plain user may not list.
        let t = app.token("user1", "Password-123").await;
        let (s, _, body) = call(app.client.get(app.at("/users")).bearer_auth(&t)).await;
        assert_eq!(s, 403, "{db:?}: {body}");
        app.stop().await;
    }
}

#[tokio::test]
async fn admin_gets_a_user_by_id_and_unknown_or_malformed_ids_are_404() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let reg = register(&app, "gina", "gina@example.com", "Gina-password").await;
        let admin = app.admin_token().await;
        let get = |path: String| app.client.get(app.at(&path)).bearer_auth(&admin);
        let (s, _, u) = call(get(format!("/users/{}", reg["id"].as_str().unwrap()))).await;
        assert_eq!(s, 200, "{db:?}");
        assert_eq!(u, reg);
        let got = call(get(format!("/users/{}", uuid::Uuid::new_v4()))).await;
        assert_problem(&format!("{db:?} unknown"), &got, 404, "not_found", None);
        for bad in ["not-a-uuid", "123", "%27%20OR%201=1--"] {
            let got = call(get(format!("/users/{bad}"))).await;
            assert_problem(&format!("{db:?} {bad}"), &got, 404, "not_found", None);
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn admin_patches_roles_permissions_disabled_and_email() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let reg = register(&app, "hank", "hank@example.com", "Hank-password").await;
        let id = reg["id"].as_str().unwrap();
        let hank_token = app.token("hank", "Hank-password").await;
        let admin = app.admin_token().await;
        let patch = |body: Value| {
            app.client
                .patch(app.at(&format!("/users/{id}")))
                .bearer_auth(&admin)
                .json(&body)
        };
        let (s, _, u) = call(patch(json!({
            "roles": ["moderator", "user"],
            "permissions": ["items:delete", "roles:read"],
            "email": "hank@corp.example.com",
            "full_name": "Hank H"
        })))
        .await;
        assert_eq!(s, 200, "{db:?}: {u}");
        assert_eq!(strings(&u["roles"]), ["moderator", "user"]);
        assert_eq!(strings(&u["permissions"]), ["items:delete", "roles:read"]);
        assert_eq!(u["email"], "hank@corp.example.com");
        assert_eq!(u["full_name"], "Hank H");
        assert_eq!(u["disabled"], false);

        // Stored: GET shows the same.
        let (s, _, again) = call(
            app.client
                .get(app.at(&format!("/users/{id}")))
                .bearer_auth(&admin),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(strings(&again["roles"]), ["moderator", "user"], "{db:?}");
        assert_eq!(
            strings(&again["permissions"]),
            ["items:delete", "roles:read"],
            "{db:?}"
        );
        assert_eq!(again["email"], "hank@corp.example.com");

        // Roles are a full replacement list.
        let (s, _, u) = call(patch(json!({"roles": ["guest"]}))).await;
        assert_eq!(s, 200);
        assert_eq!(u["roles"], json!(["guest"]), "{db:?}");
        assert_eq!(
            strings(&u["permissions"]),
            ["items:delete", "roles:read"],
            "{db:?}: untouched"
        );
        let (s, _, u) = call(patch(json!({"permissions": []}))).await;
        assert_eq!(s, 200);
        assert_eq!(u["permissions"], json!([]), "{db:?}");

        // Disabling locks the user out at once, existing token included.
        assert_eq!(app.get_bearer("/users/me", &hank_token).await.status(), 200);
        let (s, _, u) = call(patch(json!({"disabled": true}))).await;
        assert_eq!(s, 200);
        assert_eq!(u["disabled"], true);
        assert_eq!(
            app.get_bearer("/users/me", &hank_token).await.status(),
            401,
            "{db:?}"
        );
        let (s, body) = token_error(&app, "hank", "Hank-password").await;
        assert_eq!(
            (s, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{db:?}"
        );
        assert_eq!(
            get_basic(&app, "/users/me", "hank", "Hank-password").await,
            401
        );

        // Re-enabling lets them back in.
        let (s, _, _) = call(patch(json!({"disabled": false}))).await;
        assert_eq!(s, 200);
        assert_eq!(
            get_basic(&app, "/users/me", "hank", "Hank-password").await,
            200,
            "{db:?}"
        );

        // Unknown user: 404.
        let got = call(
            app.client
                .patch(app.at(&format!("/users/{}", uuid::Uuid::new_v4())))
                .bearer_auth(&admin)
                .json(&json!({"disabled": true})),
        )
        .await;
        assert_problem(&format!("{db:?}"), &got, 404, "not_found", None);
        app.stop().await;
    }
}

#[tokio::test]
async fn admin_deletes_a_user_then_it_is_gone() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let reg = register(&app, "ivan", "ivan@example.com", "Ivan-password").await;
        let id = reg["id"].as_str().unwrap();
        let ivan = app.token("ivan", "Ivan-password").await;
        // Ivan owns an item: deleting him must not fail on it.
        let (s, _, _) = call(
            app.client
                .post(app.at("/items"))
                .bearer_auth(&ivan)
                .json(&json!({"name": "ivan's"})),
        )
        .await;
        assert_eq!(s, 201);
        let admin = app.admin_token().await;
        let url = app.at(&format!("/users/{id}"));
        let (s, _, body) = call(app.client.delete(&url).bearer_auth(&admin)).await;
        assert_eq!(s, 204, "{db:?}: {body}");
        assert_eq!(body, Value::Null, "204 has no body");
        let got = call(app.client.get(&url).bearer_auth(&admin)).await;
        assert_problem(&format!("{db:?} get"), &got, 404, "not_found", None);
        let got = call(app.client.delete(&url).bearer_auth(&admin)).await;
        assert_problem(
            &format!("{db:?} delete again"),
            &got,
            404,
            "not_found",
            None,
        );
        assert_eq!(
            app.get_bearer("/users/me", &ivan).await.status(),
            401,
            "{db:?}: token of a deleted user"
        );
        // The name is free again.
        register(&app, "ivan", "ivan@example.com", "Ivan-password").await;
        app.stop().await;
    }
}

#[tokio::test]
async fn a_direct_permission_lets_a_user_delete_anothers_item() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let (alice, alice_pw, _) = app.user_with_roles("alice", &["user"]).await;
        let (bob, bob_pw, bob_id) = app.user_with_roles("bob", &["user"]).await;
        let alice_t = app.token(&alice, &alice_pw).await;
        let (s, _, item) = call(
            app.client
                .post(app.at("/items"))
                .bearer_auth(&alice_t)
                .json(&json!({"name": "alice's thing"})),
        )
        .await;
        assert_eq!(s, 201);
        let item_url = app.at(&format!("/items/{}", item["id"].as_str().unwrap()));

        let bob_t = app.token(&bob, &bob_pw).await;
        let got = call(app.client.delete(&item_url).bearer_auth(&bob_t)).await;
        assert_problem(
            &format!("{db:?} before"),
            &got,
            403,
            "missing_permission",
            None,
        );

        let admin = app.admin_token().await;
        let (s, _, u) = call(
            app.client
                .patch(app.at(&format!("/users/{bob_id}")))
                .bearer_auth(&admin)
                .json(&json!({"permissions": ["items:delete"]})),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(u["permissions"], json!(["items:delete"]));

        let bob_t = app.token(&bob, &bob_pw).await;
        let (s, _, body) = call(app.client.delete(&item_url).bearer_auth(&bob_t)).await;
        assert_eq!(s, 204, "{db:?}: {body}");
        let (s, _, _) = call(app.client.get(&item_url).bearer_auth(&alice_t)).await;
        assert_eq!(s, 404, "{db:?}: the item is gone");
        app.stop().await;
    }
}
