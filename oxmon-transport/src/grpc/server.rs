//! The gRPC server: hands every batch to a [`BatchHandler`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use oxmon_core::{BatchHandler, Credentials, Secret};
use tokio::net::TcpListener;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

use super::proto::metric_service_server::{MetricService, MetricServiceServer};
use super::proto::{MetricBatchProto, ReportResponse};
use super::{AGENT_ID_METADATA, batch_from_proto, code_of};
use crate::{Error, Result};

/// How the gRPC server runs.
#[derive(Debug, Clone)]
pub struct GrpcServerOptions {
    /// Certificate chain and private key (PEM files) for TLS; plaintext when `None`.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Largest accepted message, bytes. Default 16 MiB.
    pub max_message_bytes: usize,
}

impl Default for GrpcServerOptions {
    fn default() -> Self {
        Self {
            tls: None,
            max_message_bytes: 16 * 1024 * 1024,
        }
    }
}

#[derive(Debug)]
struct Service {
    handler: Arc<dyn BatchHandler>,
}

#[tonic::async_trait]
impl MetricService for Service {
    async fn report_metrics(
        &self,
        request: Request<MetricBatchProto>,
    ) -> Result<Response<ReportResponse>, Status> {
        let md = request.metadata();
        let agent_id = md
            .get(AGENT_ID_METADATA)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let token = md
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(|t| Secret::new(t.trim()));
        let batch = batch_from_proto(request.into_inner());
        match self
            .handler
            .handle(Credentials { agent_id, token }, batch)
            .await
        {
            Ok(ack) => Ok(Response::new(ReportResponse {
                success: true,
                message: ack.message,
                duplicate: ack.duplicate,
                rejected_points: ack.rejected_samples,
            })),
            Err(e) => Err(Status::new(code_of(e.kind), e.message)),
        }
    }
}

/// Serves the gRPC `MetricService` on `listener` until `shutdown` resolves,
/// then stops accepting and lets in-flight requests finish.
///
/// # Errors
/// [`Error::Config`] when the TLS files cannot be read or used; the
/// transport's error if the server fails.
pub async fn serve(
    listener: TcpListener,
    handler: Arc<dyn BatchHandler>,
    options: GrpcServerOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let service = MetricServiceServer::new(Service { handler })
        .max_decoding_message_size(options.max_message_bytes)
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .accept_compressed(tonic::codec::CompressionEncoding::Zstd);
    // Replies are a few bytes: never compressed (a gzip context per reply
    // would cost more than it saves).
    let mut builder = Server::builder();
    if let Some((cert, key)) = &options.tls {
        let read = |p: &PathBuf| {
            std::fs::read(p).map_err(|e| Error::Config(format!("{}: {e}", p.display())))
        };
        let identity = Identity::from_pem(read(cert)?, read(key)?);
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(identity))
            .map_err(|e| Error::Config(format!("gRPC TLS: {e}")))?;
    }
    let addr: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(?addr, tls = options.tls.is_some(), "gRPC server listening");
    let incoming = tokio_stream_from(listener);
    builder
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| Error::Config(format!("gRPC server: {e}")))
}

fn tokio_stream_from(listener: TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}
