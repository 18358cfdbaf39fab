//! Regressions from the outside security probe, credentials: tokens that outlived a disable or a
//! password change, one's own password through `/users/{id}`, and client authentication at the
//! token endpoint.

use serde_json::{Value, json};

use super::patch_user;
use crate::support::http::{assert_problem, call};
use crate::support::{ADMIN, ADMIN_PASSWORD, BOTH, TestApp, basic, jwt_part};
use crate::users::admin_id;

/// Disabling retires every token issued before; enabling again revives none of them. Tokens carry
/// the credential generation `gen`.
#[tokio::test]
async fn disable_then_enable_does_not_revive_old_tokens() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let (name, pw, id) = app.user_with_roles("sleeper", &["user"]).await;
        let old = app.token(&name, &pw).await;
        assert_eq!(jwt_part(&old, 1)["gen"], 1, "a new user is at generation 1");
        let admin = app.admin_token().await;
        for disabled in [true, false] {
            let (s, _, _) =
                call(patch_user(&app, &admin, &id, json!({"disabled": disabled}))).await;
            assert_eq!(s, 200);
        }
        assert_eq!(
            app.get_bearer("/users/me", &old).await.status(),
            401,
            "{db:?}"
        );
        let new = app.token(&name, &pw).await;
        assert_eq!(jwt_part(&new, 1)["gen"], 2);
        assert_eq!(app.get_bearer("/users/me", &new).await.status(), 200);
        // Enabling an enabled user, or any other change, moves nothing.
        let (s, _, _) = call(patch_user(&app, &admin, &id, json!({"full_name": "S"}))).await;
        assert_eq!(s, 200);
        assert_eq!(app.get_bearer("/users/me", &new).await.status(), 200);
        app.stop().await;
    }
}

/// A password change retires the tokens issued before it even within the same second, and never
/// one issued after it in that same second (the clock does not move in this test).
#[tokio::test]
async fn a_password_change_is_exact_within_one_second() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let (name, pw, _) = app.user_with_roles("exact", &["user"]).await;
        let before = app.token(&name, &pw).await;
        let (s, _, body) = call(
            app.client
                .patch(app.at("/users/me"))
                .bearer_auth(&before)
                .json(&json!({"password": "Exactly-new-river-9", "current_password": pw})),
        )
        .await;
        assert_eq!(s, 200, "{body}");
        let after = app.token(&name, "Exactly-new-river-9").await;
        assert_eq!(
            jwt_part(&before, 1)["iat"],
            jwt_part(&after, 1)["iat"],
            "same second"
        );
        assert_eq!(
            app.get_bearer("/users/me", &before).await.status(),
            401,
            "{db:?}"
        );
        assert_eq!(
            app.get_bearer("/users/me", &after).await.status(),
            200,
            "{db:?}"
        );
        app.stop().await;
    }
}

/// Changing your own password through `PATCH /users/{own id}` needs `current_password` too, even
/// for an admin.
#[tokio::test]
async fn own_password_through_users_id_needs_the_current_password() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let id = admin_id(&app, &admin).await;
    let got = call(patch_user(
        &app,
        &admin,
        &id,
        json!({"password": "Another-admin-river-4"}),
    ))
    .await;
    assert_problem(
        "no current_password",
        &got,
        422,
        "validation_error",
        Some("current_password"),
    );
    let got = call(patch_user(
        &app,
        &admin,
        &id,
        json!({"password": "Another-admin-river-4", "current_password": "wrong-one-entirely"}),
    ))
    .await;
    assert_problem(
        "wrong current_password",
        &got,
        422,
        "validation_error",
        Some("current_password"),
    );
    app.admin_token().await; // unchanged
    let (s, _, _) = call(patch_user(
        &app,
        &admin,
        &id,
        json!({"password": "Another-admin-river-4", "current_password": ADMIN_PASSWORD}),
    ))
    .await;
    assert_eq!(s, 200);
    app.token(ADMIN, "Another-admin-river-4").await;
    app.stop().await;
}

async fn token_with_authorization(
    app: &TestApp,
    authorization: &str,
    extra: &[(&str, &str)],
) -> (u16, Option<String>, Value) {
    let mut form = vec![
        ("grant_type", "password"),
        ("username", ADMIN),
        ("password", ADMIN_PASSWORD),
    ];
    form.extend_from_slice(extra);
    let r = app
        .client
        .post(app.at("/oauth2/token"))
        .header("authorization", authorization)
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, challenge, r.json().await.unwrap())
}

/// RFC 6749 §2.3.1 / §5.2: client authentication in `Authorization: Basic` is checked. An unknown
/// client or a wrong secret is 401 `invalid_client` with a Basic challenge; the public `swagger`
/// client names itself with an empty secret.
#[tokio::test]
async fn token_endpoint_checks_basic_client_authentication() {
    let app = TestApp::spawn().await;
    for (what, auth) in [
        ("unknown client", basic("no-such-client", "s3cret")),
        ("public client with a secret", basic("swagger", "guess")),
        ("not Basic", "Bearer whatever".to_owned()),
        ("undecodable", "Basic %%%".to_owned()),
    ] {
        let (s, challenge, body) = token_with_authorization(&app, &auth, &[]).await;
        assert_eq!(s, 401, "{what}: {body}");
        assert_eq!(body["error"], "invalid_client", "{what}");
        assert!(challenge.is_some_and(|c| c.starts_with("Basic")), "{what}");
    }
    let (s, _, body) = token_with_authorization(&app, &basic("swagger", ""), &[]).await;
    assert_eq!(s, 200, "{body}");
    let (s, _, body) =
        token_with_authorization(&app, &basic("swagger", ""), &[("client_id", "other")]).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_request")));
    // The form alone: an unknown client_id is 401 too.
    let r = app
        .client
        .post(app.at("/oauth2/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", ADMIN),
            ("password", ADMIN_PASSWORD),
            ("client_id", "no-such-client"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_some());
    app.stop().await;
}
