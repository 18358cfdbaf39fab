//! Regressions for what the outside security probe found, privilege escalation: through
//! `users:write` / `roles:write` and a scoped admin token (nobody grants what they do not hold).
//! Tokens that outlived a disable or a password change and client authentication at the token
//! endpoint are in `credentials`; the default role, password rules, request ids, `Host` and
//! look-alike emails in `rules`. Each test is an attack that once worked; where the data layer
//! matters it runs on SQLite and PostgreSQL.

mod credentials;
mod rules;

use serde_json::{Value, json};

use crate::support::http::{assert_problem, call};
use crate::support::{ADMIN, ADMIN_PASSWORD, BOTH, TestApp};
use crate::users::admin_id;

/// Registers `name` and, as admin, makes its grants exactly `roles` and `permissions`.
async fn user_with(
    app: &TestApp,
    name: &str,
    roles: &[&str],
    permissions: &[&str],
) -> (String, String) {
    let (_, password, id) = app.user_with_roles(name, &["user"]).await;
    let admin = app.admin_token().await;
    let (s, _, body) = call(
        app.client
            .patch(app.at(&format!("/users/{id}")))
            .bearer_auth(&admin)
            .json(&json!({"roles": roles, "permissions": permissions})),
    )
    .await;
    assert_eq!(s, 200, "set grants of {name}: {body}");
    (password, id)
}

/// `PATCH /users/{id}` with `body`, as the holder of `token`.
pub(crate) fn patch_user(
    app: &TestApp,
    token: &str,
    id: &str,
    body: Value,
) -> reqwest::RequestBuilder {
    app.client
        .patch(app.at(&format!("/users/{id}")))
        .bearer_auth(token)
        .json(&body)
}

/// A holder of `users:write` alone can neither make itself admin, nor touch the admin (password,
/// disable, delete), nor give permissions it lacks; refusals are 403 `cannot_grant`, decided
/// before the last-admin 409, and change nothing.
#[tokio::test]
async fn users_write_cannot_escalate_or_touch_an_admin() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let (pw, id) = user_with(&app, "mallory", &[], &["users:write", "users:read"]).await;
        let t = app.token("mallory", &pw).await;
        let admin = admin_id(&app, &app.admin_token().await).await;

        let got = call(patch_user(&app, &t, &id, json!({"roles": ["admin"]}))).await;
        assert_problem("make itself admin", &got, 403, "cannot_grant", None);
        assert_eq!(got.2["missing"], "*", "{db:?}");
        let got = call(patch_user(
            &app,
            &t,
            &id,
            json!({"permissions": ["users:write", "*"]}),
        ))
        .await;
        assert_problem("give itself *", &got, 403, "cannot_grant", None);
        let got = call(patch_user(
            &app,
            &t,
            &admin,
            json!({"password": "Mallory-owns-you-now-7"}),
        ))
        .await;
        assert_problem("set the admin's password", &got, 403, "cannot_grant", None);
        // The last enabled admin: 403 (the caller may not touch it), not 409.
        let got = call(patch_user(&app, &t, &admin, json!({"disabled": true}))).await;
        assert_problem("disable the last admin", &got, 403, "cannot_grant", None);
        let got = call(
            app.client
                .delete(app.at(&format!("/users/{admin}")))
                .bearer_auth(&t),
        )
        .await;
        assert_problem("delete the admin", &got, 403, "cannot_grant", None);

        // Nothing changed: the admin logs in with the old password, mallory is no admin.
        app.admin_token().await;
        let (_, _, me) = call(app.client.get(app.at("/users/me")).bearer_auth(&t)).await;
        assert_eq!(me["roles"], json!([]), "{db:?}: {me}");
        assert_eq!(
            me["permissions"],
            json!(["users:read", "users:write"]),
            "{db:?}: {me}"
        );

        // What mallory holds, it may give, to a user holding no more than mallory.
        let (_, victim) = user_with(&app, "victim", &[], &[]).await;
        let (s, _, body) = call(patch_user(
            &app,
            &t,
            &victim,
            json!({"permissions": ["users:read"]}),
        ))
        .await;
        assert_eq!(s, 200, "{db:?}: {body}");
        let got = call(patch_user(&app, &t, &victim, json!({"roles": ["guest"]}))).await;
        assert_problem(
            "a role with items:read, which mallory lacks",
            &got,
            403,
            "cannot_grant",
            None,
        );
        assert_eq!(got.2["missing"], "items:read");
        // A plain `user` holds items:read and items:write, which mallory does not: hands off.
        let (_, _, plain) = app.user_with_roles("plainuser", &["user"]).await;
        let got = call(patch_user(
            &app,
            &t,
            &plain,
            json!({"full_name": "Renamed"}),
        ))
        .await;
        assert_problem("touch a user holding more", &got, 403, "cannot_grant", None);
        app.stop().await;
    }
}

/// An admin's token narrowed by scope holds only what the scope covers: it cannot make admins.
#[tokio::test]
async fn a_scoped_admin_token_grants_only_within_its_scope() {
    let app = TestApp::spawn().await;
    let t = app
        .scoped_token(ADMIN, ADMIN_PASSWORD, Some("users:write users:read"))
        .await;
    let (_, _, id) = app.user_with_roles("promoted", &["user"]).await;
    let got = call(patch_user(&app, &t, &id, json!({"roles": ["admin"]}))).await;
    assert_problem(
        "scoped admin makes an admin",
        &got,
        403,
        "cannot_grant",
        None,
    );
    // Nor touch the admin it belongs to through /users/{id}: it does not hold `*`.
    let me = admin_id(&app, &app.admin_token().await).await;
    let got = call(patch_user(&app, &t, &me, json!({"disabled": true}))).await;
    assert_problem(
        "scoped admin disables itself",
        &got,
        403,
        "cannot_grant",
        None,
    );
    let got = call(
        app.client
            .delete(app.at(&format!("/users/{me}")))
            .bearer_auth(&t),
    )
    .await;
    assert_problem(
        "scoped admin deletes itself",
        &got,
        403,
        "cannot_grant",
        None,
    );
    // Its own profile through /users/me stays open to any credential.
    let (s, _, _) = call(
        app.client
            .patch(app.at("/users/me"))
            .bearer_auth(&t)
            .json(&json!({"full_name": "Still Admin"})),
    )
    .await;
    assert_eq!(s, 200);
    let full = app.admin_token().await;
    let (s, _, _) = call(patch_user(&app, &full, &id, json!({"roles": ["admin"]}))).await;
    assert_eq!(s, 200, "the unscoped admin token may");
    app.stop().await;
}

/// A `roles:write` holder cannot put `*` (or anything it lacks) into a role, nor replace or delete
/// a role granting more than it holds; roles within its own rights it manages freely.
#[tokio::test]
async fn roles_write_cannot_put_what_it_does_not_hold() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let (pw, _) = user_with(
            &app,
            "roler",
            &[],
            &["roles:write", "roles:read", "items:read"],
        )
        .await;
        let t = app.token("roler", &pw).await;
        let put = |name: &str, perms: Value| {
            app.client
                .put(app.at(&format!("/roles/{name}")))
                .bearer_auth(&t)
                .json(&json!({ "permissions": perms }))
        };
        let got = call(put("sneaky", json!(["*"]))).await;
        assert_problem("a role with *", &got, 403, "cannot_grant", None);
        let got = call(put("sneaky", json!(["items:read", "users:write"]))).await;
        assert_problem("a role with users:write", &got, 403, "cannot_grant", None);
        assert_eq!(got.2["missing"], "users:write");
        // `user` holds items:write, which roler lacks: it may not narrow it either.
        let got = call(put("user", json!(["items:read"]))).await;
        assert_problem("replace a wider role", &got, 403, "cannot_grant", None);
        let got = call(
            app.client
                .delete(app.at("/roles/moderator"))
                .bearer_auth(&t),
        )
        .await;
        assert_problem("delete a wider role", &got, 403, "cannot_grant", None);
        let (s, _, _) = call(put("reader", json!(["items:read"]))).await;
        assert_eq!(s, 201, "{db:?}");
        let (s, _, _) = call(put("reader", json!(["roles:read", "items:read"]))).await;
        assert_eq!(s, 200, "{db:?}");
        let (s, _, _) = call(app.client.delete(app.at("/roles/reader")).bearer_auth(&t)).await;
        assert_eq!(s, 204, "{db:?}");
        // Nothing it was refused exists.
        let admin = app.admin_token().await;
        let (s, _, _) = call(app.client.get(app.at("/roles/sneaky")).bearer_auth(&admin)).await;
        assert_eq!(s, 404);
        let (_, _, user) = call(app.client.get(app.at("/roles/user")).bearer_auth(&admin)).await;
        assert_eq!(user["permissions"], json!(["items:read", "items:write"]));
        app.stop().await;
    }
}
