//! The certificate model: what a TLS certificate check reads and decides,
//! defined once for every crate that touches it.
//!
//! - The probe (`oxmon_collector::cert`) fills a [`CertificateDetails`]
//!   directly as it resolves, connects, handshakes and reads the chain, and
//!   decides a [`CertCheckResult`].
//! - The stores ([`CertStore`](crate::manage::CertStore) and its
//!   implementations) keep both as they are.
//! - The REST API (`oxmon_http`) wraps them in views that format the times.
//! - The scheduler sends, and `cert_expiration` rules watch, the series
//!   [`DAYS_UNTIL_EXPIRY_METRIC`] and [`IS_VALID_METRIC`].
//!
//! It is a module of its own rather than part of [`crate::manage`] because
//! the probe, the alert engine and the configuration use it without any
//! store: `manage` (the store contracts) depends on this module, never the
//! other way round. `manage` re-exports the types its traits take.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::time::days_between;

/// Metric of the days until a domain's leaf certificate expires (fractional,
/// negative once expired); the default metric of `cert_expiration` rules.
pub const DAYS_UNTIL_EXPIRY_METRIC: &str = "certificate.days_until_expiry";
/// Metric of a domain's certificate verdict: 1 valid, 0 invalid or
/// unreachable. A `cert_expiration` rule also watches it.
pub const IS_VALID_METRIC: &str = "certificate.is_valid";

/// The port a certificate domain gets when none is given.
pub const DEFAULT_CERT_PORT: u16 = 443;
/// Longest accepted domain name, in bytes (the DNS limit).
pub const MAX_DOMAIN_LEN: usize = 253;

/// One certificate of the chain a server presented.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainCertificate {
    /// Subject distinguished name, as x509-parser writes it
    /// (`CN=example.com, O=Example`, in encoding order). Empty when the
    /// certificate could not be parsed.
    pub subject: String,
    /// Issuer distinguished name, written like `subject`.
    pub issuer: String,
    /// `notBefore`, ms since the epoch (0 when the certificate could not be
    /// parsed).
    pub not_before_ms: i64,
    /// `notAfter`, ms since the epoch (0 when the certificate could not be
    /// parsed).
    pub not_after_ms: i64,
}

impl ChainCertificate {
    /// Whether `now_ms` is within its validity period (both ends included).
    pub fn is_current_at(&self, now_ms: i64) -> bool {
        (self.not_before_ms..=self.not_after_ms).contains(&now_ms)
    }

    /// Days from `now_ms` until `notAfter`, fractional; negative once
    /// expired.
    pub fn days_until_expiry(&self, now_ms: i64) -> f64 {
        days_between(now_ms, self.not_after_ms)
    }

    /// Whether it names itself as its issuer.
    pub fn is_self_issued(&self) -> bool {
        self.subject == self.issuer
    }
}

/// What a check read from the certificate of one (domain, port): the
/// addresses, the TLS session, the presented chain and the leaf's fields,
/// and the verdict on the chain.
///
/// The probe fills it stage by stage, so a record of a probe that stopped
/// early has only what was learnt before (the leaf fields `None` or empty,
/// both dates 0 without a leaf); the stores keep records of probes that read
/// a leaf. [`CertificateDetails::new`] is the record with nothing read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateDetails {
    /// Domain name (or IP literal), as in
    /// [`CertDomain::domain`](crate::manage::CertDomain::domain).
    pub domain: String,
    /// Port, as in [`CertDomain::port`](crate::manage::CertDomain::port).
    pub port: u16,
    /// The leaf's `notBefore`, ms since the epoch.
    pub not_before_ms: i64,
    /// The leaf's `notAfter`, ms since the epoch.
    pub not_after_ms: i64,
    /// Every address the domain resolved to (IPv4 and IPv6), in resolver
    /// order, without duplicates.
    pub ip_addresses: Vec<String>,
    /// The leaf's issuer common name.
    pub issuer_cn: Option<String>,
    /// The leaf's issuer organization.
    pub issuer_o: Option<String>,
    /// The leaf's subject common name.
    pub subject_cn: Option<String>,
    /// The leaf's subjectAltName DNS names and IP addresses, in order.
    pub subject_alt_names: Vec<String>,
    /// The leaf's serial number, lowercase hex without colons or sign
    /// padding.
    pub serial: Option<String>,
    /// Lowercase hex SHA-256 of the leaf's DER (there even for a leaf that
    /// does not parse).
    pub fingerprint_sha256: Option<String>,
    /// The leaf's key type: `RSA`, `RSA-PSS`, `EC`, `Ed25519`, `Ed448`,
    /// `DSA`, else the algorithm's dotted OID.
    pub key_type: Option<String>,
    /// RSA modulus bits; EC curve size (256, 384, 521); Ed25519 256.
    pub key_bits: Option<u32>,
    /// The leaf's signature algorithm, e.g. `sha256WithRSAEncryption`,
    /// `ecdsa-with-SHA256`, else the dotted OID.
    pub signature_algorithm: Option<String>,
    /// The negotiated protocol version, e.g. `TLSv1.3`.
    pub tls_version: Option<String>,
    /// The negotiated cipher suite, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: Option<String>,
    /// Whether the chain validated for `domain` at `last_checked_ms`
    /// (trusted roots, host name, dates).
    pub chain_valid: bool,
    /// Why the chain did not validate, e.g. `certificate expired`,
    /// `certificate not valid yet`, `certificate is not valid for host name
    /// X`, `unknown issuer (self-signed or missing intermediate)`. `Some`
    /// exactly when a chain was presented and is not valid.
    pub chain_error: Option<String>,
    /// The presented chain, leaf first; empty when none was received.
    pub chain: Vec<ChainCertificate>,
    /// When these details were read (the validation time), ms since the
    /// epoch.
    pub last_checked_ms: i64,
}

impl CertificateDetails {
    /// The details of `domain:port` checked at `checked_at_ms`, with nothing
    /// read yet: no address, no session, no chain (not valid), no leaf.
    pub fn new(domain: impl Into<String>, port: u16, checked_at_ms: i64) -> Self {
        Self {
            domain: domain.into(),
            port,
            last_checked_ms: checked_at_ms,
            ..Self::default()
        }
    }

    /// Sets the presented chain, leaf first, and the leaf's dates as
    /// `not_before_ms` / `not_after_ms`.
    pub fn set_chain(&mut self, chain: Vec<ChainCertificate>) {
        if let Some(leaf) = chain.first() {
            self.not_before_ms = leaf.not_before_ms;
            self.not_after_ms = leaf.not_after_ms;
        }
        self.chain = chain;
    }

    /// Days from `now_ms` until the leaf's `notAfter`, fractional; negative
    /// once expired.
    pub fn days_until_expiry(&self, now_ms: i64) -> f64 {
        days_between(now_ms, self.not_after_ms)
    }

    /// The earliest `notAfter` of the leaf and the whole presented chain (an
    /// intermediate can expire before the leaf).
    pub fn earliest_expiry_ms(&self) -> i64 {
        self.chain
            .iter()
            .map(|c| c.not_after_ms)
            .fold(self.not_after_ms, i64::min)
    }

    /// A copy with the domain normalized.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an invalid domain or port 0.
    pub fn normalized(&self) -> Result<Self> {
        validate_port(self.port)?;
        Ok(Self {
            domain: normalize_domain(&self.domain)?,
            ..self.clone()
        })
    }
}

/// The outcome of one certificate check of a domain; results form a history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertCheckResult {
    /// The [`CertDomain::id`](crate::manage::CertDomain::id) that was checked.
    pub domain_id: String,
    /// Its domain name (must equal the domain's).
    pub domain: String,
    /// The port that was checked.
    pub port: u16,
    /// When the check ran, ms since the epoch.
    pub checked_at_ms: i64,
    /// Whether the certificate was valid (trusted chain, name match, in date).
    pub is_valid: bool,
    /// Days until `not_after` (negative once expired), when a certificate was read.
    pub days_until_expiry: Option<f64>,
    /// The certificate's `notAfter`, ms since the epoch, when read.
    pub not_after_ms: Option<i64>,
    /// Why the check failed, if it did.
    pub error: Option<String>,
}

impl CertCheckResult {
    /// A copy with the domain normalized, after checking every field.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty domain id, an invalid domain,
    /// port 0 or a non-finite `days_until_expiry`.
    pub fn normalized(&self) -> Result<Self> {
        if self.domain_id.is_empty() {
            return Err(Error::InvalidInput(
                "check result has an empty domain id".into(),
            ));
        }
        validate_port(self.port)?;
        if let Some(days) = self.days_until_expiry.filter(|d| !d.is_finite()) {
            return Err(Error::InvalidInput(format!(
                "check result of {}: days_until_expiry {days} is not finite",
                self.domain
            )));
        }
        Ok(Self {
            domain: normalize_domain(&self.domain)?,
            ..self.clone()
        })
    }
}

/// The stored form of a domain: ASCII lower case, after checking it is a
/// bare host name or IP address.
///
/// # Errors
/// [`Error::InvalidInput`] when it is empty, longer than [`MAX_DOMAIN_LEN`],
/// contains whitespace, control characters, `/` or `@`, or contains `:`
/// without being an IPv6 address (a URL or `host:port` instead of a host).
pub fn normalize_domain(domain: &str) -> Result<String> {
    let bad = |why: &str| Err(Error::InvalidInput(format!("domain {domain:?}: {why}")));
    if domain.is_empty() {
        return bad("must not be empty");
    }
    if domain.len() > MAX_DOMAIN_LEN {
        return bad(&format!("longer than {MAX_DOMAIN_LEN} bytes"));
    }
    if domain
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == '@')
    {
        return bad("give the host name only, without scheme, path or spaces");
    }
    if domain.contains(':') && domain.parse::<std::net::Ipv6Addr>().is_err() {
        return bad("give the host name only; the port is a separate field");
    }
    Ok(domain.to_ascii_lowercase())
}

/// Checks a port.
///
/// # Errors
/// [`Error::InvalidInput`] for port 0.
pub fn validate_port(port: u16) -> Result<()> {
    if port == 0 {
        return Err(Error::InvalidInput("port must be 1 to 65535, got 0".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DAY_MS;

    const NOW: i64 = 1_000 * DAY_MS;

    /// A leaf issued by `CN=ca`, valid from just before [`NOW`] for two days.
    fn leaf() -> ChainCertificate {
        ChainCertificate {
            subject: "CN=a.test".into(),
            issuer: "CN=ca".into(),
            not_before_ms: NOW - 1,
            not_after_ms: NOW + 2 * DAY_MS,
        }
    }

    #[test]
    fn the_chain_sets_the_leaf_dates_and_the_earliest_expiry() {
        let mut d = CertificateDetails::new("a.test", 443, NOW);
        assert_eq!(
            (d.not_before_ms, d.not_after_ms, d.chain_valid),
            (0, 0, false)
        );
        let intermediate = ChainCertificate {
            subject: "CN=ca".into(),
            not_after_ms: NOW + 1,
            ..leaf()
        };
        d.set_chain(vec![leaf(), intermediate]);
        assert_eq!(
            (d.not_before_ms, d.not_after_ms),
            (NOW - 1, NOW + 2 * DAY_MS)
        );
        assert_eq!(d.days_until_expiry(NOW), 2.0);
        assert_eq!(d.earliest_expiry_ms(), NOW + 1);
        d.set_chain(Vec::new());
        assert_eq!(d.earliest_expiry_ms(), NOW + 2 * DAY_MS, "the stored leaf");
    }

    #[test]
    fn validity_periods_include_both_ends() {
        let c = leaf();
        assert!(c.is_current_at(NOW - 1) && c.is_current_at(NOW + 2 * DAY_MS));
        assert!(!c.is_current_at(NOW - 2) && !c.is_current_at(NOW + 2 * DAY_MS + 1));
        assert_eq!(c.days_until_expiry(NOW + 2 * DAY_MS - DAY_MS / 2), 0.5);
        assert!(!c.is_self_issued());
        let root = ChainCertificate {
            issuer: "CN=a.test".into(),
            ..c
        };
        assert!(root.is_self_issued());
    }
}
