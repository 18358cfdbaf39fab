//! `TestApp`: the real server, in-process, on a random port, with a fresh database per test.

pub mod http;
pub mod postgres;

use std::sync::Arc;

use bouncer::app::Server;
use bouncer::config::Config;
use bouncer_core::clock::ManualClock;
use bouncer_core::service::Bouncer;
use reqwest::{Client, Response};
use serde_json::{Value, json};

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "Admin-password-1";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub url: String,
    pub client: Client,
    pub bouncer: Arc<Bouncer>,
    pub clock: ManualClock,
    pub config: Config,
    pub dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    /// A server on a fresh SQLite database.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(Db::Sqlite, |_| {})
            .await
            .expect("SQLite is always available")
    }

    /// A server on `db`, or `None` when that database is not available here (PostgreSQL missing;
    /// the harness has already printed why, and fails instead under CI=true).
    pub async fn spawn_on(db: Db) -> Option<TestApp> {
        Self::spawn_with(db, |_| {}).await
    }

    /// Like `spawn_on`, letting the test adjust the configuration first.
    pub async fn spawn_with(db: Db, adjust: impl FnOnce(&mut Config)) -> Option<TestApp> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(db, &dir)?;
        adjust(&mut config);
        Some(Self::spawn_from(config, ManualClock::default(), dir).await)
    }

    /// A second server on the same database (and clock) as `other`: another instance.
    pub async fn spawn_shared(other: &TestApp) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::spawn_from(other.config.clone(), other.clock.clone(), dir).await
    }

    /// Stops the server and hands back what a restart on the same database needs.
    pub async fn stop_and_keep(mut self) -> (Config, ManualClock, tempfile::TempDir) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        (self.config, self.clock, self.dir)
    }

    /// A server on `config` (its database as it is), with `clock`, keeping `dir` alive.
    pub async fn spawn_from(config: Config, clock: ManualClock, dir: tempfile::TempDir) -> TestApp {
        let server = Server::bind(config.clone(), Arc::new(clock.clone()))
            .await
            .expect("server starts");
        let url = format!("http://{}", server.addr);
        let bouncer = server.bouncer.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .serve(async {
                    let _ = rx.await;
                })
                .await
                .expect("server runs");
        });
        let client = Client::builder().build().expect("client");
        TestApp {
            url,
            client,
            bouncer,
            clock,
            config,
            dir,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Stops the server and waits for it to drain.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// `POST /oauth2/token` with the password grant; the raw response.
    pub async fn token_response(
        &self,
        username: &str,
        password: &str,
        scope: Option<&str>,
    ) -> Response {
        let mut form = vec![
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        self.client
            .post(self.at("/oauth2/token"))
            .form(&form)
            .send()
            .await
            .expect("request")
    }

    /// An access token for the user; panics if refused.
    pub async fn token(&self, username: &str, password: &str) -> String {
        self.scoped_token(username, password, None).await
    }

    pub async fn scoped_token(
        &self,
        username: &str,
        password: &str,
        scope: Option<&str>,
    ) -> String {
        let r = self.token_response(username, password, scope).await;
        assert_eq!(r.status(), 200, "token for {username}");
        r.json::<Value>().await.expect("json")["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    pub async fn admin_token(&self) -> String {
        self.token(ADMIN, ADMIN_PASSWORD).await
    }

    /// Registers a user and, as admin, gives it exactly `roles`. Returns (username, password, id).
    pub async fn user_with_roles(&self, name: &str, roles: &[&str]) -> (String, String, String) {
        let password = format!("Pw-{name}-123456");
        let r = self
            .client
            .post(self.at("/auth/register"))
            .json(&json!({"username": name, "email": format!("{name}@example.com"), "password": password}))
            .send()
            .await
            .expect("request");
        assert_eq!(
            r.status(),
            201,
            "register {name}: {}",
            r.text().await.unwrap_or_default()
        );
        let id = r.json::<Value>().await.expect("json")["id"]
            .as_str()
            .expect("id")
            .to_owned();
        if roles != ["user"] {
            let admin = self.admin_token().await;
            let r = self
                .client
                .patch(self.at(&format!("/users/{id}")))
                .bearer_auth(admin)
                .json(&json!({"roles": roles}))
                .send()
                .await
                .expect("request");
            assert_eq!(r.status(), 200, "set roles of {name}");
        }
        (name.to_owned(), password, id)
    }

    /// Logs in at `/auth/login`; returns the `Cookie` value of the new session
    /// (`bouncer_session=...`) and its CSRF token.
    pub async fn session_login(&self, username: &str, password: &str) -> (String, String) {
        let r = self
            .client
            .post(self.at("/auth/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200, "session login");
        let cookie = r.headers()["set-cookie"]
            .to_str()
            .expect("Set-Cookie")
            .split(';')
            .next()
            .expect("cookie pair")
            .to_owned();
        let body: Value = r.json().await.expect("JSON");
        let csrf = body["csrf_token"].as_str().expect("csrf_token").to_owned();
        (cookie, csrf)
    }

    pub async fn get_bearer(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.at(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }
}

/// A configuration for tests: random port, fresh database, cheap Argon2 (the real parameters are
/// tested on their own), a known admin password.
pub fn test_config(db: Db, dir: &tempfile::TempDir) -> Option<Config> {
    let mut c = Config::default();
    c.server.listen = "127.0.0.1:0".into();
    c.database.url = match db {
        Db::Sqlite => format!("sqlite://{}/bouncer.db", dir.path().display()),
        Db::Postgres => postgres::postgres()?.fresh_database(),
    };
    c.admin.username = ADMIN.into();
    c.admin.password = ADMIN_PASSWORD.into();
    c.passwords.argon2_memory_kib = 1024;
    c.passwords.argon2_iterations = 1;
    c.tokens.issuer = "http://bouncer.test".into();
    c.auth.revision_poll_ms = 200;
    // Every test's traffic comes from 127.0.0.1, many registrations and failed logins among it:
    // throttling is off here and tested on its own (the `throttling` module sets its limits).
    c.throttle.per_user_address = 0;
    c.throttle.per_address = 0;
    c.throttle.registrations_per_address_per_hour = 0;
    Some(c)
}

/// Both databases, for tests that must behave the same on each.
pub const BOTH: [Db; 2] = [Db::Sqlite, Db::Postgres];

/// Segment `i` of a compact JWS (0: header, 1: claims) as JSON, read without checking anything.
pub fn jwt_part(token: &str, i: usize) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(i).expect("a JWS segment");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .expect("base64url"),
    )
    .expect("JSON")
}

/// An `Authorization: Basic` value for `user` and `password` (RFC 7617).
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// A TCP port free on 127.0.0.1 right now, for programs the tests start.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}
