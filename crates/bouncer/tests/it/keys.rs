//! Signing-key rotation (published first, signing after the delay, replaced keys verifying until
//! their last token expires), rotation seen by another instance, and keys sealed at rest under a
//! key-encryption key.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{ADMIN, ADMIN_PASSWORD, BOTH, Db, TestApp, jwt_part};

fn kid(token: &str) -> String {
    jwt_part(token, 0)["kid"].as_str().unwrap().to_owned()
}

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let r = app
        .client
        .get(app.at("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=300")
    );
    let v: Value = r.json().await.unwrap();
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// The rotation's timeline: the new key is in the JWKS at once and signs only after
/// `publish_delay_s`; the old key signs until then and verifies (and stays published) until
/// `access_ttl + leeway` after that; then it is gone.
#[tokio::test]
async fn a_rotation_publishes_first_signs_later_and_retires_the_old_key() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let before = app.admin_token().await;
        let old = kid(&before);
        assert_eq!(jwks_kids(&app).await, vec![old.clone()]);

        let new = app.bouncer.rotate_keys(false).await.unwrap();
        assert_ne!(new, old);
        assert_eq!(
            jwks_kids(&app).await,
            vec![old.clone(), new.clone()],
            "{db:?}"
        );
        let during = app.admin_token().await;
        assert_eq!(kid(&during), old, "the new key waits for the publish delay");
        let states: Vec<(String, &str)> = app
            .bouncer
            .list_keys()
            .await
            .unwrap()
            .into_iter()
            .map(|k| (k.kid, k.state))
            .collect();
        assert_eq!(
            states,
            vec![(old.clone(), "signing"), (new.clone(), "next")]
        );

        app.clock.advance_s(300);
        let after = app.admin_token().await;
        assert_eq!(kid(&after), new);
        for t in [&before, &during, &after] {
            assert_eq!(app.get_bearer("/users/me", t).await.status(), 200, "{db:?}");
        }
        // 900 s of access-token life and 60 s of leeway later, the old key is gone.
        app.clock.advance_s(961);
        assert_eq!(jwks_kids(&app).await, vec![new.clone()]);
        let fresh = app.admin_token().await;
        assert_eq!(app.get_bearer("/users/me", &fresh).await.status(), 200);
        app.stop().await;
    }
}

/// `--now`: the new key signs at once; tokens of the old key still work until they expire.
#[tokio::test]
async fn an_emergency_rotation_signs_at_once() {
    let app = TestApp::spawn().await;
    let before = app.admin_token().await;
    let new = app.bouncer.rotate_keys(true).await.unwrap();
    let after = app.admin_token().await;
    assert_eq!(kid(&after), new);
    assert_eq!(app.get_bearer("/users/me", &before).await.status(), 200);
    assert_eq!(app.get_bearer("/users/me", &after).await.status(), 200);
    app.stop().await;
}

/// `--now --retire-old` (a leaked key): the replaced key stops verifying at once.
#[tokio::test]
async fn retiring_the_old_key_kills_its_tokens_at_once() {
    let app = TestApp::spawn().await;
    let before = app.admin_token().await;
    assert_eq!(app.get_bearer("/users/me", &before).await.status(), 200);
    let new = app.bouncer.rotate_keys_with(true, true).await.unwrap();
    assert_eq!(app.get_bearer("/users/me", &before).await.status(), 401);
    assert_eq!(jwks_kids(&app).await, vec![new]);
    let after = app.admin_token().await;
    assert_eq!(app.get_bearer("/users/me", &after).await.status(), 200);
    app.stop().await;
}

/// A rotation on one instance reaches another on the same database: it signs with the new key
/// when the time comes and verifies the other's new tokens.
#[tokio::test]
async fn another_instance_follows_a_rotation() {
    let Some(a) = TestApp::spawn_on(Db::Postgres).await else {
        return;
    };
    let b = TestApp::spawn_shared(&a).await;
    let new = a.bouncer.rotate_keys(true).await.unwrap();
    let from_a = a.admin_token().await;
    assert_eq!(kid(&from_a), new);
    // B verifies A's token at once (the feed, or the unknown-kid reload), and signs with the new
    // key as soon as the feed reaches it.
    assert_eq!(b.get_bearer("/users/me", &from_a).await.status(), 200);
    let started = Instant::now();
    loop {
        let r = b.token_response(ADMIN, ADMIN_PASSWORD, None).await;
        let t: Value = r.json().await.unwrap();
        if kid(t["access_token"].as_str().unwrap()) == new {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "B never signed with the new key"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b.stop().await;
    a.stop().await;
}

/// With a key-encryption key, private keys are sealed in the database; a start without it (or
/// with another) is refused, naming the setting; a database from before the key was configured
/// is sealed at the next start, and its tokens keep working.
#[tokio::test]
async fn signing_keys_are_sealed_at_rest_under_the_key_encryption_key() {
    let dir = tempfile::tempdir().unwrap();
    let kek_file = dir.path().join("kek");
    std::fs::write(&kek_file, format!("{}\n", "ab".repeat(32))).unwrap();
    let mut config = crate::support::test_config(Db::Sqlite, &dir).unwrap();
    let clock = bouncer_core::clock::ManualClock::default();

    // First without: stored as they are.
    let app = TestApp::spawn_from(config.clone(), clock.clone(), dir).await;
    let token = app.admin_token().await;
    let keys = app.bouncer.store.signing_keys(0).await.unwrap();
    assert!(keys[0].private_pem.contains("PRIVATE KEY"));
    let (mut config2, clock, dir) = app.stop_and_keep().await;

    // Then with: sealed at start; the old token still verifies.
    config2.keys.encryption_key_file = kek_file.display().to_string();
    let app = TestApp::spawn_from(config2.clone(), clock, dir).await;
    let keys = app.bouncer.store.signing_keys(0).await.unwrap();
    assert!(
        keys.iter().all(|k| k.private_pem.starts_with("sealed:v1:")),
        "{keys:?}"
    );
    assert!(keys.iter().all(|k| !k.private_pem.contains("PRIVATE")));
    assert_eq!(app.get_bearer("/users/me", &token).await.status(), 200);
    // A rotation under the key-encryption key is sealed too.
    app.bouncer.rotate_keys(true).await.unwrap();
    let keys = app.bouncer.store.signing_keys(0).await.unwrap();
    assert!(keys.iter().all(|k| k.private_pem.starts_with("sealed:v1:")));
    let (config3, clock, dir) = app.stop_and_keep().await;

    // Without the key, or with another, the server does not start.
    for other in ["", &"cd".repeat(32)] {
        let mut c = config3.clone();
        if other.is_empty() {
            c.keys.encryption_key_file = String::new();
        } else {
            let f = dir.path().join("other-kek");
            std::fs::write(&f, other).unwrap();
            c.keys.encryption_key_file = f.display().to_string();
        }
        let err = bouncer::app::Server::bind(c, std::sync::Arc::new(clock.clone()))
            .await
            .err()
            .expect("refused");
        assert!(err.to_string().contains("encryption_key"), "{err}");
    }
    let app = TestApp::spawn_from(config3, clock, dir).await;
    app.admin_token().await;
    app.stop().await;
    config.keys.encryption_key_file = "/nonexistent/kek".into();
    let err = config.validate().unwrap_err();
    assert!(
        err.to_string().contains("keys.encryption_key_file"),
        "{err}"
    );
}
