//! The handshake's verifier, which accepts every chain so the probe can read
//! it, and the wording of chain validation failures.

use std::sync::{Arc, Mutex};

use oxmon_core::sync::LockExt;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

/// The chain a server presented, as seen by [`CapturingVerifier`].
pub(crate) type Captured = Arc<Mutex<Option<Vec<CertificateDer<'static>>>>>;

/// Accepts any certificate chain (expired, not yet valid, self-signed,
/// unknown issuer, wrong name: the probe validates it separately) and keeps a
/// copy of it, so the chain is known even when the handshake fails later.
/// The handshake's own signatures are still checked with the provider's
/// algorithms: the peer must hold the leaf's private key.
#[derive(Debug)]
pub(crate) struct CapturingVerifier {
    algorithms: WebPkiSupportedAlgorithms,
    captured: Captured,
}

impl CapturingVerifier {
    pub(crate) fn new(algorithms: WebPkiSupportedAlgorithms) -> (Self, Captured) {
        let captured = Captured::default();
        (
            Self {
                algorithms,
                captured: captured.clone(),
            },
            captured,
        )
    }
}

impl ServerCertVerifier for CapturingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        *self.captured.locked() = Some(chain);
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Why a chain did not validate, in words for an operator. `host` is the
/// name the chain was checked for.
pub(crate) fn chain_failure_reason(error: &rustls::Error, host: &str) -> String {
    let rustls::Error::InvalidCertificate(e) = error else {
        return format!("chain validation failed: {error}");
    };
    match e {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "certificate expired".to_owned()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "certificate not valid yet".to_owned()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("certificate is not valid for host name {host}")
        }
        CertificateError::UnknownIssuer => {
            "unknown issuer (self-signed or missing intermediate)".to_owned()
        }
        CertificateError::BadSignature => "bad certificate signature".to_owned(),
        CertificateError::BadEncoding => "certificate is malformed".to_owned(),
        CertificateError::Revoked => "certificate revoked".to_owned(),
        CertificateError::UnhandledCriticalExtension => {
            "certificate has an unhandled critical extension".to_owned()
        }
        CertificateError::UnsupportedSignatureAlgorithmContext { .. }
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "unsupported certificate signature algorithm".to_owned()
        }
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "certificate is not valid for TLS server authentication".to_owned()
        }
        other => format!("invalid certificate: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_errors_read_plainly() {
        let reason = |e: CertificateError| {
            chain_failure_reason(&rustls::Error::InvalidCertificate(e), "example.test")
        };
        assert_eq!(reason(CertificateError::Expired), "certificate expired");
        assert_eq!(
            reason(CertificateError::ExpiredContext {
                time: UnixTime::since_unix_epoch(std::time::Duration::from_secs(20)),
                not_after: UnixTime::since_unix_epoch(std::time::Duration::from_secs(10)),
            }),
            "certificate expired"
        );
        assert_eq!(
            reason(CertificateError::NotValidYet),
            "certificate not valid yet"
        );
        assert_eq!(
            reason(CertificateError::NotValidForName),
            "certificate is not valid for host name example.test"
        );
        assert_eq!(
            reason(CertificateError::UnknownIssuer),
            "unknown issuer (self-signed or missing intermediate)"
        );
        assert_eq!(
            reason(CertificateError::BadSignature),
            "bad certificate signature"
        );
        assert!(
            reason(CertificateError::UnknownRevocationStatus).starts_with("invalid certificate: ")
        );
        assert!(
            chain_failure_reason(&rustls::Error::NoCertificatesPresented, "x")
                .starts_with("chain validation failed: ")
        );
    }
}
