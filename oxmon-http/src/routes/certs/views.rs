//! What the certificate routes answer: the core records of
//! [`oxmon_core::cert`] and [`oxmon_core::manage`] with their times as RFC
//! 3339 text and the day counts measured from the request's now, computed
//! by the core types. The fields are spelled out here, with their REST docs,
//! rather than flattened from the core types: `#[serde(flatten)]` would make
//! the OpenAPI document an `allOf` and put the core's `_ms` fields in the
//! JSON. Each conversion moves the core record's fields.

use oxmon_core::cert::{CertCheckResult, CertificateDetails, ChainCertificate};
use oxmon_core::manage::CertDomain;
use serde::Serialize;
use utoipa::ToSchema;

use crate::rfc3339;

/// What a check of one certificate found, at `checked_at`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CertStatusView {
    /// Id of the checked domain.
    pub domain_id: String,
    /// The domain name.
    pub domain: String,
    /// The port checked.
    pub port: u16,
    /// When the check ran, RFC 3339.
    pub checked_at: String,
    /// Trusted chain, matching name, in date, and no connection error.
    pub is_valid: bool,
    /// Days until the leaf expires (negative once expired), when one was read.
    pub days_until_expiry: Option<f64>,
    /// The leaf's `notAfter`, RFC 3339, when one was read.
    pub not_after: Option<String>,
    /// Why the check failed (connection error or chain verdict).
    pub error: Option<String>,
}

impl From<CertCheckResult> for CertStatusView {
    fn from(r: CertCheckResult) -> Self {
        Self {
            domain_id: r.domain_id,
            domain: r.domain,
            port: r.port,
            checked_at: rfc3339(r.checked_at_ms),
            is_valid: r.is_valid,
            days_until_expiry: r.days_until_expiry,
            not_after: r.not_after_ms.map(rfc3339),
            error: r.error,
        }
    }
}

/// A monitored domain.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CertDomainView {
    /// Unique id (generated).
    pub id: String,
    /// The domain name, lower case.
    pub domain: String,
    /// The TLS port.
    pub port: u16,
    /// Whether the scheduler checks it.
    pub enabled: bool,
    /// Its own check interval; `null`: `[cert_check] default_interval_secs`.
    pub check_interval_secs: Option<u64>,
    /// Free text for operators.
    pub note: Option<String>,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Last change, RFC 3339.
    pub updated_at: String,
}

impl From<CertDomain> for CertDomainView {
    fn from(d: CertDomain) -> Self {
        Self {
            id: d.id,
            domain: d.domain,
            port: d.port,
            enabled: d.enabled,
            check_interval_secs: d.check_interval_secs,
            note: d.note,
            created_at: rfc3339(d.created_at_ms),
            updated_at: rfc3339(d.updated_at_ms),
        }
    }
}

/// What the last check read from a domain's certificate.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CertificateView {
    /// The domain name.
    pub domain: String,
    /// The port.
    pub port: u16,
    /// The leaf's `notBefore`, RFC 3339.
    pub not_before: String,
    /// The leaf's `notAfter`, RFC 3339.
    pub not_after: String,
    /// Days from now until `not_after` (negative once expired).
    pub days_until_expiry: f64,
    /// The earliest `notAfter` in the presented chain, RFC 3339.
    pub chain_earliest_expiry: String,
    /// Every address the domain resolved to.
    pub ip_addresses: Vec<String>,
    /// Issuer common name.
    pub issuer_cn: Option<String>,
    /// Issuer organization.
    pub issuer_o: Option<String>,
    /// Subject common name.
    pub subject_cn: Option<String>,
    /// Subject alternative names (DNS names and addresses).
    pub subject_alt_names: Vec<String>,
    /// Serial number, hex.
    pub serial: Option<String>,
    /// SHA-256 of the leaf certificate, hex.
    pub fingerprint_sha256: Option<String>,
    /// Public key type (`RSA`, `EC`, `Ed25519`).
    pub key_type: Option<String>,
    /// Public key size in bits.
    pub key_bits: Option<u32>,
    /// Signature algorithm of the leaf.
    pub signature_algorithm: Option<String>,
    /// Negotiated TLS version.
    pub tls_version: Option<String>,
    /// Negotiated cipher suite.
    pub cipher_suite: Option<String>,
    /// Whether the chain verified (trusted roots, host name, dates).
    pub chain_valid: bool,
    /// Why it did not.
    pub chain_error: Option<String>,
    /// When these details were read, RFC 3339.
    pub last_checked: String,
}

impl CertificateView {
    /// The view of `d` with the day count measured from `now_ms`.
    pub(super) fn new(d: CertificateDetails, now_ms: i64) -> Self {
        Self {
            not_before: rfc3339(d.not_before_ms),
            not_after: rfc3339(d.not_after_ms),
            days_until_expiry: d.days_until_expiry(now_ms),
            chain_earliest_expiry: rfc3339(d.earliest_expiry_ms()),
            last_checked: rfc3339(d.last_checked_ms),
            domain: d.domain,
            port: d.port,
            ip_addresses: d.ip_addresses,
            issuer_cn: d.issuer_cn,
            issuer_o: d.issuer_o,
            subject_cn: d.subject_cn,
            subject_alt_names: d.subject_alt_names,
            serial: d.serial,
            fingerprint_sha256: d.fingerprint_sha256,
            key_type: d.key_type,
            key_bits: d.key_bits,
            signature_algorithm: d.signature_algorithm,
            tls_version: d.tls_version,
            cipher_suite: d.cipher_suite,
            chain_valid: d.chain_valid,
            chain_error: d.chain_error,
        }
    }
}

/// One certificate of a presented chain.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ChainCertificateView {
    /// 0 for the leaf, then each certificate as the server sent it.
    pub position: usize,
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// `notBefore`, RFC 3339.
    pub not_before: String,
    /// `notAfter`, RFC 3339.
    pub not_after: String,
    /// Days from now until `not_after` (negative once expired).
    pub days_until_expiry: f64,
    /// Whether now is within its validity period.
    pub in_validity_period: bool,
    /// Whether it names itself as its issuer.
    pub self_issued: bool,
}

impl ChainCertificateView {
    /// The view of the certificate at `position`, measured from `now_ms`.
    fn new(position: usize, c: ChainCertificate, now_ms: i64) -> Self {
        Self {
            position,
            self_issued: c.is_self_issued(),
            in_validity_period: c.is_current_at(now_ms),
            days_until_expiry: c.days_until_expiry(now_ms),
            not_before: rfc3339(c.not_before_ms),
            not_after: rfc3339(c.not_after_ms),
            subject: c.subject,
            issuer: c.issuer,
        }
    }
}

/// The chain a domain presented at its last check, and the verdict on it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CertificateChainView {
    /// The domain name.
    pub domain: String,
    /// The port.
    pub port: u16,
    /// Whether the chain verified (trusted roots, host name, dates).
    pub chain_valid: bool,
    /// Why it did not (`certificate expired`, `unknown issuer ...`).
    pub chain_error: Option<String>,
    /// When it was read, RFC 3339.
    pub last_checked: String,
    /// The certificates, leaf first.
    pub certificates: Vec<ChainCertificateView>,
}

impl CertificateChainView {
    /// The chain of `d`, each certificate measured from `now_ms`.
    pub(super) fn new(d: CertificateDetails, now_ms: i64) -> Self {
        let certificates = d
            .chain
            .into_iter()
            .enumerate()
            .map(|(position, c)| ChainCertificateView::new(position, c, now_ms))
            .collect();
        Self {
            domain: d.domain,
            port: d.port,
            chain_valid: d.chain_valid,
            chain_error: d.chain_error,
            last_checked: rfc3339(d.last_checked_ms),
            certificates,
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Page<T> {
    /// How many items match the filters (ignoring `limit` and `offset`).
    pub total: u64,
    /// The page size used.
    pub limit: u64,
    /// The offset used.
    pub offset: u64,
    /// The items.
    pub items: Vec<T>,
}
