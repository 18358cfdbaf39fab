//! The request timeout (`server.request_timeout_s`): a request whose answer is not ready that long
//! after it arrived gets 408 with no body, and the work still running for it is dropped.
//!
//! Not tower-http's `TimeoutLayer`, which makes a timer for every request (a clock read, the
//! runtime's timer handle, a larger future moved through every layer) whether or not the route
//! ever waits. Here the timer is made only when the route does not answer at its first poll: a
//! cached `/users/me` answers at once and never touches the timer wheel; a login waits for its
//! hash and is bounded like before. The deadline counts from the request's arrival either way.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::time::{Instant, Sleep};

pin_project_lite::pin_project! {
    /// `inner`, answered with 408 once `deadline` passes.
    pub(crate) struct Bounded<F> {
        #[pin]
        inner: F,
        deadline: Instant,
        // Made at the first `Pending` of `inner`; boxed so that the common case (no wait) does
        // not carry a timer entry through every layer's future.
        timer: Option<Pin<Box<Sleep>>>,
    }
}

/// `inner` bounded by `timeout` counted from `arrived`.
pub(crate) fn bounded<F>(inner: F, arrived: std::time::Instant, timeout: Duration) -> Bounded<F> {
    Bounded {
        inner,
        deadline: Instant::from_std(arrived) + timeout,
        timer: None,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Bounded<F> {
    type Output = Response;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        let this = self.project();
        if let Poll::Ready(res) = this.inner.poll(cx) {
            return Poll::Ready(res.unwrap_or_else(|never| match never {}));
        }
        let deadline = *this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(timed_out())
    }
}

/// What a request past its deadline gets: 408 with no body (a handler may have been half-way
/// through anything; nothing about it is said).
fn timed_out() -> Response {
    StatusCode::REQUEST_TIMEOUT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrived_now() -> std::time::Instant {
        Instant::now().into_std()
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_ready_at_once_makes_no_timer() {
        let mut fut = Box::pin(bounded(
            async { Ok(StatusCode::OK.into_response()) },
            arrived_now(),
            Duration::from_secs(1),
        ));
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let Poll::Ready(res) = fut.as_mut().poll(&mut cx) else {
            panic!("an answer ready at once must be returned at once");
        };
        assert_eq!(res.status(), StatusCode::OK);
        assert!(
            fut.timer.is_none(),
            "no timer for a route that did not wait"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_route_that_waits_past_the_deadline_gets_408() {
        let started = Instant::now();
        let res = bounded(
            async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(StatusCode::OK.into_response())
            },
            arrived_now(),
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT);
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(30) && waited < Duration::from_secs(31),
            "{waited:?}"
        );
        let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
        assert!(body.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_route_that_waits_less_than_the_deadline_keeps_its_answer() {
        let res = bounded(
            async {
                tokio::time::sleep(Duration::from_secs(29)).await;
                Ok(StatusCode::CREATED.into_response())
            },
            arrived_now(),
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_counts_from_arrival_not_from_the_first_wait() {
        let arrived = arrived_now();
        tokio::time::advance(Duration::from_secs(20)).await;
        let started = Instant::now();
        let res = bounded(
            async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(StatusCode::OK.into_response())
            },
            arrived,
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT);
        let waited = started.elapsed();
        assert!(waited < Duration::from_secs(11), "{waited:?}");
    }
}
