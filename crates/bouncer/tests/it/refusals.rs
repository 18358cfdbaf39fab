//! Refusal paths of the token-lifecycle and credential work that no other test reached: each
//! 400/401/403/422 the code can give, hit once.

use serde_json::{Value, json};

use crate::support::{ADMIN, ADMIN_PASSWORD, Db, TestApp, basic};

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

/// RFC 7009 §2.1: a client revoking must authenticate, by Basic or by form, and a wrong secret or
/// the public client naming itself revokes nothing; the right secret, either way, revokes.
#[tokio::test]
async fn revocation_by_a_client_needs_its_secret() {
    let server = TestApp::spawn().await;
    let app = &server;
    let admin = app.admin_token().await;
    let (st, created) = status_and_body(
        app.client
            .post(app.at("/clients"))
            .bearer_auth(&admin)
            .json(&json!({"name": "revoker", "scopes": ["items:read"]})),
    )
    .await;
    assert_eq!(st, 201, "{created}");
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let issue = || async {
        let (st, t) = status_and_body(
            app.client
                .post(app.at("/oauth2/token"))
                .header("authorization", basic(&id, &secret))
                .form(&[("grant_type", "client_credentials")]),
        )
        .await;
        assert_eq!(st, 200, "{t}");
        t["access_token"].as_str().unwrap().to_owned()
    };
    let revoke = |auth: Option<String>, form: Vec<(&'static str, String)>| {
        let mut rb = app.client.post(app.at("/oauth2/revoke")).form(&form);
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        status_and_body(rb)
    };
    let alive = |t: String| async move { app.get_bearer("/items", &t).await.status() == 200 };

    let t = issue().await;
    let tok = || ("token", t.clone());
    let wrong = format!("{secret}x");
    for (what, auth, form) in [
        ("Basic, wrong secret", Some(basic(&id, &wrong)), vec![tok()]),
        (
            "form, wrong secret",
            None,
            vec![
                tok(),
                ("client_id", id.clone()),
                ("client_secret", wrong.clone()),
            ],
        ),
        (
            "form, no secret",
            None,
            vec![tok(), ("client_id", id.clone())],
        ),
        (
            "public client by Basic",
            Some(basic("swagger", "")),
            vec![tok()],
        ),
        (
            "public client by form",
            None,
            vec![tok(), ("client_id", "swagger".into())],
        ),
        ("no authentication", None, vec![tok()]),
    ] {
        let (st, body) = revoke(auth, form).await;
        assert_eq!(
            (st, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{what}"
        );
        assert!(alive(t.clone()).await, "{what}: nothing revoked");
    }
    let (st, _) = revoke(
        None,
        vec![
            tok(),
            ("client_id", id.clone()),
            ("client_secret", secret.clone()),
        ],
    )
    .await;
    assert_eq!(st, 200);
    assert!(!alive(t.clone()).await, "revoked by form");
    let t2 = issue().await;
    let (st, _) = revoke(Some(basic(&id, &secret)), vec![("token", t2.clone())]).await;
    assert_eq!(st, 200);
    assert!(!alive(t2).await, "revoked by Basic");
    server.stop().await;
}

/// RFC 7009 §2.1: an owner revoking proves who they are with any credential the server accepts
/// (and only those: the `auth.*` switches hold here too); a bad one revokes nothing.
#[tokio::test]
async fn revocation_by_an_owner_needs_a_credential_the_server_accepts() {
    for basic_on in [true, false] {
        let app = TestApp::spawn_with(Db::Sqlite, |c| c.auth.basic = basic_on)
            .await
            .unwrap();
        let (name, pw, _) = app.user_with_roles("owner", &["user"]).await;
        let t = app.token(&name, &pw).await;
        let (st, k) = status_and_body(
            app.client
                .post(app.at("/users/me/api-keys"))
                .bearer_auth(&t)
                .json(&json!({"name": "revoker"})),
        )
        .await;
        assert_eq!(st, 201);
        let key = k["key"].as_str().unwrap().to_owned();
        let revoke = |auth: Option<String>, target: &str| {
            let mut rb = app
                .client
                .post(app.at("/oauth2/revoke"))
                .form(&[("token", target)]);
            if let Some(a) = auth {
                rb = rb.header("authorization", a);
            }
            status_and_body(rb)
        };

        let mut refusals = vec![
            (
                "garbage as its own bearer",
                Some("Bearer garbage".to_owned()),
                "garbage",
            ),
            (
                "an invalid bearer",
                Some("Bearer garbage".to_owned()),
                t.as_str(),
            ),
            (
                "a wrong password",
                Some(basic(&name, "wrong-password")),
                t.as_str(),
            ),
        ];
        if !basic_on {
            // With auth.basic off, a user's right password is no credential here either.
            refusals.push(("Basic while off", Some(basic(&name, &pw)), t.as_str()));
        }
        for (what, auth, target) in refusals {
            let (st, body) = revoke(auth, target).await;
            assert_eq!(
                (st, body["error"].as_str()),
                (401, Some("invalid_client")),
                "{what} (basic {basic_on})"
            );
            assert!(works(&app, &t).await, "{what}: nothing revoked");
        }
        // An API key (as a Basic password, as everywhere else) proves the owner.
        let (st, _) = revoke(Some(basic("any", &key)), &t).await;
        assert_eq!(st, 200, "basic {basic_on}");
        assert!(!works(&app, &t).await, "revoked with an API key");
        // So does the X-API-Key header, without any Authorization.
        let t2 = app.token(&name, &pw).await;
        let (st, _) = status_and_body(
            app.client
                .post(app.at("/oauth2/revoke"))
                .header("x-api-key", &key)
                .form(&[("token", t2.as_str())]),
        )
        .await;
        assert_eq!(st, 200);
        assert!(!works(&app, &t2).await, "revoked with X-API-Key");
        app.stop().await;
    }
}

async fn works(app: &TestApp, token: &str) -> bool {
    app.get_bearer("/users/me", token).await.status() == 200
}
