//! Bearer secrets (agent tokens, API tokens): stored only as a hash,
//! compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The stored form of a token (an agent's or an API token): lowercase hex
/// SHA-256.
///
/// Tokens are 256-bit random values, so a fast hash is enough: there is
/// nothing to brute-force (passwords use argon2id instead).
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `token` matches `stored_hash`, in time independent of where they differ.
pub fn verify_token_hash(token: &str, stored_hash: &str) -> bool {
    let computed = hash_token(token);
    computed.len() == stored_hash.len()
        && bool::from(computed.as_bytes().ct_eq(stored_hash.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_token("s3cret-token");
        assert_eq!(h.len(), 64);
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(verify_token_hash("s3cret-token", &h));
        assert!(!verify_token_hash("s3cret-tokem", &h));
        assert!(!verify_token_hash("s3cret-token", &h[..63]));
        assert!(!verify_token_hash("", &h));
    }
}
