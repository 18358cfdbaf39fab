//! Readiness: `/readyz` is 200 on SQLite, and on PostgreSQL it follows the database (503 while it
//! takes no connections, `/healthz` still 200, ready again without a restart).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::postgres::postgres;
use crate::support::{Db, TestApp};

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
