//! What keeps one client from starving the others: [`Slots`], the cap on open connections that
//! closes one when a new one arrives (the oldest of the least trusted: one whose credentials
//! failed, then one that has sent nothing, then one being verified, and an authenticated
//! scraper last), and [`Guarded`], a socket that gives up when
//! the client stops reading answers (`web.write_timeout`). hyper covers slow request headers
//! itself (`web.header_read_timeout`), and, since its timer starts as soon as a kept-alive
//! connection waits for its next request, idle connections too.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep};

/// The open connections, oldest first, each with the sender that closes it.
pub(crate) struct Slots {
    max: usize,
    open: Mutex<Open>,
}

/// The last ID given, and the open connections by ID, oldest first, with their standing.
type Open = (u64, VecDeque<(u64, oneshot::Sender<()>, Arc<Standing>)>);

/// How far a connection has earned its slot; the least trusted is closed first at the cap.
#[derive(Debug, Default)]
pub(crate) struct Standing(AtomicU8);

impl Standing {
    /// Its credentials were refused: closed first.
    const FAILED: u8 = 0;
    /// Nothing answered yet.
    const FRESH: u8 = 1;
    /// A request is being answered (its password checked).
    const VERIFYING: u8 = 2;
    /// A request was answered (with authentication on: its credentials were right).
    const TRUSTED: u8 = 3;

    fn new() -> Self {
        Standing(AtomicU8::new(Self::FRESH))
    }

    /// A request arrived; a connection that failed before stays failed.
    pub(crate) fn verifying(&self) {
        let _ = self.0.compare_exchange(
            Self::FRESH,
            Self::VERIFYING,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// The request was answered, or refused for its credentials.
    pub(crate) fn answered(&self, authorized: bool) {
        self.0.store(
            if authorized {
                Self::TRUSTED
            } else {
                Self::FAILED
            },
            Ordering::Release,
        );
    }

    fn rank(&self) -> u8 {
        self.0.load(Ordering::Acquire)
    }
}

/// A connection's place in [`Slots`]: gives its slot back when dropped.
pub(crate) struct Slot {
    slots: Arc<Slots>,
    id: u64,
    /// How far the connection has earned its slot.
    pub(crate) standing: Arc<Standing>,
}

impl Slots {
    pub fn new(max: usize) -> Self {
        Slots {
            max,
            open: Mutex::new((0, VecDeque::new())),
        }
    }

    /// Takes a slot for a new connection, closing one when all are taken: the oldest of the
    /// least trusted ([`Standing`]), so that a flood of failing or idle clients closes its own
    /// connections, never an authenticated scraper's while any other is open. The receiver
    /// completes when this connection is the one closed.
    pub fn admit(self: &Arc<Self>) -> (Slot, oneshot::Receiver<()>, bool) {
        let (tx, rx) = oneshot::channel();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let mut evicted = false;
        while open.1.len() >= self.max {
            let least = open
                .1
                .iter()
                .enumerate()
                .min_by_key(|(at, (_, _, standing))| (standing.rank(), *at))
                .map(|(at, _)| at);
            match least.and_then(|at| open.1.remove(at)) {
                Some((_, close, _)) => evicted |= close.send(()).is_ok(),
                None => break,
            }
        }
        open.0 += 1;
        let id = open.0;
        let standing = Arc::new(Standing::new());
        open.1.push_back((id, tx, standing.clone()));
        (
            Slot {
                slots: self.clone(),
                id,
                standing,
            },
            rx,
            evicted,
        )
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = open.1.iter().position(|(id, _, _)| *id == self.id) {
            open.1.remove(at);
        }
    }
}

/// A socket with a write deadline: the answers to the requests received so far must be written
/// within `write_timeout` of the last request's bytes, however slowly the client reads and
/// however many requests it pipelined. Bytes that arrive while an answer is still stuck do not
/// extend it: under TLS, a client could otherwise hold the connection for days by trickling one
/// byte of an unfinished record now and then.
pub(crate) struct Guarded<T> {
    inner: T,
    write_timeout: Duration,
    /// Set when writing starts after a read; cleared by the next read while nothing is stuck.
    write_deadline: Option<Pin<Box<Sleep>>>,
    /// A write is waiting for the client to read.
    write_stuck: bool,
}

impl<T> Guarded<T> {
    pub fn new(inner: T, write_timeout: Duration) -> Self {
        Guarded {
            inner,
            write_timeout,
            write_deadline: None,
            write_stuck: false,
        }
    }

    fn write_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let timeout = self.write_timeout;
        let deadline = self
            .write_deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + timeout)));
        deadline.as_mut().poll(cx).is_ready()
    }
}

impl<T> Guarded<T> {
    /// What a write's outcome means under the deadline: progress does not extend it (a client
    /// reading one byte a second would otherwise hold the connection for ever), and a write
    /// still stuck when it passes fails.
    fn after_write(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        self.write_stuck = result.is_pending();
        if self.write_expired(cx) {
            return Poll::Ready(Err(timed_out("the client did not read its answers")));
        }
        result
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_owned())
}

use std::future::Future as _;

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before && !self.write_stuck
        {
            // A new request: its answer gets a fresh write deadline.
            self.write_deadline = None;
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, data);
        self.after_write(cx, result)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending if self.write_expired(cx) => {
                Poll::Ready(Err(timed_out("the client did not read its answers")))
            }
            Poll::Pending => {
                self.write_stuck = true;
                Poll::Pending
            }
            other => {
                self.write_stuck = false;
                other
            }
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.after_write(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_the_oldest_connection_is_closed() {
        let slots = Arc::new(Slots::new(2));
        let (first, mut first_closed, evicted) = slots.admit();
        assert!(!evicted);
        let (_second, mut second_closed, _) = slots.admit();
        assert!(first_closed.try_recv().is_err(), "not closed yet");
        let (_third, _, evicted) = slots.admit();
        assert!(evicted);
        assert!(first_closed.try_recv().is_ok(), "the oldest is closed");
        assert!(second_closed.try_recv().is_err(), "the others stay");
        drop(first);
        assert_eq!(slots.open.lock().unwrap().1.len(), 2);
    }

    #[test]
    fn at_the_cap_a_failed_or_fresh_connection_goes_before_an_authenticated_one() {
        let slots = Arc::new(Slots::new(3));
        let (scraper, mut scraper_closed, _) = slots.admit();
        scraper.standing.verifying();
        scraper.standing.answered(true);
        let (fresh, mut fresh_closed, _) = slots.admit();
        let (failed, mut failed_closed, _) = slots.admit();
        failed.standing.verifying();
        failed.standing.answered(false);
        let (_a, _, evicted) = slots.admit();
        assert!(evicted);
        assert!(failed_closed.try_recv().is_ok(), "the failed one first");
        let (_b, _, _) = slots.admit();
        assert!(fresh_closed.try_recv().is_ok(), "then the oldest fresh one");
        let (_c, _, _) = slots.admit();
        assert!(
            scraper_closed.try_recv().is_err(),
            "the authenticated scraper stays while fresh ones are open"
        );
        drop((fresh, failed));
    }

    #[test]
    fn a_finished_connection_gives_its_slot_back() {
        let slots = Arc::new(Slots::new(1));
        let (slot, _, _) = slots.admit();
        drop(slot);
        let (_again, _, evicted) = slots.admit();
        assert!(!evicted, "nothing to close: the slot was free");
    }
}
