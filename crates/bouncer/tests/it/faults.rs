//! Faults from outside: `kill -9` in the middle of a burst of writes, a database file that becomes
//! read-only under a running server, PostgreSQL stopped and started again under load, and the
//! clock moved past every lifetime. Everything on 127.0.0.1, bounded by deadlines; no assertion
//! on timing beyond "answered, not hung". The tests print what they saw (run with --nocapture).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bouncer_core::clock::ManualClock;
use reqwest::{Client, RequestBuilder};
use serde_json::{Value, json};

use crate::durability::{BinServer, server_env, token_status};
use crate::support::postgres::{postgres, private_postgres};
use crate::support::{ADMIN, ADMIN_PASSWORD, BOTH, TestApp, test_config};

/// Says why a check is skipped here; under CI=true a failure instead.
fn skip(why: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{why}; CI needs it"
    );
    eprintln!("skipping: {why}");
}

/// `POST /auth/register` with the password [`password_of`] the name.
fn register(client: &Client, url: &str, name: &str) -> RequestBuilder {
    let (email, password) = (format!("{name}@example.com"), password_of(name));
    client
        .post(format!("{url}/auth/register"))
        .json(&json!({"username": name, "email": email, "password": password}))
}

fn password_of(name: &str) -> String {
    format!("Pw-{name}-quiet-river")
}

/// The status `rb` is answered with.
async fn status(rb: RequestBuilder) -> u16 {
    rb.send().await.expect("an answer").status().as_u16()
}

/// `POST /oauth2/token` with the refresh grant: the status and the body.
async fn refresh(client: &Client, url: &str, token: &str) -> (u16, Value) {
    let r = client
        .post(format!("{url}/oauth2/token"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .expect("refresh request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

// ---- kill -9 during a burst -------------------------------------------------------------------

/// What the clients of a burst were told, and how much went unanswered.
#[derive(Default)]
struct Ledger {
    /// Registrations answered 201: (username, round).
    users: Vec<(String, usize)>,
    /// Password grants answered 200.
    grants: usize,
    /// Refresh tokens of those grants never sent for revocation: they must still work.
    kept: Vec<String>,
    /// Refresh tokens whose revocation was answered 200: they must be refused.
    revoked: Vec<String>,
    /// Requests in flight at a kill: no (complete) answer.
    unanswered: usize,
    /// Answers other than 2xx, by status.
    other: BTreeMap<u16, usize>,
}

impl Ledger {
    fn acknowledged(&self) -> usize {
        self.users.len() + self.grants + self.revoked.len()
    }
}

type Shared = Arc<Mutex<Ledger>>;

/// Sends `rb`: the status and JSON body, or `None` (counted as unanswered) when the server died
/// before the whole answer arrived. Answers other than 2xx are counted by status.
async fn ask(rb: RequestBuilder, ledger: &Shared) -> Option<(u16, Value)> {
    let answer = match rb.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            r.bytes().await.ok().map(|body| (status, body))
        }
        Err(_) => None,
    };
    let mut l = ledger.lock().unwrap();
    let Some((status, body)) = answer else {
        l.unanswered += 1;
        return None;
    };
    if !(200..300).contains(&status) {
        *l.other.entry(status).or_default() += 1;
    }
    Some((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// One client of the burst: register, take tokens, revoke every other refresh token, again and
/// again, until the server dies under it (`None`: a request went unanswered).
async fn burst_client(
    client: Client,
    url: String,
    tag: String,
    round: usize,
    ledger: Shared,
) -> Option<()> {
    for i in 0u64.. {
        let name = format!("{tag}i{i}");
        let password = password_of(&name);
        let (status, _) = ask(register(&client, &url, &name), &ledger).await?;
        if status != 201 {
            continue;
        }
        ledger.lock().unwrap().users.push((name.clone(), round));
        let form = [
            ("grant_type", "password"),
            ("username", &name),
            ("password", &password),
        ];
        let token = client.post(format!("{url}/oauth2/token")).form(&form);
        let (status, tokens) = ask(token, &ledger).await?;
        if status != 200 {
            continue;
        }
        let refresh = tokens["refresh_token"].as_str().expect("refresh_token");
        let access = tokens["access_token"].as_str().expect("access_token");
        {
            // Every other grant keeps its refresh token; the rest are revoked.
            let mut l = ledger.lock().unwrap();
            l.grants += 1;
            if l.grants.is_multiple_of(2) {
                l.kept.push(refresh.to_owned());
                continue;
            }
        }
        let revoke = client
            .post(format!("{url}/oauth2/revoke"))
            .bearer_auth(access)
            .form(&[("token", refresh)]);
        if ask(revoke, &ledger).await?.0 == 200 {
            ledger.lock().unwrap().revoked.push(refresh.to_owned());
        }
    }
    None
}

const BURST_CLIENTS: usize = 6;

/// `kills` rounds on `db_url`: start the real server, let six clients write, SIGKILL it once a few
/// more writes were acknowledged (with requests in flight), restart on the same database.
async fn burst_with_kills(dir: &Path, db_url: &str, label: &str, kills: usize) -> Ledger {
    let env = server_env(db_url);
    let client = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let ledger = Shared::default();
    for round in 0..kills {
        let server = BinServer::start(dir, &env, &format!("{label}-{round}")).await;
        let target = ledger.lock().unwrap().acknowledged() + 6 + (round * 5) % 11;
        let clients: Vec<_> = (0..BURST_CLIENTS)
            .map(|c| {
                let (client, url, ledger) = (client.clone(), server.url.clone(), ledger.clone());
                tokio::spawn(burst_client(
                    client,
                    url,
                    format!("r{round}c{c}"),
                    round,
                    ledger,
                ))
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        while ledger.lock().unwrap().acknowledged() < target {
            assert!(
                Instant::now() < deadline,
                "{label}: round {round} acknowledged nothing for 60 s"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        server.kill9();
        for c in clients {
            tokio::time::timeout(Duration::from_secs(60), c)
                .await
                .expect("a client still waiting 60 s after the kill")
                .expect("client task");
        }
    }
    let ledger = Arc::try_unwrap(ledger).ok().unwrap().into_inner().unwrap();
    let errors = ledger.other.keys().any(|s| *s >= 500);
    assert!(
        !errors,
        "{label}: server errors in the burst: {:?}",
        ledger.other
    );
    ledger
}

/// On a server restarted after the kills: every acknowledged write is there. Returns the report.
async fn check_acknowledged(server: &BinServer, ledger: &Ledger) -> String {
    let client = Client::new();
    let (_, body) = token_status(&client, &server.url, ADMIN, ADMIN_PASSWORD).await;
    let admin = body["access_token"]
        .as_str()
        .expect("admin token")
        .to_owned();
    let mut names = HashSet::new();
    for offset in (0..).step_by(100) {
        let page = client.get(server.at(&format!("/users?limit=100&offset={offset}")));
        let page: Value = page
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let items = page["items"].as_array().expect("items").clone();
        names.extend(
            items
                .iter()
                .map(|u| u["username"].as_str().unwrap().to_owned()),
        );
        if items.len() < 100 {
            break;
        }
    }
    let lost: Vec<_> = ledger
        .users
        .iter()
        .filter(|(n, _)| !names.contains(n))
        .collect();
    assert!(lost.is_empty(), "acknowledged registrations lost: {lost:?}");
    // The last user acknowledged before each kill logs in.
    let mut last_of_round = BTreeMap::new();
    for (name, round) in &ledger.users {
        last_of_round.insert(round, name);
    }
    for name in last_of_round.values() {
        let (status, body) = token_status(&client, &server.url, name, &password_of(name)).await;
        assert_eq!(
            status, 200,
            "{name}, acknowledged just before a kill: {body}"
        );
    }
    for token in &ledger.revoked {
        let (status, body) = refresh(&client, &server.url, token).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "an acknowledged revocation was lost: {body}"
        );
    }
    for token in &ledger.kept {
        let (status, body) = refresh(&client, &server.url, token).await;
        assert_eq!(status, 200, "an acknowledged grant was lost: {body}");
    }
    let (l, listed) = (ledger, names.len());
    let (users, grants, revoked, kept) = (l.users.len(), l.grants, l.revoked.len(), l.kept.len());
    format!(
        "acknowledged {} writes ({users} registrations, {grants} token grants, {revoked} \
         revocations), all present: the {users} users among the {listed} listed (the admin and \
         users committed without an answer included), the {revoked} revoked refresh tokens \
         refused with invalid_grant, the {kept} never sent for revocation refreshing; {} \
         requests unanswered at the kills; other answers {:?}",
        l.acknowledged(),
        l.unanswered,
        l.other,
    )
}

/// The `sqlite3` CLI on PATH, if any.
fn sqlite3() -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("sqlite3"))
        .find(|p| p.is_file())
}

#[tokio::test]
async fn kill_9_twenty_times_during_a_burst_loses_nothing_on_sqlite() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bouncer.db");
    let url = format!("sqlite://{}", db.display());
    let ledger = burst_with_kills(dir.path(), &url, "sqlite", 20).await;

    // Sound after the last kill, before anything reopens it.
    let integrity = match sqlite3() {
        Some(bin) => {
            let out = std::process::Command::new(bin)
                .arg(&db)
                .arg("PRAGMA integrity_check")
                .output()
                .expect("run sqlite3");
            let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            assert!(
                out.status.success() && text == "ok",
                "integrity_check: {text} {out:?}"
            );
            text
        }
        None => {
            skip("the sqlite3 CLI is not installed (apt-get install sqlite3)");
            "not run (no sqlite3 CLI)".to_owned()
        }
    };
    let server = BinServer::start(dir.path(), &server_env(&url), "sqlite-final").await;
    let report = check_acknowledged(&server, &ledger).await;
    println!(
        "kill -9 x20 on SQLite: {report}; integrity_check: {integrity}; {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test]
async fn kill_9_five_times_during_a_burst_loses_nothing_on_postgres() {
    let Some(pg) = postgres() else { return };
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let url = pg.fresh_database();
    let ledger = burst_with_kills(dir.path(), &url, "postgres", 5).await;
    let server = BinServer::start(dir.path(), &server_env(&url), "postgres-final").await;
    let report = check_acknowledged(&server, &ledger).await;
    println!(
        "kill -9 x5 on PostgreSQL: {report}; {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

// ---- a read-only database file ----------------------------------------------------------------

/// Files made immutable (`chattr +i`) until dropped. The one way found to make writes through
/// descriptors a running server already holds fail, for root too: permissions (chmod) are checked
/// only when a file is opened, and root passes them anyway; ext4 checks the immutable flag on
/// every write.
struct Immutable(Vec<PathBuf>);

impl Immutable {
    fn set(paths: &[PathBuf]) -> Result<Immutable, String> {
        let chattr = std::process::Command::new("chattr")
            .arg("+i")
            .args(paths)
            .output();
        let out = chattr.map_err(|e| format!("chattr: {e}"))?;
        let why = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        out.status
            .success()
            .then(|| Immutable(paths.to_vec()))
            .ok_or(why)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .args(&self.0)
            .status();
    }
}

/// The server on SQLite, then its database file and WAL made read-only under it: writes are 503
/// `unavailable` with `Retry-After` and a log line that says so (not 500), reads go on, and once
/// the files are writable again writes succeed without a restart, on every pooled connection.
#[tokio::test]
async fn a_read_only_database_is_503_for_writes_and_recovers() {
    let app = TestApp::spawn().await;
    // What the server logs at WARN and above, from this thread (the test runtime's only one,
    // where the server's tasks run too).
    let log_path = app.dir.path().join("server.log");
    let _log = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(std::fs::File::create(&log_path).unwrap())
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .finish(),
    );
    let logs = || std::fs::read_to_string(&log_path).unwrap_or_default();
    // Can this process make a file immutable here (CAP_LINUX_IMMUTABLE, a filesystem with the flag)?
    let probe = app.dir.path().join("probe");
    std::fs::write(&probe, "x").unwrap();
    if let Err(why) = Immutable::set(&[probe]) {
        return skip(&format!(
            "cannot make a file read-only under a running server here (chattr +i: {why})"
        ));
    }
    let (client, url) = (&app.client, app.url.as_str());
    assert_eq!(status(register(client, url, "early")).await, 201);
    let admin = app.admin_token().await;
    let list_users = || {
        client
            .get(app.at("/users?limit=5"))
            .bearer_auth(&admin)
            .send()
    };

    let db = app.dir.path().join("bouncer.db");
    let wal = app.dir.path().join("bouncer.db-wal");
    assert!(wal.is_file(), "a WAL-mode database has its -wal file");
    // Not the -shm file: the server has it mapped, and a write fault there would be SIGBUS.
    let read_only = Immutable::set(&[db, wal]).expect("chattr +i");

    // Reads go on, many at once, so that the pool opens connections while the file is read-only.
    let reads: Vec<_> = (0..16).map(|_| tokio::spawn(list_users())).collect();
    for r in reads {
        assert_eq!(r.await.unwrap().unwrap().status(), 200, "a read");
    }
    let ready = client.get(app.at("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "readable is ready");
    // Writes, one after another and together: 503 unavailable, Retry-After.
    let writes: Vec<_> = (0..12)
        .map(|i| tokio::spawn(register(client, url, &format!("ro{i}")).send()))
        .collect();
    for w in writes {
        let r = w.await.unwrap().unwrap();
        assert_eq!(
            r.status(),
            503,
            "a write to a read-only database; log:\n{}",
            logs()
        );
        assert_eq!(r.headers()["retry-after"], "1");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "unavailable", "{body}");
    }
    let r = app
        .token_response("early", &password_of("early"), None)
        .await;
    assert_eq!(
        r.status(),
        503,
        "a grant stores its refresh token; log:\n{}",
        logs()
    );

    // Writable again: every write succeeds, without a restart.
    drop(read_only);
    let mark = logs().len();
    let mut refused = Vec::new();
    for i in 0..40 {
        match status(register(client, url, &format!("rw{i}"))).await {
            201 => {}
            other => refused.push((i, other)),
        }
    }
    let log = logs();
    assert!(
        refused.is_empty(),
        "writes after the files became writable: {refused:?}; log:\n{}",
        &log[mark..]
    );
    let r = app
        .token_response("early", &password_of("early"), None)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(list_users().await.unwrap().status(), 200);
    app.stop().await;

    // The operator is told why: SQLite's "readonly database" (a connection opened while the file
    // could not be written) or the I/O error of a write through one opened before.
    let warning = |what: &str| log.lines().find(|l| l.contains("WARN") && l.contains(what));
    let (read_only, io_error) = (warning("is read-only"), warning("I/O error"));
    assert!(
        read_only.is_some(),
        "no warning naming the read-only database:\n{log}"
    );
    assert!(!log.contains("internal error"), "{log}");
    println!(
        "read-only database: 16 reads 200, 12 writes and a grant 503, then 40 writes 201; \
         logged:\n{}\n{}",
        read_only.unwrap().trim(),
        io_error.unwrap_or("(no I/O error line)").trim()
    );
}

// ---- PostgreSQL stopped and started under load ------------------------------------------------

/// One request of the load: when it was sent and answered, and the status (`None`: no answer).
struct Sample {
    sent: Instant,
    answered: Instant,
    status: Option<u16>,
}

/// Registers users one after another until `stop`, recording every request.
async fn load(client: Client, url: String, tag: String, stop: Arc<AtomicBool>) -> Vec<Sample> {
    let mut samples = Vec::new();
    for i in 0u64.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let sent = Instant::now();
        let r = register(&client, &url, &format!("{tag}i{i}")).send().await;
        samples.push(Sample {
            sent,
            answered: Instant::now(),
            status: r.ok().map(|r| r.status().as_u16()),
        });
    }
    samples
}

/// Polls `path` until it answers `want` (bounded); returns how long that took.
async fn until_status(app: &TestApp, path: &str, want: u16, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if status(app.client.get(app.at(path))).await == want {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "{path} not {want} in {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// PostgreSQL (a cluster of this test's own) stopped under a load of registrations and started
/// again: while it is down `/readyz` is 503 and `/healthz` 200, requests that need the database
/// are 503 `unavailable` (answered within about the acquire timeout, never hung, never 500), and
/// once it is back everything works again without restarting Bouncer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_and_started_under_load() {
    let Some(mut pg) = private_postgres() else {
        return;
    };
    const ACQUIRE_S: u64 = 1;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(crate::support::Db::Sqlite, &dir).unwrap();
    config.database.url = pg.fresh_database();
    config.database.acquire_timeout_s = ACQUIRE_S;
    let app = TestApp::spawn_from(config, ManualClock::default(), dir).await;
    // Each client from an address of its own (127.0.0.0/8 is all loopback): no one waits for
    // another's password slot, so a request's time is its own.
    let client_from = |last: u8| {
        Client::builder()
            .local_address(std::net::IpAddr::from([127, 0, 0, last]))
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    };
    let client = client_from(2);

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (client, url, stop) = (client_from(10 + w), app.url.clone(), stop.clone());
            tokio::spawn(load(client, url, format!("pgload{w}"), stop))
        })
        .collect();
    until_status(&app, "/readyz", 200, Duration::from_secs(10)).await;
    assert_eq!(status(register(&client, &app.url, "beforestop")).await, 201);

    // Stop: fast shutdown, sessions terminated.
    let stopping = Instant::now();
    let mut pg = tokio::task::spawn_blocking(move || {
        pg.stop();
        pg
    })
    .await
    .unwrap();
    let stopped = Instant::now();
    let to_not_ready = until_status(&app, "/readyz", 503, Duration::from_secs(15)).await;
    let r = app.client.get(app.at("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "liveness is not readiness");
    // A request that needs the database, on its own: 503 unavailable with Retry-After.
    let sent = Instant::now();
    let r = register(&client, &app.url, "whiledown")
        .send()
        .await
        .unwrap();
    let alone = sent.elapsed();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "unavailable");
    let r = app.token_response(ADMIN, ADMIN_PASSWORD, None).await;
    assert_eq!(r.status(), 503, "the password grant reads the user");
    // Let the load meet the stopped server a few times over.
    let down_for = Duration::from_secs(3 * ACQUIRE_S);
    tokio::time::sleep(down_for.saturating_sub(stopped.elapsed())).await;

    // Start again; Bouncer recovers by itself.
    let starting = Instant::now();
    let pg = tokio::task::spawn_blocking(move || {
        pg.start();
        pg
    })
    .await
    .unwrap();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(30);
    let mut attempts = 0;
    while status(register(&client, &app.url, &format!("after{attempts}"))).await != 201 {
        attempts += 1;
        assert!(
            Instant::now() < deadline,
            "no registration 30 s after the start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let to_first_write = started.elapsed();
    until_status(&app, "/readyz", 200, Duration::from_secs(10)).await;
    assert_eq!(
        app.token_response(ADMIN, ADMIN_PASSWORD, None)
            .await
            .status(),
        200
    );
    stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    for w in workers {
        samples.extend(w.await.unwrap());
    }
    app.stop().await;
    drop(pg);

    // Every request was answered, 201 or 503, never a 500 or a hang.
    let mut statuses = BTreeMap::new();
    for s in &samples {
        *statuses.entry(s.status).or_insert(0) += 1;
    }
    assert!(
        statuses.keys().all(|s| matches!(s, Some(201 | 503))),
        "answers under load: {statuses:?}"
    );
    // Sent after the stop and answered before the start: all 503, none slower than the acquire
    // timeout plus slack for a loaded machine.
    let down: Vec<_> = samples
        .iter()
        .filter(|s| s.sent >= stopped && s.answered <= starting)
        .collect();
    assert!(!down.is_empty(), "no load while PostgreSQL was down");
    assert!(down.iter().all(|s| s.status == Some(503)));
    let slowest = down.iter().map(|s| s.answered - s.sent).max().unwrap();
    assert!(
        slowest < Duration::from_secs(ACQUIRE_S + 4),
        "a request took {slowest:?} with PostgreSQL down (acquire timeout {ACQUIRE_S} s)"
    );
    let (stop_took, start_took, n) = (stopped - stopping, started - starting, down.len());
    println!(
        "PostgreSQL stopped under load (acquire_timeout_s = {ACQUIRE_S}): the stop took \
         {stop_took:?}; /readyz 503 {to_not_ready:?} after it; a lone registration answered 503 \
         in {alone:?}; {n} requests while down, all 503, slowest {slowest:?}; after the start \
         ({start_took:?}), the first registration 201 {to_first_write:?} later ({attempts} \
         refused before); all answers {statuses:?}"
    );
}

// ---- the clock past every lifetime ------------------------------------------------------------

/// What the lifecycle, sessions, hostile_tokens and authz_matrix modules leave open: on both
/// databases (they move the clock on SQLite only, or check the status alone), an access token from
/// the password grant is 401 `invalid_token` past `access_ttl + leeway`, and its refresh token idle
/// past the sliding lifetime is 400 `invalid_grant`. (A session past its idle timeout: sessions,
/// on both databases.)
#[tokio::test]
async fn the_clock_past_the_lifetimes_on_both_databases() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_with(db, |c| c.tokens.refresh_ttl_s = 3600).await else {
            continue;
        };
        let (name, pw, _) = app.user_with_roles("clocked", &["user"]).await;
        let tokens = app.token_response(&name, &pw, None).await;
        let tokens: Value = tokens.json().await.unwrap();
        let access = tokens["access_token"].as_str().unwrap();
        let refresh_token = tokens["refresh_token"].as_str().unwrap();
        assert_eq!(app.get_bearer("/users/me", access).await.status(), 200);
        app.clock.advance_s(900 + 59);
        assert_eq!(
            app.get_bearer("/users/me", access).await.status(),
            200,
            "{db:?}: within the leeway"
        );
        app.clock.advance_s(2);
        let r = app.get_bearer("/users/me", access).await;
        assert_eq!(r.status(), 401, "{db:?}: past exp + leeway");
        let challenge = r.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.contains(r#"error="invalid_token""#));
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "invalid_token");

        app.clock.advance_s(3600 - 961 + 1);
        let (st, body) = refresh(&app.client, &app.url, refresh_token).await;
        assert_eq!(
            (st, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{db:?}: idle past the sliding hour: {body}"
        );
        app.stop().await;
    }
}
