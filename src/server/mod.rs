//! The HTTP server: the metrics page, a landing page and the health endpoints.
//!
//! Serving costs no rendering: the refresh loop publishes a pre-rendered body (plain and
//! gzipped) into [`Published`], and a scrape sends one of them. The server is built the
//! way an admin server should be, so that no client can starve the others ([`conn`]): a
//! header-read timeout and a small buffer for requests, a deadline for reading the answers and
//! one for idling between requests, a bound on requests per connection, a cap on open
//! connections that closes the oldest at the cap (a scraper always gets in), 405 for anything
//! but GET and HEAD, and a graceful shutdown that lets running requests finish.
//! [`listener`] accepts connections apart from serving one.
//!
//! With a web config file ([`web_config`], exporter-toolkit's format), connections are TLS
//! ([`tls`]; the handshake bounded by the header-read timeout, inside the same slots and
//! deadlines) and requests need basic authentication ([`auth`]), except the health endpoints.
//! That security is a wrapper around the routes, the same with or without the file: the
//! accept loop never asks which.

mod auth;
mod conn;
mod listener;
mod tls;
mod web_config;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;

use crate::config::WebConfig;
use crate::exposition::Published;
use crate::health::Readiness;
use conn::Slots;
use listener::{Listener, Shared};
pub(crate) use web_config::WebSecurity;

/// The exposition format's content type.
pub(crate) const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long running requests get to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Requests answered on one connection before it is closed; a client pipelining without end
/// gets its slot taken back.
const MAX_REQUESTS_PER_CONNECTION: usize = 1000;

/// The largest request head read; a scrape's is a few hundred bytes.
const MAX_REQUEST_BUFFER: usize = 16 * 1024;

/// Binds the listening socket, so that a taken port fails start-up before anything else runs.
pub(crate) async fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(address).await
}

/// What the server answers from: the published body and the readiness flag.
#[derive(Clone)]
pub(crate) struct State {
    pub(crate) body: Arc<Published>,
    pub(crate) ready: Readiness,
}

/// Serves until `shutdown` completes, then drains running requests. `security`, from the web
/// config file, wraps the routes in TLS, authentication and headers; without it the wrapper
/// adds nothing ([`WebSecurity::open`]).
pub(crate) async fn serve(
    listener: TcpListener,
    state: State,
    web: WebConfig,
    security: Option<WebSecurity>,
    shutdown: impl Future<Output = ()>,
) {
    let listener = Listener {
        listener,
        slots: Arc::new(Slots::new(web.max_connections)),
        shared: Arc::new(Shared {
            state,
            routes: Routes::new(web.telemetry_path.clone()),
            security: Arc::new(security.unwrap_or_else(WebSecurity::open)),
            web,
        }),
        graceful: hyper_util::server::graceful::GracefulShutdown::new(),
    };
    listener.run(shutdown).await;
    let Listener {
        listener, graceful, ..
    } = listener;
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!(timeout = ?DRAIN_TIMEOUT, "requests still running after the drain timeout; closing them");
        }
    }
}

/// The fixed routes and the landing page made once.
struct Routes {
    telemetry_path: String,
    landing_page: Bytes,
}

impl Routes {
    fn new(telemetry_path: String) -> Self {
        let landing_page = Bytes::from(format!(
            r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>IAM Key Exporter</title></head>
<body>
<h1>IAM Key Exporter</h1>
<p>Active access keys per IAM user, for the CIS AWS Foundations control "only one active access key per IAM user". Version {version}.</p>
<ul>
<li><a href="{path}">Metrics</a></li>
<li><a href="/-/healthy">Health</a></li>
<li><a href="/-/ready">Readiness</a></li>
</ul>
</body>
</html>
"#,
            version = env!("CARGO_PKG_VERSION"),
            path = html_escape(&telemetry_path),
        ));
        Routes {
            telemetry_path,
            landing_page,
        }
    }

    /// The paths served without credentials: the health endpoints, which say nothing about
    /// IAM and which probes (a kubelet's, a load balancer's) cannot easily authenticate to.
    fn is_open(path: &str) -> bool {
        path == "/-/healthy" || path == "/-/ready"
    }

    fn respond(&self, state: &State, request: &Request<Incoming>) -> Response<Parts> {
        let path = request.uri().path();
        let known = path == self.telemetry_path
            || path == "/"
            || path == "/-/healthy"
            || path == "/-/ready";
        if !known {
            return text(StatusCode::NOT_FOUND, "Not Found\n");
        }
        if request.method() != Method::GET && request.method() != Method::HEAD {
            let mut response = text(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed: use GET or HEAD\n",
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        match path {
            "/-/healthy" => text(StatusCode::OK, "Healthy\n"),
            "/-/ready" if state.ready.get() => text(StatusCode::OK, "Ready\n"),
            "/-/ready" => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "Not ready: waiting for the first successful refresh\n",
            ),
            "/" if path != self.telemetry_path => {
                let mut response = Response::new(Parts::one(self.landing_page.clone()));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                );
                response
            }
            _ => metrics(state, request),
        }
    }
}

fn metrics(state: &State, request: &Request<Incoming>) -> Response<Parts> {
    let gzip = accepts_gzip(request.headers().get_all(header::ACCEPT_ENCODING));
    let mut response = Response::new(Parts(state.body.scrape(gzip).into()));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(METRICS_CONTENT_TYPE),
    );
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// A response body sent as parts back to back (the live process metrics, then the shared
/// pre-rendered body), its exact length known, so hyper sends `Content-Length`.
pub(crate) struct Parts(std::collections::VecDeque<Bytes>);

impl Parts {
    fn one(bytes: Bytes) -> Self {
        Parts([bytes].into())
    }
}

/// One part: what [`web_config`] answers a refused request with.
impl From<Bytes> for Parts {
    fn from(bytes: Bytes) -> Self {
        Parts::one(bytes)
    }
}

impl hyper::body::Body for Parts {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        while let Some(part) = self.0.pop_front() {
            if !part.is_empty() {
                return std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(part))));
            }
        }
        std::task::Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.0.iter().all(Bytes::is_empty)
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.0.iter().map(|part| part.len() as u64).sum())
    }
}

/// Whether `Accept-Encoding` allows gzip: `gzip` or `*` with a non-zero quality.
fn accepts_gzip<'a>(values: impl IntoIterator<Item = &'a HeaderValue>) -> bool {
    let mut gzip = None;
    let mut wildcard = None;
    for value in values {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let quality = parts
                .filter_map(|param| {
                    let (name, value) = param.split_once('=')?;
                    (name.trim().eq_ignore_ascii_case("q"))
                        .then(|| value.trim().parse::<f32>().ok())?
                })
                .next()
                .unwrap_or(1.0);
            match coding.as_str() {
                "gzip" | "x-gzip" => gzip = Some(quality > 0.0),
                "*" => wildcard = Some(quality > 0.0),
                _ => {}
            }
        }
    }
    gzip.or(wildcard).unwrap_or(false)
}

fn text(status: StatusCode, body: &'static str) -> Response<Parts> {
    let mut response = Response::new(Parts::one(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(values: &[&'static str]) -> bool {
        let values: Vec<HeaderValue> = values.iter().map(|v| HeaderValue::from_static(v)).collect();
        accepts_gzip(&values)
    }

    #[test]
    fn gzip_is_chosen_only_when_the_client_accepts_it() {
        assert!(accepts(&["gzip"]));
        assert!(accepts(&["deflate, gzip;q=0.5"]));
        assert!(accepts(&["br", "GZIP"]));
        assert!(accepts(&["*"]));
        assert!(!accepts(&[]));
        assert!(!accepts(&["identity"]));
        assert!(!accepts(&["gzip;q=0"]));
        assert!(!accepts(&["*, gzip;q=0"]));
        assert!(!accepts(&["gzip;q=0.0, *;q=1"]));
    }

    #[test]
    fn the_landing_page_escapes_the_path() {
        assert_eq!(html_escape("/m<x>\"&"), "/m&lt;x&gt;&quot;&amp;");
    }
}
