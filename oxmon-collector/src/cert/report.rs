//! What one probe found.

use oxmon_core::time::days_between;

/// One certificate as the server presented it.
#[derive(Debug, Clone, PartialEq)]
pub struct PresentedCertificate {
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
    /// The certificate's DER bytes, as received.
    pub der: Vec<u8>,
}

/// What [`CertProber::probe`](super::CertProber::probe) found out about one
/// `(domain, port)`: every failure is recorded here, none is returned.
///
/// # Fields, by stage
/// - Resolution: `ip_addresses` (empty when the lookup failed).
/// - Connection: `connected_address` (`None` when no address accepted).
/// - Handshake: `tls_version`, `cipher_suite`; `chain` is filled whenever the
///   server presented certificates, even if the handshake failed afterwards.
/// - Validation: `chain_valid` / `chain_error`, checked against the bundled
///   webpki roots plus the prober's extra CAs, for `domain`, at
///   `checked_at_ms`. `chain_error` is `Some` exactly when a chain was
///   presented and is not valid; with no chain it is `None` and `error` says
///   why.
/// - `error`: the connection-level failure that stopped the probe, if any.
/// - The leaf fields are read from `chain[0]` and are `None` / empty without
///   a leaf (the fingerprint only needs the DER, so it is there even for a
///   leaf that does not parse).
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeReport {
    /// The domain (or IP literal) probed, as given.
    pub domain: String,
    /// The port probed.
    pub port: u16,
    /// The `now_ms` the probe was given: the validation time.
    pub checked_at_ms: i64,
    /// Every address the domain resolved to (IPv4 and IPv6), in resolver
    /// order, without duplicates.
    pub ip_addresses: Vec<String>,
    /// The address the TLS connection was made to (an IP, without port).
    pub connected_address: Option<String>,
    /// The negotiated protocol version, e.g. `TLSv1.3`.
    pub tls_version: Option<String>,
    /// The negotiated cipher suite, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: Option<String>,
    /// The presented certificates, leaf first; empty when none was received.
    pub chain: Vec<PresentedCertificate>,
    /// Whether the chain validated for `domain` at `checked_at_ms`.
    pub chain_valid: bool,
    /// Why the chain did not validate, e.g. `certificate expired`,
    /// `certificate not valid yet`, `certificate is not valid for host name
    /// X`, `unknown issuer (self-signed or missing intermediate)`.
    pub chain_error: Option<String>,
    /// The connection-level failure, e.g. `DNS lookup failed: ...`,
    /// `connection refused`, `timed out connecting after 10s`,
    /// `TLS handshake timed out after 10s`, `TLS handshake failed: ...`.
    pub error: Option<String>,
    /// The leaf's subject common name.
    pub subject_cn: Option<String>,
    /// The leaf's issuer common name.
    pub issuer_cn: Option<String>,
    /// The leaf's issuer organization.
    pub issuer_o: Option<String>,
    /// The leaf's subjectAltName DNS names and IP addresses, in order.
    pub subject_alt_names: Vec<String>,
    /// The leaf's serial number, lowercase hex without colons or sign
    /// padding.
    pub serial: Option<String>,
    /// Lowercase hex SHA-256 of the leaf's DER.
    pub fingerprint_sha256: Option<String>,
    /// The leaf's key type: `RSA`, `RSA-PSS`, `EC`, `Ed25519`, `Ed448`,
    /// `DSA`, else the algorithm's dotted OID.
    pub key_type: Option<String>,
    /// RSA modulus bits; EC curve size (256, 384, 521); Ed25519 256.
    pub key_bits: Option<u32>,
    /// The leaf's signature algorithm, e.g. `sha256WithRSAEncryption`,
    /// `ecdsa-with-SHA256`, else the dotted OID.
    pub signature_algorithm: Option<String>,
}

impl ProbeReport {
    /// A report of a probe that has not got anywhere yet.
    pub(crate) fn empty(domain: &str, port: u16, checked_at_ms: i64) -> Self {
        Self {
            domain: domain.to_owned(),
            port,
            checked_at_ms,
            ip_addresses: Vec::new(),
            connected_address: None,
            tls_version: None,
            cipher_suite: None,
            chain: Vec::new(),
            chain_valid: false,
            chain_error: None,
            error: None,
            subject_cn: None,
            issuer_cn: None,
            issuer_o: None,
            subject_alt_names: Vec::new(),
            serial: None,
            fingerprint_sha256: None,
            key_type: None,
            key_bits: None,
            signature_algorithm: None,
        }
    }

    /// The certificate is good: the probe completed without error, the chain
    /// validated and the leaf is within its validity period at
    /// `checked_at_ms`.
    pub fn is_valid(&self) -> bool {
        self.error.is_none()
            && self.chain_valid
            && self.leaf().is_some_and(|leaf| {
                leaf.not_before_ms <= self.checked_at_ms && self.checked_at_ms <= leaf.not_after_ms
            })
    }

    /// The leaf (end-entity) certificate, if one was presented.
    pub fn leaf(&self) -> Option<&PresentedCertificate> {
        self.chain.first()
    }

    /// Days from `checked_at_ms` to the leaf's `notAfter`, fractional;
    /// negative once expired. `None` without a leaf.
    pub fn days_until_expiry(&self) -> Option<f64> {
        self.leaf()
            .map(|leaf| days_between(self.checked_at_ms, leaf.not_after_ms))
    }

    /// The earliest `notAfter` over the whole presented chain (an
    /// intermediate can expire before the leaf). `None` without a chain.
    pub fn earliest_expiry_ms(&self) -> Option<i64> {
        self.chain.iter().map(|c| c.not_after_ms).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(not_before_ms: i64, not_after_ms: i64) -> PresentedCertificate {
        PresentedCertificate {
            subject: "CN=x".to_owned(),
            issuer: "CN=y".to_owned(),
            not_before_ms,
            not_after_ms,
            der: Vec::new(),
        }
    }

    #[test]
    fn validity_needs_no_error_a_valid_chain_and_a_leaf_in_date() {
        let now = 1_000 * 86_400_000;
        let mut r = ProbeReport::empty("example.test", 443, now);
        assert!(!r.is_valid());
        assert_eq!(r.days_until_expiry(), None);
        assert_eq!(r.earliest_expiry_ms(), None);
        r.chain = vec![cert(now - 1, now + 2 * 86_400_000), cert(0, now + 1)];
        r.chain_valid = true;
        assert!(r.is_valid());
        assert_eq!(r.days_until_expiry(), Some(2.0));
        assert_eq!(r.earliest_expiry_ms(), Some(now + 1));
        r.error = Some("TLS handshake failed: x".to_owned());
        assert!(!r.is_valid());
        r.error = None;
        r.chain[0] = cert(now - 10, now - 86_400_000 / 2);
        assert!(!r.is_valid(), "expired leaf");
        assert_eq!(r.days_until_expiry(), Some(-0.5));
        r.chain[0] = cert(now + 1, now + 10);
        assert!(!r.is_valid(), "leaf not valid yet");
    }
}
