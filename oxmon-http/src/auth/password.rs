//! Password hashing with argon2id, and the rules a new password must pass.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use argon2::{Argon2, Params, PasswordHasher as _, PasswordVerifier as _};

use super::AuthError;

/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_LEN: usize = 10;
/// Longest accepted password, in bytes (bounds the hashing work per request).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Passwords too common to accept, compared ignoring ASCII case.
const COMMON_PASSWORDS: &[&str] = &[
    "password123",
    "password1234",
    "password12345",
    "passw0rd123",
    "p@ssw0rd123",
    "1234567890",
    "12345678910",
    "0123456789",
    "qwertyuiop",
    "qwerty12345",
    "qwerty123456",
    "1q2w3e4r5t",
    "1qaz2wsx3edc",
    "changeme123",
    "changeme1234",
    "administrator",
    "admin12345",
    "admin123456",
    "letmein123",
    "welcome123",
    "iloveyou123",
    "abcdefghij",
    "abc1234567",
    "oxmon12345",
    "new-strong-password",
];

/// Hashes and verifies passwords with argon2id.
///
/// Cheap to clone (the parameters, the lazily computed dummy hash and the
/// verification counter are shared). [`Argon2Hasher::verify`] against a
/// missing user runs the same work against a dummy hash, so a login takes
/// about the same time whether or not the user exists.
#[derive(Clone)]
pub struct Argon2Hasher {
    params: Params,
    dummy: Arc<OnceLock<String>>,
    verifications: Arc<AtomicU64>,
}

impl Default for Argon2Hasher {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Argon2Hasher")
            .field("m_cost_kib", &self.params.m_cost())
            .field("t_cost", &self.params.t_cost())
            .field("p_cost", &self.params.p_cost())
            .field("verifications", &self.verifications())
            .finish()
    }
}

impl Argon2Hasher {
    /// argon2id with the recommended parameters (19 MiB, 2 passes, 1 lane).
    pub fn new() -> Self {
        Self {
            params: Params::DEFAULT,
            dummy: Arc::default(),
            verifications: Arc::default(),
        }
    }

    /// argon2id with explicit costs: memory in KiB, passes, lanes. Low costs
    /// make tests fast; never use them in production.
    ///
    /// # Errors
    /// [`AuthError::Internal`] when argon2 refuses the parameters.
    pub fn with_params(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<Self, AuthError> {
        let params = Params::new(m_cost_kib, t_cost, p_cost, None)
            .map_err(|e| AuthError::Internal(format!("argon2 parameters: {e}")))?;
        Ok(Self {
            params,
            dummy: Arc::default(),
            verifications: Arc::default(),
        })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::from(&self.params)
    }

    /// The PHC string (`$argon2id$v=19$...`) of `password` with a fresh
    /// random salt.
    ///
    /// # Errors
    /// [`AuthError::Internal`] when hashing fails (no randomness, password
    /// too long for argon2).
    pub fn hash(&self, password: &str) -> Result<String, AuthError> {
        self.argon2()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| AuthError::Internal(format!("argon2 hashing: {e}")))
    }

    /// Whether `password` matches `stored` (a PHC string). With `stored`
    /// `None` (no such user) it verifies against a dummy hash and returns
    /// `false`, taking about as long as a real check. An unparsable stored
    /// hash never matches. Each call counts in
    /// [`Argon2Hasher::verifications`].
    pub fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let dummy = self.dummy.get_or_init(|| {
            let random = super::generate_secret();
            self.hash(&random).unwrap_or_default()
        });
        let target = stored.unwrap_or(dummy);
        let ok = self
            .argon2()
            .verify_password(password.as_bytes(), target)
            .is_ok();
        ok && stored.is_some()
    }
}

impl Argon2Hasher {
    /// How many times [`Argon2Hasher::verify`] ran, over this hasher and
    /// its clones (for `/metrics` and for tests counting password checks).
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }
}

/// Why a new password was refused; `Display` is the reason, fit to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WeakPassword(pub String);

/// Checks a new password: at least [`MIN_PASSWORD_LEN`] characters, at most
/// [`MAX_PASSWORD_LEN`] bytes, at least two character classes (lower case,
/// upper case, digits, others), not the username, not a common password.
///
/// # Errors
/// [`WeakPassword`] with the first rule that failed.
pub fn check_password_strength(username: &str, password: &str) -> Result<(), WeakPassword> {
    let weak = |why: String| Err(WeakPassword(why));
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_LEN {
        return weak(format!(
            "password must be at least {MIN_PASSWORD_LEN} characters, got {chars}"
        ));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return weak(format!("password must be at most {MAX_PASSWORD_LEN} bytes"));
    }
    let classes = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password
            .chars()
            .any(|c| !c.is_lowercase() && !c.is_uppercase() && !c.is_ascii_digit()),
    ];
    if classes.iter().filter(|&&present| present).count() < 2 {
        return weak(
            "password must mix at least two kinds of characters (lower case, upper case, digits, symbols)"
                .to_owned(),
        );
    }
    if password.eq_ignore_ascii_case(username) {
        return weak("password must not be the username".to_owned());
    }
    if COMMON_PASSWORDS
        .iter()
        .any(|common| password.eq_ignore_ascii_case(common))
    {
        return weak("password is too common".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> Argon2Hasher {
        Argon2Hasher::with_params(Params::MIN_M_COST, 1, 1).expect("params")
    }

    #[test]
    fn hash_is_argon2id_salted_and_verifies() {
        let h = fast();
        let a = h.hash("correct horse 1").expect("hash");
        let b = h.hash("correct horse 1").expect("hash");
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "fresh salt per hash");
        assert!(h.verify("correct horse 1", Some(&a)));
        assert!(!h.verify("correct horse 2", Some(&a)));
        assert!(!h.verify("correct horse 1", None));
        assert!(!h.verify("x", Some("not a phc string")));
        assert_eq!(h.clone().verifications(), 4);
        assert!(!format!("{h:?}").contains("argon2id$"));
    }

    #[test]
    fn default_params_are_the_recommended_ones() {
        let h = Argon2Hasher::new();
        assert_eq!(h.params.m_cost(), 19 * 1024);
        assert!(Argon2Hasher::with_params(1, 1, 1).is_err());
    }

    #[test]
    fn strength_rules_give_reasons() {
        assert!(check_password_strength("admin", "Tr0ub4dor&3").is_ok());
        assert!(check_password_strength("admin", "long enough 1").is_ok());
        let reason = |u: &str, p: &str| {
            check_password_strength(u, p)
                .expect_err("must be refused")
                .to_string()
        };
        assert!(reason("admin", "Sh0rt!").contains("at least 10"));
        assert!(reason("admin", "abcdefghijkl").contains("two kinds"));
        assert!(reason("admin", "99999999999").contains("two kinds"));
        assert!(reason("Admin-User-1", "admin-user-1").contains("username"));
        assert!(reason("admin", "Password123").contains("common"));
        assert!(reason("admin", &"aB".repeat(600)).contains("at most"));
    }
}
