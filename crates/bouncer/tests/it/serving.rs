//! The serving path of the binary: the body read timeout, HTTPS (rustls) with its certificate
//! re-read on SIGHUP and HSTS, and no core dumps.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bouncer::app::Server;
use bouncer::tls::Tls;
use bouncer_core::clock::ManualClock;
use reqwest::Client;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cli::bouncer_command;
use crate::durability::server_env;
use crate::support::{ADMIN, ADMIN_PASSWORD, Db, TestApp, free_port, test_config};

/// A client that sends a head announcing 1000 bytes, then 10, then stalls, gets 408 (a problem
/// document) once `server.body_read_timeout_s` is over; others are answered meanwhile.
#[tokio::test]
async fn a_body_that_stalls_gets_408_after_the_body_read_timeout() {
    let app = TestApp::spawn_with(Db::Sqlite, |c| c.server.body_read_timeout_s = 1)
        .await
        .unwrap();
    let addr = app.url.trim_start_matches("http://").to_owned();
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /oauth2/token HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(b"grant_type").await.unwrap();
    let start = Instant::now();
    // While that body stalls, the server answers others.
    let r = app.client.get(app.at("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
            if out.windows(4).any(|w| w == b"\r\n\r\n") && out.ends_with(b"}") {
                break;
            }
        }
    })
    .await;
    let waited = start.elapsed();
    let text = String::from_utf8_lossy(&out);
    assert!(read.is_ok(), "no answer within 10 s: {text}");
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "answered after {waited:?}"
    );
    let lower = text.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: application/problem+json"),
        "{text}"
    );
    assert!(text.contains(r#""code":"body_timeout""#), "{text}");
    assert!(text.contains(r#""status":408"#), "{text}");
    // A body that arrives in time is not affected.
    let r = app.token_response(ADMIN, ADMIN_PASSWORD, None).await;
    assert_eq!(r.status(), 200);
    app.stop().await;
}

/// A self-signed certificate for 127.0.0.1 and localhost: (certificate PEM, PKCS#8 key PEM).
fn self_signed() -> (String, String) {
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("a self-signed certificate");
    (cert.pem(), key_pair.serialize_pem())
}

/// A client trusting only `cert` (no connection reuse: every request is a new handshake).
fn trusting(cert: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert.as_bytes()).unwrap())
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Writes the pair where the configuration points.
fn write_pair(dir: &Path, (cert, key): &(String, String)) {
    std::fs::write(dir.join("cert.pem"), cert).unwrap();
    std::fs::write(dir.join("key.pem"), key).unwrap();
}

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

/// `bouncer serve` as a child process, its stderr in a file; killed when dropped. (Unlike the
/// suite's `BinServer` it can wait for readiness over HTTPS and give its process id.)
struct Bin {
    child: Child,
    url: String,
    stderr: PathBuf,
}

impl Bin {
    /// Starts the binary in `dir` with `env` and waits until `client` gets 200 from `/healthz`
    /// at `scheme`.
    async fn start(dir: &Path, env: &[(&str, String)], scheme: &str, client: &Client) -> Bin {
        let port = free_port();
        let stderr = dir.join("serve.stderr");
        let db = format!("sqlite://{}/b.db", dir.display());
        let child = bouncer_command(dir)
            .arg("serve")
            .envs(server_env(&db))
            .env("BOUNCER_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).unwrap())
            .spawn()
            .expect("spawn bouncer serve");
        let mut bin = Bin {
            child,
            url: format!("{scheme}://127.0.0.1:{port}"),
            stderr,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = bin.child.try_wait().unwrap() {
                panic!("bouncer serve exited ({status}):\n{}", bin.stderr());
            }
            let last = match client.get(bin.at("/healthz")).send().await {
                Ok(r) if r.status() == 200 => return bin,
                Ok(r) => format!("{}", r.status()),
                Err(e) => format!("{e:?}"),
            };
            assert!(
                Instant::now() < deadline,
                "not ready ({last}):\n{}",
                bin.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name}");
    }

    /// SIGTERM; the exit must be 0. Returns the log.
    fn stop(mut self) -> String {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "still running:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "exit {status}:\n{}", self.stderr());
        self.stderr()
    }
}

impl Drop for Bin {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits (bounded) until `check` holds.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `kill -HUP` makes the real binary re-read its pair: new connections see the new certificate;
/// a bad pair then is logged and the one in service stays.
#[tokio::test]
async fn sighup_makes_the_binary_re_read_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (self_signed(), self_signed());
    write_pair(dir.path(), &a);
    let env = [
        (
            "BOUNCER_SERVER__TLS_CERT_FILE",
            dir.path().join("cert.pem").display().to_string(),
        ),
        (
            "BOUNCER_SERVER__TLS_KEY_FILE",
            dir.path().join("key.pem").display().to_string(),
        ),
    ];
    let (old, new) = (trusting(&a.0), trusting(&b.0));
    let bin = Bin::start(dir.path(), &env, "https", &old).await;
    let r = old.get(bin.at("/healthz")).send().await.unwrap();
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");

    write_pair(dir.path(), &b);
    bin.signal("HUP");
    eventually("the new certificate in service", async || {
        new.get(bin.at("/healthz")).send().await.is_ok()
    })
    .await;
    assert!(old.get(bin.at("/healthz")).send().await.is_err());

    write_pair(dir.path(), &(b.0.clone(), a.1.clone()));
    bin.signal("HUP");
    eventually("the refusal logged", async || {
        bin.stderr().contains("still serving the previous ones")
    })
    .await;
    let r = new.get(bin.at("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "the pair in service changed");
    let log = bin.stop();
    assert!(log.contains("server.tls_key_file"), "{log}");
}

/// A certificate file that is not there stops start-up as a configuration error: exit 2, one
/// line naming the key.
#[test]
fn a_missing_certificate_file_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (_, key) = self_signed();
    std::fs::write(dir.path().join("key.pem"), key).unwrap();
    let db = format!("sqlite://{}/b.db", dir.path().display());
    let out = bouncer_command(dir.path())
        .arg("serve")
        .envs(server_env(&db))
        .env("BOUNCER_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("BOUNCER_SERVER__TLS_CERT_FILE", dir.path().join("nope.pem"))
        .env("BOUNCER_SERVER__TLS_KEY_FILE", dir.path().join("key.pem"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let named: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("server.tls_cert_file"))
        .collect();
    assert_eq!(named.len(), 1, "{err}");
    assert!(
        named[0].starts_with("bouncer: config: ") && named[0].contains("nope.pem"),
        "{err}"
    );
}

/// `bouncer serve` runs with core dumps off (soft and hard limit 0): its memory holds passwords
/// (the Basic-credential cache) and keys.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_server_runs_without_core_dumps() {
    let dir = tempfile::tempdir().unwrap();
    let bin = Bin::start(dir.path(), &[], "http", &Client::new()).await;
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", bin.child.id())).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .expect("a core file size line");
    let values: Vec<&str> = core["Max core file size".len()..]
        .split_whitespace()
        .collect();
    assert_eq!(values[..2], ["0", "0"], "{core}");
    bin.stop();
}
