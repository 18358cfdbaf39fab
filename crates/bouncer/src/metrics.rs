//! `[metrics]`: Prometheus text at `GET /metrics`.
//!
//! The recorder is installed only when `metrics.enabled`: until then every counter in the code is
//! a look at the (absent) recorder and nothing more. A scrape is the recorder's series (requests,
//! latencies, logins, cache lookups) followed by gauges read at that moment, so they cost nothing
//! between scrapes: the password-hash queue, the change feed's lag and the database pool.
//!
//! With `metrics.listen` set, `/metrics` is served on that address only, by a small plain-HTTP
//! listener of its own (no credential: the address is the protection); with it empty, on the API's
//! address to callers holding `metrics:read`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bouncer_core::service::Bouncer;
use bouncer_http::observe::CONTENT_TYPE;
use bouncer_http::{MetricsOptions, Scrape};
use bouncer_store::SqlStore;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::app::AppError;
use crate::config::Config;

/// Latency buckets (seconds): from a cached token check to a login queued behind Argon2.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Connections the separate listener serves at once (a scraper needs one).
const LISTENER_CONNECTIONS: usize = 16;

/// Whether `GET /metrics` is a route of the API (and of its spec).
pub fn on_api(config: &Config) -> bool {
    config.metrics.enabled && config.metrics.listen.is_empty()
}

/// The process's recorder, installed by the first server with metrics on (the `metrics` facade
/// has one per process; servers started later in the same process share it).
fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new();
        // Buckets make the latencies a Prometheus histogram (aggregatable) instead of a summary.
        let builder = builder
            .set_buckets_for_metric(
                Matcher::Full("bouncer_http_request_duration_seconds".into()),
                LATENCY_BUCKETS,
            )
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed: /metrics shows only the gauges");
        }
        bouncer_core::telemetry::describe();
        bouncer_http::observe::describe();
        handle
    })
}

/// What `[metrics]` started for one server: what the HTTP layer needs, and the tasks that stop
/// when this is dropped (the separate listener, the recorder's upkeep).
#[derive(Default)]
pub struct Metrics {
    options: MetricsOptions,
    tasks: Vec<JoinHandle<()>>,
}

impl Metrics {
    /// The HTTP layer's part: whether to count requests, and the scrape if the API serves it.
    pub fn http_options(&self) -> MetricsOptions {
        self.options.clone()
    }
}

impl Drop for Metrics {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts what `[metrics]` asks for: nothing when it is off; else the recorder and either the
/// listener on `metrics.listen` or the API's route. Keep the result until the server stops.
pub async fn start(
    config: &Config,
    bouncer: &Arc<Bouncer>,
    store: &SqlStore,
) -> Result<Metrics, AppError> {
    if !config.metrics.enabled {
        return Ok(Metrics::default());
    }
    let handle = recorder().clone();
    let upkeep = {
        let handle = handle.clone();
        // Between scrapes, histogram samples are folded in so they do not pile up.
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        })
    };
    let scrape: Scrape = {
        let (bouncer, store) = (bouncer.clone(), store.clone());
        Arc::new(move || {
            let (bouncer, store, handle) = (bouncer.clone(), store.clone(), handle.clone());
            Box::pin(async move { render(&handle, &bouncer, &store).await })
        })
    };
    let mut tasks = vec![upkeep];
    let scrape = if config.metrics.listen.is_empty() {
        Some(scrape)
    } else {
        let addr: SocketAddr = config.metrics.listen.parse().map_err(|_| {
            AppError::Io(format!(
                "metrics.listen: not an address: {}",
                config.metrics.listen
            ))
        })?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| AppError::Io(format!("cannot listen on {addr} (metrics.listen): {e}")))?;
        tracing::info!(%addr, "metrics listening");
        tasks.push(tokio::spawn(serve_listener(listener, scrape)));
        None
    };
    Ok(Metrics {
        options: MetricsOptions {
            record: true,
            scrape,
        },
        tasks,
    })
}

/// The separate listener: `GET /metrics` and nothing else, plain HTTP/1.1. Its connections are
/// dropped with it.
async fn serve_listener(listener: TcpListener, scrape: Scrape) {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let scrape = scrape.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)],
                    scrape().await,
                )
            }
        }),
    );
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10));
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "metrics: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        while conns.try_join_next().is_some() {}
        if conns.len() >= LISTENER_CONNECTIONS {
            continue; // dropped: closed at once
        }
        let conn =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        conns.spawn(async move {
            let _ = conn.await;
        });
    }
}

/// Appends one gauge family: `# HELP`, `# TYPE` and a sample per `(labels, value)`.
fn gauge(out: &mut String, name: &str, help: &str, samples: &[(&str, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
    out.push('\n');
}

/// One scrape: the recorder's series, then the gauges read now.
async fn render(handle: &PrometheusHandle, b: &Bouncer, store: &SqlStore) -> String {
    let mut out = handle.render();
    if !out.is_empty() && !out.ends_with("\n\n") {
        out.push('\n');
    }
    gauge(
        &mut out,
        "bouncer_password_hash_queue_depth",
        "Password checks and hashes waiting for an Argon2 worker",
        &[("", b.hasher.queued() as f64)],
    );
    gauge(
        &mut out,
        "bouncer_password_hash_queue_capacity",
        "The most that may wait (passwords.hash_queue); past it logins are refused with 503",
        &[("", b.settings.passwords.queue as f64)],
    );
    let since = (b.clock.now_ms() - b.feed_applied_at()).max(0);
    gauge(
        &mut out,
        "bouncer_change_feed_lag_seconds",
        "Seconds since the change feed was last applied without an error (it is read every auth.revision_poll_ms)",
        &[("", since as f64 / 1000.0)],
    );
    // The store's revision, read now (bounded: a scrape must answer even when the database
    // does not; the sample is then missing).
    if let Ok(Ok(latest)) = tokio::time::timeout(Duration::from_secs(1), b.store.revision()).await {
        let behind = (latest - b.auth.applied_revision()).max(0);
        gauge(
            &mut out,
            "bouncer_change_feed_revisions_behind",
            "Changes committed to the database that this process has not applied yet",
            &[("", behind as f64)],
        );
    }
    let pool = store.pool_stats();
    gauge(
        &mut out,
        "bouncer_db_pool_connections",
        "Open database connections by state",
        &[
            ("{state=\"idle\"}", f64::from(pool.idle)),
            ("{state=\"in_use\"}", f64::from(pool.in_use())),
        ],
    );
    gauge(
        &mut out,
        "bouncer_db_pool_max_connections",
        "The most connections the pool opens (database.pool_size)",
        &[("", f64::from(pool.max))],
    );
    out
}
