//! The token lifecycle: refresh tokens that rotate, reuse detection that revokes the family,
//! exactly one winner among concurrent refreshes, lifetimes, and the retry window. Revocation
//! (RFC 7009) and the change feed that carries it to other instances are in `revocation`.

mod revocation;

use serde_json::Value;

use crate::support::http::s;
use crate::support::{BOTH, Db, TestApp, jwt_part};

/// The password grant's whole answer.
pub(crate) async fn login(app: &TestApp, user: &str, pw: &str) -> Value {
    let r = app.token_response(user, pw, None).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

pub(crate) async fn refresh(app: &TestApp, token: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    form.extend_from_slice(extra);
    let r = app
        .client
        .post(app.at("/oauth2/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn me(app: &TestApp, access: &str) -> u16 {
    app.get_bearer("/users/me", access).await.status().as_u16()
}

/// Each refresh rotates; the old refresh token used again revokes the family: its newest refresh
/// token and every access token of that login die, while the user's other logins keep working.
#[tokio::test]
async fn reuse_of_a_rotated_refresh_token_revokes_only_its_family() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let (name, pw, _) = app.user_with_roles("rotator", &["user"]).await;
        let first = login(&app, &name, &pw).await;
        let other_login = login(&app, &name, &pw).await;
        let (st, second) = refresh(&app, &s(&first, "refresh_token"), &[]).await;
        assert_eq!(st, 200, "{db:?}: {second}");
        assert_ne!(s(&second, "refresh_token"), s(&first, "refresh_token"));
        assert!(s(&second, "refresh_token").starts_with("bnr_"));
        assert_eq!(me(&app, &s(&second, "access_token")).await, 200);
        // auth_time is the login's, through the refresh.
        assert_eq!(
            jwt_part(&s(&second, "access_token"), 1)["auth_time"],
            jwt_part(&s(&first, "access_token"), 1)["auth_time"]
        );

        let (st, body) = refresh(&app, &s(&first, "refresh_token"), &[]).await;
        assert_eq!(
            (st, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{db:?}"
        );
        let (st, _) = refresh(&app, &s(&second, "refresh_token"), &[]).await;
        assert_eq!(st, 400, "the family's newest refresh token died with it");
        assert_eq!(me(&app, &s(&first, "access_token")).await, 401);
        assert_eq!(me(&app, &s(&second, "access_token")).await, 401);
        // Another login of the same user is another family.
        assert_eq!(me(&app, &s(&other_login, "access_token")).await, 200);
        let (st, _) = refresh(&app, &s(&other_login, "refresh_token"), &[]).await;
        assert_eq!(st, 200);
        app.stop().await;
    }
}

/// Two (here: eight) concurrent refreshes of one token: exactly one rotation wins; the others are
/// reuses, which revoke the family, so the winner's new tokens die too.
#[tokio::test]
async fn concurrent_refreshes_of_one_token_rotate_exactly_once() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let (name, pw, _) = app.user_with_roles("racer2", &["user"]).await;
        let t = login(&app, &name, &pw).await;
        let rt = s(&t, "refresh_token");
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (client, url, rt) = (app.client.clone(), app.at("/oauth2/token"), rt.clone());
                tokio::spawn(async move {
                    let r = client
                        .post(url)
                        .form(&[
                            ("grant_type", "refresh_token"),
                            ("refresh_token", rt.as_str()),
                        ])
                        .send()
                        .await
                        .unwrap();
                    let st = r.status().as_u16();
                    (st, r.json::<Value>().await.unwrap())
                })
            })
            .collect();
        let mut won = Vec::new();
        for t in tasks {
            let (st, body) = t.await.unwrap();
            assert!(st == 200 || st == 400, "{db:?}: {st} {body}");
            if st == 200 {
                won.push(body);
            } else {
                assert_eq!(body["error"], "invalid_grant");
            }
        }
        assert_eq!(won.len(), 1, "{db:?}: exactly one rotation");
        let (st, _) = refresh(&app, &s(&won[0], "refresh_token"), &[]).await;
        assert_eq!(st, 400, "{db:?}: the losers' reuse revoked the family");
        app.stop().await;
    }
}

/// Refresh tokens die with the user's credential generation (disable, password change) and with
/// the user, work only within their lifetimes, and never widen the login's scope.
#[tokio::test]
async fn refresh_respects_the_user_the_lifetimes_and_the_scope() {
    let app = TestApp::spawn_with(Db::Sqlite, |c| {
        c.tokens.refresh_ttl_s = 3600;
        c.tokens.refresh_absolute_ttl_s = 3 * 3600;
    })
    .await
    .unwrap();
    let admin = app.admin_token().await;
    let (name, pw, id) = app.user_with_roles("lifer", &["user"]).await;
    let patch = |body: Value| {
        app.client
            .patch(app.at(&format!("/users/{id}")))
            .bearer_auth(&admin)
            .json(&body)
    };

    // Disabled: refused; enabled again: the old refresh token stays dead (new generation).
    let t = login(&app, &name, &pw).await;
    assert_eq!(
        patch(serde_json::json!({"disabled": true}))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(refresh(&app, &s(&t, "refresh_token"), &[]).await.0, 400);
    assert_eq!(
        patch(serde_json::json!({"disabled": false}))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(refresh(&app, &s(&t, "refresh_token"), &[]).await.0, 400);

    // Scope: narrower is fine, wider is invalid_scope.
    let narrow = app.token_response(&name, &pw, Some("items:read")).await;
    let narrow: Value = narrow.json().await.unwrap();
    let (st, body) = refresh(
        &app,
        &s(&narrow, "refresh_token"),
        &[("scope", "items:write")],
    )
    .await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_scope")));
    let (st, body) = refresh(&app, &s(&narrow, "refresh_token"), &[]).await;
    assert_eq!(st, 200);
    assert_eq!(body["scope"], "items:read");

    // Sliding: an idle hour kills it; each use starts the hour again, up to the absolute 3 h.
    let t = login(&app, &name, &pw).await;
    let mut rt = s(&t, "refresh_token");
    for _ in 0..2 {
        app.clock.advance_s(3500);
        let (st, body) = refresh(&app, &rt, &[]).await;
        assert_eq!(st, 200, "{body}");
        rt = s(&body, "refresh_token");
    }
    app.clock.advance_s(3500); // 10,500 s since the login: within the sliding hour...
    let (st, body) = refresh(&app, &rt, &[]).await;
    assert_eq!(st, 200, "{body}");
    rt = s(&body, "refresh_token");
    app.clock.advance_s(600); // ...but now past the absolute 3 hours.
    assert_eq!(refresh(&app, &rt, &[]).await.0, 400);
    let t = login(&app, &name, &pw).await;
    app.clock.advance_s(3601);
    assert_eq!(
        refresh(&app, &s(&t, "refresh_token"), &[]).await.0,
        400,
        "idle past the sliding hour"
    );

    // Deleted with the user.
    let t = login(&app, &name, &pw).await;
    let r = app
        .client
        .delete(app.at(&format!("/users/{id}")))
        .bearer_auth(app.admin_token().await)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(refresh(&app, &s(&t, "refresh_token"), &[]).await.0, 400);
    app.stop().await;
}

/// The retry window: the same client presenting a just-rotated refresh token again within the
/// window gets the same pair back (JWT and opaque); after the window, or once the successor has
/// been used, it is a reuse and the family dies.
#[tokio::test]
async fn the_retry_window_gives_the_same_pair_to_a_retry() {
    for format in ["jwt", "opaque"] {
        let app = TestApp::spawn_with(Db::Sqlite, |c| {
            c.tokens.refresh_retry_window_s = 30;
            c.tokens.format = format.into();
        })
        .await
        .unwrap();
        let (name, pw, _) = app.user_with_roles("retrier", &["user"]).await;
        let t = login(&app, &name, &pw).await;
        let rt = s(&t, "refresh_token");
        let (st, first) = refresh(&app, &rt, &[]).await;
        assert_eq!(st, 200);
        app.clock.advance_s(10);
        let (st, again) = refresh(&app, &rt, &[]).await;
        assert_eq!(st, 200, "{format}: a retry within the window: {again}");
        assert_eq!(again["refresh_token"], first["refresh_token"], "{format}");
        assert_eq!(again["access_token"], first["access_token"], "{format}");
        assert_eq!(me(&app, &s(&again, "access_token")).await, 200);

        // Retries racing each other (a client that timed out and tried again at once): every one
        // gets the same pair, none revokes the login.
        let t3 = login(&app, &name, &pw).await;
        let rt3 = s(&t3, "refresh_token");
        let racers: Vec<_> = (0..6)
            .map(|_| {
                let (client, url, rt) = (app.client.clone(), app.at("/oauth2/token"), rt3.clone());
                tokio::spawn(async move {
                    let r = client
                        .post(url)
                        .form(&[
                            ("grant_type", "refresh_token"),
                            ("refresh_token", rt.as_str()),
                        ])
                        .send()
                        .await
                        .unwrap();
                    (r.status().as_u16(), r.json::<Value>().await.unwrap())
                })
            })
            .collect();
        let mut pairs = std::collections::HashSet::new();
        for r in racers {
            let (st, body) = r.await.unwrap();
            assert_eq!(st, 200, "{format}: {body}");
            pairs.insert((s(&body, "refresh_token"), s(&body, "access_token")));
        }
        assert_eq!(
            pairs.len(),
            1,
            "{format}: one pair for all the racing retries"
        );

        // The successor used: the old token is now a reuse, window or not.
        let (st, next) = refresh(&app, &s(&first, "refresh_token"), &[]).await;
        assert_eq!(st, 200);
        let (st, _) = refresh(&app, &rt, &[]).await;
        assert_eq!(st, 400, "{format}");
        assert_eq!(
            refresh(&app, &s(&next, "refresh_token"), &[]).await.0,
            400,
            "family revoked"
        );

        // Past the window: a reuse.
        let t = login(&app, &name, &pw).await;
        let rt = s(&t, "refresh_token");
        assert_eq!(refresh(&app, &rt, &[]).await.0, 200);
        app.clock.advance_s(31);
        assert_eq!(
            refresh(&app, &rt, &[]).await.0,
            400,
            "{format}: after the window"
        );
        app.stop().await;
    }
}
