//! A connection's timer that is only ever moved later: the one timer behind the stall guard
//! ([`crate::stall`]) and hyper's header-read timeout ([`HeadTimer`]).
//!
//! Each wait asks for its own deadline, and a wait that ends normally leaves the timer as it was:
//! moving a registered timer earlier than the runtime's next wake-up makes tokio wake its I/O
//! driver (a write to an eventfd), and registering and cancelling one per request costs a trip
//! through the timer wheel each way. Here the timer is re-armed only when it is not armed, or
//! armed later than the wait now polled needs (rare); when it fires for a wait that has ended
//! (or for another one), the wait being polled re-arms it for itself, at most once per timeout.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// See the module documentation.
pub(crate) struct LazyTimer {
    timer: Pin<Box<Sleep>>,
    // Whether `timer` is registered and has not fired since.
    armed: bool,
}

impl LazyTimer {
    pub(crate) fn new() -> Self {
        LazyTimer {
            // Not registered with the runtime until first armed.
            timer: Box::pin(tokio::time::sleep_until(Instant::now())),
            armed: false,
        }
    }

    /// Ready once `due` has passed; until then, the task polling is woken at or before `due`.
    pub(crate) fn poll_until(&mut self, due: Instant, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            // Moved earlier only when armed for a later wait: rare.
            if !self.armed || self.timer.deadline() > due {
                self.timer.as_mut().reset(due);
                self.armed = true;
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.armed = false;
            // tokio rounds a deadline up to its millisecond tick; the margin keeps a timer that
            // fired within that tick from being re-armed for the same instant.
            if Instant::now() + Duration::from_millis(1) >= due {
                return Poll::Ready(());
            }
            // It fired for a wait that has ended since, or for another one: re-armed for this
            // one.
        }
    }
}

/// hyper's timer for one connection, for its header-read timeout: hyper asks for a new sleep
/// each time it starts reading a request head (with `TokioTimer`, a boxed tokio timer registered
/// and cancelled per request); these sleeps share the connection's one [`LazyTimer`].
#[derive(Clone)]
pub(crate) struct HeadTimer(Arc<Mutex<LazyTimer>>);

impl HeadTimer {
    pub(crate) fn new() -> Self {
        HeadTimer(Arc::new(Mutex::new(LazyTimer::new())))
    }
}

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(self.now() + duration)
    }

    /// The runtime's clock (the same as the system's, but under tokio's test clock).
    fn now(&self) -> std::time::Instant {
        Instant::now().into_std()
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HeadSleep {
            due: Instant::from_std(deadline),
            timer: self.0.clone(),
        })
    }
}

/// One of hyper's sleeps on a [`HeadTimer`].
struct HeadSleep {
    due: Instant,
    timer: Arc<Mutex<LazyTimer>>,
}

impl std::future::Future for HeadSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Only the connection's own task polls it: the lock is never contended.
        let mut timer = self.timer.lock().unwrap_or_else(PoisonError::into_inner);
        timer.poll_until(self.due, cx)
    }
}

impl hyper::rt::Sleep for HeadSleep {}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Timer as _;

    #[tokio::test(start_paused = true)]
    async fn a_head_sleep_ends_at_its_deadline() {
        let timer = HeadTimer::new();
        let started = Instant::now();
        timer.sleep(Duration::from_secs(10)).await;
        assert_eq!(started.elapsed().as_secs(), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_sleep_is_not_cut_short_by_an_earlier_one_that_was_dropped() {
        // hyper drops a head's sleep when the head arrives, and asks for a new one for the next
        // head: the timer, armed for the first, fires early for the second, which waits on.
        let timer = HeadTimer::new();
        let started = Instant::now();
        let first = timer.sleep(Duration::from_secs(10));
        tokio::select! {
            () = first => panic!("the first head arrived before its deadline"),
            () = tokio::time::sleep(Duration::from_secs(4)) => {}
        }
        timer.sleep(Duration::from_secs(10)).await;
        assert_eq!(started.elapsed().as_secs(), 14);
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_deadline_moves_the_timer_earlier() {
        let timer = HeadTimer::new();
        let long = timer.sleep(Duration::from_secs(60));
        let started = Instant::now();
        tokio::select! {
            () = long => panic!("the long sleep cannot end first"),
            () = timer.sleep(Duration::from_secs(5)) => {}
        }
        assert_eq!(started.elapsed().as_secs(), 5);
    }
}
