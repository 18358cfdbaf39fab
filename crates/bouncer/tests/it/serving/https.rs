//! HTTPS on the in-process server: HSTS and a `Secure` session cookie over TLS (neither over
//! plain HTTP), and a reload that takes a good new pair for new connections and keeps the pair in
//! service when the new one is bad.

use std::sync::Arc;
use std::time::Duration;

use bouncer::app::Server;
use bouncer::tls::Tls;
use bouncer_core::clock::ManualClock;
use serde_json::json;

use super::{self_signed, trusting, write_pair};
use crate::support::{ADMIN, ADMIN_PASSWORD, Db, TestApp, test_config};

/// The in-process server over HTTPS, with its TLS handle (what SIGHUP calls).
struct TlsApp {
    url: String,
    tls: Tls,
    dir: tempfile::TempDir,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl TlsApp {
    async fn spawn(pair: &(String, String)) -> TlsApp {
        let dir = tempfile::tempdir().unwrap();
        write_pair(dir.path(), pair);
        let mut config = test_config(Db::Sqlite, &dir).unwrap();
        config.server.tls_cert_file = dir.path().join("cert.pem").display().to_string();
        config.server.tls_key_file = dir.path().join("key.pem").display().to_string();
        let server = Server::bind(config, Arc::new(ManualClock::default()))
            .await
            .expect("server starts");
        let url = format!("https://{}", server.addr);
        let tls = server.tls().expect("TLS is configured");
        let (shutdown, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let stop = async {
                let _ = rx.await;
            };
            server.serve(stop).await.expect("server runs");
        });
        TlsApp {
            url,
            tls,
            dir,
            shutdown,
            task,
        }
    }

    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    async fn stop(self) {
        let _ = self.shutdown.send(());
        let _ = self.task.await;
    }
}

/// Over TLS: 200 with HSTS (beside the other security headers) and a `Secure` session cookie;
/// plain HTTP to the TLS port gets nothing. A plain-HTTP server sends no HSTS and (auto) no
/// `Secure`.
#[tokio::test]
async fn https_answers_with_hsts_and_a_secure_session_cookie() {
    let pair = self_signed();
    let app = TlsApp::spawn(&pair).await;
    let client = trusting(&pair.0);
    let r = client.get(app.at("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    // On errors too.
    let r = client.get(app.at("/no/such/route")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
    let r = client
        .post(app.at("/auth/login"))
        .json(&json!({"username": ADMIN, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.split(';').any(|a| a.trim() == "Secure"), "{cookie}");
    let plain = app.url.replace("https://", "http://");
    let r = reqwest::Client::new()
        .get(format!("{plain}/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(r.is_err(), "plain HTTP on the TLS port: {r:?}");
    app.stop().await;

    let app = TestApp::spawn().await;
    let r = app.client.get(app.at("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("strict-transport-security").is_none());
    let r = app
        .client
        .post(app.at("/auth/login"))
        .json(&json!({"username": ADMIN, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(!cookie.split(';').any(|a| a.trim() == "Secure"), "{cookie}");
    app.stop().await;
}

/// Reload takes a new pair for new connections; a bad new pair (garbage, a key that does not
/// match, a missing file) is refused with the key named, and the pair in service stays.
#[tokio::test]
async fn reload_takes_a_new_pair_and_keeps_the_old_one_when_the_new_is_bad() {
    let (a, b) = (self_signed(), self_signed());
    let app = TlsApp::spawn(&a).await;
    let (old, new) = (trusting(&a.0), trusting(&b.0));
    assert_eq!(
        old.get(app.at("/healthz")).send().await.unwrap().status(),
        200
    );
    assert!(new.get(app.at("/healthz")).send().await.is_err());

    write_pair(app.dir.path(), &b);
    app.tls.reload().expect("a good pair is taken");
    assert_eq!(
        new.get(app.at("/healthz")).send().await.unwrap().status(),
        200
    );
    assert!(
        old.get(app.at("/healthz")).send().await.is_err(),
        "a new connection still saw the old certificate"
    );

    let bad: [(&str, String, String, &str); 4] = [
        (
            "garbage certificate",
            "not PEM".into(),
            b.1.clone(),
            "server.tls_cert_file",
        ),
        (
            "empty key",
            b.0.clone(),
            String::new(),
            "server.tls_key_file",
        ),
        (
            "key of another certificate",
            b.0.clone(),
            a.1.clone(),
            "server.tls_key_file",
        ),
        (
            "certificate as the key",
            b.0.clone(),
            b.0.clone(),
            "server.tls_key_file",
        ),
    ];
    for (what, cert, key, named) in bad {
        write_pair(app.dir.path(), &(cert, key));
        let err = app.tls.reload().expect_err(what).to_string();
        assert!(err.contains(named), "{what}: {err}");
        let r = new.get(app.at("/healthz")).send().await;
        assert_eq!(
            r.unwrap().status(),
            200,
            "{what}: the pair in service changed"
        );
    }
    std::fs::remove_file(app.dir.path().join("cert.pem")).unwrap();
    let err = app.tls.reload().expect_err("missing file").to_string();
    assert!(
        err.contains("server.tls_cert_file") && err.contains("cannot read"),
        "{err}"
    );
    assert_eq!(
        new.get(app.at("/healthz")).send().await.unwrap().status(),
        200
    );
    app.stop().await;
}
