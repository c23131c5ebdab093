//! The agent's gRPC client.

use std::time::Duration;

use async_trait::async_trait;
use oxmon_core::config::AgentConfig;
use oxmon_core::{Ack, MetricBatch, Transport, TransportError, TransportErrorKind};
use tonic::codec::CompressionEncoding;
use tonic::codegen::http::Uri;
use tonic::metadata::MetadataValue;

use super::conn::{Connection, Timing};
use super::proto::metric_service_client::MetricServiceClient;
use super::{AGENT_ID_METADATA, batch_to_proto, kind_of};
use crate::{Error, Result};

/// Batches with at least this many samples (about 15 KB encoded) are sent
/// zstd-compressed.
pub const COMPRESS_FROM_SAMPLES: usize = 256;

/// Sends batches to an oxmon server over gRPC.
///
/// Connects lazily (an agent starts even when the server is down) and
/// reconnects by itself; every call has a connect and a request timeout;
/// one HTTP/2 connection, each message handed over as a complete body;
/// batches of at least [`COMPRESS_FROM_SAMPLES`] samples are sent
/// zstd-compressed (our server accepts zstd and gzip), smaller ones plain: a
/// compression context costs more than a few kilobytes save. Status codes
/// map to [`TransportErrorKind`]s so the agent can tell retryable from
/// permanent.
#[derive(Clone)]
pub struct GrpcTransport {
    client: MetricServiceClient<Connection>,
    compressing: MetricServiceClient<Connection>,
    agent_id: Option<MetadataValue<tonic::metadata::Ascii>>,
    auth: Option<MetadataValue<tonic::metadata::Ascii>>,
    timeout: Duration,
}

impl std::fmt::Debug for GrpcTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcTransport")
            .field("timeout", &self.timeout)
            .field("auth", &self.auth.is_some())
            .finish_non_exhaustive()
    }
}

impl GrpcTransport {
    /// A client for the agent described by `config` (`server_endpoint`, `tls`,
    /// `tls_ca_file`, `auth_token`, and the agent id to present).
    ///
    /// # Errors
    /// [`Error::Config`] for an unusable endpoint, CA file or metadata value.
    pub fn connect(config: &AgentConfig, agent_id: &str) -> Result<Self> {
        let scheme = if config.tls { "https" } else { "http" };
        let uri = if config.server_endpoint.contains("://") {
            config.server_endpoint.clone()
        } else {
            format!("{scheme}://{}", config.server_endpoint)
        };
        let parsed: Uri = uri
            .parse()
            .map_err(|e| Error::config_from(format!("server_endpoint `{uri}`: {e}"), e))?;
        let tls = config.tls || parsed.scheme_str() == Some("https");
        let loopback = is_loopback_uri(&parsed);
        let connection = Connection::lazy(
            &parsed,
            tls,
            config.tls_ca_file.as_deref(),
            Timing {
                connect: Duration::from_secs(5),
                keep_alive: Duration::from_secs(30),
                keep_alive_timeout: Duration::from_secs(10),
            },
        )?;
        let client = MetricServiceClient::with_origin(connection, parsed)
            .accept_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(4 * 1024 * 1024);
        let compressing = client.clone().send_compressed(CompressionEncoding::Zstd);
        let agent_id =
            Some(agent_id.parse().map_err(|_| {
                Error::config(format!("agent id `{agent_id}` is not valid metadata"))
            })?);
        if config.auth_token.is_some() && !tls && !loopback {
            tracing::warn!(
                endpoint = %uri,
                "auth_token is sent without TLS: anyone on the path can read it and report as this agent; set tls = true (docs/operations.md, \"TLS for gRPC\")"
            );
        }
        let auth = match &config.auth_token {
            Some(t) => Some(format!("Bearer {}", t.expose()).parse().map_err(|_| {
                Error::config("auth_token contains characters not allowed in metadata")
            })?),
            None => None,
        };
        Ok(Self {
            client,
            compressing,
            agent_id,
            auth,
            timeout: Duration::from_secs(30),
        })
    }

    /// Sends every batch uncompressed, whatever its size (a fast local
    /// network, or a server that should not spend CPU on decompression).
    #[must_use]
    pub fn uncompressed(mut self) -> Self {
        self.compressing = self.client.clone();
        self
    }

    /// Sets the per-request timeout (default 30 s).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Whether the URI's host is a loopback name or address (a token sent there
/// never leaves the machine).
fn is_loopback_uri(uri: &Uri) -> bool {
    let Some(host) = uri.host() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[async_trait]
impl Transport for GrpcTransport {
    async fn send(&self, batch: &MetricBatch) -> Result<Ack, TransportError> {
        let mut request = tonic::Request::new(batch_to_proto(batch));
        request.set_timeout(self.timeout);
        if let Some(a) = &self.agent_id {
            request.metadata_mut().insert(AGENT_ID_METADATA, a.clone());
        }
        if let Some(a) = &self.auth {
            request.metadata_mut().insert("authorization", a.clone());
        }
        let mut client = if batch.samples.len() >= COMPRESS_FROM_SAMPLES {
            self.compressing.clone()
        } else {
            self.client.clone()
        };
        let Ok(answer) = tokio::time::timeout(self.timeout, client.report_metrics(request)).await
        else {
            return Err(TransportError::new(
                TransportErrorKind::Timeout,
                format!("no answer within {:?}", self.timeout),
            ));
        };
        match answer {
            Ok(r) => {
                let r = r.into_inner();
                if r.success {
                    Ok(Ack {
                        duplicate: r.duplicate,
                        rejected_samples: r.rejected_points,
                        message: r.message,
                    })
                } else {
                    // An original-style server reports refusals in the body.
                    Err(TransportError::new(TransportErrorKind::Internal, r.message))
                }
            }
            Err(status) => Err(TransportError::new(
                kind_of(status.code()),
                status.message().to_owned(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_hosts() {
        let loopback = |s: &str| s.parse().is_ok_and(|u| super::is_loopback_uri(&u));
        for uri in [
            "http://127.0.0.1:9090",
            "http://localhost:9090",
            "http://[::1]:9090",
        ] {
            assert!(loopback(uri), "{uri}");
        }
        for uri in [
            "http://10.0.0.1:9090",
            "http://oxmon.example.com:9090",
            "nonsense",
        ] {
            assert!(!loopback(uri), "{uri}");
        }
    }
}
