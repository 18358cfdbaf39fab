//! The password grant and what it issues.

use serde_json::Value;

use crate::support::{ADMIN, ADMIN_PASSWORD, BOTH, TestApp, jwt_part};

#[tokio::test]
async fn password_grant_issues_a_jwt_that_works_on_both_databases() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let r = app.token_response(ADMIN, ADMIN_PASSWORD, None).await;
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("no-store")
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 900);
        assert_eq!(body["scope"], "*");
        let me = app
            .get_bearer("/users/me", body["access_token"].as_str().unwrap())
            .await;
        assert_eq!(me.status(), 200, "{db:?}");
        assert_eq!(me.json::<Value>().await.unwrap()["username"], ADMIN);
        app.stop().await;
    }
}

/// Access tokens are RFC 9068 JWTs (`typ: at+jwt`) carrying the claims a resource server needs to
/// decide on its own: `auth_time`, `client_id`, `username`, and the roles and permissions
/// effective at issue, already narrowed by the scope.
#[tokio::test]
async fn access_tokens_carry_the_contract_claims() {
    let app = TestApp::spawn().await;
    let (name, pw, id) = app.user_with_roles("claimant", &["user"]).await;
    let token = app.token(&name, &pw).await;
    assert_eq!(jwt_part(&token, 0)["typ"], "at+jwt");
    let c = jwt_part(&token, 1);
    for k in [
        "iss",
        "sub",
        "aud",
        "exp",
        "nbf",
        "iat",
        "jti",
        "auth_time",
        "client_id",
        "scope",
        "username",
        "roles",
        "permissions",
        "gen",
    ] {
        assert!(!c[k].is_null(), "claim {k} missing: {c}");
    }
    assert_eq!(c["sub"], id.as_str());
    assert_eq!(c["username"], name.as_str());
    assert_eq!(c["client_id"], "swagger");
    assert_eq!(c["scope"], "*");
    assert_eq!(c["auth_time"], c["iat"]);
    assert_eq!(c["roles"], serde_json::json!(["user"]));
    assert_eq!(
        c["permissions"],
        serde_json::json!(["items:read", "items:write"])
    );

    // Narrowed: only what the scope holds, roles only through role:NAME.
    let narrow = app.scoped_token(&name, &pw, Some("items:read")).await;
    let c = jwt_part(&narrow, 1);
    assert_eq!(c["scope"], "items:read");
    assert_eq!(c["roles"], serde_json::json!([]));
    assert_eq!(c["permissions"], serde_json::json!(["items:read"]));
    let with_role = app
        .scoped_token(&name, &pw, Some("items:read items:write role:user"))
        .await;
    let c = jwt_part(&with_role, 1);
    assert_eq!(c["roles"], serde_json::json!(["user"]));
    assert_eq!(
        c["permissions"],
        serde_json::json!(["items:read", "items:write"])
    );
    app.stop().await;
}

/// Scopes narrow roles: a narrowed token passes a role requirement only with `role:NAME` in its
/// scope, and a user may ask for `role:NAME` only for a role they have.
#[tokio::test]
async fn scopes_narrow_roles() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let status = |token: String| {
            let app = &app;
            async move {
                app.get_bearer("/admin-only", &token)
                    .await
                    .status()
                    .as_u16()
            }
        };
        let narrowed = app
            .scoped_token(ADMIN, ADMIN_PASSWORD, Some("items:read"))
            .await;
        let r = app.get_bearer("/admin-only", &narrowed).await;
        assert_eq!(r.status(), 403, "{db:?}");
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains(r#"scope="role:admin""#)
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "insufficient_scope");
        let with_role = app
            .scoped_token(ADMIN, ADMIN_PASSWORD, Some("items:read role:admin"))
            .await;
        assert_eq!(status(with_role).await, 200);
        let all_roles = app
            .scoped_token(ADMIN, ADMIN_PASSWORD, Some("role:*"))
            .await;
        assert_eq!(status(all_roles).await, 200);
        assert_eq!(status(app.admin_token().await).await, 200, "no scope is *");

        let (name, pw, _) = app.user_with_roles("climber", &["user"]).await;
        let r = app.token_response(&name, &pw, Some("role:admin")).await;
        assert_eq!(r.status(), 400);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_scope");
        let t = app.scoped_token(&name, &pw, Some("role:user")).await;
        assert_eq!(app.get_bearer("/user-only", &t).await.status(), 200);
        assert_eq!(
            app.get_bearer("/items", &t).await.status(),
            403,
            "no items:read in it"
        );
        app.stop().await;
    }
}

/// `role:...` is a scope, never a stored permission.
#[tokio::test]
async fn role_scopes_cannot_be_stored_as_permissions() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let r = app
        .client
        .put(app.at("/roles/sneaky"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"permissions": ["role:admin"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(r.json::<Value>().await.unwrap()["field"], "permissions");
    app.stop().await;
}
