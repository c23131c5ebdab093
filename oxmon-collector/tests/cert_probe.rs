//! The certificate probe against real TLS servers on 127.0.0.1, with
//! certificates made by rcgen for each test. Nothing here leaves the machine.
//!
//! One concern (the probe against real TLS servers) kept in one file: the
//! tests, one a behaviour, share the certificate and server fixtures.
#![cfg(feature = "cert")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use oxmon_collector::cert::{CertProber, ProbeError, ProbeOptions, ProbeReport};
use oxmon_core::{Clock, SystemClock};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, Issuer, KeyPair,
    SignatureAlgorithm,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const DAY: i64 = 86_400_000;

// ---------------------------------------------------------------------------
// Certificates

/// Sets the validity period, in ms since the epoch (X.509 keeps whole
/// seconds).
fn set_validity(params: &mut CertificateParams, not_before_ms: i64, not_after_ms: i64) {
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    let secs = |ms: i64| Duration::from_secs(u64::try_from(ms / 1000).unwrap());
    params.not_before = epoch + secs(not_before_ms);
    params.not_after = epoch + secs(not_after_ms);
}

/// What a certificate's not_before/not_after read back as, for `ms`.
fn x509_ms(ms: i64) -> i64 {
    ms / 1000 * 1000
}

type Ca = CertifiedIssuer<'static, KeyPair>;

fn ca_params(cn: &str, not_before_ms: i64, not_after_ms: i64) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, cn);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "oxmon tests");
    set_validity(&mut params, not_before_ms, not_after_ms);
    params
}

/// A self-signed root CA valid around `now_ms`.
fn root_ca(now_ms: i64) -> Ca {
    let params = ca_params("oxmon test CA", now_ms - 365 * DAY, now_ms + 3650 * DAY);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn intermediate_ca(parent: &Ca, not_before_ms: i64, not_after_ms: i64) -> Ca {
    let params = ca_params("oxmon test intermediate", not_before_ms, not_after_ms);
    CertifiedIssuer::signed_by(params, KeyPair::generate().unwrap(), parent).unwrap()
}

struct Leaf {
    der: CertificateDer<'static>,
    key: KeyPair,
}

impl Leaf {
    fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::try_from(self.key.serialize_der()).unwrap()
    }
}

fn leaf_params(names: &[&str], not_before_ms: i64, not_after_ms: i64) -> CertificateParams {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(names.clone()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, &names[0]);
    set_validity(&mut params, not_before_ms, not_after_ms);
    params
}

/// A P-256 leaf for `names` signed by `issuer`.
fn leaf(issuer: &Issuer<'_, KeyPair>, names: &[&str], nb: i64, na: i64) -> Leaf {
    leaf_with(issuer, names, nb, na, &rcgen::PKCS_ECDSA_P256_SHA256)
}

fn leaf_with(
    issuer: &Issuer<'_, KeyPair>,
    names: &[&str],
    nb: i64,
    na: i64,
    alg: &'static SignatureAlgorithm,
) -> Leaf {
    let key = KeyPair::generate_for(alg).unwrap();
    let cert = leaf_params(names, nb, na).signed_by(&key, issuer).unwrap();
    Leaf {
        der: cert.der().clone(),
        key,
    }
}

/// A prober trusting `ca` besides the webpki roots.
fn prober_trusting(ca: &Ca) -> CertProber {
    CertProber::new(ProbeOptions {
        extra_ca_pem: Some(ca.pem().into_bytes()),
        ..ProbeOptions::default()
    })
    .unwrap()
}

// ---------------------------------------------------------------------------
// Servers

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> rustls::ServerConfig {
    rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap()
}

/// A TLS server on 127.0.0.1 presenting `chain`, until the test ends.
async fn serve(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> SocketAddr {
    serve_config(
        server_config(chain, key, rustls::DEFAULT_VERSIONS),
        "127.0.0.1:0",
    )
    .await
}

async fn serve_config(config: rustls::ServerConfig, bind: &str) -> SocketAddr {
    let listener = TcpListener::bind(bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let mut buf = [0u8; 64];
                    // Until the client's close_notify or EOF.
                    while matches!(tls.read(&mut buf).await, Ok(n) if n > 0) {}
                }
            });
        }
    });
    addr
}

fn assert_days(report: &ProbeReport, days: f64) {
    let got = report.days_until_expiry().unwrap();
    assert!(
        (got - days).abs() < 0.001,
        "days_until_expiry {got}, expected {days}"
    );
}

// ---------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn a_valid_chain_from_the_extra_ca_is_reported_in_full() {
    let now = SystemClock.now_ms();
    let ca = root_ca(now);
    let leaf = leaf(&ca, &["localhost", "127.0.0.1"], now - DAY, now + 30 * DAY);
    let addr = serve(vec![leaf.der.clone()], leaf.key_der()).await;

    let r = prober_trusting(&ca)
        .probe("localhost", addr.port(), now)
        .await;

    assert_eq!(r.error, None);
    assert_eq!(r.details.chain_error, None);
    assert!(r.details.chain_valid && r.is_valid(), "{r:?}");
    assert_eq!(
        (r.details.domain.as_str(), r.details.port, r.checked_at_ms()),
        ("localhost", addr.port(), now)
    );
    assert!(
        r.details.ip_addresses.contains(&"127.0.0.1".to_owned()),
        "{:?}",
        r.details.ip_addresses
    );
    assert_eq!(r.connected_address.as_deref(), Some("127.0.0.1"));
    assert_eq!(r.details.tls_version.as_deref(), Some("TLSv1.3"));
    assert!(
        r.details
            .cipher_suite
            .as_deref()
            .is_some_and(|s| s.starts_with("TLS13_")),
        "{:?}",
        r.details.cipher_suite
    );
    assert_days(&r, 30.0);

    assert_eq!(r.details.chain.len(), 1);
    let presented = r.leaf().unwrap();
    assert_eq!(r.chain_der[0], leaf.der.as_ref());
    assert_eq!(presented.subject, "CN=localhost");
    assert_eq!(presented.issuer, "CN=oxmon test CA, O=oxmon tests");
    assert_eq!(presented.not_before_ms, x509_ms(now - DAY));
    assert_eq!(presented.not_after_ms, x509_ms(now + 30 * DAY));
    assert_eq!(r.earliest_expiry_ms(), Some(x509_ms(now + 30 * DAY)));

    assert_eq!(r.details.subject_cn.as_deref(), Some("localhost"));
    assert_eq!(r.details.issuer_cn.as_deref(), Some("oxmon test CA"));
    assert_eq!(r.details.issuer_o.as_deref(), Some("oxmon tests"));
    assert_eq!(r.details.subject_alt_names, ["localhost", "127.0.0.1"]);
    assert_eq!(r.details.key_type.as_deref(), Some("EC"));
    assert_eq!(r.details.key_bits, Some(256));
    assert_eq!(
        r.details.signature_algorithm.as_deref(),
        Some("ecdsa-with-SHA256")
    );
    assert_eq!(
        r.details.fingerprint_sha256.as_deref(),
        Some(hex::encode(Sha256::digest(&leaf.der)).as_str())
    );
    let serial = r.details.serial.as_deref().unwrap();
    assert!(
        !serial.is_empty()
            && serial
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{serial}"
    );
}

#[tokio::test]
async fn an_expired_certificate_is_read_and_reported_expired() {
    let now = SystemClock.now_ms();
    let ca = root_ca(now);
    let leaf = leaf(&ca, &["127.0.0.1"], now - 60 * DAY, now - 2 * DAY);
    let addr = serve(vec![leaf.der.clone()], leaf.key_der()).await;

    let r = prober_trusting(&ca)
        .probe("127.0.0.1", addr.port(), now)
        .await;

    assert_eq!(r.error, None, "the handshake itself succeeds");
    assert!(!r.details.chain_valid && !r.is_valid());
    assert_eq!(
        r.details.chain_error.as_deref(),
        Some("certificate expired")
    );
    assert_eq!(r.details.chain.len(), 1);
    assert_eq!(r.details.subject_alt_names, ["127.0.0.1"]);
    assert_days(&r, -2.0);
}

#[tokio::test]
async fn a_certificate_not_valid_yet_is_reported_so() {
    let now = SystemClock.now_ms();
    let ca = root_ca(now);
    let leaf = leaf(&ca, &["127.0.0.1"], now + DAY, now + 90 * DAY);
    let addr = serve(vec![leaf.der.clone()], leaf.key_der()).await;

    let r = prober_trusting(&ca)
        .probe("127.0.0.1", addr.port(), now)
        .await;

    assert_eq!(r.error, None);
    assert!(!r.details.chain_valid && !r.is_valid());
    assert_eq!(
        r.details.chain_error.as_deref(),
        Some("certificate not valid yet")
    );
    assert_days(&r, 90.0);
}

#[tokio::test]
async fn a_self_signed_certificate_is_not_trusted() {
    let now = SystemClock.now_ms();
    let key = KeyPair::generate().unwrap();
    let cert = leaf_params(&["127.0.0.1"], now - DAY, now + 30 * DAY)
        .self_signed(&key)
        .unwrap();
    let addr = serve(
        vec![cert.der().clone()],
        PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
    )
    .await;

    // Only the webpki roots: no extra CA.
    let prober = CertProber::new(ProbeOptions::default()).unwrap();
    let r = prober.probe("127.0.0.1", addr.port(), now).await;

    assert_eq!(r.error, None);
    assert!(!r.details.chain_valid && !r.is_valid());
    assert_eq!(
        r.details.chain_error.as_deref(),
        Some("unknown issuer (self-signed or missing intermediate)")
    );
    let leaf = r.leaf().unwrap();
    assert_eq!(leaf.subject, leaf.issuer);
    assert_eq!(r.details.issuer_cn.as_deref(), Some("127.0.0.1"));
    assert_eq!(r.details.issuer_o, None);
    assert_days(&r, 30.0);
}

#[tokio::test]
async fn a_certificate_for_another_name_is_reported_with_the_name() {
    let now = SystemClock.now_ms();
    let ca = root_ca(now);
    let leaf = leaf(&ca, &["other.test"], now - DAY, now + 30 * DAY);
    let addr = serve(vec![leaf.der.clone()], leaf.key_der()).await;

    let r = prober_trusting(&ca)
        .probe("127.0.0.1", addr.port(), now)
        .await;

    assert_eq!(r.error, None);
    assert!(!r.details.chain_valid && !r.is_valid());
    assert_eq!(
        r.details.chain_error.as_deref(),
        Some("certificate is not valid for host name 127.0.0.1")
    );
    assert_eq!(r.details.subject_alt_names, ["other.test"]);
}

#[tokio::test]
async fn a_missing_intermediate_leaves_the_issuer_unknown_but_the_chain_read() {
    let now = SystemClock.now_ms();
    let root = root_ca(now);
    let inter = intermediate_ca(&root, now - DAY, now + 365 * DAY);
    let leaf = leaf(&inter, &["127.0.0.1"], now - DAY, now + 30 * DAY);
    let addr = serve(vec![leaf.der.clone()], leaf.key_der()).await;

    let r = prober_trusting(&root)
        .probe("127.0.0.1", addr.port(), now)
        .await;

    assert_eq!(r.error, None);
    assert!(!r.details.chain_valid && !r.is_valid());
    assert_eq!(
        r.details.chain_error.as_deref(),
        Some("unknown issuer (self-signed or missing intermediate)")
    );
    assert_eq!(r.details.chain.len(), 1);
    assert_eq!(
        r.details.issuer_cn.as_deref(),
        Some("oxmon test intermediate")
    );
}

#[tokio::test]
async fn a_full_chain_validates_and_its_earliest_expiry_is_the_intermediates() {
    let now = SystemClock.now_ms();
    let root = root_ca(now);
    let inter = intermediate_ca(&root, now - DAY, now + 10 * DAY);
    let leaf = leaf(
        &inter,
        &["localhost", "127.0.0.1"],
        now - DAY,
        now + 30 * DAY,
    );
    let addr = serve(vec![leaf.der.clone(), inter.der().clone()], leaf.key_der()).await;
    let prober = prober_trusting(&root);
    let clone = prober.clone();

    // Probes share the prober and may run concurrently.
    let (r, again) = tokio::join!(
        prober.probe("127.0.0.1", addr.port(), now),
        clone.probe("127.0.0.1", addr.port(), now + 1),
    );

    assert_eq!(
        (r.error.as_deref(), r.details.chain_error.as_deref()),
        (None, None)
    );
    assert!(r.details.chain_valid && r.is_valid() && again.is_valid());
    assert_eq!(r.details.chain.len(), 2);
    assert_eq!(r.chain_der[1], inter.der().as_ref());
    assert_eq!(
        r.details.chain[1].subject,
        "CN=oxmon test intermediate, O=oxmon tests"
    );
    assert_eq!(r.details.chain[1].issuer, "CN=oxmon test CA, O=oxmon tests");
    assert_eq!(
        r.details.issuer_cn.as_deref(),
        Some("oxmon test intermediate")
    );
    assert_days(&r, 30.0);
    assert_eq!(r.earliest_expiry_ms(), Some(x509_ms(now + 10 * DAY)));
    assert_eq!(r.details.chain, again.details.chain);
    assert_eq!(r.chain_der, again.chain_der);
}

#[tokio::test]
async fn tls_1_2_is_probed_too() {
    let now = SystemClock.now_ms();
    let ca = root_ca(now);
    let leaf = leaf(&ca, &["127.0.0.1"], now - DAY, now + 30 * DAY);
    let config = server_config(
        vec![leaf.der.clone()],
        leaf.key_der(),
        &[&rustls::version::TLS12],
    );
    let addr = serve_config(config, "127.0.0.1:0").await;

    let r = prober_trusting(&ca)
        .probe("127.0.0.1", addr.port(), now)
        .await;

    assert!(r.is_valid(), "{r:?}");
    assert_eq!(r.details.tls_version.as_deref(), Some("TLSv1.2"));
    assert!(
        r.details
            .cipher_suite
            .as_deref()
            .is_some_and(|s| s.starts_with("TLS_ECDHE_ECDSA_")),
        "{:?}",
        r.details.cipher_suite
    );
}

#[tokio::test]
async fn an_rsa_leaf_reports_its_modulus_size() {
    let now = SystemClock.now_ms();
    let ca = root_ca(now);
    let leaf = leaf_with(
        &ca,
        &["127.0.0.1"],
        now - DAY,
        now + 30 * DAY,
        &rcgen::PKCS_RSA_SHA256,
    );
    let addr = serve(vec![leaf.der.clone()], leaf.key_der()).await;

    let r = prober_trusting(&ca)
        .probe("127.0.0.1", addr.port(), now)
        .await;

    assert!(r.is_valid(), "{r:?}");
    assert_eq!(r.details.key_type.as_deref(), Some("RSA"));
    assert_eq!(r.details.key_bits, Some(2048));
    // Signed by the (EC) CA.
    assert_eq!(
        r.details.signature_algorithm.as_deref(),
        Some("ecdsa-with-SHA256")
    );
}

#[tokio::test]
async fn ipv6_literals_are_probed_when_the_machine_has_ipv6_loopback() {
    let now = SystemClock.now_ms();
    let ca = root_ca(now);
    let leaf = leaf(&ca, &["::1"], now - DAY, now + 30 * DAY);
    if TcpListener::bind("[::1]:0").await.is_err() {
        eprintln!("skipped: no IPv6 loopback here");
        return;
    }
    let config = server_config(
        vec![leaf.der.clone()],
        leaf.key_der(),
        rustls::DEFAULT_VERSIONS,
    );
    let addr = serve_config(config, "[::1]:0").await;

    let r = prober_trusting(&ca).probe("::1", addr.port(), now).await;

    assert!(r.is_valid(), "{r:?}");
    assert_eq!(r.details.ip_addresses, ["::1"]);
    assert_eq!(r.connected_address.as_deref(), Some("::1"));
    assert_eq!(r.details.subject_alt_names, ["::1"]);
}

/// Presents a fixed chain with a key that need not match it (rustls'
/// `with_single_cert` would refuse an unparsable leaf).
#[derive(Debug)]
struct FixedChain(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for FixedChain {
    fn resolve(
        &self,
        _: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
}

fn config_presenting(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> rustls::ServerConfig {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let signing_key = provider.key_provider.load_private_key(key).unwrap();
    let certified = rustls::sign::CertifiedKey::new(chain, signing_key);
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(FixedChain(Arc::new(certified))))
}

const GARBAGE: &[u8] = b"\x30\x03\x02\x01\x00 not a certificate";

#[tokio::test]
async fn an_unparsable_certificate_in_the_chain_is_kept_and_named() {
    let now = SystemClock.now_ms();
    let ca = root_ca(now);
    let leaf = leaf(&ca, &["127.0.0.1"], now - DAY, now + 30 * DAY);
    let chain = vec![leaf.der.clone(), CertificateDer::from(GARBAGE.to_vec())];
    let addr = serve_config(config_presenting(chain, leaf.key_der()), "127.0.0.1:0").await;

    let r = prober_trusting(&ca)
        .probe("127.0.0.1", addr.port(), now)
        .await;

    assert_eq!(r.error, None);
    assert!(!r.details.chain_valid && !r.is_valid());
    let why = r.details.chain_error.as_deref().unwrap();
    assert!(
        why.contains("certificate #1 of the chain could not be parsed"),
        "{why}"
    );
    assert_eq!(r.details.chain.len(), 2);
    assert_eq!(r.chain_der[1], GARBAGE);
    assert_eq!(r.details.chain[1].subject, "");
    assert_eq!(
        r.details.subject_cn.as_deref(),
        Some("127.0.0.1"),
        "the leaf is still read"
    );
}

#[tokio::test]
async fn an_unparsable_leaf_fails_the_handshake_but_is_reported() {
    let now = SystemClock.now_ms();
    let key = KeyPair::generate().unwrap();
    let chain = vec![CertificateDer::from(GARBAGE.to_vec())];
    let key_der = PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    let addr = serve_config(config_presenting(chain, key_der), "127.0.0.1:0").await;

    let prober = CertProber::new(ProbeOptions::default()).unwrap();
    let r = prober.probe("127.0.0.1", addr.port(), now).await;

    let error = r.error.as_deref().unwrap();
    assert!(error.starts_with("TLS handshake failed: "), "{error}");
    assert_eq!(r.details.chain.len(), 1);
    assert_eq!(r.chain_der[0], GARBAGE);
    let why = r.details.chain_error.as_deref().unwrap();
    assert!(
        why.contains("the leaf certificate could not be parsed"),
        "{why}"
    );
    assert_eq!(
        r.details.fingerprint_sha256.as_deref(),
        Some(hex::encode(Sha256::digest(GARBAGE)).as_str())
    );
    assert_eq!(
        (r.details.subject_cn.as_deref(), r.details.serial.as_deref()),
        (None, None)
    );
    assert!(!r.is_valid());
}

#[tokio::test]
async fn a_handshake_failing_after_the_certificates_still_reports_the_chain() {
    // A TLS 1.2 server that requires a client certificate rejects the probe
    // (which has none) after it has presented its own chain.
    let now = SystemClock.now_ms();
    let ca = root_ca(now);
    let leaf = leaf(&ca, &["127.0.0.1"], now - DAY, now + 30 * DAY);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let client_verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(vec![leaf.der.clone()], leaf.key_der())
        .unwrap();
    let addr = serve_config(config, "127.0.0.1:0").await;

    let r = prober_trusting(&ca)
        .probe("127.0.0.1", addr.port(), now)
        .await;

    let error = r.error.as_deref().unwrap();
    assert!(error.starts_with("TLS handshake failed: "), "{error}");
    assert!(!r.is_valid());
    assert_eq!(r.details.chain.len(), 1);
    assert!(r.details.chain_valid, "the chain itself is fine");
    assert_eq!(r.details.chain_error, None);
    assert_days(&r, 30.0);
}

#[tokio::test]
async fn a_closed_port_is_connection_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);

    let prober = CertProber::new(ProbeOptions::default()).unwrap();
    let r = prober.probe("127.0.0.1", port, 1_000).await;

    assert_eq!(r.error.as_deref(), Some("connection refused"));
    assert_eq!(r.details.ip_addresses, ["127.0.0.1"]);
    assert_eq!(r.connected_address, None);
    assert!(
        r.details.chain.is_empty() && !r.details.chain_valid && r.details.chain_error.is_none()
    );
    assert!(!r.is_valid());
    assert_eq!(
        (r.leaf(), r.days_until_expiry(), r.earliest_expiry_ms()),
        (None, None, None)
    );
    assert_eq!(
        (
            r.details.fingerprint_sha256.as_deref(),
            r.details.tls_version.as_deref()
        ),
        (None, None)
    );
}

#[tokio::test]
async fn a_silent_server_times_the_handshake_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts, then says nothing and keeps the connection open.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });

    let prober = CertProber::new(ProbeOptions {
        connect_timeout: Duration::from_millis(300),
        ..ProbeOptions::default()
    })
    .unwrap();
    let started = Instant::now();
    let r = prober.probe("127.0.0.1", addr.port(), 1_000).await;

    assert_eq!(
        r.error.as_deref(),
        Some("TLS handshake timed out after 300ms")
    );
    assert_eq!(r.connected_address.as_deref(), Some("127.0.0.1"));
    assert!(r.details.chain.is_empty() && !r.is_valid());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_server_that_does_not_speak_tls_fails_the_handshake() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let _ = tcp.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    });

    let prober = CertProber::new(ProbeOptions::default()).unwrap();
    let r = prober.probe("127.0.0.1", addr.port(), 1_000).await;

    let error = r.error.as_deref().unwrap();
    assert!(error.starts_with("TLS handshake failed: "), "{error}");
    assert!(r.details.chain.is_empty() && !r.is_valid());
}

#[tokio::test]
async fn an_invalid_domain_name_is_reported_not_resolved() {
    let prober = CertProber::new(ProbeOptions::default()).unwrap();
    for domain in ["", "bad name", "a..b"] {
        let r = prober.probe(domain, 443, 1_000).await;
        let error = r.error.as_deref().unwrap();
        assert!(
            error.starts_with("invalid domain name"),
            "{domain:?}: {error}"
        );
        assert!(r.details.ip_addresses.is_empty());
    }
}

#[test]
fn a_bad_extra_ca_pem_is_refused_at_construction() {
    let with = |pem: &[u8]| {
        CertProber::new(ProbeOptions {
            extra_ca_pem: Some(pem.to_vec()),
            ..ProbeOptions::default()
        })
        .unwrap_err()
    };
    assert!(matches!(with(b""), ProbeError::NoCaCertificates));
    assert!(matches!(
        with(b"not pem at all"),
        ProbeError::NoCaCertificates
    ));
    let key_only = KeyPair::generate().unwrap().serialize_pem();
    assert!(matches!(
        with(key_only.as_bytes()),
        ProbeError::NoCaCertificates
    ));
    let e = with(b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n");
    assert!(matches!(e, ProbeError::InvalidCaPem(_)), "{e:?}");
    let e = with(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    assert!(
        matches!(e, ProbeError::InvalidCaCertificate { index: 0, .. }),
        "{e:?}"
    );
    assert!(
        e.to_string().starts_with("extra CA PEM: certificate #0"),
        "{e}"
    );
}

/// A TLS server on 127.0.0.1 that counts the connections it accepts.
async fn serve_counting(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    let config = server_config(chain, key, rustls::DEFAULT_VERSIONS);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let mut buf = [0u8; 64];
                    while matches!(tls.read(&mut buf).await, Ok(n) if n > 0) {}
                }
            });
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn private_targets_are_refused_before_connecting_unless_allowed() {
    let now = SystemClock.now_ms();
    let ca = root_ca(now);
    let leaf = leaf(&ca, &["localhost", "127.0.0.1"], now - DAY, now + 30 * DAY);
    let (addr, accepted) = serve_counting(vec![leaf.der.clone()], leaf.key_der()).await;
    let options = |allow_private_targets| ProbeOptions {
        extra_ca_pem: Some(ca.pem().into_bytes()),
        allow_private_targets,
        ..ProbeOptions::default()
    };

    let strict = CertProber::new(options(false)).unwrap();
    let r = strict.probe("127.0.0.1", addr.port(), now).await;
    assert_eq!(
        r.error.as_deref(),
        Some(
            "refused: 127.0.0.1 is a loopback address, and checks of private targets are not allowed on this server"
        )
    );
    assert!(!r.is_valid() && r.details.chain.is_empty() && r.connected_address.is_none());
    let r = strict.probe("localhost", addr.port(), now).await;
    let error = r.error.as_deref().unwrap_or_default();
    assert!(
        error.starts_with("refused: localhost resolves to ") && error.contains("loopback"),
        "{error}"
    );
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no connection was made"
    );

    let r = CertProber::new(options(true))
        .unwrap()
        .probe("127.0.0.1", addr.port(), now)
        .await;
    assert!(r.is_valid(), "{r:?}");
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert!(ProbeOptions::default().allow_private_targets);
}
