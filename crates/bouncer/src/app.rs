//! Wiring: open the store, migrate, build the domain, create the first admin, serve HTTP.
//!
//! Serving uses hyper directly (not `axum::serve`) for what an exposed server needs: a header-read
//! timeout (slowloris), a cap on concurrent connections, a bounded header buffer, a graceful
//! drain on SIGTERM, and HTTPS (rustls, see [`crate::tls`]) with the certificate re-read on SIGHUP.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bouncer_core::clock::{Clock, SystemClock};
use bouncer_core::service::Bouncer;
use bouncer_http::HttpOptions;
use bouncer_store::SqlStore;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::tls::Tls;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Store(#[from] bouncer_core::store::StoreError),
    #[error("{0}")]
    Core(#[from] bouncer_core::Error),
    #[error("{0}")]
    Io(String),
    /// Exit with this status, after the message if there is one (`authz explain`: 1 denied, 2
    /// bad input; bad input to `policy set` and `apply`: 2).
    #[error("{1}")]
    Exit(u8, String),
}

/// Opens and migrates the configured database.
pub async fn open_store(config: &Config) -> Result<SqlStore, AppError> {
    let store = SqlStore::connect_with(&config.database.url, config.pool_settings()).await?;
    store.migrate().await?;
    Ok(store)
}

/// The domain on the configured database, with the given clock.
pub async fn build(config: &Config, clock: Arc<dyn Clock>) -> Result<Arc<Bouncer>, AppError> {
    Ok(build_with_store(config, clock).await?.0)
}

/// [`build`], also returning the store (the server starts its change listener on it).
pub async fn build_with_store(
    config: &Config,
    clock: Arc<dyn Clock>,
) -> Result<(Arc<Bouncer>, SqlStore), AppError> {
    let store = open_store(config).await?;
    let settings = config.settings();
    let (m, t, p) = bouncer_core::password::RECOMMENDED;
    let s = &settings.passwords;
    if s.argon2_m_kib < m || s.argon2_t < t || s.argon2_p < p {
        tracing::warn!(
            memory_kib = s.argon2_m_kib,
            iterations = s.argon2_t,
            parallelism = s.argon2_p,
            "Argon2 parameters are below the OWASP minimum (19456 KiB, 2, 1)"
        );
    }
    let bouncer = Bouncer::new(Arc::new(store.clone()), clock, settings).await?;
    Ok((Arc::new(bouncer), store))
}

/// Creates the first admin on an empty database; a generated password is printed once to stderr.
pub async fn bootstrap(b: &Bouncer, config: &Config) -> Result<(), AppError> {
    let given = Some(config.admin.password.as_str()).filter(|p| !p.is_empty());
    let created = match b.bootstrap_admin(&config.admin.username, given).await {
        Err(bouncer_core::Error::WeakPassword { reason, .. }) => {
            return Err(AppError::Config(crate::config::ConfigError(format!(
                "admin.password: {reason} (value not shown)"
            ))));
        }
        other => other?,
    };
    if let Some((user, generated)) = created {
        tracing::info!(user = %user.username, "created the first admin");
        if let Some(pw) = generated {
            eprintln!(
                "\nbouncer: created admin user {:?} with password:\n\n    {pw}\n\nIt is shown only this once. Change it with `bouncer user set-password {}`.\n",
                user.username, user.username
            );
        }
    }
    Ok(())
}

/// `[[issuers]]`: their tokens are accepted from now on; their key sets are fetched in the
/// background (an unreachable issuer does not stop start-up: its tokens get 401 until keys
/// arrive).
fn accept_outside_issuers(
    bouncer: &Bouncer,
    config: &Config,
    clock: Arc<dyn Clock>,
) -> Result<(), AppError> {
    let settings = config.issuer_settings()?;
    if settings.is_empty() {
        return Ok(());
    }
    let fetcher = crate::fetch::HttpFetcher::new().map_err(AppError::Io)?;
    let issuers = Arc::new(bouncer_core::issuers::Issuers::new(
        settings,
        config.tokens.leeway_s,
        Arc::new(fetcher),
        clock,
    ));
    bouncer.auth.set_issuers(issuers.clone());
    tokio::spawn(async move { issuers.refresh_all().await });
    Ok(())
}

/// How much longer than `server.request_timeout_s` a connection may make no progress before the
/// stall guard cuts it (see `Server::serve`).
pub const STALL_GRACE: Duration = Duration::from_secs(5);

/// A server that is listening.
pub struct Server {
    pub addr: SocketAddr,
    pub bouncer: Arc<Bouncer>,
    store: SqlStore,
    listener: TcpListener,
    config: Config,
    tls: Option<Tls>,
}

impl Server {
    /// Opens everything and binds the listener; `serve` then runs it.
    pub async fn bind(config: Config, clock: Arc<dyn Clock>) -> Result<Self, AppError> {
        let addr = config.listen_addr()?;
        let tls = Tls::from_config(&config)?;
        let (bouncer, store) = build_with_store(&config, clock.clone()).await?;
        bootstrap(&bouncer, &config).await?;
        accept_outside_issuers(&bouncer, &config, clock)?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| AppError::Io(format!("cannot listen on {addr}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| AppError::Io(e.to_string()))?;
        Ok(Self {
            addr,
            bouncer,
            store,
            listener,
            config,
            tls,
        })
    }

    /// The TLS side when `server.tls_*` are set: [`Tls::reload`] is what SIGHUP does.
    pub fn tls(&self) -> Option<Tls> {
        self.tls.clone()
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests (up to the grace period).
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<(), AppError> {
        let Server {
            bouncer,
            store,
            listener,
            config,
            addr,
            tls,
        } = self;
        let metrics = crate::metrics::start(&config, &bouncer, &store).await?;
        let opts = HttpOptions {
            body_limit: config.server.body_limit_bytes,
            request_timeout: Duration::from_secs(config.server.request_timeout_s),
            body_read_timeout: Duration::from_secs(config.server.body_read_timeout_s),
            trusted_proxies: config.trusted_proxies()?,
            secure_cookie: config.secure_cookie()?,
            cors: config.cors()?,
            metrics: metrics.http_options(),
        };
        let app = bouncer_http::app(bouncer.clone(), opts);
        let wake = Arc::new(tokio::sync::Notify::new());
        let change_listener = bouncer_store::listen::spawn(&store, wake.clone());
        let poller = tokio::spawn(follow_changes(bouncer.clone(), wake));
        let audit_writer = tokio::spawn(write_audit(bouncer.clone()));
        let throttle_sync = tokio::spawn(share_throttle_counts(bouncer.clone()));
        let limit = Arc::new(Semaphore::new(config.server.max_connections));
        let per_address = crate::conn_limit::PerAddress::new(
            config.server.max_connections_per_ip,
            config.trusted_proxies()?,
        );
        let graceful = GracefulShutdown::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        // Replaced by each connection's own timer (`HeadTimer`, below).
        http.timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(config.server.header_read_timeout_s))
            .max_buf_size(config.server.max_header_bytes);
        tracing::info!(%addr, https = tls.is_some(), "listening");
        let reloader = reload_on_sighup(tls.clone());
        // A TLS handshake must be done within the time allowed for a request head.
        let handshake = Duration::from_secs(config.server.header_read_timeout_s);
        // A client that stops reading (or sending) mid-exchange is cut off after this long, so it
        // cannot hold a connection slot forever. Longer than the request timeout: while a route
        // works (up to that timeout) the client rightly sends nothing, and the 408 that ends a
        // route past it must still be written, not lose a race with this cut.
        let stall = Duration::from_secs(config.server.request_timeout_s) + STALL_GRACE;
        let refused = std::sync::atomic::AtomicU64::new(0);
        let serve_conn = |stream: tokio::net::TcpStream, peer: SocketAddr| {
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                // One line per thousand refusals: a flood must not flood the logs too.
                if refused
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    .is_multiple_of(1000)
                {
                    tracing::warn!(%peer, "connection limit reached; refusing connections");
                }
                return;
            };
            let Some(held) = per_address.take(peer.ip()) else {
                if refused
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    .is_multiple_of(1000)
                {
                    tracing::warn!(%peer, "this address holds its most connections; refusing more");
                }
                return;
            };
            let _ = stream.set_nodelay(true);
            let stream = crate::stall::StallGuard::new(stream, stall);
            // The pair in service when the connection came (SIGHUP may replace it).
            let acceptor = tls.as_ref().map(Tls::acceptor);
            let svc = app.connection(peer, acceptor.is_some());
            let stream = Box::pin(stream);
            // Watched from now: a drain waits for a handshake in progress too (bounded above).
            let watcher = graceful.watcher();
            let mut http = http.clone();
            // One lazily moved timer for every request head of the connection, instead of a
            // timer registered and cancelled per request (see `lazy_timer.rs`).
            http.timer(crate::lazy_timer::HeadTimer::new());
            tokio::spawn(async move {
                let served = match acceptor {
                    None => {
                        let conn = http.serve_connection(TokioIo::new(stream), svc);
                        watcher.watch(conn).await
                    }
                    Some(acceptor) => {
                        match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
                            Ok(Ok(tls)) => {
                                let conn = http.serve_connection(TokioIo::new(tls), svc);
                                watcher.watch(conn).await
                            }
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                Ok(())
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                Ok(())
                            }
                        }
                    }
                };
                if let Err(e) = served {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                drop(permit);
                drop(held);
            });
        };
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => serve_conn(stream, peer),
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                () = &mut shutdown => break,
            }
        }
        // Connections the kernel already queued were sent by clients before we stopped: serve them
        // (they are drained like the rest) rather than resetting them by dropping the listener.
        while let Ok(Ok((stream, peer))) =
            tokio::time::timeout(Duration::ZERO, listener.accept()).await
        {
            serve_conn(stream, peer);
        }
        drop(listener);
        tracing::info!("shutting down: draining in-flight requests");
        let grace = Duration::from_secs(config.server.shutdown_grace_s);
        if tokio::time::timeout(grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("grace period over; closing remaining connections");
        }
        poller.abort();
        throttle_sync.abort();
        // Failures counted since the last share still count for the other instances.
        let _ = bouncer.auth.throttle.sync(bouncer.store.as_ref()).await;
        reloader.abort();
        // Every event of every answered request is written before the process exits. Flushing
        // first waits for a batch the writer may be writing; only then is the writer stopped
        // (aborting it mid-write would drop that batch).
        if let Err(e) = bouncer.audit.flush().await {
            tracing::error!(error = %e, "could not write the last audit events");
        }
        audit_writer.abort();
        // A batch the writer took after that flush (from a request still running past the grace
        // period) went back to the queue when the abort cancelled it: write it too.
        let _ = audit_writer.await;
        if let Err(e) = bouncer.audit.flush().await {
            tracing::error!(error = %e, "could not write the last audit events");
        }
        let _ = bouncer.auth.flush_key_uses().await;
        if let Some(l) = change_listener {
            l.abort();
        }
        Ok(())
    }
}

/// Follows the change feed: applies what other processes (the CLI, other instances) changed, at
/// every poll tick or at once when the PostgreSQL listener wakes it. Every minute it also forgets
/// revocations and feed entries that can no longer matter.
async fn follow_changes(b: Arc<Bouncer>, wake: Arc<tokio::sync::Notify>) {
    let mut tick = tokio::time::interval(b.settings.auth.revision_poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune = tokio::time::Instant::now();
    let mut last_flush = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = wake.notified() => {}
        }
        if let Err(e) = b.apply_changes().await {
            tracing::warn!(error = %e, "could not read the change feed");
        }
        // API keys' last use, in one batch (the listing is at most this far behind).
        if last_flush.elapsed() >= Duration::from_secs(30) {
            last_flush = tokio::time::Instant::now();
            if let Err(e) = b.auth.flush_key_uses().await {
                tracing::debug!(error = %e, "could not record API key use");
            }
        }
        if last_prune.elapsed() >= Duration::from_secs(60) {
            last_prune = tokio::time::Instant::now();
            b.auth.prune_revocations();
            let hour_ago = b.clock.now_ms() - 3_600_000;
            if let Err(e) = b.store.prune_changes(hour_ago).await {
                tracing::debug!(error = %e, "could not prune the change feed");
            }
        }
    }
}

/// Shares throttling counts with the other instances through the store every 250 ms (so a
/// failure counts everywhere within a second), and forgets windows that ended, every minute.
async fn share_throttle_counts(b: Arc<Bouncer>) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        if let Err(e) = b.auth.throttle.sync(b.store.as_ref()).await {
            tracing::debug!(error = %e, "could not share throttling counts; will retry");
        }
        if last_prune.elapsed() >= Duration::from_secs(60) {
            last_prune = tokio::time::Instant::now();
            if let Err(e) = b.store.prune_throttle_counts(b.clock.now_ms()).await {
                tracing::debug!(error = %e, "could not prune throttling counts");
            }
        }
    }
}

/// Writes queued audit events in batches: every 200 ms, or at once when many are waiting; prunes
/// events past `audit.retention_days` at start and every hour.
async fn write_audit(b: Arc<Bouncer>) {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = b.audit.wanted() => {}
        }
        if let Err(e) = b.audit.flush().await {
            tracing::warn!(error = %e, "could not write audit events; will retry");
        }
        if last_prune.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
            last_prune = Some(tokio::time::Instant::now());
            match b.audit.prune(b.settings.audit.retention_days).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(events = n, "pruned audit events past their retention"),
                Err(e) => tracing::warn!(error = %e, "could not prune audit events"),
            }
        }
    }
}

/// SIGHUP re-reads the TLS certificate and key (a bad new pair is logged, the old one kept).
/// Without TLS there is nothing to re-read: SIGHUP is logged and otherwise ignored, never fatal.
/// The handler is in place when this returns (before the first connection is accepted).
fn reload_on_sighup(tls: Option<Tls>) -> tokio::task::JoinHandle<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::hangup()) {
            Ok(mut hup) => tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    match &tls {
                        Some(tls) => tls.reload_logged(),
                        None => tracing::info!("SIGHUP: no TLS files to re-read"),
                    }
                }
            }),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; the TLS files are not re-read");
                tokio::spawn(async {})
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tls;
        tokio::spawn(async {})
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

/// No core dumps, and no ptrace by other processes of the same user: the server's memory holds
/// secrets a dump would write to disk or hand over (the Basic-credential cache keeps passwords,
/// plus signing keys, the key-encryption key and the first admin's password from the
/// configuration). `RLIMIT_CORE` 0 (soft and hard, so it cannot be raised back) and
/// `PR_SET_DUMPABLE` 0 (which also covers dumps through a `core_pattern` pipe).
fn disable_core_dumps() {
    #[cfg(target_os = "linux")]
    {
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: plain system calls on this process with a valid, initialised argument.
        let (limit, dumpable) = unsafe {
            (
                libc::setrlimit(libc::RLIMIT_CORE, &zero),
                libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0),
            )
        };
        if limit != 0 || dumpable != 0 {
            tracing::warn!(
                error = %std::io::Error::last_os_error(),
                "could not switch core dumps off"
            );
        }
    }
}

/// `bouncer serve`.
pub async fn serve(config: Config) -> Result<(), AppError> {
    disable_core_dumps();
    let server = Server::bind(config, Arc::new(SystemClock)).await?;
    server.serve(shutdown_signal()).await
}
