//! Unsigned integers in JSON bodies, written `443` or `443.0` alike: JSON
//! Schema (and so the OpenAPI document) counts a number with a zero
//! fraction as an integer, and some clients write every number that way.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserializer;
use serde::de::{Error, Unexpected, Visitor};

/// An unsigned integer type a body field may hold.
pub(super) trait JsonUint: TryFrom<u64> {
    /// Its largest value.
    const MAX: u64;
}

impl JsonUint for u16 {
    const MAX: u64 = 65_535;
}

impl JsonUint for u64 {
    const MAX: u64 = u64::MAX;
}

struct Uint<T>(PhantomData<T>);

impl<T: JsonUint> Uint<T> {
    fn take<E: Error>(&self, n: u64, unexpected: Unexpected<'_>) -> Result<Option<T>, E> {
        match T::try_from(n) {
            Ok(v) if n <= T::MAX => Ok(Some(v)),
            _ => Err(E::invalid_value(unexpected, self)),
        }
    }
}

impl<'de, T: JsonUint> Visitor<'de> for Uint<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an integer from 0 to {}", T::MAX)
    }

    fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_u64<E: Error>(self, n: u64) -> Result<Self::Value, E> {
        self.take(n, Unexpected::Unsigned(n))
    }

    fn visit_i64<E: Error>(self, n: i64) -> Result<Self::Value, E> {
        match u64::try_from(n) {
            Ok(u) => self.take(u, Unexpected::Signed(n)),
            Err(_) => Err(E::invalid_value(Unexpected::Signed(n), &self)),
        }
    }

    fn visit_f64<E: Error>(self, f: f64) -> Result<Self::Value, E> {
        // Below 2^64, a whole f64 converts exactly.
        if f.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&f) {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let n = f as u64;
            self.take(n, Unexpected::Float(f))
        } else {
            Err(E::invalid_value(Unexpected::Float(f), &self))
        }
    }
}

/// `deserialize_with` for an `Option<u16>` or `Option<u64>` field: an
/// integer, a whole float, or `null`.
pub(super) fn option<'de, D: Deserializer<'de>, T: JsonUint>(d: D) -> Result<Option<T>, D::Error> {
    d.deserialize_option(Uint(PhantomData))
}

/// `deserialize_with` for an `Option<Option<u64>>` field whose presence
/// matters: absent stays `None` (with `#[serde(default)]`), `null` is
/// `Some(None)`.
pub(super) fn present_option<'de, D: Deserializer<'de>, T: JsonUint>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    option(d).map(Some)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "super::option")]
        port: Option<u16>,
        #[serde(default, deserialize_with = "super::present_option")]
        interval: Option<Option<u64>>,
    }

    fn parse(json: &str) -> Result<(Option<u16>, Option<Option<u64>>), String> {
        serde_json::from_str::<Body>(json)
            .map(|b| (b.port, b.interval))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_in_either_form() {
        assert_eq!(parse(r#"{"port": 443}"#), Ok((Some(443), None)));
        assert_eq!(parse(r#"{"port": 443.0}"#), Ok((Some(443), None)));
        assert_eq!(parse(r#"{"port": 4.43e2}"#), Ok((Some(443), None)));
        assert_eq!(parse(r#"{"port": null}"#), Ok((None, None)));
        assert_eq!(parse(r#"{"interval": null}"#), Ok((None, Some(None))));
        assert_eq!(parse(r#"{"interval": 60.0}"#), Ok((None, Some(Some(60)))));
        assert_eq!(parse("{}"), Ok((None, None)));
    }

    #[test]
    fn fractions_negatives_and_overflow_are_refused() {
        for bad in [
            r#"{"port": 443.5}"#,
            r#"{"port": -1}"#,
            r#"{"port": 65536}"#,
            r#"{"port": 65536.0}"#,
            r#"{"port": "443"}"#,
            r#"{"interval": 1e20}"#,
            r#"{"interval": -0.5}"#,
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(e.contains("expected an integer from 0 to"), "{bad}: {e}");
        }
    }
}
