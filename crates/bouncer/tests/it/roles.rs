//! Roles through the HTTP API: the built-ins, creating and replacing, granting, changes applying
//! to existing tokens at once, deleting one in use, and the protected `admin` role.

use serde_json::{Value, json};

use crate::support::http::{assert_problem, call};
use crate::support::{BOTH, TestApp};
use crate::users::strings;

#[tokio::test]
async fn roles_list_has_the_four_builtins() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let admin = app.admin_token().await;
        let (s, _, roles) = call(app.client.get(app.at("/roles")).bearer_auth(&admin)).await;
        assert_eq!(s, 200, "{db:?}: {roles}");
        let mut got: Vec<(String, Vec<String>)> = roles
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap().to_owned(),
                    strings(&r["permissions"]),
                )
            })
            .collect();
        got.sort();
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            got,
            vec![
                ("admin".to_owned(), s(&["*"])),
                ("guest".to_owned(), s(&["items:read"])),
                ("moderator".to_owned(), s(&["items:*", "users:read"])),
                ("user".to_owned(), s(&["items:read", "items:write"])),
            ],
            "{db:?}"
        );
        let (st, _, one) = call(
            app.client
                .get(app.at("/roles/moderator"))
                .bearer_auth(&admin),
        )
        .await;
        assert_eq!(st, 200);
        assert_eq!(one["name"], "moderator");
        assert_eq!(strings(&one["permissions"]), ["items:*", "users:read"]);

        // A plain user may not read roles.
        let (u, p, _) = app.user_with_roles("plain", &["user"]).await;
        let t = app.token(&u, &p).await;
        let (st, _, _) = call(app.client.get(app.at("/roles")).bearer_auth(&t)).await;
        assert_eq!(st, 403);
        app.stop().await;
    }
}

#[tokio::test]
async fn put_role_creates_with_201_then_replaces_with_200() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let admin = app.admin_token().await;
        let put = |perms: Value| {
            app.client
                .put(app.at("/roles/auditor"))
                .bearer_auth(&admin)
                .json(&json!({"permissions": perms}))
        };
        let (s, _, r) = call(put(json!(["users:read"]))).await;
        assert_eq!(s, 201, "{db:?}: {r}");
        assert_eq!(r, json!({"name": "auditor", "permissions": ["users:read"]}));
        let (s, _, r) = call(put(json!(["users:read"]))).await;
        assert_eq!(s, 200, "{db:?}: same again is a replace");
        assert_eq!(r["permissions"], json!(["users:read"]));
        let (s, _, r) = call(put(json!(["roles:read", "users:read"]))).await;
        assert_eq!(s, 200, "{db:?}");
        assert_eq!(strings(&r["permissions"]), ["roles:read", "users:read"]);
        let (s, _, r) = call(app.client.get(app.at("/roles/auditor")).bearer_auth(&admin)).await;
        assert_eq!(s, 200);
        assert_eq!(
            strings(&r["permissions"]),
            ["roles:read", "users:read"],
            "{db:?}"
        );
        let (s, _, all) = call(app.client.get(app.at("/roles")).bearer_auth(&admin)).await;
        assert_eq!(s, 200);
        assert_eq!(all.as_array().unwrap().len(), 5, "{db:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn granting_a_role_gives_its_permissions() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let admin = app.admin_token().await;
        let (s, _, _) = call(
            app.client
                .put(app.at("/roles/auditor"))
                .bearer_auth(&admin)
                .json(&json!({"permissions": ["users:read"]})),
        )
        .await;
        assert_eq!(s, 201);
        let (name, pw, id) = app.user_with_roles("carol", &["user"]).await;
        let (s, _, body) = call(
            app.client
                .get(app.at("/users"))
                .basic_auth(&name, Some(&pw)),
        )
        .await;
        assert_eq!(s, 403, "{db:?}: {body}");
        assert_eq!(body["code"], "missing_permission");
        assert_eq!(body["missing"], "users:read");

        let (s, _, u) = call(
            app.client
                .patch(app.at(&format!("/users/{id}")))
                .bearer_auth(&admin)
                .json(&json!({"roles": ["auditor"]})),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(u["roles"], json!(["auditor"]));
        // At once over Basic (no scope), and with a new token.
        let (s, _, body) = call(
            app.client
                .get(app.at("/users"))
                .basic_auth(&name, Some(&pw)),
        )
        .await;
        assert_eq!(s, 200, "{db:?}: {body}");
        let t = app.token(&name, &pw).await;
        assert_eq!(app.get_bearer("/users", &t).await.status(), 200, "{db:?}");
        // ... and no longer the user role's rights: the roles list was replaced.
        let (s, _, _) = call(
            app.client
                .post(app.at("/items"))
                .basic_auth(&name, Some(&pw))
                .json(&json!({"name": "x"})),
        )
        .await;
        assert_eq!(s, 403, "{db:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn changing_a_roles_permissions_applies_to_existing_tokens_at_once() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let admin = app.admin_token().await;
        let put = |perms: Value| {
            app.client
                .put(app.at("/roles/auditor"))
                .bearer_auth(&admin)
                .json(&json!({"permissions": perms}))
        };
        assert_eq!(call(put(json!(["users:read", "roles:read"]))).await.0, 201);
        let (name, pw, _) = app.user_with_roles("dave", &["auditor"]).await;
        let token = app.token(&name, &pw).await;
        assert_eq!(
            app.get_bearer("/users", &token).await.status(),
            200,
            "{db:?}"
        );
        assert_eq!(
            app.get_bearer("/roles", &token).await.status(),
            200,
            "{db:?}"
        );

        assert_eq!(call(put(json!(["roles:read"]))).await.0, 200);
        let r = app.get_bearer("/users", &token).await;
        assert_eq!(r.status(), 403, "{db:?}: the role lost users:read");
        assert_eq!(
            app.get_bearer("/roles", &token).await.status(),
            200,
            "{db:?}"
        );
        assert_eq!(
            call(
                app.client
                    .get(app.at("/users"))
                    .basic_auth(&name, Some(&pw))
            )
            .await
            .0,
            403,
            "{db:?} basic"
        );

        // And back: the token's scope still names users:read, so it works again.
        assert_eq!(call(put(json!(["users:read", "roles:read"]))).await.0, 200);
        assert_eq!(
            app.get_bearer("/users", &token).await.status(),
            200,
            "{db:?}"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn deleting_a_role_in_use_needs_force_and_removes_it_from_its_users() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let admin = app.admin_token().await;
        let (s, _, _) = call(
            app.client
                .put(app.at("/roles/auditor"))
                .bearer_auth(&admin)
                .json(&json!({"permissions": ["users:read"]})),
        )
        .await;
        assert_eq!(s, 201);
        let (name, pw, id) = app.user_with_roles("erin", &["auditor", "user"]).await;
        assert_eq!(
            call(
                app.client
                    .get(app.at("/users"))
                    .basic_auth(&name, Some(&pw))
            )
            .await
            .0,
            200
        );

        let url = app.at("/roles/auditor");
        let got = call(app.client.delete(&url).bearer_auth(&admin)).await;
        assert_problem(&format!("{db:?}"), &got, 409, "role_in_use", None);
        let got = call(
            app.client
                .delete(app.at("/roles/auditor?force=false"))
                .bearer_auth(&admin),
        )
        .await;
        assert_problem(
            &format!("{db:?} force=false"),
            &got,
            409,
            "role_in_use",
            None,
        );
        let (s, _, _) = call(app.client.get(&url).bearer_auth(&admin)).await;
        assert_eq!(s, 200, "{db:?}: still there");

        let (s, _, body) = call(
            app.client
                .delete(app.at("/roles/auditor?force=true"))
                .bearer_auth(&admin),
        )
        .await;
        assert_eq!(s, 204, "{db:?}: {body}");
        let got = call(app.client.get(&url).bearer_auth(&admin)).await;
        assert_problem(&format!("{db:?} gone"), &got, 404, "not_found", None);
        let (s, _, u) = call(
            app.client
                .get(app.at(&format!("/users/{id}")))
                .bearer_auth(&admin),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(u["roles"], json!(["user"]), "{db:?}");
        assert_eq!(
            call(
                app.client
                    .get(app.at("/users"))
                    .basic_auth(&name, Some(&pw))
            )
            .await
            .0,
            403,
            "{db:?}: the permission went with the role"
        );
        // Deleting an unused role needs no force; an unknown one is 404.
        assert_eq!(
            call(
                app.client
                    .put(app.at("/roles/spare"))
                    .bearer_auth(&admin)
                    .json(&json!({"permissions": []}))
            )
            .await
            .0,
            201
        );
        assert_eq!(
            call(
                app.client
                    .delete(app.at("/roles/spare"))
                    .bearer_auth(&admin)
            )
            .await
            .0,
            204
        );
        let got = call(
            app.client
                .delete(app.at("/roles/spare"))
                .bearer_auth(&admin),
        )
        .await;
        assert_problem(&format!("{db:?} unknown"), &got, 404, "not_found", None);
        app.stop().await;
    }
}

#[tokio::test]
async fn the_admin_role_is_protected_and_unknown_roles_are_404() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let admin = app.admin_token().await;
        let got = call(
            app.client
                .delete(app.at("/roles/admin"))
                .bearer_auth(&admin),
        )
        .await;
        assert_problem(
            &format!("{db:?} delete admin"),
            &got,
            409,
            "builtin_role",
            None,
        );
        let got = call(
            app.client
                .delete(app.at("/roles/admin?force=true"))
                .bearer_auth(&admin),
        )
        .await;
        assert_problem(
            &format!("{db:?} delete admin forced"),
            &got,
            409,
            "builtin_role",
            None,
        );
        let got = call(
            app.client
                .put(app.at("/roles/admin"))
                .bearer_auth(&admin)
                .json(&json!({"permissions": ["users:read", "users:write", "roles:read", "roles:write"]})),
        )
        .await;
        assert_problem(
            &format!("{db:?} admin without *"),
            &got,
            409,
            "builtin_role",
            None,
        );
        let got = call(app.client.get(app.at("/roles/nope")).bearer_auth(&admin)).await;
        assert_problem(&format!("{db:?} nope"), &got, 404, "not_found", None);

        let (s, _, r) = call(app.client.get(app.at("/roles/admin")).bearer_auth(&admin)).await;
        assert_eq!(s, 200);
        assert_eq!(r["permissions"], json!(["*"]), "{db:?}");
        // Keeping "*" and adding more is allowed.
        let (s, _, r) = call(
            app.client
                .put(app.at("/roles/admin"))
                .bearer_auth(&admin)
                .json(&json!({"permissions": ["*", "users:read"]})),
        )
        .await;
        assert_eq!(s, 200, "{db:?}: {r}");
        assert_eq!(app.get_bearer("/admin-only", &admin).await.status(), 200);
        app.stop().await;
    }
}
