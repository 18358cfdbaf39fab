//! Refusal paths of the token-lifecycle and credential work that no other test reached: each
//! 400/401/403/422 the code can give, hit once.
//!
//! Here: clients, API keys and sessions, the token and revocation endpoints' malformed requests,
//! and a weak admin password at the first start. Who may revoke (a client by its secret, an owner
//! by a credential the server accepts) is in `revocation`.

mod revocation;

use serde_json::{Value, json};

use crate::support::{ADMIN, ADMIN_PASSWORD, Db, TestApp};

async fn status_and_body(r: reqwest::RequestBuilder) -> (u16, Value) {
    let r = r.send().await.unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

/// Gives `name` exactly these direct permissions (and no role); returns a token.
async fn holder_of(app: &TestApp, name: &str, permissions: &[&str]) -> String {
    let (_, pw, id) = app.user_with_roles(name, &["user"]).await;
    let admin = app.admin_token().await;
    let (st, _) = status_and_body(
        app.client
            .patch(app.at(&format!("/users/{id}")))
            .bearer_auth(&admin)
            .json(&json!({"roles": [], "permissions": permissions})),
    )
    .await;
    assert_eq!(st, 200);
    app.token(name, &pw).await
}

#[tokio::test]
async fn clients_refusals() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, wide) = status_and_body(
        app.client
            .post(app.at("/clients"))
            .bearer_auth(&admin)
            .json(&json!({"name": "wide", "scopes": ["users:read"]})),
    )
    .await;
    let mgr = holder_of(&app, "narrowmgr", &["clients:write"]).await;
    // Deleting a client whose scopes the caller lacks.
    let (st, body) = status_and_body(
        app.client
            .delete(app.at(&format!("/clients/{}", wide["client_id"].as_str().unwrap())))
            .bearer_auth(&mgr),
    )
    .await;
    assert_eq!((st, body["code"].as_str()), (403, Some("cannot_grant")));
    // A scope that is not a permission.
    let (st, body) = status_and_body(
        app.client
            .post(app.at("/clients"))
            .bearer_auth(&admin)
            .json(&json!({"name": "x", "scopes": ["not a scope"]})),
    )
    .await;
    assert_eq!((st, body["field"].as_str()), (422, Some("scopes")));
    // A client is not a user: no items of its own.
    let (_, c) = status_and_body(
        app.client
            .post(app.at("/clients"))
            .bearer_auth(&admin)
            .json(&json!({"name": "writer", "scopes": ["items:write"]})),
    )
    .await;
    let (_, t) = status_and_body(
        app.client
            .post(app.at("/oauth2/token"))
            .basic_auth(
                c["client_id"].as_str().unwrap(),
                c["client_secret"].as_str(),
            )
            .form(&[("grant_type", "client_credentials")]),
    )
    .await;
    let (st, body) = status_and_body(
        app.client
            .post(app.at("/items"))
            .bearer_auth(t["access_token"].as_str().unwrap())
            .json(&json!({"name": "x"})),
    )
    .await;
    assert_eq!((st, body["code"].as_str()), (403, Some("not_a_user")));
    app.stop().await;
}

#[tokio::test]
async fn api_key_and_session_refusals() {
    let app = TestApp::spawn().await;
    let admin_id = {
        let admin = app.admin_token().await;
        let (_, me) =
            status_and_body(app.client.get(app.at("/users/me")).bearer_auth(&admin)).await;
        me["id"].as_str().unwrap().to_owned()
    };
    // users:write alone does not reach an admin's keys.
    let writer = holder_of(&app, "keywriter", &["users:write"]).await;
    let path = format!("/users/{admin_id}/api-keys");
    for req in [
        app.client.get(app.at(&path)),
        app.client.post(app.at(&path)).json(&json!({"name": "x"})),
        app.client
            .delete(app.at(&format!("{path}/{}", uuid::Uuid::now_v7()))),
    ] {
        let (st, body) = status_and_body(req.bearer_auth(&writer)).await;
        assert_eq!(
            (st, body["code"].as_str()),
            (403, Some("cannot_grant")),
            "{body}"
        );
    }
    // A roll's overlap is bounded.
    let (name, pw, _) = app.user_with_roles("overlapper", &["user"]).await;
    let t = app.token(&name, &pw).await;
    let (_, k) = status_and_body(
        app.client
            .post(app.at("/users/me/api-keys"))
            .bearer_auth(&t)
            .json(&json!({"name": "k"})),
    )
    .await;
    let (st, body) = status_and_body(
        app.client
            .post(app.at(&format!(
                "/users/me/api-keys/{}/roll",
                k["id"].as_str().unwrap()
            )))
            .bearer_auth(&t)
            .json(&json!({"overlap_s": 30 * 86_400 + 1})),
    )
    .await;
    assert_eq!((st, body["field"].as_str()), (422, Some("overlap_s")));
    // Logging out needs a session: a bearer token has none to end.
    let (st, body) = status_and_body(app.client.post(app.at("/auth/logout")).bearer_auth(&t)).await;
    assert_eq!((st, body["field"].as_str()), (422, Some("credential")));
    app.stop().await;

    // With auth.api_keys off, keys are no credential at all (and introspect as inactive).
    let app = TestApp::spawn_with(Db::Sqlite, |c| c.auth.api_keys = false)
        .await
        .unwrap();
    let (name, pw, _) = app.user_with_roles("nokeys", &["user"]).await;
    let t = app.token(&name, &pw).await;
    let (st, k) = status_and_body(
        app.client
            .post(app.at("/users/me/api-keys"))
            .bearer_auth(&t)
            .json(&json!({"name": "k"})),
    )
    .await;
    assert_eq!(st, 201);
    let key = k["key"].as_str().unwrap();
    let (st, _) =
        status_and_body(app.client.get(app.at("/users/me")).header("x-api-key", key)).await;
    assert_eq!(st, 401);
    let (st, _) = status_and_body(
        app.client
            .get(app.at("/users/me"))
            .basic_auth("x", Some(key)),
    )
    .await;
    assert_eq!(st, 401, "as a Basic password it is just a wrong password");
    app.stop().await;
}

#[tokio::test]
async fn token_endpoint_and_revocation_refusals() {
    let app = TestApp::spawn().await;
    let form = [
        ("grant_type", "password"),
        ("username", ADMIN),
        ("password", ADMIN_PASSWORD),
    ];
    // Two Authorization headers, and two client authentication methods at once.
    let (st, body) = status_and_body(
        app.client
            .post(app.at("/oauth2/token"))
            .header("authorization", "Basic c3dhZ2dlcjo=")
            .header("authorization", "Basic c3dhZ2dlcjo=")
            .form(&form),
    )
    .await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_request")));
    let mut with_secret = form.to_vec();
    with_secret.push(("client_secret", "x"));
    let (st, body) = status_and_body(
        app.client
            .post(app.at("/oauth2/token"))
            .basic_auth("swagger", Some(""))
            .form(&with_secret),
    )
    .await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_request")));
    let (st, body) = status_and_body(
        app.client
            .post(app.at("/oauth2/token"))
            .form(&[("grant_type", "refresh_token")]),
    )
    .await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_request")));
    // Revocation: no token, two Authorization headers, an unknown scheme.
    let t = app.admin_token().await;
    let (st, body) = status_and_body(
        app.client
            .post(app.at("/oauth2/revoke"))
            .bearer_auth(&t)
            .form(&[("token_type_hint", "access_token")]),
    )
    .await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_request")));
    let (st, _) = status_and_body(
        app.client
            .post(app.at("/oauth2/revoke"))
            .header("authorization", format!("Bearer {t}"))
            .header("authorization", format!("Bearer {t}"))
            .form(&[("token", t.as_str())]),
    )
    .await;
    assert_eq!(st, 400);
    let (st, body) = status_and_body(
        app.client
            .post(app.at("/oauth2/revoke"))
            .header("authorization", "Negotiate abc")
            .form(&[("token", t.as_str())]),
    )
    .await;
    assert_eq!((st, body["error"].as_str()), (401, Some("invalid_client")));
    assert_eq!(
        app.get_bearer("/users/me", &t).await.status(),
        200,
        "nothing revoked"
    );
    app.stop().await;
}

/// A weak `BOUNCER_ADMIN_PASSWORD` stops the first start, naming the setting, never the value.
#[tokio::test]
async fn a_weak_admin_password_stops_the_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = crate::support::test_config(Db::Sqlite, &dir).unwrap();
    c.admin.password = "password1".into();
    let err = bouncer::app::Server::bind(
        c,
        std::sync::Arc::new(bouncer_core::clock::ManualClock::default()),
    )
    .await
    .err()
    .expect("refused")
    .to_string();
    assert!(
        err.contains("admin.password") && !err.contains("password1"),
        "{err}"
    );
}
