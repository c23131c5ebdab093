//! The gRPC server: hands every batch to a [`BatchHandler`], with every
//! input bounded before it costs anything.
//!
//! In the order a request meets them:
//! 1. the listener's connection limits and idle timeout ([`crate::net`]);
//! 2. HTTP/2 limits: concurrent streams per connection, header list size,
//!    the request timeout;
//! 3. authentication from the metadata alone ([`BatchHandler::authenticate`]),
//!    before the body is read;
//! 4. a global limit on batches in flight: over it, `UNAVAILABLE` at once
//!    (agents keep their batch and retry);
//! 5. the message size, counted after decompression, so a small compressed
//!    body cannot inflate past it;
//! 6. the wire scan ([`super::wire`]): points, labels and id lengths counted
//!    before anything is decoded;
//! 7. decoding, then ingest's full validation.
//!
//! The service is written out rather than generated so that the codec can
//! carry the configured limits.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use oxmon_core::{BatchHandler, Credentials, MetricBatch, Secret};
use prost::bytes::Buf;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tonic::codec::{BufferSettings, Codec, CompressionEncoding, DecodeBuf, Decoder};
use tonic::codegen::{BoxFuture, Context, Poll, Service, StdError, http};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::transport::server::{Connected, TcpConnectInfo};
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};
use tonic_prost::ProstEncoder;

use super::proto::ReportResponse;
use super::wire::{WireLimits, check_batch, decode_batch};
use super::{AGENT_ID_METADATA, code_of};
use crate::net::{ConnectionLimits, LimitedListener, LimitedStream, ListenerStatsHandle};
use crate::{Error, IngestLimits, Result};

/// The one method of the service.
const REPORT_PATH: &str = "/oxmon.MetricService/ReportMetrics";

/// How the gRPC server runs. Defaults suit a fleet of a few thousand
/// agents; `docs/security.md` explains each limit.
#[derive(Debug, Clone)]
pub struct GrpcServerOptions {
    /// Certificate chain and private key (PEM files) for TLS; plaintext when `None`.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Largest accepted message, bytes, after decompression. Default 4 MiB.
    pub max_message_bytes: usize,
    /// Points per batch, metric name length and labels per point, enforced
    /// on the wire before decoding (ingest enforces all of them again).
    pub batch_limits: IngestLimits,
    /// Connections in all and per address, and the idle timeout.
    /// Default 4,096 connections, no per-address limit, 300 s idle.
    pub connections: ConnectionLimits,
    /// Concurrent requests on one connection (HTTP/2 streams). Default 8.
    pub max_concurrent_streams: u32,
    /// Batches handled at once over all connections; more are answered
    /// `UNAVAILABLE` at once. Default 64.
    pub max_concurrent_requests: usize,
    /// Longest a request may take, body included. Default 30 s.
    pub request_timeout: Duration,
}

impl GrpcServerOptions {
    /// The options `server.toml` sets: `grpc_tls`, `[ingest]` and the gRPC
    /// half of `[limits]`.
    pub fn from_config(config: &oxmon_core::config::ServerConfig) -> Self {
        let lim = &config.limits;
        Self {
            max_message_bytes: config.ingest.max_message_bytes,
            tls: config
                .grpc_tls
                .as_ref()
                .map(|t| (t.cert_file.clone(), t.key_file.clone())),
            batch_limits: IngestLimits::from_config(config),
            connections: ConnectionLimits::grpc(lim),
            max_concurrent_streams: lim.grpc_max_concurrent_streams,
            max_concurrent_requests: lim.grpc_max_concurrent_requests,
            request_timeout: Duration::from_secs(lim.grpc_request_timeout_secs),
        }
    }
}

impl Default for GrpcServerOptions {
    fn default() -> Self {
        Self {
            tls: None,
            max_message_bytes: 4 * 1024 * 1024,
            batch_limits: IngestLimits::default(),
            connections: ConnectionLimits {
                max_connections: 4_096,
                max_per_address: 0,
                idle_timeout: Some(Duration::from_secs(300)),
            },
            max_concurrent_streams: 8,
            max_concurrent_requests: 64,
            request_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug)]
struct Inner {
    handler: Arc<dyn BatchHandler>,
    wire: WireLimits,
    max_message_bytes: usize,
    in_flight: Arc<Semaphore>,
}

/// The `oxmon.MetricService` service.
#[derive(Debug, Clone)]
struct MetricServer(Arc<Inner>);

impl NamedService for MetricServer {
    const NAME: &'static str = "oxmon.MetricService";
}

fn credentials_of(headers: &http::HeaderMap) -> Credentials {
    let agent_id = headers
        .get(AGENT_ID_METADATA)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let token = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| Secret::new(t.trim()));
    Credentials { agent_id, token }
}

impl<B> Service<http::Request<B>> for MetricServer
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let inner = self.0.clone();
        Box::pin(async move {
            if req.uri().path() != REPORT_PATH {
                return Ok(Status::unimplemented("unknown method").into_http());
            }
            let credentials = credentials_of(req.headers());
            if let Err(e) = inner.handler.authenticate(&credentials).await {
                return Ok(Status::new(code_of(e.kind), e.message).into_http());
            }
            let Ok(permit) = inner.in_flight.clone().try_acquire_owned() else {
                return Ok(Status::unavailable(
                    "server busy: too many batches in flight, retry later",
                )
                .into_http());
            };
            let mut grpc = Grpc::new(BatchCodec { wire: inner.wire })
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .max_decoding_message_size(inner.max_message_bytes);
            // Replies are a few bytes: never compressed.
            let method = Report {
                handler: inner.handler.clone(),
                credentials,
            };
            let response = grpc.unary(method, req).await;
            drop(permit);
            Ok(response)
        })
    }
}

/// The `ReportMetrics` call once the message is decoded.
struct Report {
    handler: Arc<dyn BatchHandler>,
    credentials: Credentials,
}

impl UnaryService<MetricBatch> for Report {
    type Response = ReportResponse;
    type Future = BoxFuture<Response<ReportResponse>, Status>;

    fn call(&mut self, request: Request<MetricBatch>) -> Self::Future {
        let handler = self.handler.clone();
        let credentials = std::mem::take(&mut self.credentials);
        Box::pin(async move {
            let batch = request.into_inner();
            match handler.handle(credentials, batch).await {
                Ok(ack) => Ok(Response::new(ReportResponse {
                    success: true,
                    message: ack.message,
                    duplicate: ack.duplicate,
                    rejected_points: ack.rejected_samples,
                })),
                Err(e) => Err(Status::new(code_of(e.kind), e.message)),
            }
        })
    }
}

/// Prost encoding of replies; requests are scanned, then decoded straight
/// into a [`MetricBatch`] (`wire.rs`).
#[derive(Debug, Clone, Copy)]
struct BatchCodec {
    wire: WireLimits,
}

impl Codec for BatchCodec {
    type Encode = ReportResponse;
    type Decode = MetricBatch;
    type Encoder = ProstEncoder<ReportResponse>;
    type Decoder = BatchDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        BatchDecoder { wire: self.wire }
    }
}

#[derive(Debug)]
struct BatchDecoder {
    wire: WireLimits,
}

impl Decoder for BatchDecoder {
    type Item = MetricBatch;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<MetricBatch>, Status> {
        // The message is one contiguous buffer (tonic frames it whole).
        let batch = if buf.chunk().len() == buf.remaining() {
            check_batch(buf.chunk(), &self.wire)?;
            decode_batch(buf.chunk())?
        } else {
            let bytes = buf.copy_to_bytes(buf.remaining());
            check_batch(&bytes, &self.wire)?;
            decode_batch(&bytes)?
        };
        buf.advance(buf.remaining());
        Ok(Some(batch))
    }
}

/// An accepted connection as tonic sees it.
#[derive(Debug)]
struct Conn(LimitedStream);

impl Connected for Conn {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        TcpConnectInfo {
            local_addr: self.0.get_ref().local_addr().ok(),
            remote_addr: self.0.get_ref().peer_addr().ok(),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// A gRPC server bound and ready to [`GrpcServer::run`]; the split lets the
/// caller read the listener's counters while it runs.
#[derive(Debug)]
pub struct GrpcServer {
    listener: LimitedListener,
    handler: Arc<dyn BatchHandler>,
    options: GrpcServerOptions,
}

impl GrpcServer {
    /// Wraps a bound listener with the options' connection limits.
    pub fn new(
        listener: TcpListener,
        handler: Arc<dyn BatchHandler>,
        options: GrpcServerOptions,
    ) -> Self {
        Self {
            listener: LimitedListener::new(listener, options.connections),
            handler,
            options,
        }
    }

    /// The listener's counters (open, refused and timed-out connections).
    pub fn connection_stats(&self) -> ListenerStatsHandle {
        self.listener.stats()
    }

    /// Serves until `shutdown` resolves, then stops accepting and lets
    /// in-flight requests finish.
    ///
    /// # Errors
    /// [`Error::Config`] when the TLS files cannot be read or used; the
    /// transport's error if the server fails.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let options = self.options;
        let limits = options.batch_limits;
        let service = MetricServer(Arc::new(Inner {
            handler: self.handler,
            wire: WireLimits {
                max_points: limits.max_samples,
                max_metric_len: limits.sample.max_metric_len,
                max_labels: limits.sample.max_labels,
            },
            max_message_bytes: options.max_message_bytes,
            in_flight: Arc::new(Semaphore::new(options.max_concurrent_requests.max(1))),
        }));
        let mut builder = Server::builder()
            .max_concurrent_streams(options.max_concurrent_streams)
            .timeout(options.request_timeout)
            .http2_max_header_list_size(16 * 1024);
        if let Some((cert, key)) = &options.tls {
            let read = |p: &PathBuf| {
                std::fs::read(p).map_err(|e| Error::config_from(format!("{}: {e}", p.display()), e))
            };
            let identity = Identity::from_pem(read(cert)?, read(key)?);
            builder = builder
                .tls_config(ServerTlsConfig::new().identity(identity))
                .map_err(|e| Error::config_from(format!("gRPC TLS: {e}"), e))?;
        }
        let addr: Option<SocketAddr> = self.listener.local_addr().ok();
        tracing::info!(?addr, tls = options.tls.is_some(), "gRPC server listening");
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Conn>>(1);
        let listener = self.listener;
        let acceptor = tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await;
                if tx.send(Ok(Conn(stream))).await.is_err() {
                    return;
                }
            }
        });
        let incoming = tonic::codegen::tokio_stream::wrappers::ReceiverStream::new(rx);
        let result = builder
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
            .map_err(|e| Error::config_from(format!("gRPC server: {e}"), e));
        acceptor.abort();
        result
    }
}

/// Serves the gRPC `MetricService` on `listener` until `shutdown` resolves,
/// then stops accepting and lets in-flight requests finish. Shorthand for
/// [`GrpcServer::new`] and [`GrpcServer::run`].
///
/// # Errors
/// See [`GrpcServer::run`].
pub async fn serve(
    listener: TcpListener,
    handler: Arc<dyn BatchHandler>,
    options: GrpcServerOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    GrpcServer::new(listener, handler, options)
        .run(shutdown)
        .await
}
