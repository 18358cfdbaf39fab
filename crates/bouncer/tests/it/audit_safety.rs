//! The audit trail's safety: hostile usernames (a NUL, a secret, a pasted password) neither stop
//! the trail nor leak, signing-key rotations are recorded, and `audit.json_log` writes JSON lines.

use serde_json::{Value, json};

use crate::audit::{FAILED_LOGINS, WRONG, all, of_request, on_both, page, password};
use crate::durability::{BinServer, server_env};
use crate::support::http::call;
use crate::support::{Db, TestApp, basic};

/// `audit.json_log`: each event is also one JSON log line (with `log.format = "json"`), even with
/// the log level at `warn`, and it carries no secret.
#[tokio::test]
async fn json_log_writes_each_event_as_a_json_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/b.db", dir.path().display());
    let mut env = server_env(&db);
    for (k, v) in [
        ("BOUNCER_AUDIT__JSON_LOG", "true"),
        ("BOUNCER_LOG__FORMAT", "json"),
        ("BOUNCER_LOG__LEVEL", "warn"),
    ] {
        env.push((k.to_owned(), v.to_owned()));
    }
    let server = BinServer::start(dir.path(), &env, "json-log").await;
    let client = reqwest::Client::new();
    let form = [
        ("grant_type", "password"),
        ("username", "json-ghost"),
        ("password", "Wrong-secret-77"),
    ];
    let r = client
        .post(server.at("/oauth2/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // SIGTERM: a graceful stop.
    let text = server.stop();
    assert!(!text.contains("Wrong-secret-77"), "a password in the log");
    let line = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["action"] == "login" && v["actor"] == "json-ghost")
        .unwrap_or_else(|| panic!("no JSON audit line for the failed login in:\n{text}"));
    assert_eq!(line["outcome"], "failure", "{line}");
    assert_eq!(line["reason"], "unknown_user", "{line}");
    assert_eq!(line["client_ip"], "127.0.0.1", "{line}");
    assert!(
        line["request_id"].is_string() && line["id"].is_string(),
        "{line}"
    );
}

/// A signing-key rotation (the operator's `bouncer keys rotate`) is recorded with the new key's id,
/// in the rotation's transaction.
#[tokio::test]
async fn a_signing_key_rotation_is_recorded() {
    let app = TestApp::spawn().await;
    let kid = app.bouncer.rotate_keys(true).await.unwrap();
    let admin = app.admin_token().await;
    let events = all(&app, &admin, &[("action", "signing_key.rotate")]).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["subject"], kid.as_str());
    assert_eq!(events[0]["actor"], "operator");
    assert_eq!(events[0]["outcome"], "success");
    app.stop().await;
}

/// What a failed login tried is recorded safely: a NUL (which PostgreSQL refuses) cannot stop the
/// trail, a secret typed as the username keeps only its prefix, and what cannot be a username is
/// not recorded.
#[tokio::test]
async fn hostile_usernames_neither_stop_the_trail_nor_leak_secrets() {
    on_both(async |app: &TestApp, db: Db| {
        let admin = app.admin_token().await;
        let (_, _, key) = call(
            app.client
                .post(app.at("/users/me/api-keys"))
                .bearer_auth(&admin)
                .json(&json!({"name": "k"})),
        )
        .await;
        let key = key["key"].as_str().unwrap().to_owned();
        password(app, "nul\u{0}name", WRONG, "r-nul").await;
        password(app, "a password pasted here", WRONG, "r-pasted").await;
        // `curl -u bnc_...:` puts the key in the username.
        let r = app
            .client
            .get(app.at("/users/me"))
            .header("authorization", basic(&key, ""))
            .header("x-request-id", "r-key")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{db:?}");
        password(app, "after", WRONG, "r-after").await;
        let events = all(app, &admin, &FAILED_LOGINS).await;
        let text = serde_json::to_string(&events).unwrap();
        assert!(!text.contains(&key), "{db:?}: the key is in the trail");
        assert!(!text.contains("a password pasted here"), "{db:?}: {text}");
        assert!(!text.contains("\\u0000"), "{db:?}");
        assert_eq!(
            of_request(&events, "r-after").len(),
            1,
            "{db:?}: the trail still works"
        );
        let redacted = events
            .iter()
            .find(|e| e["request_id"] == "r-key")
            .expect("the key login");
        assert!(
            redacted["actor"].as_str().unwrap().starts_with(&key[..8]),
            "{db:?}: {redacted}"
        );
        assert_eq!(of_request(&events, "r-nul").len(), 1, "{db:?}");
        let (st, body) = page(app, &admin, &[("actor", "nul\u{0}name")]).await;
        assert_eq!(st, 422, "{db:?}: a control character in a filter: {body}");
    })
    .await;
}
