//! Regressions from the outside security probe, the rules: the default role, password rules,
//! look-alike emails, request ids, and exactly one `Host`.

use std::io::{Read, Write};

use serde_json::json;

use super::patch_user;
use crate::support::http::{assert_problem, call};
use crate::support::{BOTH, Db, TestApp};

/// `auth.default_role` is what registration gives, and it cannot be deleted, `force` or not; a
/// default role that does not exist stops start-up.
#[tokio::test]
async fn the_default_role_is_given_and_cannot_be_deleted() {
    let app = TestApp::spawn_with(Db::Sqlite, |c| c.auth.default_role = "guest".into())
        .await
        .unwrap();
    let (name, pw, _) = app.user_with_roles("newbie", &["user"]).await;
    let t = app.token(&name, &pw).await;
    let (_, _, me) = call(app.client.get(app.at("/users/me")).bearer_auth(&t)).await;
    assert_eq!(me["roles"], json!(["guest"]));
    let admin = app.admin_token().await;
    for path in ["/roles/guest", "/roles/guest?force=true"] {
        let got = call(app.client.delete(app.at(path)).bearer_auth(&admin)).await;
        assert_problem(path, &got, 409, "default_role", None);
    }
    // `user` is no longer the default: it can go.
    let (s, _, _) = call(
        app.client
            .delete(app.at("/roles/user?force=true"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(s, 204);
    app.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::support::test_config(Db::Sqlite, &dir).unwrap();
    config.auth.default_role = "nonexistent".into();
    let err = bouncer::app::Server::bind(
        config,
        std::sync::Arc::new(bouncer_core::clock::ManualClock::default()),
    )
    .await
    .err()
    .expect("a missing default role stops start-up");
    assert!(err.to_string().contains("auth.default_role"), "{err}");
}

/// The password rules: characters not bytes, 8 to 1,024, not the username or email, and a zxcvbn
/// score of at least 2; every refusal is 422 `weak_password` naming the field, on every route.
#[tokio::test]
async fn weak_passwords_are_refused_everywhere() {
    let app = TestApp::spawn().await;
    let register = |app: &TestApp, name: &str, pw: &str| {
        app.client.post(app.at("/auth/register")).json(
            &json!({"username": name, "email": format!("{name}@example.com"), "password": pw}),
        )
    };
    for (what, name, pw) in [
        ("too short", "shorty", "Xy7#q"),
        ("common", "commoner", "password1"),
        ("keyboard walk", "walker", "qwertyuiop"),
        ("the username", "Zebulon.Fairweather", "zebulon.fairweather"),
        ("the email", "emailer", "emailer@example.com"),
        ("over 1,024 characters", "longer", &"Vq7#kLp2!".repeat(114)),
        ("seven 2-byte characters", "bytes", "ñçøåþðß"),
    ] {
        let got = call(register(&app, name, pw)).await;
        assert_problem(what, &got, 422, "weak_password", Some("password"));
    }
    // Eight 2-byte characters are eight characters (16 bytes would have passed a byte count anyway).
    let (s, _, body) = call(register(&app, "chars", "ñçøåþðßæ")).await;
    assert_eq!(s, 201, "{body}");
    // A password change and an admin's reset follow the same rules.
    let (name, pw, id) = app.user_with_roles("changer", &["user"]).await;
    let t = app.token(&name, &pw).await;
    let got = call(
        app.client
            .patch(app.at("/users/me"))
            .bearer_auth(&t)
            .json(&json!({"password": "iloveyou1", "current_password": pw})),
    )
    .await;
    assert_problem("own change", &got, 422, "weak_password", Some("password"));
    let admin = app.admin_token().await;
    let got = call(patch_user(
        &app,
        &admin,
        &id,
        json!({"password": "changer"}),
    ))
    .await;
    assert_problem(
        "admin reset to the username",
        &got,
        422,
        "weak_password",
        Some("password"),
    );
    app.stop().await;

    // The score is configurable (0 turns zxcvbn off; length still applies).
    let app = TestApp::spawn_with(Db::Sqlite, |c| c.passwords.min_score = 0)
        .await
        .unwrap();
    let (s, _, _) = call(register(&app, "lenient", "password1")).await;
    assert_eq!(s, 201);
    app.stop().await;
}

/// Emails are unique in NFKC form: a full-width look-alike of a taken address is a 409.
#[tokio::test]
async fn a_full_width_email_look_alike_is_a_conflict() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let reg = |name: &str, email: &str| {
            app.client
                .post(app.at("/auth/register"))
                .json(&json!({"username": name, "email": email, "password": "Pw-look-alike-river"}))
        };
        let (s, _, _) = call(reg("original", "alice@example.com")).await;
        assert_eq!(s, 201);
        let got = call(reg("lookalike", "ａｌｉｃｅ@example.com")).await;
        assert_problem("full-width local part", &got, 409, "conflict", None);
        let got = call(reg("lookalike2", "ALICE@EXAMPLE.COM")).await;
        assert_problem("other case", &got, 409, "conflict", None);
        app.stop().await;
    }
}

/// A client's `X-Request-Id` is kept only when it is 1-128 characters of `[A-Za-z0-9._:-]`;
/// otherwise, and when absent, a random UUID is used.
#[tokio::test]
async fn request_ids_are_checked_and_generated_at_random() {
    let app = TestApp::spawn().await;
    let id_for = |sent: Option<&str>| {
        let mut rb = app.client.get(app.at("/healthz"));
        if let Some(v) = sent {
            rb = rb.header("x-request-id", v);
        }
        async move {
            let r = rb.send().await.unwrap();
            r.headers()["x-request-id"].to_str().unwrap().to_owned()
        }
    };
    let good = "trace-01.a_b:c";
    assert_eq!(id_for(Some(good)).await, good);
    let max = "x".repeat(128);
    assert_eq!(id_for(Some(&max)).await, max);
    let mut generated = Vec::new();
    for bad in [
        "x".repeat(129),
        "has space".to_owned(),
        "quote\"d".to_owned(),
        "log=forged".to_owned(),
        "ünïcode".to_owned(),
    ] {
        let got = id_for(Some(&bad)).await;
        assert_ne!(got, bad);
        generated.push(got);
    }
    generated.push(id_for(None).await);
    generated.push(id_for(None).await);
    for id in &generated {
        let uuid = uuid::Uuid::parse_str(id).unwrap_or_else(|_| panic!("not a UUID: {id}"));
        assert_eq!(uuid.get_version_num(), 4, "random, not a counter: {id}");
    }
    let unique: std::collections::HashSet<_> = generated.iter().collect();
    assert_eq!(unique.len(), generated.len());
    // Two ids drawn in a row share no long prefix or suffix, as counters would.
    let (a, b) = (generated[5].replace('-', ""), generated[6].replace('-', ""));
    assert_ne!(a[..16], b[..16]);
    assert_ne!(a[16..], b[16..]);
    app.stop().await;
}

/// Sends `head` on a raw connection and returns the status line.
fn raw_status(addr: &str, head: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(2).any(|w| w == b"\r\n") {
        let n = s.read(&mut chunk).unwrap();
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&buf)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

/// RFC 9112 §3.2: no `Host`, or two, is 400.
#[tokio::test]
async fn a_request_needs_exactly_one_host_header() {
    let app = TestApp::spawn().await;
    let addr = app.url.trim_start_matches("http://").to_owned();
    let a = addr.clone();
    let statuses = tokio::task::spawn_blocking(move || {
        [
            raw_status(&a, "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n"),
            raw_status(
                &a,
                "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
            ),
            raw_status(
                &a,
                "GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            ),
        ]
    })
    .await
    .unwrap();
    assert!(statuses[0].contains(" 400 "), "no Host: {}", statuses[0]);
    assert!(statuses[1].contains(" 400 "), "two Hosts: {}", statuses[1]);
    assert!(statuses[2].contains(" 200 "), "one Host: {}", statuses[2]);
    app.stop().await;
}
