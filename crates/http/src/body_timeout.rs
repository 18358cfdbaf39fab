//! `server.body_read_timeout_s`: once the request head is in, the whole body must arrive within
//! the deadline. The request body is wrapped so that reading it past the deadline fails; whatever
//! the handler made of that failure, the answer is 408 (problem+json). A client that sends a
//! head announcing a body and then trickles it (or stalls) holds its connection no longer than
//! this, even while `request_timeout_s` and the socket's stall timeout are longer.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The body reading failed because its deadline passed.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within the body read timeout")]
pub struct BodyTimedOut;

/// A request body that fails once `deadline` fires before its end.
struct Deadlined {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
}

impl HttpBody for Deadlined {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.expired.load(Ordering::Relaxed) {
            return Poll::Ready(Some(Err(BodyTimedOut.into())));
        }
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.expired.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err(BodyTimedOut.into())))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The body of `req` must be read within `timeout` from now: the request with its body wrapped,
/// and the flag that tells afterwards whether the deadline passed (none for a request without a
/// body: nothing to wait for, no timer). A handler that read past the deadline gets its answer
/// replaced by [`timed_out`].
pub(crate) fn deadline(req: Request, timeout: Duration) -> (Request, Option<Arc<AtomicBool>>) {
    if req.body().is_end_stream() {
        return (req, None);
    }
    let expired = Arc::new(AtomicBool::new(false));
    let (parts, inner) = req.into_parts();
    let body = Deadlined {
        inner,
        deadline: Box::pin(tokio::time::sleep(timeout)),
        expired: expired.clone(),
    };
    (Request::from_parts(parts, Body::new(body)), Some(expired))
}

/// 408 as an RFC 9457 problem document, like every other error; the connection is not kept.
pub(crate) fn timed_out() -> Response {
    let status = StatusCode::REQUEST_TIMEOUT;
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Request Timeout"),
        "status": status.as_u16(),
        "detail": "the request body did not arrive within the body read timeout",
        "code": "body_timeout",
    });
    let mut res = (status, axum::Json(body)).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}
