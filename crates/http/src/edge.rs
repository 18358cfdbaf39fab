//! Everything the server does around every request, in one service that wraps the router: the
//! request id (the client's `X-Request-Id` when it is valid, a random one otherwise, echoed in the
//! response) and the trace span that carries it into every log line, the refusals that need no
//! route (a missing or doubled `Host`, a declared body over the limit), the body's read deadline
//! and the request's, the request context (client address, clock, request id) and the audit of
//! refusals, the security headers on every response, and the request's log line and metrics.
//!
//! One service, made per connection ([`App::connection`], which knows the peer and whether this
//! server terminated TLS for it) and handed to hyper as is, instead of a middleware layered onto
//! every route: axum boxes and clones a layered route's whole stack, a `from_fn` middleware boxes
//! the rest of the stack and its own future, and hyper's tower adapter clones the service, on
//! every request, and the hot path cannot afford those (see `docs/benchmarks.md`, "Hot path").
//! Each concern stays a plain function in its own module.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt as _;

use axum::http::HeaderName;
use tracing::Instrument;

use crate::context::ContextState;
use crate::error::ApiError;
use crate::{body_timeout, context, observe, request_timeout, valid_request_id};

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// How many headers the edge may add to an answer (the request id, [`secure`]'s six): a route
/// that makes its headers with room for these saves their growth on the way out.
pub(crate) const HEADERS_ADDED: usize = 7;

/// What the edge needs: the request context's sources and the per-request limits.
pub(crate) struct EdgeState {
    pub context: ContextState,
    /// Count requests in metrics (a recorder is installed).
    pub record: bool,
    pub body_limit: usize,
    pub body_read_timeout: Duration,
    /// `server.request_timeout_s`: see [`request_timeout`].
    pub request_timeout: Duration,
}

/// The whole HTTP application: the edge around `inner` (the router with CORS and the body limit).
/// One per server; [`App::connection`] makes each accepted connection's service.
#[derive(Clone)]
pub struct App<S> {
    edge: Arc<EdgeState>,
    inner: S,
}

impl<S> App<S> {
    pub(crate) fn new(edge: EdgeState, inner: S) -> Self {
        App {
            edge: Arc::new(edge),
            inner,
        }
    }
}

impl<S: Clone> App<S> {
    /// The service of a connection from `peer`, over this server's own TLS or not.
    pub fn connection(&self, peer: SocketAddr, over_tls: bool) -> Connection<S> {
        Connection {
            edge: self.edge.clone(),
            inner: self.inner.clone(),
            peer,
            over_tls,
        }
    }
}

/// One connection's service (see [`App::connection`]): what hyper calls for each request.
#[derive(Clone)]
pub struct Connection<S> {
    edge: Arc<EdgeState>,
    inner: S,
    peer: SocketAddr,
    over_tls: bool,
}

impl<S, B> hyper::service::Service<axum::http::Request<B>> for Connection<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
    B: http_body::Body<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    /// What needs the request is done here, before anything is awaited; the future keeps only
    /// the route's future and the little the answer needs (a smaller future is a smaller copy
    /// into its box and between the states of the request).
    fn call(&self, req: axum::http::Request<B>) -> Self::Future {
        let st = &*self.edge;
        let req = req.map(Body::new);
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
        let routed = span.in_scope(|| {
            let arrived = Instant::now();
            // What the log line and the metrics need, copied only when either is on.
            let seen = observe::wanted(st.record).then(|| observe::Seen::of(&req, st.record));
            let answer = match refusal(&req, st.body_limit) {
                Some(refused) => Answer::Refused(refused),
                None => {
                    let (req, expired) = body_timeout::deadline(req, st.body_read_timeout);
                    let peer = Some(self.peer.ip());
                    let (req, leave) =
                        context::enter(&st.context, req, id_text, peer, self.over_tls);
                    Answer::Routed {
                        answer: request_timeout::bounded(
                            self.inner.clone().oneshot(req),
                            arrived,
                            st.request_timeout,
                        ),
                        leave,
                        expired,
                    }
                }
            };
            Routed {
                answer,
                arrived,
                seen,
                id,
                over_tls: self.over_tls,
                body_read_timeout: st.body_read_timeout,
            }
        });
        Box::pin(routed.answer().instrument(span))
    }
}

/// A request on its way: its answer to come and what the edge adds to it.
struct Routed<F> {
    answer: Answer<F>,
    arrived: Instant,
    seen: Option<observe::Seen>,
    id: HeaderValue,
    over_tls: bool,
    body_read_timeout: Duration,
}

/// The answer to come: refused before routing, or the route's (within the request's deadline,
/// the refusal audit and the body's deadline to apply).
enum Answer<F> {
    Refused(Response),
    Routed {
        answer: request_timeout::Bounded<F>,
        leave: context::Leave,
        expired: Option<Arc<std::sync::atomic::AtomicBool>>,
    },
}

impl<F: Future<Output = Result<Response, Infallible>>> Routed<F> {
    /// The answer, with the request id, the security headers, its log line and metrics.
    async fn answer(self) -> Result<Response, Infallible> {
        let mut res = match self.answer {
            Answer::Refused(res) => res,
            Answer::Routed {
                answer,
                leave,
                expired,
            } => {
                let res = answer.await;
                leave.leave(&res);
                if expired.is_some_and(|e| e.load(std::sync::atomic::Ordering::Relaxed)) {
                    tracing::info!(
                        timeout_s = self.body_read_timeout.as_secs(),
                        "the request body did not arrive in time"
                    );
                    body_timeout::timed_out()
                } else {
                    res
                }
            }
        };
        let headers = res.headers_mut();
        headers.reserve(HEADERS_ADDED);
        if !headers.contains_key(X_REQUEST_ID) {
            headers.insert(X_REQUEST_ID, self.id);
        }
        secure(&mut res, self.over_tls);
        if let Some(seen) = self.seen {
            seen.done(&res, self.arrived.elapsed());
        }
        Ok(res)
    }
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
