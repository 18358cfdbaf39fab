//! Throttling of failed password and secret checks and of registrations (`[throttle]`): the
//! limit holds for one username from one address, never for its owner elsewhere; every password
//! and secret check counts and is refused alike; instances share the counts.

use std::net::IpAddr;

use reqwest::{Client, Response};
use serde_json::{Value, json};

use crate::support::http::call;
use crate::support::{ADMIN, ADMIN_PASSWORD, Db, TestApp, basic};

/// A server on `db` with these limits (the suite's other tests run without any); `None` when that
/// database is not available here.
async fn spawn_on(db: Db, per_user: u32, per_address: u32, registrations: u32) -> Option<TestApp> {
    TestApp::spawn_with(db, |c| {
        c.throttle.per_user_address = per_user;
        c.throttle.per_address = per_address;
        c.throttle.registrations_per_address_per_hour = registrations;
    })
    .await
}

async fn spawn(per_user: u32, per_address: u32, registrations: u32) -> TestApp {
    spawn_on(Db::Sqlite, per_user, per_address, registrations)
        .await
        .expect("SQLite is always available")
}

/// A server with the contract's default limits.
async fn spawn_with_defaults() -> TestApp {
    let d = bouncer::config::Config::default().throttle;
    spawn(
        d.per_user_address,
        d.per_address,
        d.registrations_per_address_per_hour,
    )
    .await
}

/// A client whose connections come from `addr` (any 127.0.0.0/8 address is this machine).
fn from(addr: &str) -> Client {
    Client::builder()
        .local_address(addr.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn password_grant(app: &TestApp, c: &Client, user: &str, password: &str) -> Response {
    c.post(app.at("/oauth2/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

fn retry_after(r: &Response) -> u64 {
    r.headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn register(app: &TestApp, c: &Client, name: &str) -> Response {
    c.post(app.at("/auth/register"))
        .json(
            &json!({"username": name, "email": format!("{name}@example.com"),
                      "password": "Correct-Horse-Battery-9"}),
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_tenth_failure_is_answered_then_429_at_once_even_with_the_right_password() {
    let app = spawn_with_defaults().await;
    let attacker = from("127.0.0.2");
    for i in 1..=10 {
        let r = password_grant(&app, &attacker, ADMIN, "wrong-guess").await;
        assert_eq!(r.status(), 400, "failure {i}");
    }
    let r = password_grant(&app, &attacker, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), 429);
    let after = retry_after(&r);
    assert!((1..=900).contains(&after), "Retry-After {after}");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "slow_down", "{body}");
    // Basic, /auth/login and forward-auth are the same check from the same address.
    let r = attacker
        .get(app.at("/users/me"))
        .header("authorization", basic(ADMIN, ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(retry_after(&r) >= 1);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "throttled", "{body}");
    let r = attacker
        .post(app.at("/auth/login"))
        .json(&json!({"username": ADMIN, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let r = attacker
        .get(app.at("/auth/verify"))
        .header("authorization", basic(ADMIN, ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "forward-auth answers only 401/403");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "throttled", "{body}");

    // The owner, from another address, is never refused because of someone else's failures.
    let owner = from("127.0.0.3");
    let r = password_grant(&app, &owner, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), 200);
    let r = owner
        .get(app.at("/users/me"))
        .header("authorization", basic(ADMIN, ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The window passes: the address may try again.
    app.clock.advance_s(900);
    let r = password_grant(&app, &attacker, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), 200);

    // Every refusal is in the audit trail, with why.
    let token = app.admin_token().await;
    let (_, _, events) = call(
        owner
            .get(app.at("/audit/events?action=login&outcome=failure"))
            .bearer_auth(&token),
    )
    .await;
    let reasons: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    assert!(reasons.contains(&"throttled"), "{reasons:?}");
    assert!(reasons.contains(&"wrong_password"), "{reasons:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_cached_basic_credential_is_refused_once_its_address_is_throttled() {
    let app = spawn_with_defaults().await;
    let c = from("127.0.0.4");
    let me = |c: &Client| {
        c.get(app.at("/users/me"))
            .header("authorization", basic(ADMIN, ADMIN_PASSWORD))
            .send()
    };
    assert_eq!(me(&c).await.unwrap().status(), 200, "now cached");
    for _ in 0..10 {
        let r = c
            .get(app.at("/users/me"))
            .header("authorization", basic(ADMIN, "wrong-guess"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    assert_eq!(me(&c).await.unwrap().status(), 429);
    assert_eq!(me(&from("127.0.0.5")).await.unwrap().status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn unknown_usernames_count_like_known_ones_and_an_address_spraying_is_refused() {
    let app = spawn(3, 5, 0).await;
    let c = from("127.0.0.6");
    for _ in 0..3 {
        assert_eq!(password_grant(&app, &c, "ghost", "x").await.status(), 400);
    }
    assert_eq!(password_grant(&app, &c, "ghost", "x").await.status(), 429);
    assert_eq!(password_grant(&app, &c, "Ghost", "x").await.status(), 429);
    // Two more failures on other names: the address has used its five.
    for name in ["carol", "dave"] {
        assert_eq!(password_grant(&app, &c, name, "x").await.status(), 400);
    }
    let r = password_grant(&app, &c, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), 429, "any username from that address");
    let r = password_grant(&app, &from("127.0.0.7"), ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn wrong_client_secrets_and_current_passwords_count_too() {
    let app = spawn(3, 100, 0).await;
    let token = app.admin_token().await;
    let created: Value = app
        .client
        .post(app.at("/clients"))
        .bearer_auth(&token)
        .json(&json!({"name": "svc", "scopes": ["items:read"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let grant = |c: &Client, secret: &str| {
        c.post(app.at("/oauth2/token"))
            .basic_auth(&id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    let c = from("127.0.0.8");
    for _ in 0..3 {
        assert_eq!(grant(&c, "bnc_cs_wrong").await.unwrap().status(), 401);
    }
    let r = grant(&c, &secret).await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(retry_after(&r) >= 1);
    assert_eq!(
        grant(&from("127.0.0.9"), &secret).await.unwrap().status(),
        200
    );

    // PATCH /users/me with a wrong current_password is a password check like a login.
    let c = from("127.0.0.10");
    let mine = app.token(ADMIN, ADMIN_PASSWORD).await;
    let change = |c: &Client, current: &str| {
        c.patch(app.at("/users/me"))
            .bearer_auth(&mine)
            .json(&json!({"password": "Another-Long-Passphrase-42", "current_password": current}))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(change(&c, "not-it").await.unwrap().status(), 422);
    }
    let r = change(&c, ADMIN_PASSWORD).await.unwrap();
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "throttled");
    app.stop().await;
}

#[tokio::test]
async fn registrations_per_address_per_hour() {
    let app = spawn(0, 0, 3).await;
    let c = from("127.0.0.11");
    for i in 0..2 {
        assert_eq!(register(&app, &c, &format!("reg{i}")).await.status(), 201);
    }
    // A taken username counts as well: probing which names exist costs the same.
    assert_eq!(register(&app, &c, "reg0").await.status(), 409);
    let r = register(&app, &c, "reg9").await;
    assert_eq!(r.status(), 429);
    assert!((1..=3600).contains(&retry_after(&r)));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
    assert_eq!(
        register(&app, &from("127.0.0.12"), "reg9").await.status(),
        201
    );
    // Successful logins are never limited.
    for _ in 0..30 {
        let r = password_grant(&app, &c, "reg1", "Correct-Horse-Battery-9").await;
        assert_eq!(r.status(), 200);
    }
    app.clock.advance_s(3600);
    assert_eq!(register(&app, &c, "reg10").await.status(), 201);
    app.stop().await;
}

/// Failures on one instance count on the other (shared through the database, within a second).
async fn instances_share_counts(db: Db) {
    let Some(a) = spawn_on(db, 4, 100, 0).await else {
        return;
    };
    let b = TestApp::spawn_shared(&a).await;
    let c = from("127.0.0.13");
    for app in [&a, &b, &a, &b] {
        assert_eq!(password_grant(app, &c, ADMIN, "wrong").await.status(), 400);
    }
    // Each instance saw two failures; together they are four. Polled, not timed: the share
    // runs every 250 ms.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    for app in [&a, &b] {
        loop {
            let r = password_grant(app, &from("127.0.0.14"), ADMIN, ADMIN_PASSWORD).await;
            assert_eq!(r.status(), 200, "another address is untouched");
            let r = c
                .get(app.at("/users/me"))
                .header("authorization", basic(ADMIN, ADMIN_PASSWORD))
                .send()
                .await
                .unwrap();
            if r.status() == 429 {
                break;
            }
            assert_eq!(r.status(), 200);
            assert!(
                std::time::Instant::now() < deadline,
                "the other instance's failures never counted"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    // A restarted instance still knows (the counts are in the database).
    let (config, clock, dir) = b.stop_and_keep().await;
    let b = TestApp::spawn_from(config, clock, dir).await;
    let r = password_grant(&b, &c, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), 429);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn instances_share_counts_on_sqlite() {
    instances_share_counts(Db::Sqlite).await;
}

#[tokio::test]
async fn instances_share_counts_on_postgres() {
    instances_share_counts(Db::Postgres).await;
}
