//! Smoke test for the throwaway-PostgreSQL test harness in `it/support/postgres.rs`.

#[path = "it/support/postgres.rs"]
mod postgres;

use std::process::Command;

#[test]
fn harness_starts_postgres_and_creates_databases() {
    let Some(pg) = postgres::postgres() else {
        return;
    };
    let a = pg.fresh_database();
    let b = pg.fresh_database();
    assert_ne!(a, b, "fresh_database must return distinct databases");
    for url in [&pg.admin_url, &a, &b] {
        let out = Command::new("psql")
            .args([url.as_str(), "-qAt", "-c", "select 1"])
            .output()
            .expect("failed to run psql");
        assert!(
            out.status.success(),
            "psql {url} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    }
    eprintln!("pg harness ok: {} {a} {b}", pg.admin_url);
}
