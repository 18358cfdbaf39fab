//! The sqlx implementation of [`bouncer_core::store::Store`]. One set of SQL texts with `$N`
//! placeholders runs on SQLite and PostgreSQL through `sqlx::Any`; there is no per-backend branch in
//! any query method. The only backend-specific code is connection set-up (SQLite pragmas).
//!
//! Durability: SQLite runs in WAL mode with `synchronous=FULL`, so a committed write is on disk
//! before the caller hears of it. Uniqueness is left to constraints and mapped to
//! [`StoreError::Conflict`].

mod api_keys;
mod audit;
mod backup;
mod changes;
mod clients;
mod counts;
mod errors;
mod items;
mod keys;
pub mod listen;
mod migrate;
pub use stats::PoolStats;
mod policies;
mod roles;
pub mod seed;
mod sessions;
mod stats;
mod throttle;
mod tokens;
mod users;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use bouncer_core::model::{
    ApiKey, AuditEvent, AuditQuery, ChangeBatch, Client, Item, Page, PageRequest, PolicyRecord,
    RefreshToken, Revocations, Role, Session, SigningKeyRecord, TokenFamily, User,
};
use bouncer_core::store::{RoleDeletion, Store, StoreError, StoreResult};
use bouncer_core::throttle::ThrottleCount;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use uuid::Uuid;

pub(crate) use errors::backend_err;

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// The connection pool's size and how long a request waits for a connection (`[database]`).
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub size: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            size: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    /// The URL, for the PostgreSQL change listener's own connection. Never logged.
    url: String,
    /// The database file, for SQLite.
    sqlite_path: Option<std::path::PathBuf>,
    /// The audit event this view's administrative writes commit with (`Store::audited`).
    audit: Option<std::sync::Arc<AuditEvent>>,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the URL: it may hold a password.
        f.debug_struct("SqlStore")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// The file a `sqlite://` URL names, if it names one.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

/// Creates a missing SQLite file with mode 0600 (and its directory with 0700): it holds password
/// hashes and the private signing key, and SQLite gives its `-wal` and `-shm` files the database
/// file's mode. An existing file that other users can read gets a warning. An existing file is
/// never opened here (`create_new` fails first), only `stat`ed: see `migrate::lock_file` for why.
fn create_private(path: &std::path::Path) -> StoreResult<()> {
    let io = |what: &str, e: std::io::Error| {
        StoreError::Backend(format!("cannot create {what} {}: {e}", path.display()))
    };
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|e| io("the directory of", e))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            #[cfg(unix)]
            if let Ok(meta) = std::fs::metadata(path) {
                use std::os::unix::fs::PermissionsExt as _;
                if meta.permissions().mode() & 0o077 != 0 {
                    tracing::warn!(path = %path.display(), "the database file is readable by other users; chmod 600 it");
                }
            }
            Ok(())
        }
        Err(e) => Err(io("", e)),
    }
}

impl SqlStore {
    /// Connects to `url` (`sqlite://path` or `postgres://...`); a SQLite file is created if missing,
    /// readable by its owner only.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with(url, PoolSettings::default()).await
    }

    /// [`SqlStore::connect`] with the pool's size and acquire timeout (`[database]`). The acquire
    /// timeout is also SQLite's busy timeout: a lock wait past it is `Unavailable` (503).
    pub async fn connect_with(url: &str, pool_settings: PoolSettings) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url).ok_or_else(|| {
            StoreError::Backend("database.url must start with sqlite:// or postgres://".into())
        })?;
        let sqlite_path = if backend == Backend::Sqlite {
            sqlite_file(url)
        } else {
            None
        };
        if let Some(path) = &sqlite_path {
            create_private(path)?;
        }
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url).map_err(backend_err)?;
        let mut pool = AnyPoolOptions::new()
            .max_connections(pool_settings.size.max(1))
            .acquire_timeout(pool_settings.acquire_timeout);
        if backend == Backend::Sqlite {
            let busy_ms = pool_settings.acquire_timeout.as_millis();
            pool = pool.after_connect(move |conn, _| {
                Box::pin(async move {
                    conn.execute(sqlx::AssertSqlSafe(format!(
                        "PRAGMA busy_timeout = {busy_ms}; PRAGMA synchronous = FULL; \
                         PRAGMA foreign_keys = ON;"
                    )))
                    .await?;
                    // Switching to WAL takes an exclusive lock that the busy timeout cannot wait
                    // for: with another process writing, it fails at once ("database is locked").
                    // The database stays in WAL once switched, so only a new one is switched.
                    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                        .fetch_one(&mut *conn)
                        .await?;
                    if !mode.eq_ignore_ascii_case("wal") {
                        conn.execute("PRAGMA journal_mode = WAL;").await?;
                    }
                    // A connection that opened the file read-only stays read-only after the
                    // file is writable again: mark it (query_only) for `after_release` to drop.
                    if opened_read_only(conn, busy_ms).await? {
                        conn.execute("PRAGMA query_only = ON").await?;
                    }
                    Ok(())
                })
            });
            // Not back into the pool: a connection marked read-only (used once, then dropped, so
            // every write finds a writable one once the file is), nor one sqlx still counts in a
            // transaction: a COMMIT that failed on an I/O error (SQLite then rolls back itself,
            // and the ROLLBACK of the dropped transaction fails) would fail every later BEGIN on
            // it. This query runs after that queued ROLLBACK and replaces the acquire-time ping.
            pool = pool.test_before_acquire(false).after_release(|conn, _| {
                Box::pin(async move {
                    let marked: i64 = sqlx::query_scalar("PRAGMA query_only")
                        .fetch_one(&mut *conn)
                        .await?;
                    Ok(marked == 0 && !sqlx::Connection::is_in_transaction(&*conn))
                })
            });
        }
        let pool = pool.connect_with(options).await.map_err(backend_err)?;
        Ok(Self {
            pool,
            backend,
            url: url.clone(),
            sqlite_path,
            audit: None,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A write transaction. On SQLite it takes the write lock at `BEGIN` (`BEGIN IMMEDIATE`),
    /// waiting for it under the busy timeout: a deferred transaction whose snapshot another
    /// process's commit made stale would instead fail at its first write, at once, with
    /// "database is locked" (WAL's `SQLITE_BUSY_SNAPSHOT`, which no busy timeout waits out).
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }
}

/// Whether a new SQLite connection opened its database read-only (SQLite does so, for the
/// connection's life, when it cannot open the file for writing): its `BEGIN IMMEDIATE` says so
/// (SQLite 3.51; 3.40 waits for the first write, which is rolled back at once). Without waiting:
/// another writer holding the lock (busy) means this connection could take it, so it can write.
async fn opened_read_only(conn: &mut sqlx::AnyConnection, busy_ms: u128) -> sqlx::Result<bool> {
    let read_only = |r: sqlx::Result<sqlx::any::AnyQueryResult>| match r {
        Err(sqlx::Error::Database(e)) => errors::sqlite_code(e.as_ref()) == Some(8),
        _ => false,
    };
    conn.execute("PRAGMA busy_timeout = 0").await?;
    let found = match conn.execute("BEGIN IMMEDIATE").await {
        Ok(_) => {
            let version: i64 = sqlx::query_scalar("PRAGMA user_version")
                .fetch_one(&mut *conn)
                .await?;
            let probe = format!("PRAGMA user_version = {version}");
            let found = read_only(conn.execute(sqlx::AssertSqlSafe(probe)).await);
            conn.execute("ROLLBACK").await?;
            found
        }
        began => read_only(began),
    };
    let restore = format!("PRAGMA busy_timeout = {busy_ms}");
    conn.execute(sqlx::AssertSqlSafe(restore)).await?;
    Ok(found)
}

pub(crate) const COUNT_ENABLED_ADMINS: &str = "SELECT COUNT(*) FROM users u JOIN user_roles r ON r.user_id = u.id \
     WHERE r.role = 'admin' AND u.disabled = 0";

/// `INSERT INTO table (columns) VALUES ($1, ...), (...)` for `rows` rows: the normal insert paths
/// write one row with it, the bulk seed many, so both fill the same columns.
pub(crate) fn insert_rows(table: &str, columns: &[&str], rows: usize) -> String {
    let n = columns.len();
    let values = (0..rows)
        .map(|r| format!("({})", placeholders(r * n + 1, n)))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO {table} ({}) VALUES {values}",
        columns.join(", ")
    )
}

/// A query over [`sqlx::Any`], as the row binders take and give it.
pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

pub(crate) fn placeholders(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(backend_err)
    }

    fn audited(&self, event: AuditEvent) -> Box<dyn Store> {
        Box::new(SqlStore {
            audit: Some(std::sync::Arc::new(event)),
            ..self.clone()
        })
    }
    async fn insert_audit_events(&self, events: &[AuditEvent]) -> StoreResult<()> {
        audit::insert_batch(self, events).await
    }
    async fn audit_events(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        audit::page(self, query).await
    }
    async fn prune_audit_events(&self, before: i64) -> StoreResult<u64> {
        audit::prune(self, before).await
    }

    async fn list_policies(&self) -> StoreResult<Vec<PolicyRecord>> {
        policies::list(self).await
    }
    async fn put_policy(&self, policy: &PolicyRecord, now: i64) -> StoreResult<bool> {
        policies::put(self, policy, now).await
    }
    async fn delete_policy(&self, name: &str) -> StoreResult<bool> {
        policies::delete(self, name).await
    }

    async fn revision(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT value FROM revision WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(backend_err)
    }

    async fn changes_since(&self, seq: i64) -> StoreResult<ChangeBatch> {
        changes::since(self, seq).await
    }
    async fn prune_changes(&self, before: i64) -> StoreResult<()> {
        changes::prune(self, before).await
    }
    async fn add_throttle_counts(&self, counts: &[ThrottleCount], now: i64) -> StoreResult<()> {
        throttle::add(self, counts, now).await
    }
    async fn throttle_counts_since(&self, since: i64) -> StoreResult<Vec<ThrottleCount>> {
        throttle::since(self, since).await
    }
    async fn prune_throttle_counts(&self, before: i64) -> StoreResult<()> {
        throttle::prune(self, before).await
    }

    async fn insert_family(&self, family: &TokenFamily, first: &RefreshToken) -> StoreResult<()> {
        tokens::insert_family(self, family, first).await
    }
    async fn refresh_token(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<(RefreshToken, TokenFamily)>> {
        tokens::by_hash(self, token_hash).await
    }
    async fn rotate_refresh_token(
        &self,
        old: Uuid,
        new: &RefreshToken,
        successor_claims: &str,
        now: i64,
    ) -> StoreResult<bool> {
        tokens::rotate(self, old, new, successor_claims, now).await
    }
    async fn server_secret(&self, name: &str, fresh: &str) -> StoreResult<String> {
        keys::server_secret(self, name, fresh).await
    }
    async fn revoke_family(&self, id: Uuid, now: i64) -> StoreResult<()> {
        tokens::revoke_family(self, id, now).await
    }
    async fn revoke_access_token(&self, jti: &str, expires_at: i64) -> StoreResult<()> {
        tokens::revoke_access(self, jti, expires_at).await
    }
    async fn revocations(&self, since: i64, now: i64) -> StoreResult<Revocations> {
        tokens::revocations(self, since, now).await
    }
    async fn insert_access_token(
        &self,
        token_hash: &str,
        jti: &str,
        claims_json: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        tokens::insert_access(self, token_hash, jti, claims_json, expires_at).await
    }
    async fn access_token(&self, token_hash: &str) -> StoreResult<Option<String>> {
        tokens::access_by_hash(self, token_hash).await
    }

    async fn insert_user(&self, user: &User) -> StoreResult<()> {
        users::insert(self, user).await
    }
    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>> {
        users::by_key(self, "id", &id.to_string()).await
    }
    async fn user_by_username(&self, username_norm: &str) -> StoreResult<Option<User>> {
        users::by_key(self, "username_norm", username_norm).await
    }
    async fn list_users(&self, page: PageRequest) -> StoreResult<Page<User>> {
        users::list(self, page).await
    }
    async fn count_users(&self) -> StoreResult<i64> {
        let mut conn = self.pool.acquire().await.map_err(backend_err)?;
        counts::read(&mut conn, counts::USERS)
            .await
            .map_err(backend_err)
    }
    async fn has_users(&self) -> StoreResult<bool> {
        let row = sqlx::query("SELECT 1 FROM users LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_err)?;
        Ok(row.is_some())
    }
    async fn update_user(&self, user: &User, read_at: i64) -> StoreResult<bool> {
        users::update(self, user, read_at).await
    }
    async fn set_password_hash(&self, id: Uuid, hash: &str, expected: &str) -> StoreResult<()> {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3")
            .bind(hash.to_owned())
            .bind(id.to_string())
            .bind(expected.to_owned())
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(backend_err)
    }
    async fn delete_user(&self, id: Uuid, read_at: Option<i64>) -> StoreResult<bool> {
        users::delete(self, id, read_at).await
    }

    async fn list_roles(&self) -> StoreResult<Vec<Role>> {
        roles::list(self).await
    }
    async fn role(&self, name: &str) -> StoreResult<Option<Role>> {
        roles::get(self, name).await
    }
    async fn put_role(&self, role: &Role) -> StoreResult<bool> {
        roles::put(self, role).await
    }
    async fn delete_role(&self, name: &str, force: bool) -> StoreResult<RoleDeletion> {
        roles::delete(self, name, force).await
    }

    async fn insert_item(&self, item: &Item) -> StoreResult<()> {
        items::insert(self, item).await
    }
    async fn item(&self, id: Uuid) -> StoreResult<Option<Item>> {
        items::get(self, id).await
    }
    async fn list_items(&self, page: PageRequest) -> StoreResult<Page<Item>> {
        items::list(self, page).await
    }
    async fn update_item(&self, item: &Item) -> StoreResult<bool> {
        items::update(self, item).await
    }
    async fn delete_item(&self, id: Uuid) -> StoreResult<bool> {
        items::delete(self, id).await
    }

    async fn insert_client(&self, client: &Client) -> StoreResult<()> {
        clients::insert(self, client).await
    }
    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        clients::list(self).await
    }
    async fn update_client(&self, client: &Client) -> StoreResult<bool> {
        clients::update(self, client).await
    }
    async fn delete_client(&self, id: &str, now: i64) -> StoreResult<bool> {
        clients::delete(self, id, now).await
    }

    async fn insert_api_key(&self, key: &ApiKey) -> StoreResult<()> {
        api_keys::insert(self, key).await
    }
    async fn api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKey>> {
        api_keys::by_hash(self, key_hash).await
    }
    async fn api_key(&self, id: Uuid) -> StoreResult<Option<ApiKey>> {
        api_keys::by_id(self, id).await
    }
    async fn list_api_keys(&self, user_id: Uuid) -> StoreResult<Vec<ApiKey>> {
        api_keys::list(self, user_id).await
    }
    async fn delete_api_key(&self, id: Uuid) -> StoreResult<bool> {
        api_keys::delete(self, id).await
    }
    async fn roll_api_key(
        &self,
        old: Uuid,
        old_expires_at: i64,
        new: &ApiKey,
        now: i64,
    ) -> StoreResult<()> {
        api_keys::roll(self, old, old_expires_at, new, now).await
    }
    async fn touch_api_keys(&self, uses: &[(Uuid, i64)]) -> StoreResult<()> {
        api_keys::touch(self, uses).await
    }

    async fn insert_session(&self, session: &Session) -> StoreResult<()> {
        sessions::insert(self, session).await
    }
    async fn session_by_hash(&self, id_hash: &str) -> StoreResult<Option<Session>> {
        sessions::by_hash(self, id_hash).await
    }
    async fn delete_session(&self, id: Uuid) -> StoreResult<()> {
        sessions::delete(self, id).await
    }
    async fn touch_sessions(&self, uses: &[(Uuid, i64)], expired_before: i64) -> StoreResult<()> {
        sessions::touch(self, uses, expired_before).await
    }

    async fn signing_keys(&self, now: i64) -> StoreResult<Vec<SigningKeyRecord>> {
        keys::list(self, now).await
    }
    async fn rotate_signing_key(&self, next: &SigningKeyRecord, retire_at: i64) -> StoreResult<()> {
        keys::rotate(self, next, retire_at).await
    }
    async fn set_signing_key_private(&self, kid: &str, private_pem: &str) -> StoreResult<()> {
        keys::set_private(self, kid, private_pem).await
    }
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        keys::insert(self, key).await
    }
}
