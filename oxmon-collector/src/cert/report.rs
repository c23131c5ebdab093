//! What one probe found.

use oxmon_core::cert::{CertCheckResult, CertificateDetails, ChainCertificate};

/// What [`CertProber::probe`](super::CertProber::probe) found out about one
/// `(domain, port)`: every failure is recorded here, none is returned.
///
/// The probe fills [`ProbeReport::details`], the record the stores keep,
/// directly; the report adds what only the probe sees: the DER bytes, the
/// address it connected to and the connection-level error.
///
/// # Fields of `details`, by stage
/// - `domain`, `port`, and `last_checked_ms`: the `now_ms` the probe was
///   given, the validation time.
/// - Resolution: `ip_addresses` (empty when the lookup failed).
/// - Handshake: `tls_version`, `cipher_suite`; `chain` is filled whenever the
///   server presented certificates, even if the handshake failed afterwards.
/// - Validation: `chain_valid` / `chain_error`, checked against the bundled
///   webpki roots plus the prober's extra CAs, for `domain`, at
///   `last_checked_ms`. `chain_error` is `Some` exactly when a chain was
///   presented and is not valid; with no chain it is `None` and
///   [`ProbeReport::error`] says why.
/// - The leaf fields and dates are read from `chain[0]` and are `None` /
///   empty / 0 without a leaf (the fingerprint only needs the DER, so it is
///   there even for a leaf that does not parse).
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeReport {
    /// What was read, as far as the probe got (see above).
    pub details: CertificateDetails,
    /// The DER bytes of each certificate of `details.chain`, as received, in
    /// the same order.
    pub chain_der: Vec<Vec<u8>>,
    /// The address the TLS connection was made to (an IP, without port).
    pub connected_address: Option<String>,
    /// The connection-level failure, e.g. `DNS lookup failed: ...`,
    /// `connection refused`, `timed out connecting after 10s`,
    /// `TLS handshake timed out after 10s`, `TLS handshake failed: ...`.
    pub error: Option<String>,
}

impl ProbeReport {
    /// A report of a probe that has not got anywhere yet.
    pub(crate) fn empty(domain: &str, port: u16, checked_at_ms: i64) -> Self {
        Self {
            details: CertificateDetails::new(domain, port, checked_at_ms),
            chain_der: Vec::new(),
            connected_address: None,
            error: None,
        }
    }

    /// When the probe ran: the validation time.
    pub fn checked_at_ms(&self) -> i64 {
        self.details.last_checked_ms
    }

    /// The details of the certificate, when one was presented: what the
    /// stores keep.
    pub fn certificate(&self) -> Option<&CertificateDetails> {
        (!self.details.chain.is_empty()).then_some(&self.details)
    }

    /// The certificate is good: the probe completed without error, the chain
    /// validated and the leaf is within its validity period at
    /// [`ProbeReport::checked_at_ms`].
    pub fn is_valid(&self) -> bool {
        self.error.is_none()
            && self.details.chain_valid
            && self
                .leaf()
                .is_some_and(|leaf| leaf.is_current_at(self.checked_at_ms()))
    }

    /// The leaf (end-entity) certificate, if one was presented.
    pub fn leaf(&self) -> Option<&ChainCertificate> {
        self.details.chain.first()
    }

    /// Days from [`ProbeReport::checked_at_ms`] to the leaf's `notAfter`,
    /// fractional; negative once expired. `None` without a leaf.
    pub fn days_until_expiry(&self) -> Option<f64> {
        self.leaf()
            .map(|leaf| leaf.days_until_expiry(self.checked_at_ms()))
    }

    /// The earliest `notAfter` over the whole presented chain (an
    /// intermediate can expire before the leaf). `None` without a chain.
    pub fn earliest_expiry_ms(&self) -> Option<i64> {
        self.certificate()
            .map(CertificateDetails::earliest_expiry_ms)
    }

    /// Why the certificate is not good, or `None` when it is: the
    /// connection error, else the chain's, else `certificate is not valid`
    /// (a valid chain with a leaf out of date).
    pub fn failure(&self) -> Option<String> {
        self.error.clone().or_else(|| {
            (!self.is_valid()).then(|| {
                self.details
                    .chain_error
                    .clone()
                    .unwrap_or_else(|| "certificate is not valid".to_owned())
            })
        })
    }

    /// The verdict of this probe as the check result of the domain with id
    /// `domain_id` (the domain probed).
    pub fn check_result(&self, domain_id: &str) -> CertCheckResult {
        CertCheckResult {
            domain_id: domain_id.to_owned(),
            domain: self.details.domain.clone(),
            port: self.details.port,
            checked_at_ms: self.checked_at_ms(),
            is_valid: self.is_valid(),
            days_until_expiry: self.days_until_expiry(),
            not_after_ms: self.leaf().map(|l| l.not_after_ms),
            error: self.failure(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(not_before_ms: i64, not_after_ms: i64) -> ChainCertificate {
        ChainCertificate {
            subject: "CN=x".to_owned(),
            issuer: "CN=y".to_owned(),
            not_before_ms,
            not_after_ms,
        }
    }

    #[test]
    fn validity_needs_no_error_a_valid_chain_and_a_leaf_in_date() {
        let now = 1_000 * 86_400_000;
        let mut r = ProbeReport::empty("example.test", 443, now);
        assert!(!r.is_valid());
        assert_eq!(r.days_until_expiry(), None);
        assert_eq!(r.earliest_expiry_ms(), None);
        r.details
            .set_chain(vec![cert(now - 1, now + 2 * 86_400_000), cert(0, now + 1)]);
        r.details.chain_valid = true;
        assert!(r.is_valid());
        assert_eq!(r.days_until_expiry(), Some(2.0));
        assert_eq!(r.earliest_expiry_ms(), Some(now + 1));
        r.error = Some("TLS handshake failed: x".to_owned());
        assert!(!r.is_valid());
        r.error = None;
        r.details
            .set_chain(vec![cert(now - 10, now - 86_400_000 / 2), cert(0, now + 1)]);
        assert!(!r.is_valid(), "expired leaf");
        assert_eq!(r.days_until_expiry(), Some(-0.5));
        r.details
            .set_chain(vec![cert(now + 1, now + 10), cert(0, now + 1)]);
        assert!(!r.is_valid(), "leaf not valid yet");
    }

    #[test]
    fn the_check_result_carries_the_verdict_and_why() {
        let now = 1_000 * 86_400_000;
        let mut r = ProbeReport::empty("example.test", 8443, now);
        r.error = Some("connection refused".to_owned());
        let result = r.check_result("d1");
        assert_eq!(
            (
                result.domain_id.as_str(),
                result.domain.as_str(),
                result.port
            ),
            ("d1", "example.test", 8443)
        );
        assert_eq!(result.checked_at_ms, now);
        assert!(!result.is_valid);
        assert_eq!(
            (result.days_until_expiry, result.not_after_ms),
            (None, None)
        );
        assert_eq!(result.error.as_deref(), Some("connection refused"));

        r.error = None;
        r.details.set_chain(vec![cert(now - 1, now + 86_400_000)]);
        r.details.chain_error = Some("certificate expired".to_owned());
        assert_eq!(
            r.check_result("d1").error.as_deref(),
            Some("certificate expired")
        );
        r.details.chain_error = None;
        assert_eq!(
            r.check_result("d1").error.as_deref(),
            Some("certificate is not valid"),
            "an invalid chain without a reason"
        );
        r.details.chain_valid = true;
        let result = r.check_result("d1");
        assert!(result.is_valid && result.error.is_none());
        assert_eq!(result.days_until_expiry, Some(1.0));
        assert_eq!(result.not_after_ms, Some(now + 86_400_000));
    }
}
