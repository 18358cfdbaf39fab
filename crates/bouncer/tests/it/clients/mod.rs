//! Machine clients: registration (secret shown once), the client-credentials grant, the grant rule
//! for scopes, and deletion killing the client's tokens. Introspection (RFC 7662) for clients
//! holding `tokens:introspect` is in `introspection`, the first-party rule for the password grant
//! in `first_party`.

mod first_party;
mod introspection;

use serde_json::{Value, json};

use crate::support::{ADMIN, ADMIN_PASSWORD, BOTH, TestApp, basic, jwt_part};

/// Registers a client as `token`'s holder; returns (status, body).
pub(crate) async fn create(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    let r = app
        .client
        .post(app.at("/clients"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    if st == 201 {
        assert!(
            r.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("no-store")
        );
    }
    (st, r.json().await.unwrap())
}

/// `POST path` with `form` (and `auth` as the `Authorization` header); status and JSON body.
pub(crate) async fn form(
    app: &TestApp,
    path: &str,
    auth: Option<&str>,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let mut rb = app.client.post(app.at(path)).form(form);
    if let Some(a) = auth {
        rb = rb.header("authorization", a);
    }
    let r = rb.send().await.unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

/// The `client_id` and `client_secret` of a registration's answer.
pub(crate) fn id_secret(v: &Value) -> (String, String) {
    (
        v["client_id"].as_str().unwrap().to_owned(),
        v["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// A client gets tokens for itself, at most its scopes; its tokens name it as `sub`; it is not a
/// user; wrong secrets and wider scopes are refused.
#[tokio::test]
async fn client_credentials_grant_issues_tokens_for_the_client_itself() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let admin = app.admin_token().await;
        let (st, created) = create(
            &app,
            &admin,
            json!({"name": "reporter", "scopes": ["items:read"]}),
        )
        .await;
        assert_eq!(st, 201, "{db:?}: {created}");
        let (id, secret) = id_secret(&created);
        assert!(id.starts_with("cl_") && secret.starts_with("bns_"));
        let listing = app
            .client
            .get(app.at("/clients"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            listing.contains(&id) && !listing.contains(&secret),
            "{listing}"
        );

        let (st, t) = form(
            &app,
            "/oauth2/token",
            Some(&basic(&id, &secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
        assert_eq!(st, 200, "{t}");
        assert!(
            t.get("refresh_token").is_none(),
            "no refresh token for a client"
        );
        assert_eq!(t["scope"], "items:read");
        let access = t["access_token"].as_str().unwrap();
        let c = jwt_part(access, 1);
        assert_eq!(c["sub"], id.as_str());
        assert_eq!(c["client_id"], id.as_str());
        assert_eq!(app.get_bearer("/items", access).await.status(), 200);
        let r = app
            .client
            .post(app.at("/items"))
            .bearer_auth(access)
            .json(&json!({"name": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "items:write is not the client's");
        let r = app.get_bearer("/users/me", access).await;
        assert_eq!(r.status(), 403);
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "not_a_user");

        // client_secret_post works too; a wrong secret, an unknown client or a wider scope do not.
        let (st, _) = form(
            &app,
            "/oauth2/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
            ],
        )
        .await;
        assert_eq!(st, 200);
        let (st, body) = form(
            &app,
            "/oauth2/token",
            Some(&basic(&id, "bns_wrong")),
            &[("grant_type", "client_credentials")],
        )
        .await;
        assert_eq!((st, body["error"].as_str()), (401, Some("invalid_client")));
        let (st, body) = form(
            &app,
            "/oauth2/token",
            None,
            &[("grant_type", "client_credentials"), ("client_id", &id)],
        )
        .await;
        assert_eq!(
            (st, body["error"].as_str()),
            (401, Some("invalid_client")),
            "no secret"
        );
        let (st, body) = form(
            &app,
            "/oauth2/token",
            Some(&basic(&id, &secret)),
            &[
                ("grant_type", "client_credentials"),
                ("scope", "items:write"),
            ],
        )
        .await;
        assert_eq!((st, body["error"].as_str()), (400, Some("invalid_scope")));
        // The public swagger client has no client-credentials grant.
        let (st, body) = form(
            &app,
            "/oauth2/token",
            Some(&basic("swagger", "")),
            &[("grant_type", "client_credentials")],
        )
        .await;
        assert_eq!(
            (st, body["error"].as_str()),
            (400, Some("unauthorized_client"))
        );
        app.stop().await;
    }
}

/// Nobody grants what they do not hold: a `clients:write` holder gives a client only scopes it
/// holds, and cannot make it first-party; deleting a client kills its tokens and its logins.
#[tokio::test]
async fn client_grants_are_bounded_and_deletion_kills_tokens() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let admin = app.admin_token().await;
        let (_, _, uid) = app.user_with_roles("clientmgr", &["user"]).await;
        let r = app
            .client
            .patch(app.at(&format!("/users/{uid}")))
            .bearer_auth(&admin)
            .json(&json!({"permissions": ["clients:write"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let mgr = app.token("clientmgr", "Pw-clientmgr-123456").await;
        let (st, body) = create(&app, &mgr, json!({"name": "x", "scopes": ["users:read"]})).await;
        assert_eq!(
            (st, body["code"].as_str()),
            (403, Some("cannot_grant")),
            "{db:?}"
        );
        let (st, body) = create(
            &app,
            &mgr,
            json!({"name": "x", "scopes": ["items:read"], "first_party": true}),
        )
        .await;
        assert_eq!((st, body["code"].as_str()), (403, Some("cannot_grant")));
        let (st, body) = create(&app, &mgr, json!({"name": "", "scopes": []})).await;
        assert_eq!((st, body["field"].as_str()), (422, Some("name")));
        let (st, ok) = create(
            &app,
            &mgr,
            json!({"name": "reader", "scopes": ["items:read"]}),
        )
        .await;
        assert_eq!(st, 201);
        let (id, secret) = id_secret(&ok);

        // A first-party client's login and a client token, both killed by the deletion.
        let (_, web) = create(
            &app,
            &admin,
            json!({"name": "web", "scopes": [], "first_party": true}),
        )
        .await;
        let (w_id, w_secret) = id_secret(&web);
        let (_, login) = form(
            &app,
            "/oauth2/token",
            Some(&basic(&w_id, &w_secret)),
            &[
                ("grant_type", "password"),
                ("username", ADMIN),
                ("password", ADMIN_PASSWORD),
            ],
        )
        .await;
        let (_, ct) = form(
            &app,
            "/oauth2/token",
            Some(&basic(&id, &secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
        let ct = ct["access_token"].as_str().unwrap().to_owned();
        assert_eq!(app.get_bearer("/items", &ct).await.status(), 200);
        // mgr may not delete `web` (it holds nothing mgr lacks... but only admins made it: scopes
        // are empty, so mgr may); it may delete `reader`.
        for (cid, token) in [(id.as_str(), &mgr), (w_id.as_str(), &admin)] {
            let r = app
                .client
                .delete(app.at(&format!("/clients/{cid}")))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 204, "{db:?} delete {cid}");
        }
        assert_eq!(app.get_bearer("/items", &ct).await.status(), 401, "{db:?}");
        assert_eq!(
            app.get_bearer("/users/me", login["access_token"].as_str().unwrap())
                .await
                .status(),
            401
        );
        let (st, _) = form(
            &app,
            "/oauth2/token",
            Some(&basic(&w_id, &w_secret)),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", login["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
        assert_eq!(st, 401, "the client itself is gone");
        let (st, _) = form(
            &app,
            "/oauth2/token",
            Some(&basic(&id, &secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
        assert_eq!(st, 401);
        let r = app
            .client
            .delete(app.at(&format!("/clients/{id}")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        app.stop().await;
    }
}
