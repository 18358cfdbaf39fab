//! Who may revoke (RFC 7009 §2.1): a client only with its secret, by Basic or by form; an owner
//! only with a credential the server accepts (the `auth.*` switches hold here too). A refused
//! revocation revokes nothing.

use serde_json::json;

use super::status_and_body;
use crate::lifecycle::me;
use crate::support::{Db, TestApp, basic};

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
            assert!(me(&app, &t).await == 200, "{what}: nothing revoked");
        }
        // An API key (as a Basic password, as everywhere else) proves the owner.
        let (st, _) = revoke(Some(basic("any", &key)), &t).await;
        assert_eq!(st, 200, "basic {basic_on}");
        assert!(me(&app, &t).await != 200, "revoked with an API key");
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
        assert!(me(&app, &t2).await != 200, "revoked with X-API-Key");
        app.stop().await;
    }
}
