//! The schema: the migrations (one SQL text per step for SQLite and PostgreSQL), the lock that
//! serializes runs on one SQLite file, and the one-off data fixes that follow them.

use std::borrow::Cow;

use bouncer_core::store::{StoreError, StoreResult};
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::{SqlStore, backend_err};

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../migrations/0001_init.sql")),
    (
        2,
        "credential_gen",
        include_str!("../migrations/0002_credential_gen.sql"),
    ),
    (
        3,
        "token_lifecycle",
        include_str!("../migrations/0003_token_lifecycle.sql"),
    ),
    (4, "clients", include_str!("../migrations/0004_clients.sql")),
    (
        5,
        "key_rotation",
        include_str!("../migrations/0005_key_rotation.sql"),
    ),
    (
        6,
        "opaque_tokens",
        include_str!("../migrations/0006_opaque_tokens.sql"),
    ),
    (
        7,
        "refresh_retry",
        include_str!("../migrations/0007_refresh_retry.sql"),
    ),
    (
        8,
        "api_keys",
        include_str!("../migrations/0008_api_keys.sql"),
    ),
    (
        9,
        "sessions",
        include_str!("../migrations/0009_sessions.sql"),
    ),
    (
        10,
        "policies_audit",
        include_str!("../migrations/0010_policies_audit.sql"),
    ),
    (
        11,
        "throttle",
        include_str!("../migrations/0011_throttle.sql"),
    ),
    (
        12,
        "row_counts",
        include_str!("../migrations/0012_row_counts.sql"),
    ),
];

fn migrator() -> Migrator {
    migrator_through(i64::MAX)
}

/// The migrations up to and including version `last` (tests build older schemas with it).
pub(crate) fn migrator_through(last: i64) -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .filter(|(v, ..)| *v <= last)
        .map(|(v, d, sql)| {
            Migration::new(
                *v,
                Cow::Borrowed(*d),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    let mut m = Migrator::with_migrations(migrations);
    // PostgreSQL: sqlx takes an advisory lock around the run, so instances starting at once do not race.
    m.set_locking(true);
    m
}

/// Takes an exclusive lock on the lock file beside the SQLite database (`<db>.lock`, created mode
/// 0600 if missing), waiting for other processes to release theirs.
///
/// Never the database file itself: POSIX locks belong to the process, and closing *any* descriptor
/// of a file drops every lock the process holds on it, SQLite's own included. A process that opened
/// the database file and closed it again would leave SQLite unprotected, and the next outside reader
/// (the `sqlite3` CLI, a backup script) would checkpoint and delete the live WAL under the server.
async fn lock_file(db: std::path::PathBuf) -> StoreResult<std::fs::File> {
    let mut name = db.into_os_string();
    name.push(".lock");
    let path = std::path::PathBuf::from(name);
    tokio::task::spawn_blocking(move || {
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(|e| StoreError::Backend(e.to_string()))?
    .map_err(|e| StoreError::Backend(format!("cannot lock the database for migrations: {e}")))
}

impl SqlStore {
    /// Applies pending migrations (idempotent; safe to run from several processes at once). On
    /// PostgreSQL sqlx holds an advisory lock around the run; on SQLite, where that lock does
    /// nothing, an exclusive OS lock on a separate lock file (`<db>.lock`) serializes runs.
    pub async fn migrate(&self) -> StoreResult<()> {
        let _guard = match &self.sqlite_path {
            Some(path) => Some(lock_file(path.clone()).await?),
            None => None,
        };
        migrator()
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))?;
        self.renormalize_emails().await
    }

    /// Brings `email_norm` of rows written before emails were unique in NFKC form up to date, once
    /// (recorded in `store_meta`). A row whose new form collides with another user's keeps its old
    /// one and is logged by id: an operator decides which account is the real one.
    async fn renormalize_emails(&self) -> StoreResult<()> {
        const KEY: &str = "email_norm";
        const VERSION: &str = "nfkc-lower";
        let done: Option<String> =
            sqlx::query_scalar("SELECT value FROM store_meta WHERE key = $1")
                .bind(KEY)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend_err)?;
        if done.as_deref() == Some(VERSION) {
            return Ok(());
        }
        let rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT id, email, email_norm FROM users")
                .fetch_all(&self.pool)
                .await
                .map_err(backend_err)?;
        for (id, email, stored) in rows {
            let norm = bouncer_core::validate::email_norm(&email);
            if norm == stored {
                continue;
            }
            let updated = sqlx::query("UPDATE users SET email_norm = $1 WHERE id = $2")
                .bind(norm)
                .bind(id.clone())
                .execute(&self.pool)
                .await
                .map_err(backend_err);
            match updated {
                Ok(_) => {}
                Err(StoreError::Conflict { .. }) => tracing::warn!(
                    user = %id,
                    "this user's email is a look-alike of another user's (same NFKC form); left as it was"
                ),
                Err(e) => return Err(e),
            }
        }
        sqlx::query(
            "INSERT INTO store_meta (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(KEY)
        .bind(VERSION)
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(backend_err)
    }
}
