//! Accepting connections apart from serving one, as mini-redis splits its server: the
//! [`Listener`] accepts, takes a slot ([`Slots`]) and hands the socket to a [`Handler`]; the
//! handler opens the connection (TLS or not, as the web configuration says) and answers its
//! requests through the security wrapper ([`WebSecurity::answer`]) around the routes. Neither
//! branches on the security mode: without a web config file the wrapper is
//! [`WebSecurity::open`], which adds nothing.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use super::conn::{Guarded, Slot, Slots, Standing};
use super::{tls, Parts, Routes, State, WebSecurity};
use super::{MAX_REQUESTS_PER_CONNECTION, MAX_REQUEST_BUFFER};
use crate::config::WebConfig;

/// What every connection is served with.
pub(super) struct Shared {
    pub(super) state: State,
    pub(super) routes: Routes,
    /// The wrapper around the routes: TLS, authentication and headers, or nothing.
    pub(super) security: Arc<WebSecurity>,
    pub(super) web: WebConfig,
}

impl Shared {
    /// One request: through the security wrapper to the routes. The health endpoints are
    /// open ([`Routes::is_open`]); the standing of the connection follows the answer.
    async fn respond(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
        standing: &Standing,
        count: usize,
    ) -> Response<Parts> {
        standing.verifying();
        let active = self.security.current().await;
        let open = Routes::is_open(request.uri().path());
        let mut response = self
            .security
            .answer(&active, &request, open, peer.ip(), || {
                self.routes.respond(&self.state, &request)
            })
            .await;
        standing.answered(response.status() != StatusCode::UNAUTHORIZED);
        if count >= MAX_REQUESTS_PER_CONNECTION {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// Accepts connections until shutdown, each into a slot and a [`Handler`] of its own.
pub(super) struct Listener {
    pub(super) listener: TcpListener,
    pub(super) shared: Arc<Shared>,
    pub(super) slots: Arc<Slots>,
    pub(super) graceful: GracefulShutdown,
}

impl Listener {
    /// Accepts until `shutdown` completes.
    pub(super) async fn run(&self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.accept() => accepted,
                () = &mut shutdown => return,
            };
            let (slot, evicted, closed_another) = self.slots.admit();
            if closed_another {
                tracing::debug!(%peer, max_connections = self.shared.web.max_connections, "at the connection cap: closed the oldest connection");
            }
            let handler = Handler {
                shared: self.shared.clone(),
                stream,
                peer,
                slot,
                evicted,
                // Taken before the task starts, so that a shutdown waits for a connection
                // still in its TLS handshake too.
                watcher: self.graceful.watcher(),
            };
            tokio::spawn(handler.run());
        }
    }

    /// The next connection; an error (out of file descriptors and the like) pauses instead
    /// of spinning.
    async fn accept(&self) -> (TcpStream, SocketAddr) {
        loop {
            match self.listener.accept().await {
                Ok(accepted) => return accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// One connection, from its opening to its end or its eviction.
struct Handler {
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    /// Given back when the handler ends.
    slot: Slot,
    /// Completes when the connection is closed to make room for a newer one.
    evicted: oneshot::Receiver<()>,
    watcher: Watcher,
}

impl Handler {
    async fn run(self) {
        let Handler {
            shared,
            stream,
            peer,
            slot,
            mut evicted,
            watcher,
        } = self;
        let standing = slot.standing.clone();
        tokio::select! {
            () = serve(shared, stream, peer, standing, watcher) => {}
            _ = &mut evicted => {
                tracing::debug!(%peer, "connection closed to make room for a newer one");
            }
        }
        drop(slot);
    }
}

/// Opens the connection as the web configuration in force says (the TLS stream wraps the
/// guarded socket: the deadlines bound the handshake's bytes as they bound the requests') and
/// serves its requests.
async fn serve(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    standing: Arc<Standing>,
    watcher: Watcher,
) {
    let io = Guarded::new(stream, shared.web.write_timeout);
    let timeout = shared.web.header_read_timeout;
    let stream = match tls::open(shared.security.current().await.tls(), io, timeout).await {
        Ok(stream) => stream,
        Err(err) => {
            tracing::debug!(%peer, error = %err, "connection closed before serving");
            return;
        }
    };
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .max_buf_size(MAX_REQUEST_BUFFER);
    let answered = AtomicUsize::new(0);
    let service = service_fn(move |request: Request<Incoming>| {
        let count = answered.fetch_add(1, Ordering::Relaxed) + 1;
        let (shared, standing) = (shared.clone(), standing.clone());
        async move {
            let response = shared.respond(request, peer, &standing, count).await;
            Ok::<_, Infallible>(response)
        }
    });
    let served = watcher
        .watch(http.serve_connection(TokioIo::new(stream), service))
        .await;
    if let Err(err) = served {
        tracing::debug!(%peer, error = %err, "connection ended with an error");
    }
}
