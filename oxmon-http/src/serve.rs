//! Serving the router with the timeouts `axum::serve` lacks.
//!
//! `axum::serve` reads headers for as long as a client cares to send them
//! (3,000 half-sent requests stayed open for over a minute). [`serve`]
//! accepts from any [`Listener`] (the server program passes one that caps
//! connections and closes idle ones) and adds:
//! - a header-read timeout: a request whose headers are not complete in
//!   time closes its connection (HTTP/1);
//! - a request timeout: a handler that has not answered in time gets `503`;
//! - HTTP/2 limits: 32 concurrent streams and 16 KiB of headers per
//!   connection;
//! - the client's address as `ConnectInfo<SocketAddr>`, for the login
//!   limiter.
//!
//! On shutdown it stops accepting, lets requests in flight finish for up
//! to 10 s, then returns.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::response::IntoResponse;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tower::Service;

use crate::ApiError;

/// How long requests in flight may take to finish after shutdown begins.
const DRAIN: Duration = Duration::from_secs(10);

/// Timeouts of [`serve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// Longest a client may take to send a request's headers. Default 10 s.
    pub header_read_timeout: Duration,
    /// Longest a request may take to be answered. Default 60 s.
    pub request_timeout: Duration,
}

impl ServeOptions {
    /// The REST half of `[limits]` of `server.toml`.
    pub fn from_config(limits: &oxmon_core::config::LimitsConfig) -> Self {
        Self {
            header_read_timeout: Duration::from_secs(limits.http_header_timeout_secs),
            request_timeout: Duration::from_secs(limits.http_request_timeout_secs),
        }
    }
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// Serves `router` on the connections `listener` accepts until `shutdown`
/// resolves. See the module docs.
pub async fn serve<L>(
    mut listener: L,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) where
    L: Listener<Addr = SocketAddr>,
{
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .max_buf_size(64 * 1024);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(32)
        .max_header_list_size(16 * 1024);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, addr) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let router = router.clone();
        let timeout = options.request_timeout;
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(addr));
            let mut router = router.clone();
            async move {
                let response =
                    tokio::time::timeout(timeout, router.call(req.map(axum::body::Body::new)))
                        .await;
                Ok::<_, std::convert::Infallible>(match response {
                    Ok(Ok(response)) => response,
                    Ok(Err(never)) => match never {},
                    Err(_) => ApiError::new(
                        axum::http::StatusCode::SERVICE_UNAVAILABLE,
                        "timeout",
                        format!("the request took longer than {} s", timeout.as_secs()),
                    )
                    .into_response(),
                })
            }
        });
        let connection = builder
            .serve_connection(TokioIo::new(io), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Errors are the client's (reset, timeout, bad request line).
            let _ = connection.await;
        });
    }
    let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
}
