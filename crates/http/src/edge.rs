//! Everything the server does around every request, in one middleware: the request id (the
//! client's `X-Request-Id` when it is valid, a random one otherwise, echoed in the response) and
//! the trace span that carries it into every log line, the refusals that need no route (a missing or doubled `Host`, a declared body over the limit), the body's read deadline and the request's,
//! the request context (client address, clock, request id) and the audit of refusals, the
//! security headers on every response, and the request's log line and metrics.
//!
//! One middleware instead of one layer each: every `from_fn` layer boxes the rest of the stack and
//! its own future on every request, and the hot path cannot afford a dozen of those (see
//! `docs/benchmarks.md`, "Hot path"). Each concern stays a plain function in its own module.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use axum::http::HeaderName;
use tracing::Instrument;

use crate::context::ContextState;
use crate::error::ApiError;
use crate::{ServedOverTls, body_timeout, context, observe, request_timeout, valid_request_id};

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// How many headers the edge may add to an answer (the request id, [`secure`]'s six): a route
/// that makes its headers with room for these saves their growth on the way out.
pub(crate) const HEADERS_ADDED: usize = 7;

/// What [`layer`] needs: the request context's sources and the per-request limits.
#[derive(Clone)]
pub(crate) struct EdgeState {
    pub context: ContextState,
    /// Count requests in metrics (a recorder is installed).
    pub record: bool,
    pub body_limit: usize,
    pub body_read_timeout: Duration,
    /// `server.request_timeout_s`: see [`request_timeout`].
    pub request_timeout: Duration,
}

/// The middleware.
pub(crate) async fn layer(State(st): State<Arc<EdgeState>>, req: Request, next: Next) -> Response {
    let id = request_id(req.headers());
    // Made once: the span and the request context share it.
    let id_text: Arc<str> = Arc::from(id.to_str().unwrap_or("-"));
    // Path only: a query string may carry secrets.
    let span = tracing::info_span!(
        "request",
        request_id = &*id_text,
        method = %req.method(),
        path = req.uri().path(),
    );
    let mut res = handle(&st, req, next, id_text).instrument(span).await;
    if !res.headers().contains_key(X_REQUEST_ID) {
        res.headers_mut().insert(X_REQUEST_ID, id);
    }
    res
}

/// The request's id: the client's `X-Request-Id` if it sent exactly one and it is
/// [`valid_request_id`] (so it cannot forge log lines or bloat them), else a random UUID (v4, 122
/// random bits from the thread-local CSPRNG: neither guessable nor a system call each). What is
/// downstream reads it from the request context, not from the request's headers.
fn request_id(headers: &axum::http::HeaderMap) -> HeaderValue {
    let mut ids = headers.get_all(X_REQUEST_ID).iter();
    match (ids.next(), ids.next()) {
        (Some(v), None) if valid_request_id(v.as_bytes()) => v.clone(),
        _ => {
            let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
            let mut buf = uuid::Uuid::encode_buffer();
            HeaderValue::from_str(id.hyphenated().encode_lower(&mut buf))
                .expect("a UUID is a valid header value")
        }
    }
}

/// Inside the request's span: its log line carries the request id.
async fn handle(st: &EdgeState, req: Request, next: Next, id: Arc<str>) -> Response {
    let start = Instant::now();
    // What the log line and the metrics need, copied only when either is on.
    let seen = observe::wanted(st.record).then(|| observe::Seen::of(&req, st.record));
    let over_tls = req.extensions().get::<ServedOverTls>().is_some();
    let mut res = match refusal(&req, st.body_limit) {
        Some(refused) => refused,
        None => serve(st, req, next, id, start).await,
    };
    res.headers_mut().reserve(HEADERS_ADDED);
    secure(&mut res, over_tls);
    if let Some(seen) = seen {
        seen.done(res.status(), start.elapsed());
    }
    res
}

/// The route's answer, with the body's deadline, the request's deadline and the request context
/// around it.
async fn serve(
    st: &EdgeState,
    req: Request,
    next: Next,
    id: Arc<str>,
    arrived: Instant,
) -> Response {
    let (req, expired) = body_timeout::deadline(req, st.body_read_timeout);
    let (req, audit) = context::enter(&st.context, req, id);
    let res = request_timeout::bounded(next.run(req), arrived, st.request_timeout).await;
    audit.leave(&res);
    if expired.is_some_and(|e| e.load(std::sync::atomic::Ordering::Relaxed)) {
        tracing::info!(
            timeout_s = st.body_read_timeout.as_secs(),
            "the request body did not arrive in time"
        );
        return body_timeout::timed_out();
    }
    res
}

/// A request refused before any route sees it: RFC 9112 §3.2 wants exactly one `Host` (400), and
/// a body declared (`Content-Length`) larger than the limit is refused at once with 413, before
/// any of it is read: waiting for a body that will be refused anyway only holds the connection.
fn refusal(req: &Request, body_limit: usize) -> Option<Response> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    if hosts.next().is_none() || hosts.next().is_some() {
        return Some(
            ApiError::BadRequest {
                code: "bad_host",
                detail: "a request needs exactly one Host header".into(),
            }
            .into_response(),
        );
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > body_limit as u64) {
        return Some(ApiError::PayloadTooLarge.into_response());
    }
    None
}

/// The headers every response carries, each only where a route did not set its own (`/docs`
/// keeps the content security policy Swagger UI needs): no MIME sniffing, no referrer, never
/// framed; `Vary: Origin` (CORS or not, a cache must never serve one origin's answer to another);
/// and `Strict-Transport-Security` over this server's own TLS only (over plain HTTP a browser
/// ignores it, and a TLS-terminating proxy in front decides).
fn secure(res: &mut Response, over_tls: bool) {
    let h = res.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"),
    ] {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    }
    let varies_by_origin = h
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("origin"));
    if !varies_by_origin {
        h.append(header::VARY, HeaderValue::from_static("origin"));
    }
    if over_tls {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
}
