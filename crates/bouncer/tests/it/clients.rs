//! Machine clients: registration (secret shown once), the client-credentials grant, introspection
//! (RFC 7662) for clients holding `tokens:introspect`, the first-party rule for the password grant,
//! the grant rule for scopes, and deletion killing the client's tokens.

use serde_json::{Value, json};

use crate::support::{ADMIN, ADMIN_PASSWORD, BOTH, TestApp, basic, jwt_part};

/// Registers a client as `token`'s holder; returns (status, body).
async fn create(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
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

async fn form(
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

fn id_secret(v: &Value) -> (String, String) {
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

/// Introspection: only clients holding `tokens:introspect`; access and refresh tokens are active
/// exactly while they work; anything else is `{"active": false}`.
#[tokio::test]
async fn introspection_for_clients_with_tokens_introspect() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let admin = app.admin_token().await;
        let (_, rs) = create(
            &app,
            &admin,
            json!({"name": "gateway", "scopes": ["tokens:introspect"]}),
        )
        .await;
        let (rs_id, rs_secret) = id_secret(&rs);
        let (_, other) = create(
            &app,
            &admin,
            json!({"name": "plain", "scopes": ["items:read"]}),
        )
        .await;
        let (o_id, o_secret) = id_secret(&other);
        let gateway = basic(&rs_id, &rs_secret);

        let (name, pw, id) = app.user_with_roles("inspected", &["user"]).await;
        let r = app.token_response(&name, &pw, Some("items:read")).await;
        let t: Value = r.json().await.unwrap();
        let access = t["access_token"].as_str().unwrap();
        let refresh = t["refresh_token"].as_str().unwrap();

        let (st, i) = form(
            &app,
            "/oauth2/introspect",
            Some(&gateway),
            &[("token", access)],
        )
        .await;
        assert_eq!(st, 200, "{db:?}: {i}");
        assert_eq!(i["active"], true);
        assert_eq!(i["sub"], id.as_str());
        assert_eq!(i["username"], name.as_str());
        assert_eq!(i["scope"], "items:read");
        assert_eq!(i["client_id"], "swagger");
        assert_eq!(i["token_type"], "access_token");
        assert!(i["exp"].as_i64().unwrap() > i["iat"].as_i64().unwrap());
        let (_, i) = form(
            &app,
            "/oauth2/introspect",
            None,
            &[
                ("token", refresh),
                ("client_id", &rs_id),
                ("client_secret", &rs_secret),
            ],
        )
        .await;
        assert_eq!(i["active"], true, "{i}");
        assert_eq!(i["token_type"], "refresh_token");

        // Not for users (even the admin), nor for clients without tokens:introspect.
        let (st, body) = form(
            &app,
            "/oauth2/introspect",
            Some(&format!("Bearer {admin}")),
            &[("token", access)],
        )
        .await;
        assert_eq!((st, body["error"].as_str()), (401, Some("invalid_client")));
        let (st, _) = form(
            &app,
            "/oauth2/introspect",
            Some(&basic(ADMIN, ADMIN_PASSWORD)),
            &[("token", access)],
        )
        .await;
        assert_eq!(st, 401);
        let (st, _) = form(
            &app,
            "/oauth2/introspect",
            Some(&basic(&o_id, &o_secret)),
            &[("token", access)],
        )
        .await;
        assert_eq!(st, 401);

        // Inactive: garbage, a revoked token, a used refresh token, a disabled user's token.
        for junk in ["garbage", "bnr_nothing", "eyJhbGciOiJub25lIn0.e30."] {
            let (_, i) = form(
                &app,
                "/oauth2/introspect",
                Some(&gateway),
                &[("token", junk)],
            )
            .await;
            assert_eq!(i, json!({"active": false}), "{junk}");
        }
        let (st, _) = form(
            &app,
            "/oauth2/token",
            None,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
        assert_eq!(st, 200);
        let (_, i) = form(
            &app,
            "/oauth2/introspect",
            Some(&gateway),
            &[("token", refresh)],
        )
        .await;
        assert_eq!(i["active"], false, "a rotated refresh token");
        let r = app
            .client
            .patch(app.at(&format!("/users/{id}")))
            .bearer_auth(&admin)
            .json(&json!({"disabled": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let (_, i) = form(
            &app,
            "/oauth2/introspect",
            Some(&gateway),
            &[("token", access)],
        )
        .await;
        assert_eq!(i["active"], false, "a disabled user's token");
        app.stop().await;
    }
}

/// The password grant is for first-party clients only (the built-in swagger client, or one an
/// admin marked so); a refresh token works only for the client it was issued to; a client revokes
/// tokens issued to it.
#[tokio::test]
async fn first_party_clients_refresh_only_their_own_tokens() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, third) = create(
        &app,
        &admin,
        json!({"name": "third-party", "scopes": ["items:read"]}),
    )
    .await;
    let (t_id, t_secret) = id_secret(&third);
    let (_, first) = create(
        &app,
        &admin,
        json!({"name": "web", "scopes": [], "first_party": true}),
    )
    .await;
    let (f_id, f_secret) = id_secret(&first);
    let (name, pw, _) = app.user_with_roles("webuser", &["user"]).await;
    let grant = [
        ("grant_type", "password"),
        ("username", name.as_str()),
        ("password", pw.as_str()),
    ];

    let (st, body) = form(
        &app,
        "/oauth2/token",
        Some(&basic(&t_id, &t_secret)),
        &grant,
    )
    .await;
    assert_eq!(
        (st, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let (st, t) = form(
        &app,
        "/oauth2/token",
        Some(&basic(&f_id, &f_secret)),
        &grant,
    )
    .await;
    assert_eq!(st, 200, "{t}");
    let refresh = t["refresh_token"].as_str().unwrap();
    let (st, _) = form(
        &app,
        "/oauth2/token",
        None,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(st, 400, "the swagger client cannot use web's refresh token");
    let (st, t2) = form(
        &app,
        "/oauth2/token",
        Some(&basic(&f_id, &f_secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(st, 200, "{t2}");

    // The client revokes what was issued to it; another client's attempt changes nothing.
    let refresh2 = t2["refresh_token"].as_str().unwrap();
    let (st, _) = form(
        &app,
        "/oauth2/revoke",
        Some(&basic(&t_id, &t_secret)),
        &[("token", refresh2)],
    )
    .await;
    assert_eq!(st, 200);
    let (st, _) = form(&app, "/oauth2/introspect", None, &[]).await;
    assert_eq!(st, 400, "no token: invalid_request");
    assert_eq!(
        app.get_bearer("/users/me", t2["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
    let (st, _) = form(
        &app,
        "/oauth2/revoke",
        Some(&basic(&f_id, &f_secret)),
        &[("token", refresh2)],
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(
        app.get_bearer("/users/me", t2["access_token"].as_str().unwrap())
            .await
            .status(),
        401
    );
    app.stop().await;
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
