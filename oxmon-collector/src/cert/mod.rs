//! The TLS certificate probe and its scheduler (feature `cert`).
//!
//! [`CertChecker`] runs the probe on a schedule for the domains of a
//! [`CertStore`](oxmon_core::manage::CertStore): it records each result and
//! the certificate's details there, and sends `certificate.days_until_expiry`
//! and `certificate.is_valid` samples to a
//! [`BatchHandler`](oxmon_core::BatchHandler) (the server's ingest), so
//! `cert_expiration` rules fire per domain like any other rule.
//!
//! [`CertProber::probe`] resolves a domain, connects to it, runs a TLS
//! handshake that accepts whatever chain the server presents, and then
//! validates that chain on its own against the bundled Mozilla roots
//! (`webpki-roots`) plus any extra CAs, for the domain, at the time the
//! caller passes in. So an expired, not yet valid, self-signed, misnamed or
//! incomplete chain is still read and described, with the reason it is not
//! valid. Every failure ends up in the [`ProbeReport`]; probing never fails
//! and never panics.
//!
//! The crypto provider is always rustls' aws-lc-rs one, passed explicitly:
//! the process-wide default provider is neither read nor installed. The
//! library never reads the wall clock: validation happens at `now_ms`.
//!
//! ```no_run
//! # async fn run() -> Result<(), oxmon_collector::cert::ProbeError> {
//! use oxmon_collector::cert::{CertProber, ProbeOptions};
//!
//! let prober = CertProber::new(ProbeOptions::default())?;
//! let now_ms = 1_767_225_600_000; // from a Clock: oxmon_collector::core::Clock
//! let report = prober.probe("example.com", 443, now_ms).await;
//! if !report.is_valid() {
//!     eprintln!(
//!         "example.com: {}",
//!         report.error.as_deref().or(report.details.chain_error.as_deref()).unwrap_or("out of date")
//!     );
//! }
//! println!("expires in {:?} days", report.days_until_expiry());
//! # Ok(()) }
//! ```

mod parse;
mod report;
mod scheduler;
mod target;
mod verify;

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use oxmon_core::sync::LockExt;
use rustls::client::danger::ServerCertVerifier as _;
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;

pub use report::ProbeReport;
pub use scheduler::{CertChecker, CertCheckerError};
pub use target::non_global_kind;

use verify::{CapturingVerifier, chain_failure_reason};

/// How a [`CertProber`] connects and what it trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOptions {
    /// Bounds name resolution plus the TCP connection (one budget shared by
    /// every address tried), and separately the TLS handshake. Default 10 s.
    pub connect_timeout: Duration,
    /// PEM bytes of extra CA certificates to trust, besides the bundled
    /// webpki roots (for servers with certificates from a private CA).
    pub extra_ca_pem: Option<Vec<u8>>,
    /// Probe domains that resolve to loopback, private, link-local or other
    /// non-global addresses ([`non_global_kind`]). Default `true`, so
    /// internal certificates can be monitored. With `false` a domain with
    /// any such address is refused after resolution, before any
    /// connection, and the report says why: whoever may add domains cannot
    /// use the probe to reach internal hosts and ports.
    pub allow_private_targets: bool,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            extra_ca_pem: None,
            allow_private_targets: true,
        }
    }
}

/// Why a [`CertProber`] could not be built. Probing itself never fails: its
/// failures are in the [`ProbeReport`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// `extra_ca_pem` holds no `CERTIFICATE` section.
    #[error("extra CA PEM: no certificate found")]
    NoCaCertificates,
    /// `extra_ca_pem` is not valid PEM.
    #[error("extra CA PEM: cannot be read: {0}")]
    InvalidCaPem(String),
    /// A certificate of `extra_ca_pem` cannot be used as a trust anchor.
    #[error("extra CA PEM: certificate #{index} is not a usable CA certificate: {reason}")]
    InvalidCaCertificate {
        /// Its position in the PEM, from 0.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The TLS client could not be configured (not expected with the
    /// bundled provider).
    #[error("TLS client set-up failed: {0}")]
    Tls(String),
}

/// Probes TLS servers and reports their certificates.
///
/// Cheap to clone (the configuration is shared); probes may run
/// concurrently.
#[derive(Debug, Clone)]
pub struct CertProber {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The handshake configuration; each probe clones it with its own
    /// [`CapturingVerifier`].
    config: ClientConfig,
    algorithms: WebPkiSupportedAlgorithms,
    /// Validates presented chains against the roots and extra CAs.
    validator: Arc<WebPkiServerVerifier>,
    connect_timeout: Duration,
    allow_private_targets: bool,
}

impl CertProber {
    /// A prober trusting the webpki roots plus `options.extra_ca_pem`.
    ///
    /// # Errors
    /// [`ProbeError::NoCaCertificates`], [`ProbeError::InvalidCaPem`] or
    /// [`ProbeError::InvalidCaCertificate`] when `extra_ca_pem` is given but
    /// does not hold usable certificates.
    pub fn new(options: ProbeOptions) -> Result<Self, ProbeError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(pem) = &options.extra_ca_pem {
            add_extra_cas(&mut roots, pem)?;
        }
        let validator =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| ProbeError::Tls(e.to_string()))?;
        let algorithms = provider.signature_verification_algorithms;
        let (verifier, _) = CapturingVerifier::new(algorithms);
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ProbeError::Tls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        // Every probe does a full handshake: a resumed session presents no
        // certificates.
        config.resumption = Resumption::disabled();
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                algorithms,
                validator,
                connect_timeout: options.connect_timeout,
                allow_private_targets: options.allow_private_targets,
            }),
        })
    }

    /// Probes `domain` (a DNS name or an IP literal such as `127.0.0.1` or
    /// `::1`) on `port`, validating the presented chain at `now_ms` (ms since
    /// the epoch).
    ///
    /// # Behavior
    /// - Resolves the domain and records every address; connects to them in
    ///   order until one accepts, all within `connect_timeout`. Without
    ///   [`ProbeOptions::allow_private_targets`], a domain with any
    ///   non-global address is refused here and nothing is connected to.
    /// - Runs the TLS handshake (SNI = the domain for a DNS name, no ALPN, no
    ///   session resumption) within a fresh `connect_timeout`, accepting any
    ///   chain but checking the handshake signatures; then sends
    ///   close_notify. A probe takes at most about twice `connect_timeout`.
    /// - Reads the chain and the leaf's details, and validates the chain for
    ///   the domain at `now_ms`.
    ///
    /// Never panics and never fails: a failure at any stage is recorded in
    /// [`ProbeReport::error`] (connection) or the details' `chain_error`
    /// (validation), with whatever was learnt before it.
    pub async fn probe(&self, domain: &str, port: u16, now_ms: i64) -> ProbeReport {
        let mut report = ProbeReport::empty(domain, port, now_ms);
        if let Err(e) = self.run(domain, port, &mut report).await {
            report.error = Some(e);
        }
        tracing::debug!(
            domain,
            port,
            valid = report.is_valid(),
            error = report.error.as_deref(),
            chain_error = report.details.chain_error.as_deref(),
            "certificate probe"
        );
        report
    }

    async fn run(&self, domain: &str, port: u16, report: &mut ProbeReport) -> Result<(), String> {
        let timeout = self.inner.connect_timeout;
        let server_name = ServerName::try_from(domain)
            .map_err(|e| format!("invalid domain name {domain:?}: {e}"))?
            .to_owned();

        let deadline = Instant::now() + timeout;
        let resolved = match timeout_at(deadline, tokio::net::lookup_host((domain, port))).await {
            Err(_) => return Err(format!("DNS lookup timed out after {timeout:?}")),
            Ok(Err(e)) => return Err(format!("DNS lookup failed: {e}")),
            Ok(Ok(addrs)) => addrs,
        };
        let mut addrs: Vec<SocketAddr> = Vec::new();
        for addr in resolved {
            if !addrs.iter().any(|a| a.ip() == addr.ip()) {
                addrs.push(addr);
            }
        }
        report.details.ip_addresses = addrs.iter().map(|a| a.ip().to_string()).collect();
        if addrs.is_empty() {
            return Err("DNS lookup failed: no addresses".to_owned());
        }
        if !self.inner.allow_private_targets {
            refuse_non_global(domain, &addrs)?;
        }

        let (tcp, ip) = connect_any(&addrs, deadline, timeout).await?;
        report.connected_address = Some(ip.to_string());

        let mut config = self.inner.config.clone();
        let (verifier, captured) = CapturingVerifier::new(self.inner.algorithms);
        config
            .dangerous()
            .set_certificate_verifier(Arc::new(verifier));
        let connector = TlsConnector::from(Arc::new(config));
        let deadline = Instant::now() + timeout;
        let handshake = timeout_at(deadline, connector.connect(server_name.clone(), tcp)).await;

        let mut chain = captured.locked().take().unwrap_or_default();
        let result = match handshake {
            Err(_) => Err(format!("TLS handshake timed out after {timeout:?}")),
            Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
            Ok(Ok(mut tls)) => {
                let (_, conn) = tls.get_ref();
                if let Some(peer) = conn.peer_certificates() {
                    chain = peer.iter().map(|c| c.clone().into_owned()).collect();
                }
                report.details.tls_version = conn.protocol_version().map(|v| {
                    v.as_str().map_or_else(
                        || format!("0x{:04x}", u16::from(v)),
                        |s| s.replace('_', "."),
                    )
                });
                report.details.cipher_suite = conn.negotiated_cipher_suite().map(|s| {
                    let suite = s.suite();
                    suite
                        .as_str()
                        .map_or_else(|| format!("0x{:04x}", u16::from(suite)), str::to_owned)
                });
                // close_notify; the peer's manners do not matter.
                let _ = timeout_at(deadline, tls.shutdown()).await;
                Ok(())
            }
        };
        self.read_chain(&chain, &server_name, report);
        result
    }

    /// Fills the chain, the leaf fields and the validation outcome.
    fn read_chain(
        &self,
        chain: &[CertificateDer<'static>],
        server_name: &ServerName<'_>,
        report: &mut ProbeReport,
    ) {
        let Some((leaf, intermediates)) = chain.split_first() else {
            return;
        };
        let mut unreadable = Vec::new();
        let mut presented = Vec::with_capacity(chain.len());
        for (i, der) in chain.iter().enumerate() {
            let (cert, err) = parse::presented(der);
            if let Some(e) = err {
                unreadable.push(if i == 0 {
                    format!("the leaf certificate could not be parsed: {e}")
                } else {
                    format!("certificate #{i} of the chain could not be parsed: {e}")
                });
            }
            presented.push(cert);
            report.chain_der.push(der.to_vec());
        }
        let details = &mut report.details;
        details.set_chain(presented);
        parse::read_leaf(leaf, details);

        let now = UnixTime::since_unix_epoch(Duration::from_millis(
            u64::try_from(details.last_checked_ms).unwrap_or(0),
        ));
        let validation = self
            .inner
            .validator
            .verify_server_cert(leaf, intermediates, server_name, &[], now)
            .map_err(|e| chain_failure_reason(&e, &details.domain));
        // A chain that cannot be read is not reported valid, whatever webpki
        // thinks of it.
        let mut reasons: Vec<String> = validation.err().into_iter().collect();
        reasons.extend(unreadable);
        details.chain_valid = reasons.is_empty();
        details.chain_error = (!reasons.is_empty()).then(|| reasons.join("; "));
    }
}

/// Refuses a target with any non-global address (checked on the addresses
/// that would be connected to, so a DNS answer cannot change in between).
fn refuse_non_global(domain: &str, addrs: &[SocketAddr]) -> Result<(), String> {
    for addr in addrs {
        if let Some(kind) = non_global_kind(addr.ip()) {
            let ip = addr.ip();
            let resolves = if domain.parse::<IpAddr>().is_ok() {
                format!("{ip} is")
            } else {
                format!("{domain} resolves to {ip},")
            };
            return Err(format!(
                "refused: {resolves} a {kind} address, and checks of private targets are not allowed on this server"
            ));
        }
    }
    Ok(())
}

/// Connects to the first address that accepts, within `deadline`.
async fn connect_any(
    addrs: &[SocketAddr],
    deadline: Instant,
    timeout: Duration,
) -> Result<(TcpStream, IpAddr), String> {
    let mut failures: Vec<(IpAddr, String)> = Vec::new();
    for addr in addrs {
        match timeout_at(deadline, TcpStream::connect(addr)).await {
            Err(_) => return Err(format!("timed out connecting after {timeout:?}")),
            Ok(Ok(tcp)) => return Ok((tcp, addr.ip())),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                failures.push((addr.ip(), "connection refused".to_owned()));
            }
            Ok(Err(e)) => failures.push((addr.ip(), format!("connection failed: {e}"))),
        }
    }
    // One reason when every address failed alike, else each address's.
    match failures.first() {
        None => return Err("no address to connect to".to_owned()),
        Some((_, first)) if failures.iter().all(|(_, why)| why == first) => {
            return Err(first.clone());
        }
        Some(_) => {}
    }
    let mut out = String::new();
    for (i, (ip, why)) in failures.iter().enumerate() {
        let sep = if i == 0 { "" } else { "; " };
        let _ = write!(out, "{sep}{ip}: {why}");
    }
    Err(out)
}

/// Adds every certificate of `pem` to `roots`.
fn add_extra_cas(roots: &mut RootCertStore, pem: &[u8]) -> Result<(), ProbeError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ProbeError::InvalidCaPem(e.to_string()))?;
    if certs.is_empty() {
        return Err(ProbeError::NoCaCertificates);
    }
    for (index, der) in certs.into_iter().enumerate() {
        roots
            .add(der)
            .map_err(|e| ProbeError::InvalidCaCertificate {
                index,
                reason: e.to_string(),
            })?;
    }
    Ok(())
}
