//! The real binary's life cycle: a 201 survives `kill -9`, SIGTERM drains in-flight requests and
//! exits 0, the zero-config first start, and readiness.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{Value, json};

use crate::cli::{FAST_ARGON2, bouncer_command};
use crate::support::postgres::postgres;
use crate::support::{ADMIN, ADMIN_PASSWORD, Db, TestApp, free_port};

/// `bouncer serve` as a child process on a free port; killed (SIGKILL) when dropped.
pub(crate) struct BinServer {
    child: Child,
    pub(crate) url: String,
    stderr_path: PathBuf,
}

/// Environment of a server on `db_url` with a known admin password and cheap Argon2.
pub(crate) fn server_env(db_url: &str) -> Vec<(String, String)> {
    let mut env = vec![
        ("BOUNCER_DATABASE_URL".to_owned(), db_url.to_owned()),
        (
            "BOUNCER_ADMIN_PASSWORD".to_owned(),
            ADMIN_PASSWORD.to_owned(),
        ),
        // Bursts of registrations from 127.0.0.1 (throttling is tested on its own).
        (
            "BOUNCER_THROTTLE__REGISTRATIONS_PER_ADDRESS_PER_HOUR".to_owned(),
            "0".to_owned(),
        ),
    ];
    env.extend(
        FAST_ARGON2
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    env
}

impl BinServer {
    /// Starts `bouncer serve` in `cwd` with `env` (plus `BOUNCER_LISTEN` on a free port) and waits
    /// until `/healthz` answers. stdout and stderr go to files in `cwd` named after `label`.
    pub(crate) async fn start(cwd: &Path, env: &[(String, String)], label: &str) -> BinServer {
        let port = free_port();
        let stderr_path = cwd.join(format!("{label}.stderr"));
        let mut cmd = bouncer_command(cwd);
        cmd.arg("serve")
            .env("BOUNCER_LISTEN", format!("127.0.0.1:{port}"))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(File::create(cwd.join(format!("{label}.stdout"))).unwrap())
            .stderr(File::create(&stderr_path).unwrap());
        let child = cmd.spawn().expect("spawn bouncer serve");
        let mut server = BinServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
            stderr_path,
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&mut self) {
        let client = Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "bouncer serve exited early ({status}); stderr:\n{}",
                    self.stderr()
                );
            }
            if let Ok(r) = client.get(self.at("/healthz")).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "bouncer serve not ready after 30 s; stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// SIGTERM, then the exit (which must be 0); returns what the server wrote to stderr.
    pub(crate) fn stop(mut self) -> String {
        self.sigterm();
        let status = self.wait_exit(Duration::from_secs(30));
        assert!(
            status.success(),
            "bouncer serve exited with {status}; stderr:\n{}",
            self.stderr()
        );
        self.stderr()
    }

    /// SIGKILL: no chance to flush or clean up anything.
    pub(crate) fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    fn sigterm(&self) {
        let status = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits (bounded) for the process to exit on its own.
    fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "bouncer serve still running {limit:?} after SIGTERM; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for BinServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `POST /oauth2/token` (password grant) against a server that is not a `TestApp`.
pub(crate) async fn token_status(client: &Client, url: &str, user: &str, pw: &str) -> (u16, Value) {
    let r = client
        .post(format!("{url}/oauth2/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", pw),
        ])
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Registers `n` users back to back, SIGKILLs the server right after the last 201, restarts it on
/// the same database: every acknowledged user is there and can log in.
async fn acknowledged_registrations_survive_kill_9(db_url: &str, n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let env = server_env(db_url);
    let client = Client::new();

    let server = BinServer::start(dir.path(), &env, "first").await;
    let mut registered = Vec::new();
    for i in 0..n {
        let name = format!("crash{n}x{i:02}");
        let password = format!("Pw-{name}-123456");
        let r = client
            .post(server.at("/auth/register"))
            .json(&json!({"username": name, "email": format!("{name}@example.com"), "password": password}))
            .send()
            .await
            .expect("register");
        assert_eq!(r.status(), 201, "register {name}");
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        registered.push((name, password, id));
    }
    server.kill9();

    let server = BinServer::start(dir.path(), &env, "second").await;
    for (name, password, id) in &registered {
        let (status, body) = token_status(&client, &server.url, name, password).await;
        assert_eq!(status, 200, "{name} lost after kill -9: {body}");
        let token = body["access_token"].as_str().unwrap();
        let me = client
            .get(server.at("/users/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), 200);
        let me: Value = me.json().await.unwrap();
        assert_eq!(me["id"], id.as_str());
        assert_eq!(me["username"], name.as_str());
    }
    // Exactly the admin and the registered users: nothing lost, nothing doubled.
    let (_, body) = token_status(&client, &server.url, ADMIN, ADMIN_PASSWORD).await;
    let admin = body["access_token"].as_str().expect("admin token");
    let users: Value = client
        .get(server.at("/users?limit=100"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(users["total"], n + 1, "{users}");
}

#[tokio::test]
async fn kill_9_after_201_loses_nothing_on_sqlite() {
    for n in [1, 20] {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/bouncer.db", dir.path().display());
        acknowledged_registrations_survive_kill_9(&url, n).await;
    }
}

#[tokio::test]
async fn kill_9_after_201_loses_nothing_on_postgres() {
    let Some(pg) = postgres() else { return };
    for n in [1, 20] {
        acknowledged_registrations_survive_kill_9(&pg.fresh_database(), n).await;
    }
}

/// Reads from `s` up to and including the first blank line (the end of a response head).
fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            other => panic!(
                "connection ended inside a response head ({other:?}): {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

#[tokio::test]
async fn sigterm_drains_an_in_flight_request_then_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    // Default Argon2 parameters: a password grant takes a while (tens of ms even optimized).
    let env = vec![
        (
            "BOUNCER_DATABASE_URL".to_owned(),
            format!("sqlite://{}/bouncer.db", dir.path().display()),
        ),
        (
            "BOUNCER_ADMIN_PASSWORD".to_owned(),
            ADMIN_PASSWORD.to_owned(),
        ),
    ];
    let mut server = BinServer::start(dir.path(), &env, "server").await;

    // `Expect: 100-continue` makes the server say when the handler starts reading the body, so
    // the request is known to be in the server's hands (accepted, parsed, being handled) before
    // the signal: no race with the accept loop.
    let body = format!("grant_type=password&username={ADMIN}&password={ADMIN_PASSWORD}");
    let head = format!(
        "POST /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len}\r\n\
         Expect: 100-continue\r\nConnection: close\r\n\r\n",
        port = server.port(),
        len = body.len()
    );
    let mut stream = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let interim = read_head(&mut stream);
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim:?}");
    stream.write_all(body.as_bytes()).unwrap();
    // The whole request is sent; SIGTERM while Argon2 runs.
    server.sigterm();

    let mut response = String::new();
    if let Err(e) = stream.read_to_string(&mut response) {
        panic!(
            "the in-flight request got no response after SIGTERM: {e}\nstderr:\n{}",
            server.stderr()
        );
    }
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "in-flight request after SIGTERM: {response:?}\nstderr:\n{}",
        server.stderr()
    );
    assert!(response.contains("access_token"), "{response}");

    let status = server.wait_exit(Duration::from_secs(30));
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM; stderr:\n{}",
        server.stderr()
    );
    // And it is really gone: nothing listens any more.
    assert!(TcpStream::connect(("127.0.0.1", server.port())).is_err());
}

#[tokio::test]
async fn sigterm_on_an_idle_server_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let env = server_env(&format!("sqlite://{}/bouncer.db", dir.path().display()));
    let mut server = BinServer::start(dir.path(), &env, "server").await;
    // An idle keep-alive connection must not hold the shutdown up.
    let client = Client::new();
    assert_eq!(
        client
            .get(server.at("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "stderr:\n{}", server.stderr());
}

/// The indented line after "with password:" in the first-start banner.
fn generated_password(stderr: &str) -> Option<String> {
    let mut lines = stderr.lines().skip_while(|l| !l.contains("with password:"));
    lines.next()?;
    let line = lines.find(|l| !l.trim().is_empty())?;
    line.starts_with(char::is_whitespace)
        .then(|| line.trim().to_owned())
}

#[tokio::test]
async fn zero_config_first_start_creates_the_data_dir_and_prints_an_admin_password_once() {
    let dir = tempfile::tempdir().unwrap();
    // No database URL, no admin password, no config file: only a port (and cheap Argon2).
    let env: Vec<(String, String)> = FAST_ARGON2
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let server = BinServer::start(dir.path(), &env, "first").await;

    let data = dir.path().join("bouncer-data");
    let meta = std::fs::metadata(&data).expect("./bouncer-data created");
    assert!(meta.is_dir());
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o700,
        "bouncer-data holds secrets"
    );
    assert!(data.join("bouncer.db").is_file(), "bouncer-data/bouncer.db");

    let stderr = server.stderr();
    let password = generated_password(&stderr)
        .unwrap_or_else(|| panic!("no generated password on stderr:\n{stderr}"));
    assert!(password.len() >= 16, "{password:?}");
    assert!(!password.contains(char::is_whitespace));

    let client = Client::new();
    let me = client
        .get(server.at("/users/me"))
        .basic_auth(ADMIN, Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["username"], ADMIN);
    assert_eq!(me["roles"], json!(["admin"]));
    let wrong = client
        .get(server.at("/users/me"))
        .basic_auth(ADMIN, Some("not-the-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    server.kill9();

    // Second start on the same directory: no new password, the first one still works.
    let server = BinServer::start(dir.path(), &env, "second").await;
    let stderr = server.stderr();
    assert!(
        !stderr.contains("with password") && !stderr.contains(&password),
        "second start printed a password:\n{stderr}"
    );
    let me = client
        .get(server.at("/users/me"))
        .basic_auth(ADMIN, Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".stdout") && !n.ends_with(".stderr"))
        .collect();
    assert_eq!(entries, ["bouncer-data"], "nothing else written to the cwd");
}

#[tokio::test]
async fn readyz_is_200_on_sqlite() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.at("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ready");
    app.stop().await;
}

/// `psql` next to the test cluster's server.
fn psql() -> Option<PathBuf> {
    std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin/psql")))
        .filter(|p| p.is_file())
        .max()
}

fn psql_run(admin_url: &str, sql: &str) {
    let out = std::process::Command::new(psql().expect("psql"))
        .args([admin_url, "-qAt", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn readyz_until(app: &TestApp, want: u16, limit: Duration) -> Option<Value> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(r) = app
            .client
            .get(app.at("/readyz"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            && r.status().as_u16() == want
        {
            return Some(r.json().await.unwrap_or(Value::Null));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

#[tokio::test]
async fn readyz_follows_the_postgres_database() {
    let Some(pg) = postgres() else { return };
    let app = TestApp::spawn_on(Db::Postgres).await.expect("postgres");
    let r = app.client.get(app.at("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let db = app
        .config
        .database
        .url
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    // The database goes away: no new connections, the open ones terminated.
    psql_run(
        &pg.admin_url,
        &format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false"),
    );
    psql_run(
        &pg.admin_url,
        &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'"),
    );
    let body = readyz_until(&app, 503, Duration::from_secs(20))
        .await
        .expect("/readyz still 200 with the database unavailable");
    assert_eq!(body["status"], 503, "{body}");
    // Liveness is not readiness: the process still answers.
    let r = app.client.get(app.at("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // Back again: ready again, without a restart.
    psql_run(
        &pg.admin_url,
        &format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true"),
    );
    readyz_until(&app, 200, Duration::from_secs(20))
        .await
        .expect("/readyz not 200 again after the database came back");
    app.stop().await;
}
