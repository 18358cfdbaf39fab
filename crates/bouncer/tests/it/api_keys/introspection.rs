//! API keys and introspection: keys are known (`token_type: "api_key"`) with the scopes the owner
//! still holds, and a revocation through one instance reaches another.

use serde_json::{Value, json};

use super::{create, with_key};
use crate::support::{Db, TestApp};

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
