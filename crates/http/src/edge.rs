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
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt as _;
use tower::util::{Either, Oneshot};

use axum::http::HeaderName;
use tracing::Instrument;
use tracing::instrument::Instrumented;

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

/// The whole HTTP application: the edge around the router (with CORS and the body limit). One
/// per server; [`App::connection`] makes each accepted connection's service.
#[derive(Clone)]
pub struct App<L, P> {
    edge: Arc<EdgeState>,
    inner: Inner<L, P>,
}

/// The router as the edge calls it: `limited` with the body limit, for a request with a body;
/// `plain`, the same router without it, for one without (most: a `GET` has nothing to limit, and
/// the limit is an extension inserted into every request it sees).
#[derive(Clone)]
pub(crate) struct Inner<L, P> {
    pub limited: L,
    pub plain: P,
}

impl<L, P> App<L, P> {
    pub(crate) fn new(edge: EdgeState, inner: Inner<L, P>) -> Self {
        App {
            edge: Arc::new(edge),
            inner,
        }
    }
}

impl<L: Clone, P: Clone> App<L, P> {
    /// The service of a connection from `peer`, over this server's own TLS or not.
    pub fn connection(&self, peer: SocketAddr, over_tls: bool) -> Connection<L, P> {
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
pub struct Connection<L, P> {
    edge: Arc<EdgeState>,
    inner: Inner<L, P>,
    peer: SocketAddr,
    over_tls: bool,
}

/// What the edge calls: the router, with CORS and (for a request with a body) the body limit.
pub trait RouterService:
    tower::Service<Request, Response = Response, Error = Infallible, Future: Send>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> RouterService for S where
    S: tower::Service<Request, Response = Response, Error = Infallible, Future: Send>
        + Clone
        + Send
        + Sync
        + 'static
{
}

impl<L: RouterService, P: RouterService, B> hyper::service::Service<axum::http::Request<B>>
    for Connection<L, P>
where
    B: http_body::Body<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Instrumented<Answering<Oneshot<Either<L, P>, Request>>>;

    /// What needs the request is done here, before anything is awaited; the future keeps only
    /// the route's future and the little the answer needs, and is not boxed.
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
        let answering = span.in_scope(|| {
            let arrived = Instant::now();
            // What the log line and the metrics need, copied only when either is on.
            let seen = observe::wanted(st.record).then(|| observe::Seen::of(&req, st.record));
            let answer = match refusal(&req, st.body_limit) {
                Some(refused) => Answer::Refused { res: Some(refused) },
                None => {
                    let has_body = !http_body::Body::is_end_stream(req.body());
                    let (req, expired) = body_timeout::deadline(req, st.body_read_timeout);
                    let peer = Some(self.peer.ip());
                    let (req, leave) =
                        context::enter(&st.context, req, id_text, peer, self.over_tls);
                    let router = if has_body {
                        Either::Left(self.inner.limited.clone())
                    } else {
                        Either::Right(self.inner.plain.clone())
                    };
                    Answer::Routed {
                        answer: request_timeout::bounded(
                            router.oneshot(req),
                            arrived,
                            st.request_timeout,
                        ),
                        leave: Some(leave),
                        expired,
                    }
                }
            };
            Answering {
                answer,
                finish: Some(Finish {
                    arrived,
                    seen,
                    id,
                    over_tls: self.over_tls,
                    body_read_timeout: st.body_read_timeout,
                }),
            }
        });
        answering.instrument(span)
    }
}

pin_project_lite::pin_project! {
    /// A request on its way: its answer to come, then what the edge adds to it.
    pub struct Answering<F> {
        #[pin]
        answer: Answer<F>,
        finish: Option<Finish>,
    }
}

pin_project_lite::pin_project! {
    /// The answer to come: refused before routing, or the route's (within the request's
    /// deadline; then the refusal audit and the body's deadline apply).
    #[project = AnswerProj]
    enum Answer<F> {
        Refused {
            res: Option<Response>,
        },
        Routed {
            #[pin]
            answer: request_timeout::Bounded<F>,
            leave: Option<context::Leave>,
            expired: Option<Arc<AtomicBool>>,
        },
    }
}

/// What the edge adds to the answer.
struct Finish {
    arrived: Instant,
    seen: Option<observe::Seen>,
    id: HeaderValue,
    over_tls: bool,
    body_read_timeout: Duration,
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Answering<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        const DONE: &str = "the edge's future was polled after it completed";
        let this = self.project();
        let finish = this.finish;
        let res = match this.answer.project() {
            AnswerProj::Refused { res } => res.take().expect(DONE),
            AnswerProj::Routed {
                answer,
                leave,
                expired,
            } => {
                let res = ready!(answer.poll(cx));
                if let Some(leave) = leave.take() {
                    leave.leave(&res);
                }
                if expired.as_ref().is_some_and(|e| e.load(Ordering::Relaxed)) {
                    let timeout = finish.as_ref().map_or(0, |f| f.body_read_timeout.as_secs());
                    tracing::info!(
                        timeout_s = timeout,
                        "the request body did not arrive in time"
                    );
                    body_timeout::timed_out()
                } else {
                    res
                }
            }
        };
        Poll::Ready(Ok(finish.take().expect(DONE).apply(res)))
    }
}

impl Finish {
    /// The answer, with the request id, the security headers, its log line and metrics.
    fn apply(self, mut res: Response) -> Response {
        let headers = res.headers_mut();
        headers.reserve(HEADERS_ADDED);
        if !headers.contains_key(X_REQUEST_ID) {
            headers.insert(X_REQUEST_ID, self.id);
        }
        secure(&mut res, self.over_tls);
        if let Some(seen) = self.seen {
            seen.done(&res, self.arrived.elapsed());
        }
        res
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
