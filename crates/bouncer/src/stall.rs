//! The connection stall guard: a client that stops reading our answer, or stops sending the rest
//! of what it started, is cut off once that one read or write has waited `timeout`, so it cannot
//! hold a connection slot for ever (hyper bounds the wait for a request head, the request timeout
//! bounds a handler, but nothing else bounds a socket that makes no progress).
//!
//! Written here rather than taken from `tokio-io-timeout`, which this replaces: that crate arms a
//! timer whenever a read or write is pending and, when it completes, moves the timer to *now*,
//! which under load woke the runtime's I/O driver (an eventfd write) and the connection's task
//! for nothing every few requests. Here an operation that waits records since when, and the
//! connection's one [`LazyTimer`] is only ever moved later.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::lazy_timer::LazyTimer;

/// Which side of the connection an operation is on.
#[derive(Clone, Copy)]
enum Side {
    Read,
    Write,
}

pin_project_lite::pin_project! {
    /// `inner` with every read and write bounded by `timeout` of no progress.
    pub struct StallGuard<S> {
        #[pin]
        inner: S,
        timer: LazyTimer,
        timeout: Duration,
        // When the read (the write) now pending first returned `Pending`.
        reading_since: Option<Instant>,
        writing_since: Option<Instant>,
    }
}

impl<S> StallGuard<S> {
    pub fn new(inner: S, timeout: Duration) -> Self {
        StallGuard {
            inner,
            timer: LazyTimer::new(),
            timeout,
            reading_since: None,
            writing_since: None,
        }
    }

    /// `poll` is the inner operation's outcome: on `Ready` the side made progress; on `Pending`
    /// the side waits, and fails with `TimedOut` once it has waited `timeout`.
    fn check<T>(
        self: Pin<&mut Self>,
        side: Side,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let this = self.project();
        let since = match side {
            Side::Read => &mut *this.reading_since,
            Side::Write => &mut *this.writing_since,
        };
        if poll.is_ready() {
            *since = None;
            return poll;
        }
        let due = *since.get_or_insert_with(Instant::now) + *this.timeout;
        match this.timer.poll_until(due, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => Poll::Ready(Err(io::ErrorKind::TimedOut.into())),
        }
    }
}

impl<S: AsyncRead> AsyncRead for StallGuard<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let poll = self.as_mut().project().inner.poll_read(cx, buf);
        self.check(Side::Read, cx, poll)
    }
}

impl<S: AsyncWrite> AsyncWrite for StallGuard<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = self.as_mut().project().inner.poll_write(cx, buf);
        self.check(Side::Write, cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = self.as_mut().project().inner.poll_write_vectored(cx, bufs);
        self.check(Side::Write, cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = self.as_mut().project().inner.poll_flush(cx);
        self.check(Side::Write, cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = self.as_mut().project().inner.poll_shutdown(cx);
        self.check(Side::Write, cx, poll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    const TIMEOUT: Duration = Duration::from_secs(30);

    #[tokio::test(start_paused = true)]
    async fn a_read_that_waits_past_the_timeout_fails() {
        let (_client, server) = duplex(64);
        let mut guarded = Box::pin(StallGuard::new(server, TIMEOUT));
        let started = Instant::now();
        let err = guarded.read(&mut [0; 8]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed().as_secs(), TIMEOUT.as_secs());
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_the_client_does_not_read_fails_after_the_timeout() {
        // A client that never reads: the pipe's 64 bytes fill and the write waits.
        let (_client, server) = duplex(64);
        let mut guarded = Box::pin(StallGuard::new(server, TIMEOUT));
        let started = Instant::now();
        let err = guarded.write_all(&[b'x'; 1024]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed().as_secs(), TIMEOUT.as_secs());
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_keeps_making_progress_is_never_cut() {
        // Ten minutes of reads, each waiting 20 s (under the timeout): the timer armed for an
        // earlier wait fires in the middle of a later one and must not cut it.
        let (mut client, server) = duplex(64);
        let mut guarded = Box::pin(StallGuard::new(server, TIMEOUT));
        let sender = tokio::spawn(async move {
            for _ in 0..30 {
                tokio::time::sleep(Duration::from_secs(20)).await;
                client.write_all(b"x").await.unwrap();
            }
            client
        });
        for _ in 0..30 {
            let n = guarded
                .read(&mut [0; 8])
                .await
                .expect("progress within the timeout");
            assert_eq!(n, 1);
        }
        drop(sender.await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_is_cut_after_the_timeout_counted_from_when_it_started_waiting() {
        // A first read answered after 25 s; the next one waits from then, so it is cut at 55 s,
        // not at 30 s (when the timer armed for the first one was due).
        let (mut client, server) = duplex(64);
        let mut guarded = Box::pin(StallGuard::new(server, TIMEOUT));
        let started = Instant::now();
        let _client = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(25)).await;
            client.write_all(b"x").await.unwrap();
            client
        })
        .await
        .unwrap();
        assert_eq!(guarded.read(&mut [0; 8]).await.unwrap(), 1);
        let err = guarded.read(&mut [0; 8]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed().as_secs(), 55);
    }

    #[tokio::test(start_paused = true)]
    async fn each_side_is_cut_on_its_own_wait() {
        // hyper leaves a read pending (waiting for the next request) while it writes an answer.
        // A read waiting since 0 s, then a write the client does not read from 10 s: the write
        // is cut when it has waited 30 s itself (at 40 s), not when the read had (at 30 s).
        let (_client, server) = duplex(64);
        let mut guarded = Box::pin(StallGuard::new(server, TIMEOUT));
        let started = Instant::now();
        let mut buf = [0u8; 8];
        tokio::select! {
            _ = guarded.read(&mut buf) => panic!("nothing was sent"),
            () = tokio::time::sleep(Duration::from_secs(10)) => {}
        }
        let err = guarded.write_all(&[b'x'; 1024]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed().as_secs(), 40);
    }
}
