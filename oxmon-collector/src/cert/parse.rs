//! Reading certificates with x509-parser: the chain entries and the leaf's
//! details. Nothing here panics on malformed input.

use std::net::{Ipv4Addr, Ipv6Addr};

use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::Oid;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::{SubjectPublicKeyInfo, X509Name};

use oxmon_core::cert::{CertificateDetails, ChainCertificate};

/// One presented certificate, read as far as possible. A certificate that
/// does not parse has empty names and 0 for both dates, and the parse error
/// comes back beside it.
pub(crate) fn presented(der: &[u8]) -> (ChainCertificate, Option<String>) {
    match X509Certificate::from_der(der) {
        Ok((_, cert)) => (
            ChainCertificate {
                subject: cert.subject().to_string(),
                issuer: cert.issuer().to_string(),
                not_before_ms: cert.validity().not_before.timestamp().saturating_mul(1000),
                not_after_ms: cert.validity().not_after.timestamp().saturating_mul(1000),
            },
            None,
        ),
        Err(e) => (
            ChainCertificate {
                subject: String::new(),
                issuer: String::new(),
                not_before_ms: 0,
                not_after_ms: 0,
            },
            Some(e.to_string()),
        ),
    }
}

/// Reads the leaf's fields into `details`. The fingerprint is always set (it
/// needs only the DER); the other fields stay as they are (`None` / empty
/// for a new record) when the certificate does not parse or lacks them.
pub(crate) fn read_leaf(der: &[u8], details: &mut CertificateDetails) {
    details.fingerprint_sha256 = Some(hex::encode(Sha256::digest(der)));
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return;
    };
    let spki = cert.public_key();
    details.subject_cn = first_cn(cert.subject());
    details.issuer_cn = first_cn(cert.issuer());
    details.issuer_o = cert
        .issuer()
        .iter_organization()
        .find_map(|a| a.as_str().ok())
        .map(str::to_owned);
    details.subject_alt_names = subject_alt_names(&cert);
    details.serial = Some(serial_hex(cert.raw_serial()));
    details.key_type = Some(key_type(&spki.algorithm.algorithm));
    details.key_bits = key_bits(spki);
    details.signature_algorithm = Some(signature_algorithm_name(
        &cert.signature_algorithm.algorithm,
    ));
}

fn first_cn(name: &X509Name<'_>) -> Option<String> {
    name.iter_common_name()
        .find_map(|a| a.as_str().ok())
        .map(str::to_owned)
}

/// DNS names and IP addresses of the subjectAltName extension, in order.
fn subject_alt_names(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(ext)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    ext.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some((*dns).to_owned()),
            GeneralName::IPAddress(bytes) => Some(ip_to_string(bytes)),
            _ => None,
        })
        .collect()
}

fn ip_to_string(bytes: &[u8]) -> String {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        Ipv4Addr::from(v4).to_string()
    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        Ipv6Addr::from(v6).to_string()
    } else {
        hex::encode(bytes)
    }
}

/// Lowercase hex of the serial number, without the DER sign padding (leading
/// zero bytes); "00" for a zero serial.
pub(crate) fn serial_hex(raw: &[u8]) -> String {
    let start = raw.iter().position(|b| *b != 0).unwrap_or(raw.len());
    let digits = &raw[start..];
    if digits.is_empty() {
        "00".to_owned()
    } else {
        hex::encode(digits)
    }
}

const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const RSASSA_PSS: &str = "1.2.840.113549.1.1.10";
const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const ED25519: &str = "1.3.101.112";
const ED448: &str = "1.3.101.113";
const DSA: &str = "1.2.840.10040.4.1";

/// "RSA", "RSA-PSS", "EC", "Ed25519", "Ed448", "DSA", else the dotted OID.
fn key_type(alg: &Oid<'_>) -> String {
    let id = alg.to_id_string();
    match id.as_str() {
        RSA_ENCRYPTION => "RSA".to_owned(),
        RSASSA_PSS => "RSA-PSS".to_owned(),
        EC_PUBLIC_KEY => "EC".to_owned(),
        ED25519 => "Ed25519".to_owned(),
        ED448 => "Ed448".to_owned(),
        DSA => "DSA".to_owned(),
        _ => id,
    }
}

/// RSA: modulus bits; EC: the curve's size (from its OID, else from the
/// point); Ed25519: 256; Ed448: 448; DSA: bits of the public value.
fn key_bits(spki: &SubjectPublicKeyInfo<'_>) -> Option<u32> {
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        ED25519 => return Some(256),
        ED448 => return Some(448),
        EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| Oid::try_from(p).ok())
                .map(|oid| oid.to_id_string());
            let bits = match curve.as_deref() {
                Some("1.2.840.10045.3.1.7" | "1.3.132.0.10") => Some(256), // P-256, secp256k1
                Some("1.3.132.0.34") => Some(384),                         // P-384
                Some("1.3.132.0.35") => Some(521),                         // P-521
                Some("1.2.840.10045.3.1.1") => Some(192),                  // P-192
                Some("1.3.132.0.33") => Some(224),                         // P-224
                _ => None,
            };
            if bits.is_some() {
                return bits;
            }
        }
        RSASSA_PSS => {
            // Same key encoding as rsaEncryption; x509-parser only parses
            // the latter, so read the modulus by hand.
            return x509_parser::public_key::RSAPublicKey::from_der(&spki.subject_public_key.data)
                .ok()
                .and_then(|(_, rsa)| integer_bits(rsa.modulus));
        }
        _ => {}
    }
    match spki.parsed().ok()? {
        PublicKey::RSA(rsa) => integer_bits(rsa.modulus),
        PublicKey::DSA(y) => integer_bits(y),
        other => u32::try_from(other.key_size()).ok().filter(|b| *b > 0),
    }
}

/// The bit length of a big-endian unsigned integer (leading zeros ignored).
pub(crate) fn integer_bits(bytes: &[u8]) -> Option<u32> {
    let start = bytes.iter().position(|b| *b != 0)?;
    let len = u32::try_from(bytes.len() - start).ok()?;
    Some((len - 1) * 8 + (8 - bytes[start].leading_zeros()))
}

/// The common signature algorithms by name, anything else as a dotted OID.
pub(crate) fn signature_algorithm_name(alg: &Oid<'_>) -> String {
    let id = alg.to_id_string();
    let name = match id.as_str() {
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "rsassaPss",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.14" => "sha224WithRSAEncryption",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.1" => "ecdsa-with-SHA224",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        ED25519 => "Ed25519",
        ED448 => "Ed448",
        "1.2.840.10040.4.3" => "dsa-with-SHA1",
        "2.16.840.1.101.3.4.3.2" => "dsa-with-SHA256",
        _ => return id,
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_bits_ignores_sign_padding_and_counts_the_top_byte() {
        assert_eq!(integer_bits(&[]), None);
        assert_eq!(integer_bits(&[0, 0]), None);
        assert_eq!(integer_bits(&[1]), Some(1));
        assert_eq!(integer_bits(&[0x00, 0x80, 0x00]), Some(16));
        let mut modulus = vec![0u8; 257];
        modulus[1] = 0xc3;
        assert_eq!(integer_bits(&modulus), Some(2048));
    }

    #[test]
    fn serial_is_lowercase_hex_without_padding() {
        assert_eq!(serial_hex(&[0x00, 0xAB, 0x01]), "ab01");
        assert_eq!(serial_hex(&[0x00]), "00");
        assert_eq!(serial_hex(&[]), "00");
        assert_eq!(serial_hex(&[0x10, 0x00]), "1000");
    }

    #[test]
    fn ip_sans_are_written_like_addresses() {
        assert_eq!(ip_to_string(&[127, 0, 0, 1]), "127.0.0.1");
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        assert_eq!(ip_to_string(&v6), "::1");
        assert_eq!(ip_to_string(&[1, 2, 3]), "010203");
    }

    #[test]
    fn unknown_signature_algorithms_are_dotted_oids() {
        let oid = Oid::from(&[1, 2, 3, 4]).unwrap();
        assert_eq!(signature_algorithm_name(&oid), "1.2.3.4");
        let oid = Oid::from(&[1, 2, 840, 113_549, 1, 1, 11]).unwrap();
        assert_eq!(signature_algorithm_name(&oid), "sha256WithRSAEncryption");
    }

    #[test]
    fn garbage_is_reported_not_panicked_on() {
        let (cert, err) = presented(b"not a certificate");
        assert!(err.is_some());
        assert_eq!((cert.subject.as_str(), cert.issuer.as_str()), ("", ""));
        assert_eq!((cert.not_before_ms, cert.not_after_ms), (0, 0));
        let mut leaf = CertificateDetails::new("a.test", 443, 0);
        read_leaf(b"not a certificate", &mut leaf);
        assert_eq!(leaf.fingerprint_sha256.as_deref().map(str::len), Some(64));
        assert_eq!(leaf.subject_cn, None);
        assert!(leaf.subject_alt_names.is_empty());
    }
}
