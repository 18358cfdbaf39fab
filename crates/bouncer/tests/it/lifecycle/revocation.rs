//! The token lifecycle, revocation: RFC 7009 checked on every request, revocations surviving a
//! restart, and the change feed that carries revocations, disables and role changes to other
//! instances.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{login, me, refresh};
use crate::support::http::s;
use crate::support::{BOTH, Db, TestApp, basic};

async fn revoke(app: &TestApp, token: &str, auth: Option<&str>) -> u16 {
    let mut rb = app
        .client
        .post(app.at("/oauth2/revoke"))
        .form(&[("token", token)]);
    if let Some(a) = auth {
        rb = rb.header("authorization", a);
    }
    rb.send().await.unwrap().status().as_u16()
}

/// RFC 7009 and API.md: the owner (any of their credentials) revokes; a refresh token takes its
/// family's access tokens along, an access token only itself; someone else's token is left alone
/// with 200; no credential, or the public client naming itself, is 401 `invalid_client`.
#[tokio::test]
async fn revocation_by_owner_possession_and_nobody_else() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let (name, pw, _) = app.user_with_roles("revoker", &["user"]).await;
        let (other, opw, _) = app.user_with_roles("bystander", &["user"]).await;
        let mine = login(&app, &name, &pw).await;
        let theirs = login(&app, &other, &opw).await;
        let bearer = format!("Bearer {}", s(&mine, "access_token"));

        // Nothing revoked without a credential, or with the public client alone.
        assert_eq!(revoke(&app, &s(&mine, "access_token"), None).await, 401);
        let swagger = basic("swagger", "");
        assert_eq!(
            revoke(&app, &s(&mine, "refresh_token"), Some(&swagger)).await,
            401
        );
        assert_eq!(me(&app, &s(&mine, "access_token")).await, 200);

        // Someone else's tokens: 200, untouched.
        assert_eq!(
            revoke(&app, &s(&theirs, "access_token"), Some(&bearer)).await,
            200
        );
        assert_eq!(
            revoke(&app, &s(&theirs, "refresh_token"), Some(&bearer)).await,
            200
        );
        assert_eq!(me(&app, &s(&theirs, "access_token")).await, 200);
        assert_eq!(
            refresh(&app, &s(&theirs, "refresh_token"), &[]).await.0,
            200
        );

        // Garbage and unknown tokens: 200.
        assert_eq!(revoke(&app, "not-a-token", Some(&bearer)).await, 200);
        assert_eq!(revoke(&app, "bnr_unknown", Some(&bearer)).await, 200);

        // An access token revokes only itself.
        let second = login(&app, &name, &pw).await;
        let user_basic = basic(&name, &pw);
        assert_eq!(
            revoke(&app, &s(&second, "access_token"), Some(&user_basic)).await,
            200
        );
        assert_eq!(me(&app, &s(&second, "access_token")).await, 401, "{db:?}");
        assert_eq!(
            refresh(&app, &s(&second, "refresh_token"), &[]).await.0,
            200,
            "its refresh token lives"
        );

        // A refresh token revokes its family, access tokens included; possession suffices.
        assert_eq!(
            revoke(&app, &s(&mine, "refresh_token"), Some(&bearer)).await,
            200
        );
        assert_eq!(me(&app, &s(&mine, "access_token")).await, 401);
        assert_eq!(refresh(&app, &s(&mine, "refresh_token"), &[]).await.0, 400);
        assert_eq!(
            revoke(&app, &s(&mine, "access_token"), Some(&bearer)).await,
            200
        );
        app.stop().await;
    }
}

/// Revocations survive a restart: revoked access tokens, revoked families and used refresh tokens
/// stay dead on a new server over the same database.
#[tokio::test]
async fn revocations_survive_a_restart() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let (name, pw, _) = app.user_with_roles("survivor", &["user"]).await;
        let a = login(&app, &name, &pw).await;
        let b = login(&app, &name, &pw).await;
        let c = login(&app, &name, &pw).await;
        let bearer = |t: &Value| format!("Bearer {}", s(t, "access_token"));
        assert_eq!(
            revoke(&app, &s(&a, "access_token"), Some(&bearer(&a))).await,
            200
        );
        assert_eq!(
            revoke(&app, &s(&b, "refresh_token"), Some(&bearer(&b))).await,
            200
        );
        let (_, c2) = refresh(&app, &s(&c, "refresh_token"), &[]).await;
        let (config, clock, dir) = app.stop_and_keep().await;
        let app = TestApp::spawn_from(config, clock, dir).await;
        assert_eq!(
            me(&app, &s(&a, "access_token")).await,
            401,
            "{db:?}: revoked token"
        );
        assert_eq!(
            me(&app, &s(&b, "access_token")).await,
            401,
            "{db:?}: revoked family"
        );
        assert_eq!(refresh(&app, &s(&b, "refresh_token"), &[]).await.0, 400);
        assert_eq!(me(&app, &s(&c2, "access_token")).await, 200);
        assert_eq!(
            refresh(&app, &s(&c, "refresh_token"), &[]).await.0,
            400,
            "rotated stays dead"
        );
        app.stop().await;
    }
}

/// Two instances on one PostgreSQL database: a revocation, a disable and a role change made through
/// one are in force on the other. Polling is slowed to 3 s here, so only LISTEN/NOTIFY can deliver
/// them within the 2.5 s the test allows; it prints the delays it saw (the note quotes them).
#[tokio::test]
async fn a_second_instance_sees_revocations_disables_and_role_changes() {
    let Some(a) = TestApp::spawn_with(Db::Postgres, |c| c.auth.revision_poll_ms = 3000).await
    else {
        return;
    };
    let b = TestApp::spawn_shared(&a).await;
    let (name, pw, id) = a.user_with_roles("twin", &["user"]).await;
    let wait_for = |app: &TestApp, token: String, want: u16, path: &'static str| {
        let (client, url) = (app.client.clone(), app.at(path));
        async move {
            let started = Instant::now();
            loop {
                let st = client
                    .get(&url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16();
                if st == want {
                    return started.elapsed();
                }
                assert!(
                    started.elapsed() < Duration::from_millis(2500),
                    "{path}: still {st}, want {want}"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    // Revocation through A, seen by B.
    let t = login(&a, &name, &pw).await;
    assert_eq!(me(&b, &s(&t, "access_token")).await, 200);
    let bearer = format!("Bearer {}", s(&t, "access_token"));
    assert_eq!(revoke(&a, &s(&t, "access_token"), Some(&bearer)).await, 200);
    let revoked = wait_for(&b, s(&t, "access_token"), 401, "/users/me").await;

    // Role change through A, seen by B (items:write gone).
    let t = login(&a, &name, &pw).await;
    let access = s(&t, "access_token");
    assert_eq!(b.get_bearer("/users/me", &access).await.status(), 200);
    let admin = a.admin_token().await;
    let r = a
        .client
        .put(a.at("/roles/user"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"permissions": ["items:read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let started = Instant::now();
    loop {
        let r = b
            .client
            .post(b.at("/items"))
            .bearer_auth(&access)
            .json(&serde_json::json!({"name": "x"}))
            .send()
            .await
            .unwrap();
        if r.status() == 403 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_millis(2500),
            "role change not seen"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let role_change = started.elapsed();

    // Disable through A, seen by B.
    let r = a
        .client
        .patch(a.at(&format!("/users/{id}")))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let disabled = wait_for(&b, access, 401, "/users/me").await;
    eprintln!(
        "second instance saw: revocation after {revoked:?}, role change after {role_change:?}, disable after {disabled:?}"
    );
    b.stop().await;
    a.stop().await;
}
