//! Checks a `MetricBatchProto` on the wire, before it is decoded.
//!
//! Decoding allocates per point: an empty point is two bytes on the wire and
//! about a hundred in memory, so a 16 KB gzip body could carry millions of
//! them. The scan walks the protobuf encoding without allocating and
//! refuses a batch with too many points, too many labels on a point, or an
//! agent id, metric name or batch id longer than any valid one; only then
//! is the message decoded. The decoded batch is still validated in full by
//! ingest.

use oxmon_core::config::MAX_AGENT_ID_LEN;
use oxmon_core::{Labels, MetricBatch, Sample};
use tonic::Status;

/// Longest batch id accepted, bytes (agents send a UUID).
pub(crate) const MAX_BATCH_ID_LEN: usize = 128;

/// What the scan enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WireLimits {
    /// Most points in a batch.
    pub(crate) max_points: usize,
    /// Longest metric name, bytes.
    pub(crate) max_metric_len: usize,
    /// Most labels on a point.
    pub(crate) max_labels: usize,
}

/// One field of a message: its number and, for length-delimited fields, its bytes.
enum Field<'a> {
    Len(u32, &'a [u8]),
    Scalar,
}

struct Reader<'a> {
    buf: &'a [u8],
}

fn malformed() -> Status {
    Status::invalid_argument("malformed protobuf message")
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, Status> {
        let mut value = 0_u64;
        for (i, &b) in self.buf.iter().enumerate().take(10) {
            // The tenth byte holds the 64th bit only (prost refuses more).
            if i == 9 && b > 1 {
                return Err(malformed());
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.buf = &self.buf[i + 1..];
                return Ok(value);
            }
        }
        Err(malformed())
    }

    fn skip(&mut self, n: usize) -> Result<&'a [u8], Status> {
        if n > self.buf.len() {
            return Err(malformed());
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn next(&mut self) -> Option<Result<Field<'a>, Status>> {
        if self.buf.is_empty() {
            return None;
        }
        Some(self.field())
    }

    fn field(&mut self) -> Result<Field<'a>, Status> {
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| malformed())?;
        match key & 7 {
            0 => {
                self.varint()?;
                Ok(Field::Scalar)
            }
            1 => {
                self.skip(8)?;
                Ok(Field::Scalar)
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| malformed())?;
                Ok(Field::Len(number, self.skip(len)?))
            }
            5 => {
                self.skip(4)?;
                Ok(Field::Scalar)
            }
            // Groups (3, 4) are not used by this protocol.
            _ => Err(malformed()),
        }
    }
}

/// Scans an encoded `MetricBatchProto`. See the module docs.
///
/// # Errors
/// `RESOURCE_EXHAUSTED` for too many points, `INVALID_ARGUMENT` for the
/// rest; messages name the limit, never the client's text.
pub(crate) fn check_batch(buf: &[u8], limits: &WireLimits) -> Result<(), Status> {
    let mut points = 0_usize;
    let mut r = Reader { buf };
    while let Some(field) = r.next() {
        match field? {
            Field::Len(1, id) if id.len() > MAX_AGENT_ID_LEN => {
                return Err(Status::invalid_argument(format!(
                    "agent id: longer than {MAX_AGENT_ID_LEN} bytes"
                )));
            }
            Field::Len(5, id) if id.len() > MAX_BATCH_ID_LEN => {
                return Err(Status::invalid_argument(format!(
                    "batch id: longer than {MAX_BATCH_ID_LEN} bytes"
                )));
            }
            Field::Len(3, point) => {
                if points == limits.max_points {
                    return Err(Status::resource_exhausted(format!(
                        "more than {} points in one batch",
                        limits.max_points
                    )));
                }
                check_point(point, points, limits)?;
                points += 1;
            }
            _ => {}
        }
    }
    Ok(())
}

fn check_point(buf: &[u8], index: usize, limits: &WireLimits) -> Result<(), Status> {
    let mut labels = 0_usize;
    let mut r = Reader { buf };
    while let Some(field) = r.next() {
        match field? {
            Field::Len(2, id) if id.len() > MAX_AGENT_ID_LEN => {
                return Err(Status::invalid_argument(format!(
                    "point {index}: agent id longer than {MAX_AGENT_ID_LEN} bytes"
                )));
            }
            Field::Len(3, name) if name.len() > limits.max_metric_len => {
                return Err(Status::invalid_argument(format!(
                    "point {index}: metric name longer than {} bytes",
                    limits.max_metric_len
                )));
            }
            Field::Len(5, _) => {
                labels += 1;
                if labels > limits.max_labels {
                    return Err(Status::invalid_argument(format!(
                        "point {index}: more than {} labels",
                        limits.max_labels
                    )));
                }
            }
            Field::Len(..) | Field::Scalar => {}
        }
    }
    Ok(())
}

/// A field as the decoder reads it.
enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32,
}

impl<'a> Reader<'a> {
    /// The next field's number and value; `None` at the end.
    fn decoded(&mut self) -> Option<Result<(u32, Value<'a>), Status>> {
        if self.buf.is_empty() {
            return None;
        }
        Some(self.decoded_field())
    }

    fn decoded_field(&mut self) -> Result<(u32, Value<'a>), Status> {
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| malformed())?;
        if number == 0 {
            return Err(malformed());
        }
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                let b = self.skip(8)?;
                Value::Fixed64(u64::from_le_bytes(b.try_into().map_err(|_| malformed())?))
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| malformed())?;
                Value::Bytes(self.skip(len)?)
            }
            5 => {
                self.skip(4)?;
                Value::Fixed32
            }
            _ => return Err(malformed()),
        };
        Ok((number, value))
    }
}

fn text(b: &[u8]) -> Result<String, Status> {
    std::str::from_utf8(b)
        .map(str::to_owned)
        .map_err(|_| malformed())
}

/// Decodes a `MetricBatchProto` straight into the batch ingest stores, as
/// prost then the conversion to a [`MetricBatch`] did, with the same
/// errors: a known field with the wrong wire type or a string that is not
/// UTF-8 is malformed, unknown fields are skipped, a repeated scalar keeps
/// its last value, a point without a value is refused, points take the
/// batch's agent id. Without prost's per-point `HashMap` of labels and its
/// strings that were then moved again. Call it after [`check_batch`], which
/// bounds what this allocates.
///
/// # Errors
/// `INVALID_ARGUMENT`, as prost's decoding and the conversion.
pub(crate) fn decode_batch(buf: &[u8]) -> Result<MetricBatch, Status> {
    let mut batch = MetricBatch {
        agent_id: String::new(),
        batch_id: None,
        timestamp_ms: 0,
        samples: Vec::new(),
    };
    // Whether a point lacked its value (reported once decoding succeeded,
    // as the conversion after prost did).
    let mut missing_value: Option<usize> = None;
    let mut r = Reader { buf };
    while let Some(field) = r.decoded() {
        match field? {
            (1, Value::Bytes(b)) => batch.agent_id = text(b)?,
            (2, Value::Varint(v)) => batch.timestamp_ms = v as i64,
            (3, Value::Bytes(b)) => {
                let (sample, has_value) = decode_point(b)?;
                if !has_value && missing_value.is_none() {
                    missing_value = Some(batch.samples.len());
                }
                batch.samples.push(sample);
            }
            (5, Value::Bytes(b)) => {
                let id = text(b)?;
                batch.batch_id = (!id.is_empty()).then_some(id);
            }
            (1 | 2 | 3 | 5, _) => return Err(malformed()),
            _ => {}
        }
    }
    if let Some(i) = missing_value {
        return Err(Status::invalid_argument(format!("point {i}: no value")));
    }
    Ok(batch)
}

/// One `MetricDataPointProto`, and whether it had a value.
fn decode_point(buf: &[u8]) -> Result<(Sample, bool), Status> {
    let (mut ts, mut metric, mut value) = (0_i64, String::new(), None);
    let mut labels: Vec<(String, String)> = Vec::new();
    let mut r = Reader { buf };
    while let Some(field) = r.decoded() {
        match field? {
            (1, Value::Varint(v)) => ts = v as i64,
            // The point's own agent id is not used (the batch's is), but
            // must be text, as prost required.
            (2, Value::Bytes(b)) => {
                std::str::from_utf8(b).map_err(|_| malformed())?;
            }
            (3, Value::Bytes(b)) => metric = text(b)?,
            (4, Value::Fixed64(bits)) => value = Some(f64::from_bits(bits)),
            (5, Value::Bytes(entry)) => labels.push(decode_label(entry)?),
            (1..=5, _) => return Err(malformed()),
            _ => {}
        }
    }
    let labels: Labels = labels.into_iter().collect();
    Ok((
        Sample::new(metric, labels, ts, value.unwrap_or(0.0)),
        value.is_some(),
    ))
}

/// A map entry: key 1, value 2, either missing = empty.
fn decode_label(buf: &[u8]) -> Result<(String, String), Status> {
    let (mut key, mut value) = (String::new(), String::new());
    let mut r = Reader { buf };
    while let Some(field) = r.decoded() {
        match field? {
            (1, Value::Bytes(b)) => key = text(b)?,
            (2, Value::Bytes(b)) => value = text(b)?,
            (1 | 2, _) => return Err(malformed()),
            _ => {}
        }
    }
    Ok((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grpc::proto::{MetricBatchProto, MetricDataPointProto};
    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;
    use prost::Message;
    use tonic::Code;

    const LIMITS: WireLimits = WireLimits {
        max_points: 3,
        max_metric_len: 16,
        max_labels: 2,
    };

    fn point(metric: &str, labels: usize) -> MetricDataPointProto {
        MetricDataPointProto {
            timestamp_ms: 1_700_000_000_000,
            agent_id: String::new(),
            metric_name: metric.to_owned(),
            value: Some(1.5),
            labels: (0..labels).map(|i| (format!("k{i}"), "v".into())).collect(),
        }
    }

    fn batch(agent: &str, points: Vec<MetricDataPointProto>) -> Vec<u8> {
        MetricBatchProto {
            agent_id: agent.to_owned(),
            timestamp_ms: 1_700_000_000_000,
            data_points: points,
            batch_id: "b-1".into(),
        }
        .encode_to_vec()
    }

    #[test]
    fn a_batch_within_the_limits_passes() {
        let b = batch("web-1", vec![point("cpu.usage", 2), point("m", 0)]);
        check_batch(&b, &LIMITS).unwrap();
        check_batch(&[], &LIMITS).unwrap();
    }

    #[test]
    fn too_many_points_are_refused_before_decoding() {
        let b = batch("web-1", (0..4).map(|_| point("m", 0)).collect());
        let e = check_batch(&b, &LIMITS).unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted);
        assert_eq!(e.message(), "more than 3 points in one batch");
        // Empty points (two bytes each) count too.
        let empty: Vec<u8> = [0x1a, 0x00].repeat(1_000);
        let e = check_batch(&empty, &LIMITS).unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted);
    }

    #[test]
    fn oversized_ids_names_and_label_counts_are_refused_without_echo() {
        let long = "\n".repeat(MAX_AGENT_ID_LEN + 1);
        let e = check_batch(&batch(&long, vec![point("m", 0)]), &LIMITS).unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(!e.message().contains('\n'));
        let e = check_batch(&batch("a", vec![point(&"x".repeat(17), 0)]), &LIMITS).unwrap_err();
        assert_eq!(e.message(), "point 0: metric name longer than 16 bytes");
        let e = check_batch(&batch("a", vec![point("m", 0), point("m", 3)]), &LIMITS).unwrap_err();
        assert_eq!(e.message(), "point 1: more than 2 labels");
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for bytes in [
            &[0x1a, 0x05, 0x00][..],       // length past the end
            &[0xff; 11][..],               // varint too long
            &[0x0b][..],                   // group
            &[0x1a, 0x02, 0x0a, 0x09][..], // nested length past the end
        ] {
            assert_eq!(
                check_batch(bytes, &LIMITS).unwrap_err().code(),
                Code::InvalidArgument
            );
        }
    }

    /// The conversion the server made after prost decoded a batch: the
    /// reference `wire::decode_batch` is tested against.
    fn batch_from_proto(p: MetricBatchProto) -> Result<MetricBatch, Status> {
        let mut samples = Vec::with_capacity(p.data_points.len());
        for (i, d) in p.data_points.into_iter().enumerate() {
            let Some(value) = d.value else {
                return Err(Status::invalid_argument(format!("point {i}: no value")));
            };
            samples.push(Sample::new(
                d.metric_name,
                d.labels.into_iter().collect::<Labels>(),
                d.timestamp_ms,
                value,
            ));
        }
        Ok(MetricBatch {
            agent_id: p.agent_id,
            batch_id: (!p.batch_id.is_empty()).then_some(p.batch_id),
            timestamp_ms: p.timestamp_ms,
            samples,
        })
    }

    /// prost then the old conversion, as the server decoded before.
    fn reference(buf: &[u8]) -> Result<MetricBatch, Status> {
        let proto = MetricBatchProto::decode(buf)
            .map_err(|_| Status::invalid_argument("malformed protobuf message"))?;
        batch_from_proto(proto)
    }

    fn same(buf: &[u8]) -> Result<(), TestCaseError> {
        match (decode_batch(buf), reference(buf)) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(a), Err(b)) => {
                prop_assert_eq!(a.code(), b.code());
                prop_assert_eq!(a.message(), b.message());
            }
            (a, b) => prop_assert!(false, "direct {a:?} vs prost {b:?}"),
        }
        Ok(())
    }

    fn arb_point() -> impl Strategy<Value = MetricDataPointProto> {
        (
            any::<i64>(),
            "[a-z]{0,3}",
            "[a-zé.]{0,12}",
            prop::option::weighted(0.9, any::<f64>()),
            prop::collection::hash_map("[a-c]{0,2}", ".{0,4}", 0..4),
        )
            .prop_map(|(timestamp_ms, agent_id, metric_name, value, labels)| {
                MetricDataPointProto {
                    timestamp_ms,
                    agent_id,
                    metric_name,
                    value,
                    labels,
                }
            })
    }

    proptest! {
        /// What the server decodes is what prost and the conversion gave,
        /// for valid messages and for damaged ones (bytes changed, cut
        /// short), errors included.
        #[test]
        fn direct_decoding_is_prost_and_the_conversion(
            agent in "[a-z0-9-]{0,8}",
            batch_id in "[a-z0-9-]{0,8}",
            ts in any::<i64>(),
            points in prop::collection::vec(arb_point(), 0..6),
            damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
            cut in prop::option::of(any::<prop::sample::Index>()),
        ) {
            let mut buf = MetricBatchProto {
                agent_id: agent,
                timestamp_ms: ts,
                data_points: points,
                batch_id,
            }
            .encode_to_vec();
            same(&buf)?;
            if !buf.is_empty() {
                for (at, byte) in damage {
                    let i = at.index(buf.len());
                    buf[i] = byte;
                }
                same(&buf)?;
                if let Some(cut) = cut {
                    buf.truncate(cut.index(buf.len()));
                    same(&buf)?;
                }
            }
        }
    }

    #[test]
    fn a_label_repeated_keeps_its_last_value_and_unknown_fields_are_skipped() {
        // A point with labels k=a then k=b, an unknown varint field 9 and
        // an unknown length field 10, then a batch-level unknown field.
        let mut point = point("m", 0).encode_to_vec();
        for (k, v) in [("k", "a"), ("k", "b")] {
            let entry = [&[0x0a, 1][..], k.as_bytes(), &[0x12, 1], v.as_bytes()].concat();
            point.extend_from_slice(&[0x2a, entry.len() as u8]);
            point.extend_from_slice(&entry);
        }
        point.extend_from_slice(&[0x48, 7, 0x52, 2, b'x', b'y']);
        let mut buf = vec![0x1a, point.len() as u8];
        buf.extend_from_slice(&point);
        buf.extend_from_slice(&[0x0a, 2, b'a', b'1', 0x60, 1]);
        let batch = decode_batch(&buf).unwrap();
        assert_eq!(batch.agent_id, "a1");
        assert_eq!(batch.samples[0].labels.get("k"), Some("b"));
        assert_eq!(
            Ok(batch),
            reference(&buf).map_err(|e| e.message().to_owned())
        );
    }
}
