//! Compressed chunks: one series' samples of one aligned time window.
//!
//! Layout (version 1): `[1u8][count: u32 LE][ts_len: u32 LE][timestamps][values]`
//! where both columns are standalone pco streams (lossless; pco's delta
//! encoding makes regular timestamps nearly free, and its float modes find
//! the decimal structure of values rounded like kernel counters).

use oxmon_core::{Error, Point, Result};

const VERSION: u8 = 1;

/// Encodes points (sorted by time, unique timestamps).
pub(crate) fn encode(points: &[Point]) -> Result<Vec<u8>> {
    let ts: Vec<i64> = points.iter().map(|p| p.timestamp_ms).collect();
    let vs: Vec<f64> = points.iter().map(|p| p.value).collect();
    let config = pco::ChunkConfig::default();
    let ts_bytes = pco::standalone::simple_compress(&ts, &config)
        .map_err(|e| Error::storage_from(format!("chunk encode: {e}"), e))?;
    let vs_bytes = pco::standalone::simple_compress(&vs, &config)
        .map_err(|e| Error::storage_from(format!("chunk encode: {e}"), e))?;
    let count = u32::try_from(points.len()).map_err(|_| Error::storage("chunk too large"))?;
    let ts_len = u32::try_from(ts_bytes.len()).map_err(|_| Error::storage("chunk too large"))?;
    let mut out = Vec::with_capacity(9 + ts_bytes.len() + vs_bytes.len());
    out.push(VERSION);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&ts_len.to_le_bytes());
    out.extend_from_slice(&ts_bytes);
    out.extend_from_slice(&vs_bytes);
    Ok(out)
}

/// The header of a chunk: (count, timestamp column, value column).
fn columns(data: &[u8]) -> Result<(usize, &[u8], &[u8])> {
    if data.len() < 9 || data[0] != VERSION {
        return Err(corrupt("unknown version or truncated header"));
    }
    let word =
        |i: usize| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]) as usize;
    let (count, ts_len) = (word(1), word(5));
    let rest = &data[9..];
    if ts_len > rest.len() {
        return Err(corrupt("timestamp column truncated"));
    }
    Ok((count, &rest[..ts_len], &rest[ts_len..]))
}

fn corrupt(what: &str) -> Error {
    Error::storage(format!("corrupt chunk: {what}"))
}

/// Decodes a chunk written by [`encode`].
pub(crate) fn decode(data: &[u8]) -> Result<Vec<Point>> {
    let (count, ts, vs) = columns(data)?;
    let ts: Vec<i64> =
        pco::standalone::simple_decompress(ts).map_err(|e| corrupt(&e.to_string()))?;
    let vs: Vec<f64> =
        pco::standalone::simple_decompress(vs).map_err(|e| corrupt(&e.to_string()))?;
    if ts.len() != count || vs.len() != count {
        return Err(corrupt("column lengths disagree"));
    }
    Ok(ts
        .into_iter()
        .zip(vs)
        .map(|(timestamp_ms, value)| Point {
            timestamp_ms,
            value,
        })
        .collect())
}

/// The timestamps of a chunk written by [`encode`], without decoding its values.
pub(crate) fn decode_timestamps(data: &[u8]) -> Result<Vec<i64>> {
    let (count, ts, _) = columns(data)?;
    let ts: Vec<i64> =
        pco::standalone::simple_decompress(ts).map_err(|e| corrupt(&e.to_string()))?;
    if ts.len() != count {
        return Err(corrupt("column lengths disagree"));
    }
    Ok(ts)
}

/// Merges two time-sorted point lists; on equal timestamps `newer` wins.
pub(crate) fn merge(older: Vec<Point>, newer: Vec<Point>) -> Vec<Point> {
    if older.is_empty() {
        return newer;
    }
    if newer.is_empty() {
        return older;
    }
    let mut out = Vec::with_capacity(older.len() + newer.len());
    let (mut a, mut b) = (older.into_iter().peekable(), newer.into_iter().peekable());
    loop {
        match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.timestamp_ms < y.timestamp_ms => out.extend(a.next()),
            (Some(x), Some(y)) if x.timestamp_ms == y.timestamp_ms => {
                a.next();
                out.extend(b.next());
            }
            (Some(_) | None, Some(_)) => out.extend(b.next()),
            (Some(_), None) => out.extend(a.next()),
            (None, None) => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[(i64, f64)]) -> Vec<Point> {
        v.iter()
            .map(|&(timestamp_ms, value)| Point {
                timestamp_ms,
                value,
            })
            .collect()
    }

    #[test]
    fn round_trip_is_bit_exact() {
        let values = [0.1 + 0.2, -0.0, 1e308, -1e-308, 5e-324, 42.0, 99.99, 0.0];
        let points: Vec<Point> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| Point {
                timestamp_ms: 1_767_225_600_000 + i as i64 * 10_000,
                value: v,
            })
            .collect();
        let back = decode(&encode(&points).unwrap()).unwrap();
        let ts = decode_timestamps(&encode(&points).unwrap()).unwrap();
        assert!(ts.iter().zip(&points).all(|(t, p)| *t == p.timestamp_ms));
        assert_eq!(back.len(), points.len());
        for (a, b) in back.iter().zip(&points) {
            assert_eq!(a.timestamp_ms, b.timestamp_ms);
            assert_eq!(a.value.to_bits(), b.value.to_bits());
        }
        assert!(decode(&encode(&[]).unwrap()).unwrap().is_empty());
    }

    #[test]
    fn regular_series_compress_well() {
        let points: Vec<Point> = (0..720)
            .map(|i| Point {
                timestamp_ms: 1_767_225_600_000 + i * 10_000,
                value: (40.0 + (i % 17) as f64 * 0.25 * 100.0).round() / 100.0,
            })
            .collect();
        let bytes = encode(&points).unwrap();
        assert!(
            bytes.len() < 720 * 2,
            "{} bytes for 720 points",
            bytes.len()
        );
    }

    #[test]
    fn corrupt_chunks_are_errors_not_panics() {
        for bad in [
            &[][..],
            &[2, 0, 0, 0, 0, 0, 0, 0, 0][..],
            &[1, 5, 0, 0, 0, 200, 0, 0, 0, 1, 2][..],
            &[1, 0, 0, 0, 0, 1, 0, 0, 0, 7][..],
        ] {
            assert!(decode(bad).is_err());
            assert!(decode_timestamps(bad).is_err());
        }
        let mut ok = encode(&pts(&[(1, 1.0), (2, 2.0)])).unwrap();
        ok[1] = 9;
        assert!(decode(&ok).is_err(), "count mismatch");
        assert!(decode_timestamps(&ok).is_err(), "count mismatch");
    }

    #[test]
    fn merge_prefers_newer_on_ties() {
        let got = merge(
            pts(&[(1, 1.0), (3, 3.0), (5, 5.0)]),
            pts(&[(2, 20.0), (3, 30.0), (6, 60.0)]),
        );
        assert_eq!(
            got,
            pts(&[(1, 1.0), (2, 20.0), (3, 30.0), (5, 5.0), (6, 60.0)])
        );
    }
}
