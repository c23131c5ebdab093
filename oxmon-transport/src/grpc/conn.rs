//! The agent's HTTP/2 connection: one connection to the server, made on
//! first use and made again after it fails, and nothing in between.
//!
//! tonic's `Channel` is built for many concurrent requests to balanced
//! endpoints: every request goes through a buffer task, a reconnect layer and
//! a streaming request body, which hyper sends as three writes (headers,
//! data, an empty end-of-stream frame), each a wake-up of the server. An agent
//! sends one small request per interval, so this service collects the
//! encoded request (already in memory) and hands hyper a complete body: the
//! message carries the end of the stream (two writes: headers, then data),
//! and no task but the connection's runs.

use std::error::Error as StdError;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tonic::codegen::http::{Request, Response, Uri};
use tonic::codegen::{Bytes, Context, Poll, Service};

use crate::{Error, Result};

type BoxError = Box<dyn StdError + Send + Sync>;
type Sender = SendRequest<Full<Bytes>>;

/// Connection settings of [`Connection`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// TCP connect plus TLS handshake plus HTTP/2 handshake.
    pub(crate) connect: Duration,
    /// HTTP/2 PING interval while a request is open (a dead peer is
    /// noticed before the request's timeout).
    pub(crate) keep_alive: Duration,
    /// How long a PING may go unanswered before the connection is dropped.
    pub(crate) keep_alive_timeout: Duration,
}

/// Where to connect and how.
struct Target {
    /// The TCP connector: resolves the host at every connect, tries its
    /// addresses in turn within the connect timeout (IPv6 and IPv4 raced,
    /// "happy eyeballs", so a broken family does not stall the other).
    tcp: HttpConnector,
    /// `http://host:port`, what the connector connects to (its authority
    /// names the server in messages).
    tcp_uri: Uri,
    /// TLS: the client configuration and the name the certificate must carry.
    tls: Option<(TlsConnector, ServerName<'static>)>,
    timing: Timing,
}

/// One HTTP/2 connection to the server, as a tower service for tonic's
/// generated client. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub(crate) struct Connection {
    target: Arc<Target>,
    /// The live connection, if any. Connecting happens under this lock, so
    /// concurrent first requests make one connection.
    sender: Arc<tokio::sync::Mutex<Option<Sender>>>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("address", &self.target.address())
            .field("tls", &self.target.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A connection to `uri`'s host and port, with TLS or not, not made
    /// until the first request. `ca_file`: PEM certificates to trust beside
    /// the system's roots (read only with TLS).
    ///
    /// # Errors
    /// [`Error::Config`] for a URI without a host, an unusable CA file, or
    /// TLS without any root certificate to trust.
    pub(crate) fn lazy(
        uri: &Uri,
        tls: bool,
        ca_file: Option<&Path>,
        timing: Timing,
    ) -> Result<Self> {
        let host = uri
            .host()
            .ok_or_else(|| Error::config(format!("server_endpoint `{uri}` has no host")))?;
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let address = if bare.contains(':') {
            format!("[{bare}]:{port}")
        } else {
            format!("{bare}:{port}")
        };
        let tcp_uri: Uri = format!("http://{address}")
            .parse()
            .map_err(|e| Error::config_from(format!("server_endpoint `{uri}`: {e}"), e))?;
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(timing.connect));
        let tls = if tls {
            let name = ServerName::try_from(bare.to_owned()).map_err(|e| {
                Error::config_from(format!("server_endpoint `{uri}`: host name: {e}"), e)
            })?;
            Some((TlsConnector::from(Arc::new(client_config(ca_file)?)), name))
        } else {
            None
        };
        Ok(Self {
            target: Arc::new(Target {
                tcp,
                tcp_uri,
                tls,
                timing,
            }),
            sender: Arc::default(),
        })
    }

    /// The live connection's sender, connecting first when there is none or
    /// it has closed.
    async fn sender(&self) -> std::result::Result<Sender, BoxError> {
        let mut slot = self.sender.lock().await;
        if let Some(s) = slot.as_ref().filter(|s| !s.is_closed()) {
            return Ok(s.clone());
        }
        *slot = None;
        let timing = self.target.timing;
        let sender = tokio::time::timeout(timing.connect, connect(&self.target))
            .await
            .map_err(|_| connect_error(format!("no connection within {:?}", timing.connect)))??;
        *slot = Some(sender.clone());
        Ok(sender)
    }
}

fn connect_error(message: impl Into<BoxError>) -> BoxError {
    Box::new(tonic::ConnectError(message.into()))
}

async fn connect(target: &Target) -> std::result::Result<Sender, BoxError> {
    let mut connector = target.tcp.clone();
    std::future::poll_fn(|cx| connector.poll_ready(cx))
        .await
        .map_err(|e| connect_error(format!("connect to {}: {e}", target.address())))?;
    let tcp = connector
        .call(target.tcp_uri.clone())
        .await
        .map_err(|e| connect_error(format!("connect to {}: {e}", target.address())))?
        .into_inner();
    match &target.tls {
        None => handshake(tcp, target.timing).await,
        Some((connector, name)) => {
            let tls = connector
                .connect(name.clone(), tcp)
                .await
                .map_err(|e| connect_error(format!("TLS with {}: {e}", target.address())))?;
            if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
                return Err(connect_error(format!(
                    "TLS with {}: the server did not agree to HTTP/2 (ALPN h2)",
                    target.address()
                )));
            }
            handshake(tls, target.timing).await
        }
    }
}

async fn handshake<T>(io: T, timing: Timing) -> std::result::Result<Sender, BoxError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, conn) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .keep_alive_interval(timing.keep_alive)
        .keep_alive_timeout(timing.keep_alive_timeout)
        .handshake(TokioIo::new(io))
        .await
        .map_err(connect_error)?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "connection to the server ended");
        }
    });
    Ok(sender)
}

impl Target {
    fn address(&self) -> &str {
        self.tcp_uri.authority().map_or("", |a| a.as_str())
    }
}

/// The system's roots and the CA file's certificates, HTTP/2 by ALPN.
fn client_config(ca_file: Option<&Path>) -> Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    if !native.errors.is_empty() {
        tracing::debug!(errors = ?native.errors, "some system root certificates were not loaded");
    }
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| Error::config_from(format!("tls_ca_file {}: {e}", path.display()), e))?;
        let path = path.display();
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| {
                Error::config_from(format!("tls_ca_file {path}: not PEM certificates: {e}"), e)
            })?;
        if certs.is_empty() {
            return Err(Error::config(format!(
                "tls_ca_file {path}: no PEM certificate in the file"
            )));
        }
        for c in certs {
            roots.add(c).map_err(|e| {
                Error::config_from(format!("tls_ca_file {path}: unusable certificate: {e}"), e)
            })?;
        }
    }
    if roots.is_empty() {
        return Err(Error::config(
            "TLS: no root certificate to trust (no system roots found and no tls_ca_file)",
        ));
    }
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config_from(format!("TLS: {e}"), e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

impl Service<Request<tonic::body::Body>> for Connection {
    type Response = Response<Incoming>;
    type Error = BoxError;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = std::result::Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<std::result::Result<(), Self::Error>> {
        // Connecting happens in the call, under the request's timeout.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<tonic::body::Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            // The encoded message is in memory already: a complete body lets
            // hyper send it with the end of the stream, no empty frame after.
            let body = body.collect().await?.to_bytes();
            let request = Request::from_parts(parts, Full::new(body));
            let mut sender = this.sender().await?;
            sender.ready().await?;
            Ok(sender.send_request(request).await?)
        })
    }
}
