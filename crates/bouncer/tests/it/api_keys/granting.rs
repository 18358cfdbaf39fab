//! API keys, their life: who may make them (nobody grants what they do not hold; keys do not make
//! keys) and bad input when making one, suspension with the owner, expiry, client-IP allowlists,
//! rolling, and revocation.

use bouncer_core::clock::Clock as _;
use serde_json::{Value, json};

use super::{create, with_key};
use crate::support::{BOTH, TestApp};

#[tokio::test]
async fn granting_suspension_expiry_networks_roll_and_revoke() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let admin = app.admin_token().await;
        let (name, pw, id) = app.user_with_roles("granted", &["user"]).await;
        let t = app.token(&name, &pw).await;
        // Beyond the caller's rights: 403; a scoped token cannot mint a `*` key.
        let (st, body) = create(
            &app,
            &t,
            "/users/me/api-keys",
            json!({"name": "x", "scopes": ["users:read"]}),
        )
        .await;
        assert_eq!(
            (st, body["code"].as_str()),
            (403, Some("cannot_grant")),
            "{db:?}"
        );
        let narrow = app.scoped_token(&name, &pw, Some("items:read")).await;
        let (st, _) = create(&app, &narrow, "/users/me/api-keys", json!({"name": "x"})).await;
        assert_eq!(st, 403);
        // An admin making a key for someone: beyond the owner's rights is 422 naming scopes.
        let path = format!("/users/{id}/api-keys");
        let (st, body) = create(
            &app,
            &admin,
            &path,
            json!({"name": "x", "scopes": ["users:read"]}),
        )
        .await;
        assert_eq!((st, body["field"].as_str()), (422, Some("scopes")));
        for (field, body) in [
            ("name", json!({"name": ""})),
            (
                "expires_at",
                json!({"name": "x", "expires_at": "yesterday"}),
            ),
            (
                "expires_at",
                json!({"name": "x", "expires_at": "2000-01-01T00:00:00Z"}),
            ),
            (
                "client_ips",
                json!({"name": "x", "client_ips": ["10.0.0.0/33"]}),
            ),
        ] {
            let (st, b) = create(&app, &t, "/users/me/api-keys", body).await;
            assert_eq!((st, b["field"].as_str()), (422, Some(field)), "{b}");
        }
        let (st, made) = create(
            &app,
            &admin,
            &path,
            json!({"name": "by-admin", "scopes": ["items:read"]}),
        )
        .await;
        assert_eq!(st, 201);
        let key = made["key"].as_str().unwrap().to_owned();

        // Suspended with its owner, back when the owner is enabled; a password change does not
        // touch keys.
        for (disabled, want) in [(true, 401), (false, 200)] {
            let r = app
                .client
                .patch(app.at(&format!("/users/{id}")))
                .bearer_auth(&admin)
                .json(&json!({"disabled": disabled}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(
                with_key(&app, "/items", ("x-api-key", key.clone())).await.0,
                want,
                "{db:?}"
            );
        }
        let t = app.token(&name, &pw).await;
        let r = app
            .client
            .patch(app.at("/users/me"))
            .bearer_auth(&t)
            .json(&json!({"password": "Keyholder-new-river-3", "current_password": pw}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            with_key(&app, "/items", ("x-api-key", key.clone())).await.0,
            200
        );
        let t = app.token(&name, "Keyholder-new-river-3").await;

        // Expiry, and a client-IP allowlist the test client (127.0.0.1) is outside of.
        let soon = bouncer_core::clock::rfc3339(app.clock.now_ms() + 60_000);
        let (_, exp) = create(
            &app,
            &t,
            "/users/me/api-keys",
            json!({"name": "soon", "expires_at": soon}),
        )
        .await;
        let exp = exp["key"].as_str().unwrap().to_owned();
        assert_eq!(
            with_key(&app, "/users/me", ("x-api-key", exp.clone()))
                .await
                .0,
            200
        );
        app.clock.advance_s(61);
        assert_eq!(with_key(&app, "/users/me", ("x-api-key", exp)).await.0, 401);
        let (_, fenced) = create(
            &app,
            &t,
            "/users/me/api-keys",
            json!({"name": "office", "client_ips": ["10.0.0.0/8"]}),
        )
        .await;
        let (st, body) = with_key(
            &app,
            "/users/me",
            ("x-api-key", fenced["key"].as_str().unwrap().to_owned()),
        )
        .await;
        assert_eq!((st, body["code"].as_str()), (403, Some("ip_not_allowed")));
        let (_, local) = create(
            &app,
            &t,
            "/users/me/api-keys",
            json!({"name": "here", "client_ips": ["127.0.0.1"]}),
        )
        .await;
        assert_eq!(
            with_key(
                &app,
                "/users/me",
                ("x-api-key", local["key"].as_str().unwrap().to_owned())
            )
            .await
            .0,
            200
        );

        // Roll with an overlap: both work; roll with 0: the old one ends at once.
        let (_, own) = create(
            &app,
            &t,
            "/users/me/api-keys",
            json!({"name": "rolling", "scopes": ["items:read"]}),
        )
        .await;
        let (old_id, old_key) = (
            own["id"].as_str().unwrap().to_owned(),
            own["key"].as_str().unwrap().to_owned(),
        );
        let r = app
            .client
            .post(app.at(&format!("/users/me/api-keys/{old_id}/roll")))
            .bearer_auth(&t)
            .json(&json!({"overlap_s": 300}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let rolled: Value = r.json().await.unwrap();
        let new_key = rolled["key"].as_str().unwrap().to_owned();
        assert_eq!(
            rolled["scopes"],
            json!(["items:read"]),
            "keeps the old key's scopes"
        );
        assert_eq!(
            with_key(&app, "/items", ("x-api-key", old_key.clone()))
                .await
                .0,
            200
        );
        assert_eq!(
            with_key(&app, "/items", ("x-api-key", new_key.clone()))
                .await
                .0,
            200
        );
        app.clock.advance_s(301);
        assert_eq!(
            with_key(&app, "/items", ("x-api-key", old_key)).await.0,
            401,
            "{db:?}"
        );
        let r = app
            .client
            .post(app.at(&format!(
                "/users/me/api-keys/{}/roll",
                rolled["id"].as_str().unwrap()
            )))
            .bearer_auth(&t)
            .json(&json!({"overlap_s": 0}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            with_key(&app, "/items", ("x-api-key", new_key)).await.0,
            401,
            "ended at once"
        );

        // The listing never shows a key; a revoked key is dead at once.
        let listing = app
            .client
            .get(app.at("/users/me/api-keys"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            !listing.contains("bnc_") || !listing.contains(&key[8..]),
            "{listing}"
        );
        let r = app
            .client
            .delete(app.at(&format!(
                "/users/{id}/api-keys/{}",
                made["id"].as_str().unwrap()
            )))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(with_key(&app, "/items", ("x-api-key", key)).await.0, 401);
        app.stop().await;
    }
}

/// Review regressions: a key cannot mint or roll keys (a narrowed key would outgrow itself); a
/// roll needs the rights the old key grants; introspection reports what a key can use now.
#[tokio::test]
async fn keys_do_not_make_keys_and_rolls_follow_the_grant_rule() {
    let app = TestApp::spawn().await;
    let (name, pw, _) = app.user_with_roles("roller", &["user"]).await;
    let t = app.token(&name, &pw).await;
    let (_, star) = create(&app, &t, "/users/me/api-keys", json!({"name": "star"})).await;
    let (_, ro) = create(
        &app,
        &t,
        "/users/me/api-keys",
        json!({"name": "ro", "scopes": ["items:read"]}),
    )
    .await;
    let ro_key = ro["key"].as_str().unwrap().to_owned();
    let r = app
        .client
        .post(app.at("/users/me/api-keys"))
        .header("x-api-key", &ro_key)
        .json(&json!({"name": "child", "scopes": ["items:read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a key making a key");
    let r = app
        .client
        .post(app.at(&format!(
            "/users/me/api-keys/{}/roll",
            star["id"].as_str().unwrap()
        )))
        .header("x-api-key", &ro_key)
        .json(&json!({"overlap_s": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a narrow key rolling a `*` key");
    let narrow = app.scoped_token(&name, &pw, Some("items:read")).await;
    let r = app
        .client
        .post(app.at(&format!(
            "/users/me/api-keys/{}/roll",
            star["id"].as_str().unwrap()
        )))
        .bearer_auth(&narrow)
        .json(&json!({"overlap_s": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a narrowed token rolling a `*` key");

    // Introspection: a `*` key reports the owner's permissions, not `*`.
    let admin = app.admin_token().await;
    let (_, gw) = create(
        &app,
        &admin,
        "/clients",
        json!({"name": "gw", "scopes": ["tokens:introspect"]}),
    )
    .await;
    let r = app
        .client
        .post(app.at("/oauth2/introspect"))
        .basic_auth(
            gw["client_id"].as_str().unwrap(),
            gw["client_secret"].as_str(),
        )
        .form(&[("token", star["key"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    let i: Value = r.json().await.unwrap();
    assert_eq!(i["scope"], "items:read items:write", "{i}");
    app.stop().await;
}
