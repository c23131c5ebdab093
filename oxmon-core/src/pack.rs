//! A compact, lossless byte form of a batch (the agent's store-and-forward
//! buffer holds batches packed), and the varint helpers it and the store's
//! change log share.
//!
//! A `Sample` in memory is 88 bytes plus a heap block for each of its
//! strings and one for its label pairs, each with the allocator's overhead.
//! Packed, a sample costs what its text does plus 8 to 19 bytes (about 45
//! bytes for the agent's metrics), in one block per batch, so a full default
//! buffer of 1000 batches fits in about 1.5 MiB (`a_full_default_buffer_stays_small`). Lossless: every field comes back exactly,
//! values bit for bit.
//!
//! Layout of the packed samples, one after another: `metric`, label count,
//! label pairs, timestamp (zigzag varint, relative to the batch's), value
//! (8 bytes, little-endian bits). Strings are a varint length and UTF-8
//! bytes. The agent id is the batch's, kept once.

use crate::{Labels, MetricBatch, Sample};

/// A batch whose samples are packed into one byte buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedBatch {
    agent_id: String,
    batch_id: Option<String>,
    timestamp_ms: i64,
    samples: usize,
    bytes: Box<[u8]>,
}

impl PackedBatch {
    /// Packs a batch.
    pub fn pack(batch: &MetricBatch) -> Self {
        let mut out = Vec::with_capacity(batch.samples.len() * 48);
        for s in &batch.samples {
            put_str(&mut out, &s.metric);
            put_varint(&mut out, s.labels.len() as u64);
            for (k, v) in s.labels.iter() {
                put_str(&mut out, k);
                put_str(&mut out, v);
            }
            put_varint(
                &mut out,
                zigzag(s.timestamp_ms.wrapping_sub(batch.timestamp_ms)),
            );
            out.extend_from_slice(&s.value.to_bits().to_le_bytes());
        }
        Self {
            samples: batch.samples.len(),
            agent_id: batch.agent_id.clone(),
            batch_id: batch.batch_id.clone(),
            timestamp_ms: batch.timestamp_ms,
            bytes: out.into_boxed_slice(),
        }
    }

    /// The batch as it was packed. `None` only if the bytes were corrupted,
    /// which nothing outside this module can do.
    pub fn unpack(&self) -> Option<MetricBatch> {
        let mut r = Reader(&self.bytes);
        let mut samples = Vec::with_capacity(self.samples);
        for _ in 0..self.samples {
            let metric = r.string()?;
            let n = r.varint()?;
            let mut labels = Labels::new();
            for _ in 0..n {
                let k = r.string()?;
                let v = r.string()?;
                labels.insert(k, v);
            }
            let timestamp_ms = self.timestamp_ms.wrapping_add(unzigzag(r.varint()?));
            let value = f64::from_bits(u64::from_le_bytes(r.take(8)?.try_into().ok()?));
            samples.push(Sample {
                metric,
                labels,
                timestamp_ms,
                value,
            });
        }
        r.0.is_empty().then_some(MetricBatch {
            agent_id: self.agent_id.clone(),
            batch_id: self.batch_id.clone(),
            timestamp_ms: self.timestamp_ms,
            samples,
        })
    }

    /// The batch's id.
    pub fn batch_id(&self) -> Option<&str> {
        self.batch_id.as_deref()
    }

    /// How many samples it holds.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// Heap bytes held (approximately: the packed samples and the ids).
    pub fn heap_bytes(&self) -> usize {
        self.bytes.len() + self.agent_id.len() + self.batch_id.as_ref().map_or(0, String::len)
    }
}

/// Appends `v` as a LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a varint length and the string's bytes.
pub fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Maps signed to unsigned so small magnitudes stay small.
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The inverse of [`zigzag`].
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Reads varints and fixed-size fields from the front of a byte slice;
/// every read is `None` past the end.
#[derive(Debug)]
pub struct Reader<'a>(pub &'a [u8]);

impl Reader<'_> {
    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    /// One byte.
    pub fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    /// A LEB128 varint (at most 10 bytes).
    pub fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    /// A varint length and that many bytes of UTF-8.
    pub fn string(&mut self) -> Option<String> {
        let n = usize::try_from(self.varint()?).ok()?;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::transport::awkward_batch;

    use super::*;

    #[test]
    fn packing_is_lossless() {
        let mut batch = awkward_batch("agent-ä", "batch-1");
        batch.samples[1].value = f64::NAN;
        batch.samples[2].timestamp_ms = i64::MIN;
        batch.samples[3].timestamp_ms = i64::MAX;
        batch.samples[4].labels = Labels::new();
        let packed = PackedBatch::pack(&batch);
        let back = packed.unpack().expect("unpacks");
        assert_eq!(back.agent_id, batch.agent_id);
        assert_eq!(back.batch_id, batch.batch_id);
        assert_eq!(back.timestamp_ms, batch.timestamp_ms);
        assert_eq!(back.samples.len(), batch.samples.len());
        for (a, b) in back.samples.iter().zip(&batch.samples) {
            assert_eq!(
                (&a.metric, &a.labels, a.timestamp_ms),
                (&b.metric, &b.labels, b.timestamp_ms)
            );
            assert_eq!(a.value.to_bits(), b.value.to_bits());
        }
        assert_eq!(packed.samples(), batch.samples.len());
        assert_eq!(packed.batch_id(), Some("batch-1"));
    }

    #[test]
    fn an_empty_batch_packs_and_corruption_is_detected() {
        let empty = MetricBatch {
            agent_id: "a".into(),
            batch_id: None,
            timestamp_ms: 5,
            samples: Vec::new(),
        };
        assert_eq!(PackedBatch::pack(&empty).unpack(), Some(empty));
        let mut p = PackedBatch::pack(&awkward_batch("a", "b"));
        let mut bytes = p.bytes.to_vec();
        bytes.truncate(bytes.len() - 3);
        p.bytes = bytes.into_boxed_slice();
        assert_eq!(p.unpack(), None);
    }

    #[test]
    fn varints_and_zigzag_round_trip() {
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(Reader(&out).varint(), Some(v));
        }
        for v in [0, 1, -1, 10_000, -10_000, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(Reader(&[0xff; 11]).varint(), None, "too long");
    }

    #[test]
    fn a_packed_sample_of_the_agent_is_small() {
        let sample = Sample::new(
            "network.bytes_recv",
            Labels::new().with("interface", "eth0"),
            1_767_225_600_000,
            1234.5,
        );
        let batch = MetricBatch {
            agent_id: "web-server-01".into(),
            batch_id: None,
            timestamp_ms: 1_767_225_600_000,
            samples: vec![sample; 10],
        };
        let per_sample = PackedBatch::pack(&batch).bytes.len() / 10;
        assert!(per_sample <= 50, "{per_sample} bytes");
    }
}
