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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grpc::proto::{MetricBatchProto, MetricDataPointProto};
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
}
