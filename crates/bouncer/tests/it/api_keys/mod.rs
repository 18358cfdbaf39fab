//! API keys: where they are read (header, cookie, Basic password; the query when switched on), what
//! they may do (scopes ∩ the owner's permissions now), and bad keys. Who may make them, suspension,
//! expiry, client-IP allowlists, rolling and revocation are in `granting`; introspection in
//! `introspection`.

mod granting;
mod introspection;

use serde_json::{Value, json};

use crate::support::{BOTH, Db, TestApp, basic};

/// `POST path` with `body` as the holder of `token`; status and JSON body.
pub(crate) async fn create(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
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

/// `GET path` with the one header that carries the key; status and JSON body.
pub(crate) async fn with_key(app: &TestApp, path: &str, header: (&str, String)) -> (u16, Value) {
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
