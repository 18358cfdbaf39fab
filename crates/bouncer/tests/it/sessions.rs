//! Cookie sessions: login sets an HttpOnly, SameSite cookie and answers a CSRF token; unsafe
//! methods with the cookie need the token (and only that session's); logout, idle and absolute
//! timeouts, password changes and disables end sessions; `Secure` follows the request's scheme.

use serde_json::{Value, json};

use crate::support::{BOTH, Db, TestApp};

/// Logs in; returns (status, Set-Cookie, body).
async fn login(app: &TestApp, user: &str, pw: &str) -> (u16, String, Value) {
    let r = app
        .client
        .post(app.at("/auth/login"))
        .json(&json!({"username": user, "password": pw}))
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    let cookie = r
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (st, cookie, r.json().await.unwrap_or(Value::Null))
}

fn session_of(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("bouncer_session=")
        .to_owned()
}

async fn post_item(app: &TestApp, session: &str, csrf: Option<&str>) -> (u16, Value) {
    let mut rb = app
        .client
        .post(app.at("/items"))
        .header("cookie", format!("bouncer_session={session}"))
        .json(&json!({"name": "from a browser"}));
    if let Some(c) = csrf {
        rb = rb.header("x-csrf-token", c);
    }
    let r = rb.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn me(app: &TestApp, session: &str) -> u16 {
    app.client
        .get(app.at("/users/me"))
        .header("cookie", format!("bouncer_session={session}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn sessions_with_csrf_logout_and_timeouts() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let (name, pw, _) = app.user_with_roles("browser", &["user"]).await;
        let (st, cookie, body) = login(&app, &name, &pw).await;
        assert_eq!(st, 200, "{db:?}: {body}");
        let lower = cookie.to_lowercase();
        for attr in ["httponly", "samesite=lax", "path=/"] {
            assert!(lower.contains(attr), "{cookie}");
        }
        assert!(
            !lower.contains("secure"),
            "plain HTTP, no trusted proxy: no Secure"
        );
        let session = session_of(&cookie);
        let csrf = body["csrf_token"].as_str().unwrap().to_owned();
        assert_eq!(body["user"]["username"], name.as_str());
        assert_eq!(me(&app, &session).await, 200);

        // CSRF: none, another session's, and the right one.
        let (st, body) = post_item(&app, &session, None).await;
        assert_eq!(
            (st, body["code"].as_str()),
            (403, Some("csrf_failed")),
            "{db:?}"
        );
        let (_, _, other) = login(&app, &name, &pw).await;
        let (st, _) = post_item(&app, &session, other["csrf_token"].as_str()).await;
        assert_eq!(st, 403, "another session's token");
        let (st, _) = post_item(&app, &session, Some(&csrf)).await;
        assert_eq!(st, 201);

        // A fresh id at every login (no fixation); logout ends this one only.
        let (_, cookie2, _) = login(&app, &name, &pw).await;
        let session2 = session_of(&cookie2);
        assert_ne!(session, session2);
        let r = app
            .client
            .post(app.at("/auth/logout"))
            .header("cookie", format!("bouncer_session={session}"))
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        assert!(
            r.headers()["set-cookie"]
                .to_str()
                .unwrap()
                .contains("Max-Age=0")
        );
        assert_eq!(me(&app, &session).await, 401, "{db:?}");
        assert_eq!(me(&app, &session2).await, 200);

        // Idle: 30 minutes without use end it; use restarts the idle time.
        app.clock.advance_s(1700);
        assert_eq!(me(&app, &session2).await, 200);
        app.clock.advance_s(1700);
        assert_eq!(me(&app, &session2).await, 200, "used 1700 s ago");
        app.clock.advance_s(1801);
        assert_eq!(me(&app, &session2).await, 401, "idle");

        // A password change ends every session.
        let (_, cookie3, body3) = login(&app, &name, &pw).await;
        let session3 = session_of(&cookie3);
        let r = app
            .client
            .patch(app.at("/users/me"))
            .header("cookie", format!("bouncer_session={session3}"))
            .header("x-csrf-token", body3["csrf_token"].as_str().unwrap())
            .json(&json!({"password": "Browser-new-river-8", "current_password": pw}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(me(&app, &session3).await, 401);

        // Wrong credentials, and garbage cookies.
        let (st, _, body) = login(&app, &name, "wrong-password").await;
        assert_eq!(
            (st, body["code"].as_str()),
            (401, Some("invalid_credentials"))
        );
        for junk in ["", "x", &"A".repeat(43), &"A".repeat(5000)] {
            assert_eq!(me(&app, junk).await, 401, "{junk:.10}");
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn the_absolute_timeout_and_the_switch() {
    let app = TestApp::spawn_with(Db::Sqlite, |c| {
        c.sessions.idle_timeout_s = 600;
        c.sessions.absolute_timeout_s = 900;
    })
    .await
    .unwrap();
    let (name, pw, _) = app.user_with_roles("shortlived", &["user"]).await;
    let (_, cookie, _) = login(&app, &name, &pw).await;
    let session = session_of(&cookie);
    app.clock.advance_s(500);
    assert_eq!(me(&app, &session).await, 200);
    app.clock.advance_s(401);
    assert_eq!(
        me(&app, &session).await,
        401,
        "past the absolute end, however active"
    );
    app.stop().await;

    let app = TestApp::spawn_with(Db::Sqlite, |c| c.auth.sessions = false)
        .await
        .unwrap();
    let (st, _, _) = login(&app, "admin", "whatever-password").await;
    assert_eq!(st, 404);
    app.stop().await;
}

/// `Secure` when a trusted proxy says the client came over https (or `always`), not when an
/// untrusted client claims it.
#[tokio::test]
async fn the_secure_attribute_follows_the_scheme() {
    let app = TestApp::spawn_with(Db::Sqlite, |c| {
        c.server.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await
    .unwrap();
    let (name, pw, _) = app.user_with_roles("proxied", &["user"]).await;
    let r = app
        .client
        .post(app.at("/auth/login"))
        .header("x-forwarded-proto", "https")
        .json(&json!({"username": name, "password": pw}))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Secure")
    );
    app.stop().await;

    let app = TestApp::spawn().await;
    let (name, pw, _) = app.user_with_roles("unproxied", &["user"]).await;
    let r = app
        .client
        .post(app.at("/auth/login"))
        .header("x-forwarded-proto", "https")
        .json(&json!({"username": name, "password": pw}))
        .send()
        .await
        .unwrap();
    assert!(
        !r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Secure"),
        "not trusted"
    );
    app.stop().await;
}

/// A session's use is written to the database (in batches): after a restart it still counts, so
/// an active session is not ended 30 minutes after its login.
#[tokio::test]
async fn session_use_survives_a_restart() {
    let app = TestApp::spawn().await;
    let (name, pw, _) = app.user_with_roles("restarter", &["user"]).await;
    let (_, cookie, _) = login(&app, &name, &pw).await;
    let session = session_of(&cookie);
    app.clock.advance_s(1700);
    assert_eq!(me(&app, &session).await, 200);
    let (config, clock, dir) = app.stop_and_keep().await;
    let app = TestApp::spawn_from(config, clock, dir).await;
    app.clock.advance_s(1700);
    assert_eq!(
        me(&app, &session).await,
        200,
        "used 1700 s ago, before the restart"
    );
    app.stop().await;
}
