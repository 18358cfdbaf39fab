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
use crate::support::{ADMIN, ADMIN_PASSWORD, Db, TestApp};

/// `bouncer serve` as a child process on a free port; killed (SIGKILL) when dropped.
struct BinServer {
    child: Child,
    url: String,
    stderr_path: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Environment of a server on `db_url` with a known admin password and cheap Argon2.
fn server_env(db_url: &str) -> Vec<(String, String)> {
    let mut env = vec![
        ("BOUNCER_DATABASE_URL".to_owned(), db_url.to_owned()),
        (
            "BOUNCER_ADMIN_PASSWORD".to_owned(),
            ADMIN_PASSWORD.to_owned(),
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
    async fn start(cwd: &Path, env: &[(String, String)], label: &str) -> BinServer {
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

    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// SIGKILL: no chance to flush or clean up anything.
    fn kill9(mut self) {
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
async fn token_status(client: &Client, url: &str, user: &str, pw: &str) -> (u16, Value) {
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

/// The `sqlite3` CLI, or `None` (with the reason printed) when it is not installed; under CI=true
/// its absence fails the test.
fn sqlite3() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("sqlite3"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "sqlite3 is not installed (apt-get install sqlite3); CI needs it"
        );
        eprintln!("skipping: the sqlite3 CLI is not installed (apt-get install sqlite3)");
    }
    found
}

/// Runs `sqlite3 DB SQL`; returns (success, stdout, stderr).
fn sqlite3_run(bin: &Path, db: &Path, sql: &str) -> (bool, String, String) {
    let out = std::process::Command::new(bin)
        .arg(db)
        .arg(sql)
        .stdin(Stdio::null())
        .output()
        .expect("run sqlite3");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Outside readers (the `sqlite3` CLI reading, running `.backup` and checkpointing, as backup
/// scripts do) while the server takes writes: no 5xx, and after a restart every acknowledged write
/// is there and the file is sound. Before the fix the first outside reader deleted the live WAL.
#[tokio::test]
async fn outside_sqlite3_readers_never_lose_an_acknowledged_write() {
    let Some(sqlite3) = sqlite3() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bouncer.db");
    let env = server_env(&format!("sqlite://{}", db.display()));
    let server = BinServer::start(dir.path(), &env, "first").await;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers = {
        let (stop, sqlite3, db, backup_dir) = (
            stop.clone(),
            sqlite3.clone(),
            db.clone(),
            dir.path().to_owned(),
        );
        std::thread::spawn(move || {
            let mut rounds = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) || rounds < 3 {
                let backup = backup_dir.join(format!("outside-{rounds}.db"));
                for sql in [
                    "select count(*) from users".to_owned(),
                    format!(".backup '{}'", backup.display()),
                    "PRAGMA wal_checkpoint(PASSIVE)".to_owned(),
                ] {
                    // A busy database is the reader's problem, not the server's: only count runs.
                    let _ = sqlite3_run(&sqlite3, &db, &sql);
                }
                let _ = std::fs::remove_file(&backup);
                rounds += 1;
            }
            rounds
        })
    };

    let client = Client::new();
    let mut acknowledged = Vec::new();
    let mut failures = Vec::new();
    for i in 0..120 {
        let name = format!("wal{i:03}");
        let r = client
            .post(server.at("/auth/register"))
            .json(
                &json!({"username": name, "email": format!("{name}@example.com"),
                          "password": format!("Pw-{name}-quiet-river")}),
            )
            .send()
            .await
            .expect("register");
        match r.status().as_u16() {
            201 => acknowledged.push(name),
            s => failures.push((name, s, r.text().await.unwrap_or_default())),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let rounds = readers.join().expect("reader thread");
    assert!(
        failures.is_empty(),
        "writes failed while sqlite3 read the database: {failures:?}"
    );
    assert!(rounds >= 3, "the outside readers ran {rounds} rounds");
    server.kill9();

    // The file is sound and holds every acknowledged user, before and after the server reopens it.
    let (ok, out, err) = sqlite3_run(&sqlite3, &db, "PRAGMA integrity_check");
    assert!(ok && out.trim() == "ok", "integrity_check: {out} {err}");
    let server = BinServer::start(dir.path(), &env, "second").await;
    let (ok, out, err) = sqlite3_run(&sqlite3, &db, "select username from users");
    assert!(ok, "{err}");
    let present: std::collections::HashSet<&str> = out.lines().collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|n| !present.contains(n.as_str()))
        .collect();
    assert!(lost.is_empty(), "acknowledged users lost: {lost:?}");
    let (status, _) = token_status(
        &client,
        &server.url,
        acknowledged.last().unwrap(),
        &format!("Pw-{}-quiet-river", acknowledged.last().unwrap()),
    )
    .await;
    assert_eq!(status, 200);
}

/// `bouncer backup FILE` while the server runs: a private, consistent copy that a server can start
/// from, holding every user acknowledged before it; an existing FILE is refused, never overwritten.
#[tokio::test]
async fn backup_while_serving_is_a_consistent_private_copy() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}/bouncer.db", dir.path().display());
    let env = server_env(&db_url);
    let server = BinServer::start(dir.path(), &env, "live").await;
    let client = Client::new();
    for i in 0..5 {
        let name = format!("kept{i}");
        let r = client
            .post(server.at("/auth/register"))
            .json(
                &json!({"username": name, "email": format!("{name}@example.com"),
                          "password": "Pw-kept-quiet-river"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let backup = dir.path().join("copy").join("backup.db");
    std::fs::create_dir(backup.parent().unwrap()).unwrap();
    let run = |label: &str| {
        bouncer_command(dir.path())
            .arg("backup")
            .arg(&backup)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{label}: {e}"))
    };
    let out = run("first");
    assert!(out.status.success(), "{out:?}");
    let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the backup holds hashes and keys");
    let again = run("second");
    assert!(
        !again.status.success(),
        "an existing file is not overwritten"
    );
    // The live server was not disturbed.
    let (status, _) = token_status(&client, &server.url, "kept4", "Pw-kept-quiet-river").await;
    assert_eq!(status, 200);
    server.kill9();

    // A server started on the copy has every user.
    let copy_env = server_env(&format!("sqlite://{}", backup.display()));
    let restored = BinServer::start(dir.path(), &copy_env, "restored").await;
    for i in 0..5 {
        let (status, body) = token_status(
            &client,
            &restored.url,
            &format!("kept{i}"),
            "Pw-kept-quiet-river",
        )
        .await;
        assert_eq!(status, 200, "kept{i} missing from the backup: {body}");
    }
}

/// On PostgreSQL, `bouncer backup` says to use pg_dump and changes nothing.
#[tokio::test]
async fn backup_on_postgres_points_to_pg_dump() {
    let Some(pg) = postgres() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = bouncer_command(dir.path())
        .arg("backup")
        .arg(dir.path().join("x.db"))
        .env("BOUNCER_DATABASE_URL", pg.fresh_database())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pg_dump"),
        "{out:?}"
    );
    assert!(!dir.path().join("x.db").exists());
}

/// Upgrading a database written before emails were unique in NFKC form: the one-off
/// re-normalization at start makes a full-width look-alike of an existing address collide, once.
#[tokio::test]
async fn emails_of_an_older_database_are_renormalized_at_start() {
    let Some(sqlite3) = sqlite3() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bouncer.db");
    let env = server_env(&format!("sqlite://{}", db.display()));
    let client = Client::new();
    let server = BinServer::start(dir.path(), &env, "old").await;
    let r = client
        .post(server.at("/auth/register"))
        .json(
            &json!({"username": "fullwidth", "email": "ａｌｉｃｅ@example.com",
                      "password": "Pw-fullwidth-quiet-river"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    server.kill9();
    // What an older version stored: the address lower-cased, not NFKC-folded, and no marker.
    let (ok, _, err) = sqlite3_run(
        &sqlite3,
        &db,
        "UPDATE users SET email_norm = lower(email) WHERE username = 'fullwidth'; DELETE FROM store_meta;",
    );
    assert!(ok, "{err}");
    let server = BinServer::start(dir.path(), &env, "upgraded").await;
    let r = client
        .post(server.at("/auth/register"))
        .json(
            &json!({"username": "plainalice", "email": "alice@example.com",
                      "password": "Pw-plainalice-quiet-river"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "the look-alike holds the address now");
    let (ok, out, _) = sqlite3_run(
        &sqlite3,
        &db,
        "SELECT value FROM store_meta WHERE key = 'email_norm'",
    );
    assert!(ok && out.trim() == "nfkc-lower", "{out}");
}
