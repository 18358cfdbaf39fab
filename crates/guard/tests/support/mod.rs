//! The real Bouncer binary on a free port with a fresh SQLite file, apps served in-process, and
//! one way to send a request and check a problem document.
//!
//! The binary is `$BOUNCER_BIN`, else `target/debug/bouncer`. Without it the tests that need it
//! are skipped, saying why; under `CI=true` they fail instead.

#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

pub const ADMIN_PASSWORD: &str = "Admin-password-1";
pub const ALICE_PASSWORD: &str = "correct horse";

/// The Bouncer binary, or `None` (after saying why) when it is missing outside CI.
pub fn bouncer_bin() -> Option<PathBuf> {
    let path = std::env::var_os("BOUNCER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/bouncer")
        });
    if path.is_file() {
        return Some(path);
    }
    let reason = format!(
        "the Bouncer binary {} is missing (cargo build -p bouncer --bin bouncer, or set BOUNCER_BIN)",
        path.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{reason}; under CI=true this is a failure");
    }
    // Straight to stderr: the test harness captures eprintln! of passing tests.
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "SKIP: {reason}");
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn scratch_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "bouncer-guard-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// A running Bouncer; stopped (and its files removed) when dropped.
pub struct Bouncer {
    child: Child,
    bin: PathBuf,
    dir: PathBuf,
    pub url: String,
    pub db_url: String,
    pub http: reqwest::Client,
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Bouncer {
    /// Starts `bin serve` with a fresh database, the throttles off, and `extra` settings.
    pub async fn start(bin: &Path, extra: &[(&str, &str)]) -> Bouncer {
        let dir = scratch_dir();
        let port = free_port();
        let db_url = format!("sqlite://{}/bouncer.db", dir.display());
        let stderr = std::fs::File::create(dir.join("stderr.log")).expect("a log file");
        let mut cmd = Command::new(bin);
        cmd.arg("serve");
        Self::environment(&mut cmd, &db_url);
        cmd.env("BOUNCER_LISTEN", format!("127.0.0.1:{port}"))
            .env("BOUNCER_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("BOUNCER_THROTTLE__PER_ADDRESS", "0")
            .env("BOUNCER_THROTTLE__PER_USER_ADDRESS", "0")
            .env("BOUNCER_THROTTLE__REGISTRATIONS_PER_ADDRESS_PER_HOUR", "0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(stderr);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("bouncer starts");
        let mut b = Bouncer {
            child,
            bin: bin.to_owned(),
            dir,
            url: format!("http://127.0.0.1:{port}"),
            db_url,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("a client"),
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(Some(status)) = b.child.try_wait() {
                let log = std::fs::read_to_string(b.dir.join("stderr.log")).unwrap_or_default();
                panic!("bouncer exited with {status}: {log}");
            }
            if let Ok(r) = b.http.get(format!("{}/readyz", b.url)).send().await
                && r.status() == 200
            {
                return b;
            }
            assert!(Instant::now() < deadline, "bouncer not ready after 90 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn environment(cmd: &mut Command, db_url: &str) {
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("BOUNCER_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("BOUNCER_DATABASE_URL", db_url);
    }

    /// Runs the CLI on the same database (`keys rotate --now`).
    pub fn cli(&self, args: &[&str]) -> String {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args);
        Self::environment(&mut cmd, &self.db_url);
        let out = cmd.env("RUST_LOG", "warn").output().expect("the CLI runs");
        assert!(
            out.status.success(),
            "bouncer {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub async fn register(&self, username: &str, password: &str) {
        let r = self
            .http
            .post(format!("{}/auth/register", self.url))
            .json(&json!({"username": username, "email": format!("{username}@example.com"), "password": password}))
            .send()
            .await
            .expect("register");
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    }

    async fn grant(&self, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Value {
        let mut req = self
            .http
            .post(format!("{}/oauth2/token", self.url))
            .form(form);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        let r = req.send().await.expect("token");
        let status = r.status();
        let body: Value = r.json().await.expect("a JSON answer");
        assert_eq!(status, 200, "{body}");
        body
    }

    /// An access token for a user (the password grant), narrowed to `scope` if given.
    pub async fn token(&self, username: &str, password: &str, scope: Option<&str>) -> String {
        self.grant_pair(username, password, scope).await.0
    }

    /// (access token, refresh token).
    pub async fn grant_pair(
        &self,
        username: &str,
        password: &str,
        scope: Option<&str>,
    ) -> (String, String) {
        let mut form = vec![
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        let body = self.grant(&form, None).await;
        (
            body["access_token"].as_str().expect("a token").to_owned(),
            body["refresh_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    }

    pub async fn admin_token(&self) -> String {
        self.token("admin", ADMIN_PASSWORD, None).await
    }

    /// A registered client holding `scopes`: (client_id, client_secret).
    pub async fn client(&self, name: &str, scopes: &[&str]) -> (String, String) {
        let r = self
            .http
            .post(format!("{}/clients", self.url))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .json(&json!({"name": name, "scopes": scopes}))
            .send()
            .await
            .expect("create a client");
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.expect("JSON");
        (
            body["client_id"].as_str().expect("id").to_owned(),
            body["client_secret"].as_str().expect("secret").to_owned(),
        )
    }

    /// A client's own token (client-credentials grant).
    pub async fn client_token(&self, id: &str, secret: &str) -> String {
        let body = self
            .grant(&[("grant_type", "client_credentials")], Some((id, secret)))
            .await;
        body["access_token"].as_str().expect("a token").to_owned()
    }

    /// An API key of `username`: (id, key); `scopes` empty means not narrowed.
    pub async fn api_key(
        &self,
        username: &str,
        password: &str,
        scopes: &[&str],
    ) -> (String, String) {
        let mut body = json!({"name": format!("k{}", free_port())});
        if !scopes.is_empty() {
            body["scopes"] = json!(scopes);
        }
        let r = self
            .http
            .post(format!("{}/users/me/api-keys", self.url))
            .basic_auth(username, Some(password))
            .json(&body)
            .send()
            .await
            .expect("create a key");
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.expect("JSON");
        (
            body["id"].as_str().expect("id").to_owned(),
            body["key"].as_str().expect("key").to_owned(),
        )
    }

    /// Revokes an access token with itself as the credential (RFC 7009).
    pub async fn revoke(&self, token: &str) {
        let r = self
            .http
            .post(format!("{}/oauth2/revoke", self.url))
            .bearer_auth(token)
            .form(&[("token", token)])
            .send()
            .await
            .expect("revoke");
        assert_eq!(r.status(), 200);
    }

    /// Gives `username` exactly `roles` (as the admin).
    pub async fn set_roles(&self, username: &str, roles: &[&str]) {
        let users: Value = self
            .http
            .get(format!("{}/users?limit=100", self.url))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .send()
            .await
            .expect("list users")
            .json()
            .await
            .expect("JSON");
        let list = users
            .get("items")
            .or_else(|| users.get("users"))
            .unwrap_or(&users);
        let id = list
            .as_array()
            .and_then(|l| l.iter().find(|u| u["username"] == username))
            .and_then(|u| u["id"].as_str())
            .unwrap_or_else(|| panic!("no user {username} in {users}"))
            .to_owned();
        let r = self
            .http
            .patch(format!("{}/users/{id}", self.url))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .json(&json!({ "roles": roles }))
            .send()
            .await
            .expect("patch a user");
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    }

    pub async fn delete_api_key(&self, username: &str, password: &str, id: &str) {
        let r = self
            .http
            .delete(format!("{}/users/me/api-keys/{id}", self.url))
            .basic_auth(username, Some(password))
            .send()
            .await
            .expect("delete a key");
        assert_eq!(r.status(), 204);
    }
}

/// Serves `app` on a free port of this test's runtime; its base URL.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    url
}

/// An answer: status, headers, body as JSON (`Null` when not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn code(&self) -> Option<&str> {
        self.body.get("code").and_then(Value::as_str)
    }

    pub fn missing(&self) -> Option<&str> {
        self.body.get("missing").and_then(Value::as_str)
    }

    /// The `WWW-Authenticate` challenge of the Bearer scheme, if any.
    pub fn bearer_challenge(&self) -> Option<String> {
        self.headers
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("Bearer"))
            .map(str::to_owned)
    }
}

/// How a request authenticates.
#[derive(Debug, Clone)]
pub enum Cred {
    None,
    Bearer(String),
    ApiKey(String),
    /// An API key as the password of Basic.
    BasicKey(String),
    Header(&'static str, String),
}

pub async fn send(http: &reqwest::Client, method: &str, url: &str, cred: &Cred) -> Resp {
    let mut req = match method {
        "GET" => http.get(url),
        "POST" => http.post(url).json(&json!({"name": "from a test"})),
        other => panic!("method {other}"),
    };
    req = match cred {
        Cred::None => req,
        Cred::Bearer(t) => req.bearer_auth(t),
        Cred::ApiKey(k) => req.header("x-api-key", k),
        Cred::BasicKey(k) => req.basic_auth("any", Some(k)),
        Cred::Header(name, v) => req.header(*name, v),
    };
    let r = req.send().await.expect("the request is answered");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.json::<Value>().await.unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
    }
}

/// A problem document as Bouncer writes it: status, `application/problem+json`, `code`,
/// type/title/detail, and `missing` when given.
pub fn assert_problem(r: &Resp, status: u16, code: &str, missing: Option<&str>) {
    assert_eq!(r.status, status, "{r:?}");
    let ct = r
        .headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(ct.starts_with("application/problem+json"), "{r:?}");
    assert_eq!(r.body["status"], status, "{r:?}");
    assert_eq!(r.code(), Some(code), "{r:?}");
    assert_eq!(r.body["type"], "about:blank", "{r:?}");
    assert!(
        r.body["title"].is_string() && r.body["detail"].is_string(),
        "{r:?}"
    );
    if let Some(m) = missing {
        assert_eq!(r.missing(), Some(m), "{r:?}");
    }
}

/// The `kid` a JWT names.
pub fn kid_of(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().expect("a JWT");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("base64");
    let v: Value = serde_json::from_slice(&json).expect("JSON");
    v["kid"].as_str().expect("a kid").to_owned()
}
