//! What every request leaves behind, written by the edge (`edge.rs`) inside the request's trace
//! span (so inside its request id): its log line at `info` (target `bouncer::request`: method, path, status,
//! latency) and, with metrics on, its counters. The route label is the matched route's template
//! (`/users/{id}`), never the raw path, and `unmatched` for everything else, so the series stay
//! few whatever clients send; an unusual method is `other` for the same reason.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::MatchedPath;

/// Renders the Prometheus text of a scrape (the binary's recorder and gauges read at that moment).
pub type Scrape = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = String> + Send>> + Send + Sync>;

/// The `Content-Type` of a scrape: Prometheus text exposition format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `[metrics]` as the HTTP layer needs it.
#[derive(Clone, Default)]
pub struct MetricsOptions {
    /// Count requests by route, method and status (a recorder is installed).
    pub record: bool,
    /// Serve `GET /metrics` on the API (the route exists only then, needing `metrics:read`).
    pub scrape: Option<Scrape>,
}

impl fmt::Debug for MetricsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsOptions")
            .field("record", &self.record)
            .field("scrape", &self.scrape.is_some())
            .finish()
    }
}

/// Describes the HTTP layer's series (`# HELP` lines) to the installed recorder.
pub fn describe() {
    metrics::describe_counter!(
        "bouncer_http_requests_total",
        "HTTP requests answered, by route template (unmatched: no route), method and status"
    );
    metrics::describe_histogram!(
        "bouncer_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time from the request's arrival to its response's headers, by route template and method"
    );
}

/// The label of a method: the standard ones by name, anything else `other`.
fn method_label(m: &axum::http::Method) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN
        .iter()
        .find(|k| **k == m.as_str())
        .copied()
        .unwrap_or("other")
}

/// Whether anything is kept of a request: metrics recorded, or its log line (`bouncer::request` at
/// `info`) on. When neither is, nothing of it is copied for them.
pub(crate) fn wanted(record: bool) -> bool {
    record || tracing::enabled!(target: "bouncer::request", tracing::Level::INFO)
}

/// What a request's log line and metrics need of it, taken before the request moves on.
pub(crate) struct Seen {
    method: axum::http::Method,
    uri: axum::http::Uri,
    record: bool,
}

impl Seen {
    /// The method and URI; `record`: count it in metrics too.
    pub(crate) fn of(req: &axum::extract::Request, record: bool) -> Self {
        Seen {
            method: req.method().clone(),
            uri: req.uri().clone(),
            record,
        }
    }

    /// The request's log line and metrics, now that it has its answer (which carries the route
    /// it matched, see [`keep_route`]).
    pub(crate) fn done(self, res: &axum::response::Response, elapsed: std::time::Duration) {
        let route = self
            .record
            .then(|| res.extensions().get::<MatchedPath>().cloned());
        request_done(&self.method, &self.uri, route, res.status(), elapsed);
    }
}

/// With metrics on, every route's answer carries the route it matched (its template), for the
/// edge, which sees the request before routing and the answer after, to label it with.
pub(crate) async fn keep_route(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let mut res = next.run(req).await;
    if let Some(route) = route {
        res.extensions_mut().insert(route);
    }
    res
}

/// The request's log line and, when `route` is given (metrics on: the matched route, if any), its
/// metrics.
fn request_done(
    method: &axum::http::Method,
    uri: &axum::http::Uri,
    route: Option<Option<MatchedPath>>,
    status: axum::http::StatusCode,
    elapsed: std::time::Duration,
) {
    // The path without the query: a query string may carry secrets.
    tracing::info!(
        target: "bouncer::request",
        method = %method,
        path = uri.path(),
        status = status.as_u16(),
        latency_ms = (elapsed.as_secs_f64() * 1e6).round() / 1e3,
        "request"
    );
    if let Some(route) = route {
        let route = route.map_or_else(|| "unmatched".to_owned(), |r| r.as_str().to_owned());
        let method = method_label(method);
        metrics::counter!(
            "bouncer_http_requests_total",
            "route" => route.clone(), "method" => method, "status" => status.as_str().to_owned()
        )
        .increment(1);
        metrics::histogram!(
            "bouncer_http_request_duration_seconds", "route" => route, "method" => method
        )
        .record(elapsed.as_secs_f64());
    }
}
