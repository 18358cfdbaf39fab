//! The SQLite file under outside hands: the `sqlite3` CLI reading, backing up and checkpointing
//! while the server writes; `bouncer backup`; and the one-off re-normalization of an older
//! database's emails.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use reqwest::Client;
use serde_json::json;

use crate::cli::bouncer_command;
use crate::durability::{BinServer, server_env, token_status};
use crate::support::postgres::postgres;

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

/// A database another process keeps locked past the busy timeout: a write is 503 `unavailable`
/// with `Retry-After` (never a 500), reads go on, and writes work again once the lock is gone,
/// without a restart.
#[tokio::test]
async fn a_locked_database_is_503_and_recovers() {
    let Some(bin) = sqlite3() else {
        return;
    };
    let app = crate::support::TestApp::spawn().await;
    let db = app.dir.path().join("bouncer.db");
    let mut holder = std::process::Command::new(&bin)
        .arg(&db)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let stdin = holder.stdin.as_mut().unwrap();
        writeln!(stdin, "BEGIN IMMEDIATE;").unwrap();
        stdin.flush().unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let register = |name: &str| {
        app.client
            .post(app.at("/auth/register"))
            .json(&serde_json::json!({"username": name, "email": format!("{name}@example.com"), "password": "Pw-locked-db-123456"}))
            .send()
    };
    let r = register("locked1").await.unwrap();
    assert_eq!(r.status(), 503, "{:?}", r.text().await);
    assert_eq!(r.headers()["retry-after"], "1");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "unavailable");
    assert_eq!(
        app.client
            .get(app.at("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    {
        use std::io::Write as _;
        let stdin = holder.stdin.as_mut().unwrap();
        writeln!(stdin, "ROLLBACK;").unwrap();
    }
    drop(holder.stdin.take());
    let _ = holder.wait();
    assert_eq!(
        register("locked2").await.unwrap().status(),
        201,
        "writes work again"
    );
    app.stop().await;
}

/// Audit events that meet a database locked past its busy timeout are kept for the next flush,
/// never dropped as if the database had refused them as rows.
#[tokio::test]
async fn audit_events_wait_out_a_locked_database() {
    let Some(bin) = sqlite3() else {
        return;
    };
    let app = crate::support::TestApp::spawn_with(crate::support::Db::Sqlite, |c| {
        c.database.acquire_timeout_s = 1;
    })
    .await
    .expect("SQLite needs no outside program");
    let db = app.dir.path().join("bouncer.db");
    let mut holder = std::process::Command::new(&bin)
        .arg(&db)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let send = |holder: &mut std::process::Child, line: &str| {
        use std::io::Write as _;
        let stdin = holder.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    };
    send(&mut holder, "BEGIN IMMEDIATE;");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let audit = &app.bouncer.audit;
    let ids: Vec<_> = (0..3)
        .map(|i| {
            let event = audit.event(
                bouncer_core::audit::Origin::default(),
                "locked-db-test",
                "test.locked",
                bouncer_core::model::Outcome::Success,
                Some(&format!("event-{i}")),
                None,
            );
            let id = event.id;
            audit.record(event);
            id
        })
        .collect();
    assert!(
        audit.flush().await.is_err(),
        "the batch cannot be written while the lock is held"
    );
    send(&mut holder, "ROLLBACK;");
    drop(holder.stdin.take());
    let _ = holder.wait();
    audit.flush().await.unwrap();
    let query = bouncer_core::model::AuditQuery {
        actor: Some("locked-db-test".into()),
        action: None,
        outcome: None,
        since: None,
        before: None,
        limit: 100,
    };
    let stored = app.bouncer.store.audit_events(&query).await.unwrap();
    let mut found: Vec<_> = stored.iter().map(|e| e.id).collect();
    found.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(
        found, want,
        "every event recorded during the lock is stored once"
    );
}
