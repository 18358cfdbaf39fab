//! The real binary's life cycle: a 201 survives `kill -9`, SIGTERM drains in-flight requests and
//! exits 0, the zero-config first start, and readiness.
//!
//! Here: `BinServer` (the binary as a child process, used across the suite), its environment, and
//! the acknowledged registrations that survive `kill -9`. SIGTERM is in `shutdown`, the
//! zero-config first start in `first_start`, `/readyz` in `readiness`.

mod first_start;
mod readiness;
mod shutdown;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{Value, json};

use crate::cli::{FAST_ARGON2, bouncer_command};
use crate::support::http::call;
use crate::support::postgres::postgres;
use crate::support::{ADMIN, ADMIN_PASSWORD, free_port};

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
    /// until `/healthz` answers. stdout and stderr go to files in `cwd` named after `label`. The
    /// free port is only free when it is picked: if something else takes it before the server
    /// binds, the server exits saying so, and another port is tried (at most three times).
    pub(crate) async fn start(cwd: &Path, env: &[(String, String)], label: &str) -> BinServer {
        for attempt in 1..=3 {
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
            match server.wait_ready().await {
                Ok(()) => return server,
                Err(e) if attempt < 3 && e.contains("Address already in use") => continue,
                Err(e) => panic!("{e}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let client = Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!(
                    "bouncer serve exited early ({status}); stderr:\n{}",
                    self.stderr()
                ));
            }
            if let Ok(r) = client.get(self.at("/healthz")).send().await
                && r.status() == 200
            {
                return Ok(());
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
    let (_, _, users) = call(client.get(server.at("/users?limit=100")).bearer_auth(admin)).await;
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
