//! API keys: where they are read, what they may do (scopes ∩ the owner's permissions now), who may
//! make them (nobody grants what they do not hold), suspension with the owner, expiry, client-IP
//! allowlists, rolling, revocation, introspection, and bad input.

use bouncer_core::clock::Clock as _;
use serde_json::{Value, json};

use crate::support::{BOTH, Db, TestApp, basic};

async fn create(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let r = app
        .client
        .post(app.at(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

async fn with_key(app: &TestApp, path: &str, header: (&str, String)) -> (u16, Value) {
    let r = app
        .client
        .get(app.at(path))
        .header(header.0, header.1)
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn keys_are_read_from_every_place_and_narrowed_by_their_scopes() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let (name, pw, id) = app.user_with_roles("keyholder", &["user"]).await;
        let t = app.token(&name, &pw).await;
        let (st, k) = create(&app, &t, "/users/me/api-keys", json!({"name": "ci"})).await;
        assert_eq!(st, 201, "{db:?}: {k}");
        let key = k["key"].as_str().unwrap().to_owned();
        assert!(key.starts_with("bnc_") && key.len() == 53);
        assert_eq!(k["prefix"], &key[..8]);
        assert_eq!(k["scopes"], json!(["*"]));
        for (what, header) in [
            ("header", ("x-api-key", key.clone())),
            ("cookie", ("cookie", format!("theme=dark; api_key={key}"))),
            ("basic password", ("authorization", basic("anything", &key))),
            ("basic, no username", ("authorization", basic("", &key))),
        ] {
            let (st, me) = with_key(&app, "/users/me", header).await;
            assert_eq!(st, 200, "{db:?} {what}: {me}");
            assert_eq!(me["id"], id.as_str());
        }
        // The query is off by default (URLs reach logs): no credential at all.
        let r = app
            .client
            .get(app.at(&format!("/users/me?api_key={key}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);

        // A narrowed key: items:read only.
        let (_, ro) = create(
            &app,
            &t,
            "/users/me/api-keys",
            json!({"name": "ro", "scopes": ["items:read"]}),
        )
        .await;
        let ro = ro["key"].as_str().unwrap().to_owned();
        assert_eq!(
            with_key(&app, "/items", ("x-api-key", ro.clone())).await.0,
            200
        );
        let r = app
            .client
            .post(app.at("/items"))
            .header("x-api-key", &ro)
            .json(&json!({"name": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);

        // Demote the owner: the `*` key shrinks at once (scopes ∩ current permissions).
        let admin = app.admin_token().await;
        let r = app
            .client
            .patch(app.at(&format!("/users/{id}")))
            .bearer_auth(&admin)
            .json(&json!({"roles": ["guest"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = app
            .client
            .post(app.at("/items"))
            .header("x-api-key", &key)
            .json(&json!({"name": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            403,
            "{db:?}: the owner no longer holds items:write"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn bad_keys_and_disagreeing_places() {
    let app = TestApp::spawn().await;
    let (name, pw, _) = app.user_with_roles("badkeys", &["user"]).await;
    let t = app.token(&name, &pw).await;
    let (_, a) = create(&app, &t, "/users/me/api-keys", json!({"name": "a"})).await;
    let (_, b) = create(&app, &t, "/users/me/api-keys", json!({"name": "b"})).await;
    let (a, b) = (
        a["key"].as_str().unwrap().to_owned(),
        b["key"].as_str().unwrap().to_owned(),
    );
    let mut typo = a.clone().into_bytes();
    typo[20] = if typo[20] == b'x' { b'y' } else { b'x' };
    for junk in [
        String::from_utf8(typo).unwrap(),
        a[..40].to_owned(),
        a.replacen("bnc_", "bnx_", 1),
        format!("bnc_{}", "A".repeat(10_000)),
        format!("bnc_{}", "A".repeat(49)),
    ] {
        let (st, _) = with_key(&app, "/users/me", ("x-api-key", junk.clone())).await;
        assert_eq!(st, 401, "{}", &junk[..junk.len().min(30)]);
    }
    // Two different keys: ambiguous, never a guess; the same key twice is fine.
    let r = app
        .client
        .get(app.at("/users/me"))
        .header("x-api-key", &a)
        .header("cookie", format!("api_key={b}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["code"],
        "ambiguous_credentials"
    );
    let r = app
        .client
        .get(app.at("/users/me"))
        .header("x-api-key", &a)
        .header("cookie", format!("api_key={a}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .get(app.at("/users/me"))
        .header("authorization", basic("x", &a))
        .header("x-api-key", &b)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        400,
        "a Basic-password key and a header key that differ"
    );
    // Garbage cookies are no credential at all.
    let (st, _) = with_key(
        &app,
        "/users/me",
        ("cookie", "api_key=; =x; ;;; junk".into()),
    )
    .await;
    assert_eq!(st, 401);
    app.stop().await;
}

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

/// Introspection knows keys (`token_type: "api_key"`), and a revocation through one instance
/// reaches another.
#[tokio::test]
async fn keys_introspect_and_revocations_reach_other_instances() {
    let Some(a) = TestApp::spawn_on(Db::Postgres).await else {
        return;
    };
    let b = TestApp::spawn_shared(&a).await;
    let admin = a.admin_token().await;
    let (_, gw) = create(
        &a,
        &admin,
        "/clients",
        json!({"name": "gw", "scopes": ["tokens:introspect"]}),
    )
    .await;
    let (name, pw, id) = a.user_with_roles("twinkey", &["user"]).await;
    let t = a.token(&name, &pw).await;
    let (_, k) = create(
        &a,
        &t,
        "/users/me/api-keys",
        json!({"name": "k", "scopes": ["items:read"]}),
    )
    .await;
    let key = k["key"].as_str().unwrap().to_owned();
    let r = a
        .client
        .post(a.at("/oauth2/introspect"))
        .basic_auth(
            gw["client_id"].as_str().unwrap(),
            gw["client_secret"].as_str(),
        )
        .form(&[("token", key.as_str())])
        .send()
        .await
        .unwrap();
    let i: Value = r.json().await.unwrap();
    assert_eq!(i["active"], true, "{i}");
    assert_eq!(i["token_type"], "api_key");
    assert_eq!(i["sub"], id.as_str());
    assert_eq!(i["scope"], "items:read");
    assert_eq!(
        with_key(&b, "/items", ("x-api-key", key.clone())).await.0,
        200
    );
    let r = a
        .client
        .delete(a.at(&format!("/users/me/api-keys/{}", k["id"].as_str().unwrap())))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let started = std::time::Instant::now();
    while with_key(&b, "/items", ("x-api-key", key.clone())).await.0 != 401 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "B never saw the revocation"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    b.stop().await;
    a.stop().await;
}

/// `auth.api_key_query` on: the query parameter is read too (its name configurable).
#[tokio::test]
async fn the_query_parameter_when_switched_on() {
    let app = TestApp::spawn_with(Db::Sqlite, |c| {
        c.auth.api_key_query = true;
        c.auth.api_key_query_param = "key".into();
    })
    .await
    .unwrap();
    let (name, pw, _) = app.user_with_roles("querier", &["user"]).await;
    let t = app.token(&name, &pw).await;
    let (_, k) = create(&app, &t, "/users/me/api-keys", json!({"name": "q"})).await;
    let key = k["key"].as_str().unwrap();
    let r = app
        .client
        .get(app.at(&format!("/users/me?key={key}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.stop().await;
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

/// Introspection reports what a key can use now, as requests see it: a key scoped `items:*`
/// whose owner now holds only `items:read` reports `items:read` (and still reads items).
#[tokio::test]
async fn key_introspection_reports_the_scopes_the_owner_still_holds() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, gw) = create(
        &app,
        &admin,
        "/clients",
        json!({"name": "gw", "scopes": ["tokens:introspect"]}),
    )
    .await;
    let introspect = |key: String| {
        let rb = app
            .client
            .post(app.at("/oauth2/introspect"))
            .basic_auth(
                gw["client_id"].as_str().unwrap(),
                gw["client_secret"].as_str(),
            )
            .form(&[("token", key)]);
        async move { rb.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let (name, pw, id) = app.user_with_roles("demoted", &["moderator"]).await;
    let t = app.token(&name, &pw).await;
    let (st, k) = create(
        &app,
        &t,
        "/users/me/api-keys",
        json!({"name": "k", "scopes": ["items:*"]}),
    )
    .await;
    assert_eq!(st, 201, "{k}");
    let key = k["key"].as_str().unwrap().to_owned();
    assert_eq!(introspect(key.clone()).await["scope"], "items:*");

    let r = app
        .client
        .patch(app.at(&format!("/users/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"roles": ["guest"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let i = introspect(key.clone()).await;
    assert_eq!(
        (&i["active"], &i["scope"]),
        (&json!(true), &json!("items:read")),
        "{i}"
    );
    assert_eq!(with_key(&app, "/items", ("x-api-key", key)).await.0, 200);
    app.stop().await;
}
