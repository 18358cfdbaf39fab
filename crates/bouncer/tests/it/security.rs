//! Regressions for findings of the security review: each test is an attack that once worked.

use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt as _;

use serde_json::json;

use crate::support::{ADMIN, ADMIN_PASSWORD, Db, TestApp};

/// One client flooding the token endpoint waits on its own slots; another client still logs in
/// (no 503), and the flood itself gets no 503 either: its requests wait their turn.
#[tokio::test]
async fn a_login_flood_from_one_address_does_not_lock_out_others() {
    let app = TestApp::spawn_with(Db::Sqlite, |c| {
        c.passwords.hash_workers = 1;
        c.passwords.hash_queue = 8;
    })
    .await
    .unwrap();
    let from = |last: u8| {
        reqwest::Client::builder()
            .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
            .build()
            .unwrap()
    };
    let flood: Vec<_> = (0..30)
        .map(|_| {
            let (client, url) = (from(2), app.at("/oauth2/token"));
            tokio::spawn(async move {
                let form = [
                    ("grant_type", "password"),
                    ("username", "nobody"),
                    ("password", "wrong-password"),
                ];
                client
                    .post(url)
                    .form(&form)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let legit = from(3);
    for _ in 0..3 {
        let form = [
            ("grant_type", "password"),
            ("username", ADMIN),
            ("password", ADMIN_PASSWORD),
        ];
        let r = legit
            .post(app.at("/oauth2/token"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "a login from another address during the flood"
        );
    }
    for f in flood {
        assert_eq!(
            f.await.unwrap(),
            400,
            "flooding requests wait for their turn and fail as invalid_grant"
        );
    }
    app.stop().await;
}

/// The SQLite file holds hashes and the private signing key: only the server's user may read it.
#[tokio::test]
async fn the_database_file_is_private() {
    let app = TestApp::spawn().await;
    for name in ["bouncer.db", "bouncer.db-wal"] {
        let mode = std::fs::metadata(app.dir.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{name} has mode {mode:o}");
    }
    app.stop().await;
}

/// A password change ends the tokens issued before it.
#[tokio::test]
async fn a_password_change_retires_older_tokens() {
    let app = TestApp::spawn().await;
    let (name, password, id) = app.user_with_roles("pwchange", &["user"]).await;
    let old = app.token(&name, &password).await;
    assert_eq!(app.get_bearer("/users/me", &old).await.status(), 200);
    // (Within one second too: `probe::a_password_change_is_exact_within_one_second`.)
    app.clock.advance_s(1);
    let admin = app.admin_token().await;
    let r = app
        .client
        .patch(app.at(&format!("/users/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"password": "A-brand-new-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.get_bearer("/users/me", &old).await.status(), 401);
    let fresh = app.token(&name, "A-brand-new-password").await;
    assert_eq!(app.get_bearer("/users/me", &fresh).await.status(), 200);
    app.stop().await;
}

/// A stale read-modify-write cannot undo an admin's change: the self-service update that read the
/// row before the admin disabled and demoted the user is refused with 409, not written.
#[tokio::test]
async fn a_self_update_cannot_undo_a_concurrent_disable() {
    let app = TestApp::spawn().await;
    let (name, _, id) = app.user_with_roles("racer", &["moderator"]).await;
    let uid = uuid::Uuid::parse_str(&id).unwrap();
    // The row as the slow self-update read it.
    let before = app
        .bouncer
        .store
        .user_by_username(&name)
        .await
        .unwrap()
        .unwrap();
    let admin = app.admin_token().await;
    let r = app
        .client
        .patch(app.at(&format!("/users/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"roles": ["guest"], "disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut stale = before.clone();
    stale.full_name = Some("Mallory".into());
    stale.updated_at = before.updated_at + 10_000;
    let write = app
        .bouncer
        .store
        .update_user(&stale, before.updated_at)
        .await;
    assert!(
        matches!(write, Err(bouncer_core::store::StoreError::Stale)),
        "{write:?}"
    );
    let now = app.bouncer.user(uid).await.unwrap();
    assert!(now.disabled);
    assert_eq!(now.roles, vec!["guest".to_owned()]);
    app.stop().await;
}

/// Environment values of string keys are strings: a password of digits is a password, and a
/// configuration error never prints a password or a database URL.
#[tokio::test]
async fn config_errors_never_print_secrets() {
    let bin = env!("CARGO_BIN_EXE_bouncer");
    let run = |vars: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(bin);
        cmd.args(["config", "check"]);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let ok = run(&[("BOUNCER_ADMIN_PASSWORD", "123456789012")]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let ok = run(&[("BOUNCER_ADMIN__PASSWORD", "true-but-long")]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    for vars in [
        &[("BOUNCER_DATABASE_URL", "mysql://u:S3cretPw@host/db")][..],
        &[("BOUNCER_DATABASE__URL", "mysql://u:S3cretPw@host/db")][..],
        &[("BOUNCER_ADMIN_PASSWORD", "S3cret")][..],
    ] {
        let out = run(vars);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(!err.contains("S3cret"), "secret printed: {err}");
    }
}

/// With the hashing queue full the answer is 503 with `Retry-After` (a problem document, or an
/// RFC 6749 error at the token endpoint), never a 500 and never more memory.
#[tokio::test]
async fn a_full_hashing_queue_is_503_with_retry_after() {
    // One worker, no queue, and a hash slow enough (64 MiB) that concurrent requests find it busy.
    let app = TestApp::spawn_with(Db::Sqlite, |c| {
        c.passwords.hash_workers = 1;
        c.passwords.hash_queue = 0;
        c.passwords.argon2_memory_kib = 65_536;
    })
    .await
    .unwrap();
    // Each request from its own address, so the per-client slots do not serialize them.
    let requests: Vec<_> = (0..8u8)
        .map(|i| {
            let client = reqwest::Client::builder()
                .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 1, 10 + i)))
                .build()
                .unwrap();
            let url = app.at(if i % 2 == 0 { "/oauth2/token" } else { "/auth/register" });
            tokio::spawn(async move {
                let r = if i % 2 == 0 {
                    let form = [("grant_type", "password"), ("username", ADMIN), ("password", "wrong-password")];
                    client.post(url).form(&form).send().await.unwrap()
                } else {
                    let name = format!("busy{i}");
                    let body = json!({"username": name, "email": format!("{name}@example.com"), "password": "Password-123"});
                    client.post(url).json(&body).send().await.unwrap()
                };
                let status = r.status().as_u16();
                let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
                let body: serde_json::Value = r.json().await.unwrap();
                (i, status, retry, body)
            })
        })
        .collect();
    let mut busy = 0;
    for r in requests {
        let (i, status, retry, body) = r.await.unwrap();
        assert!(
            status < 500 || status == 503,
            "request {i}: {status} {body}"
        );
        if status == 503 {
            busy += 1;
            assert_eq!(retry.as_deref(), Some("1"), "request {i}");
            if i % 2 == 0 {
                assert_eq!(body["error"], "temporarily_unavailable");
            } else {
                assert_eq!(body["code"], "busy");
            }
        }
    }
    assert!(
        busy > 0,
        "eight simultaneous hashes on one worker with no queue: some must be refused"
    );
    app.stop().await;
}
