//! A database file that becomes read-only under a running server (`chattr +i`): writes are 503
//! with `Retry-After` and a warning in the log, reads go on, and writes succeed again once the
//! file is writable, without a restart.

use std::path::PathBuf;

use serde_json::Value;

use super::{password_of, register, skip, status};
use crate::support::TestApp;

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
    // Every other test runs without a subscriber: a log call site that one of them registered
    // while this subscriber was being set may have cached "nobody listens". Ask again (and once
    // more before the faults, when every call site those tests race on has been registered).
    tracing::callsite::rebuild_interest_cache();
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
    tracing::callsite::rebuild_interest_cache();
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
    // The warnings were logged on this thread. If none reached this test's subscriber, the
    // harness lost a race, not the server: another test (on another thread, without a
    // subscriber) registered the warning's call site while tracing was recomputing which call
    // sites anyone listens to, and it stayed cached as unheard (seen once in a full run). Now
    // that every call site involved is registered, recompute, and write once more.
    if !logs().contains("WARN") {
        tracing::callsite::rebuild_interest_cache();
        let r = register(client, url, "ro-again").send().await.unwrap();
        assert_eq!(r.status(), 503, "a write to a read-only database");
    }

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
