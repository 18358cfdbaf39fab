//! How policies combine and what they see of a request: deny wins and every allow must hold,
//! login age counted from the real auth time (an API key has none), and a wider requirement
//! (`items:*`, `role:NAME`) governed like any other.

use serde_json::json;

use crate::policies::put_ok;
use crate::support::http::call;
use crate::support::{TestApp, basic};

#[tokio::test]
async fn deny_wins_and_every_allow_must_hold() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (user, pw, _) = app.user_with_roles("dee", &["user"]).await;
    let t = app.token(&user, &pw).await;
    let ok = |t: &str| app.client.get(app.at("/items")).bearer_auth(t.to_owned());
    put_ok(
        &app,
        &admin,
        "a-always",
        json!({"effect": "allow", "permissions": ["items:read"]}),
    )
    .await;
    assert_eq!(
        call(ok(&t)).await.0,
        200,
        "an allow without conditions holds"
    );
    put_ok(&app, &admin, "b-never", json!({
        "effect": "allow", "permissions": ["items:*"], "conditions": {"valid_until": "2000-01-01T00:00:00Z"}
    }))
    .await;
    let (s, _, body) = call(ok(&t)).await;
    assert_eq!(
        (s, &body["code"], &body["policy"]),
        (403, &json!("policy_denied"), &json!("b-never")),
        "every allow must hold"
    );
    put_ok(
        &app,
        &admin,
        "b-never",
        json!({"effect": "allow", "permissions": ["items:*"]}),
    )
    .await;
    assert_eq!(call(ok(&t)).await.0, 200);
    put_ok(
        &app,
        &admin,
        "z-deny-users",
        json!({"effect": "deny", "permissions": ["items:read"], "roles": ["user"]}),
    )
    .await;
    let (s, _, body) = call(ok(&t)).await;
    assert_eq!(
        (s, &body["policy"]),
        (403, &json!("z-deny-users")),
        "deny wins over allows that hold"
    );
    assert_eq!(body["missing"], "items:read");
    // The admin does not hold `user`: the deny does not apply.
    assert_eq!(call(ok(&admin)).await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn login_age_counts_from_the_real_auth_time_and_api_keys_have_none() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (user, pw, _) = app.user_with_roles("ager", &["user"]).await;
    let (s, _, key) = call(
        app.client
            .post(app.at("/users/me/api-keys"))
            .header("authorization", basic(&user, &pw))
            .json(&json!({"name": "k"})),
    )
    .await;
    assert_eq!(s, 201, "{key}");
    let key = key["key"].as_str().unwrap().to_owned();
    put_ok(
        &app,
        &admin,
        "recent-login",
        json!({
            "effect": "allow", "permissions": ["items:write"], "conditions": {"max_auth_age_s": 600}
        }),
    )
    .await;
    let create = |rb: reqwest::RequestBuilder| rb.json(&json!({"name": "thing"}));
    let t = app.token(&user, &pw).await;
    assert_eq!(
        call(create(app.client.post(app.at("/items")).bearer_auth(&t)))
            .await
            .0,
        201
    );
    let (s, _, body) = call(create(
        app.client.post(app.at("/items")).header("x-api-key", &key),
    ))
    .await;
    assert_eq!(
        (s, &body["policy"]),
        (403, &json!("recent-login")),
        "an API key has no login: {body}"
    );
    app.clock.advance_s(601);
    let (s, _, body) = call(create(app.client.post(app.at("/items")).bearer_auth(&t))).await;
    assert_eq!(
        (s, &body["code"]),
        (403, &json!("policy_denied")),
        "the login is too old: {body}"
    );
    // A refreshed or new token from a new login is fine; Basic is a login at each request.
    let fresh = app.token(&user, &pw).await;
    assert_eq!(
        call(create(
            app.client.post(app.at("/items")).bearer_auth(&fresh)
        ))
        .await
        .0,
        201
    );
    let b = create(
        app.client
            .post(app.at("/items"))
            .header("authorization", basic(&user, &pw)),
    );
    assert_eq!(call(b).await.0, 201);
    app.stop().await;
}

/// A wider requirement never slips past a policy on one of its parts: a moderator's API key
/// (holding `items:*`) updating someone else's item is refused by a deny on `items:write` for
/// API keys; and policies on `role:NAME` govern role requirements.
#[tokio::test]
async fn wildcard_and_role_requirements_are_governed_too() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (owner, opw, _) = app.user_with_roles("owner", &["user"]).await;
    let ot = app.token(&owner, &opw).await;
    let (_, _, item) = call(
        app.client
            .post(app.at("/items"))
            .bearer_auth(&ot)
            .json(&json!({"name": "x"})),
    )
    .await;
    let id = item["id"].as_str().unwrap().to_owned();
    let (m, mpw, _) = app.user_with_roles("mod", &["moderator"]).await;
    let mt = app.token(&m, &mpw).await;
    let (_, _, key) = call(
        app.client
            .post(app.at("/users/me/api-keys"))
            .bearer_auth(&mt)
            .json(&json!({"name": "k"})),
    )
    .await;
    let key = key["key"].as_str().unwrap().to_owned();
    put_ok(&app, &admin, "keys-read-only", json!({
        "effect": "deny", "permissions": ["items:write", "items:delete"], "credential_kinds": ["api_key"]
    }))
    .await;
    let update = |rb: reqwest::RequestBuilder| rb.json(&json!({"name": "changed"}));
    let (s, _, body) = call(update(
        app.client
            .put(app.at(&format!("/items/{id}")))
            .header("x-api-key", &key),
    ))
    .await;
    assert_eq!(
        (s, &body["policy"]),
        (403, &json!("keys-read-only")),
        "items:* with a key: {body}"
    );
    let (s, _, body) = call(update(
        app.client
            .put(app.at(&format!("/items/{id}")))
            .bearer_auth(&mt),
    ))
    .await;
    assert_eq!(s, 200, "the moderator's token is no key: {body}");
    // role:admin from outside the office network.
    assert_eq!(
        call(app.client.get(app.at("/admin-only")).bearer_auth(&admin))
            .await
            .0,
        200
    );
    put_ok(&app, &admin, "admin-from-office", json!({
        "effect": "allow", "permissions": ["role:admin"], "conditions": {"client_ips": ["10.0.0.0/8"]}
    }))
    .await;
    let (s, _, body) = call(app.client.get(app.at("/admin-only")).bearer_auth(&admin)).await;
    assert_eq!(
        (s, &body["policy"], &body["missing"]),
        (403, &json!("admin-from-office"), &json!("role:admin")),
        "{body}"
    );
    assert_eq!(
        call(app.client.get(app.at("/user-only")).bearer_auth(&ot))
            .await
            .0,
        200,
        "role:user is not governed"
    );
    app.stop().await;
}
