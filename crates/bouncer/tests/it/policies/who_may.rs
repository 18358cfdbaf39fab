//! Who may govern policies: putting, listing and deleting them needs the policies permissions,
//! nobody puts (or deletes) a policy on permissions or roles beyond what they hold, only an admin
//! writes one that binds admins, and explaining another user needs `users:read` too.

use serde_json::json;

use super::{put, put_ok};
use crate::support::TestApp;
use crate::support::http::{assert_problem, call};

#[tokio::test]
async fn policies_need_their_permissions_and_nobody_grants_what_they_do_not_hold() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (user, pw, _) = app.user_with_roles("pat", &["user"]).await;
    let t = app.token(&user, &pw).await;
    let doc = json!({"effect": "deny", "permissions": ["items:read"]});
    let r = put(&app, &t, "x", &doc).await;
    assert_problem("user puts", &r, 403, "missing_permission", None);
    let r = call(app.client.get(app.at("/policies")).bearer_auth(&t)).await;
    assert_eq!(r.0, 403);
    // A policy admin who holds only policies:* and items:read may govern items:read, not users:*.
    let r = call(
        app.client
            .put(app.at("/roles/policy-admin"))
            .bearer_auth(&admin)
            .json(&json!({"permissions": ["policies:*", "items:*", "users:read"]})),
    )
    .await;
    assert_eq!(r.0, 201);
    let (pa, papw, _) = app.user_with_roles("polly", &["policy-admin"]).await;
    let pt = app.token(&pa, &papw).await;
    let _ = doc;
    // On permissions it holds, for a role whose every permission it holds: fine.
    let for_users = json!({"effect": "deny", "permissions": ["items:read"], "roles": ["user"]});
    put_ok(&app, &pt, "reads", for_users).await;
    let r = put(
        &app,
        &pt,
        "users",
        &json!({"effect": "deny", "permissions": ["users:write"], "roles": ["user"]}),
    )
    .await;
    assert_problem("a permission beyond its own", &r, 403, "cannot_grant", None);
    // A policy without roles binds admins too, as does one naming `admin`: only an admin writes
    // those (it could otherwise lock the admins out of policies).
    let r = put(
        &app,
        &pt,
        "lockout",
        &json!({"effect": "deny", "permissions": ["policies:write"]}),
    )
    .await;
    assert_problem("binds everyone", &r, 403, "cannot_grant", None);
    let r = put(
        &app,
        &pt,
        "lockout",
        &json!({"effect": "deny", "permissions": ["items:read"], "roles": ["admin"]}),
    )
    .await;
    assert_problem("binds admins", &r, 403, "cannot_grant", None);
    put_ok(
        &app,
        &admin,
        "admins-only",
        json!({"effect": "deny", "permissions": ["items:delete"], "roles": ["admin"]}),
    )
    .await;
    let r = call(
        app.client
            .delete(app.at("/policies/admins-only"))
            .bearer_auth(&pt),
    )
    .await;
    assert_problem("frees admins", &r, 403, "cannot_grant", None);
    // Explaining another user is reading that user: it needs users:read too.
    let explain_as = |who: &'static str| {
        app.client
            .post(app.at("/authz/explain"))
            .bearer_auth(pt.clone())
            .json(&json!({"subject": who, "permission": "items:read"}))
    };
    let r = call(explain_as("admin")).await;
    assert_eq!(r.0, 200, "polly holds users:read: {}", r.2);
    let r = call(
        app.client
            .put(app.at("/roles/policy-admin"))
            .bearer_auth(&admin)
            .json(&json!({"permissions": ["policies:*", "items:*"]})),
    )
    .await;
    assert_eq!(r.0, 200);
    let r = call(explain_as("admin")).await;
    assert_problem("explain someone else", &r, 403, "missing_permission", None);
    assert_eq!(
        call(explain_as("no-such-user")).await.0,
        403,
        "no username oracle"
    );
    let r = call(explain_as("polly")).await;
    assert_eq!(r.0, 200, "oneself: {}", r.2);
    app.stop().await;
}
