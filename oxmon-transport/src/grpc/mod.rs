//! gRPC transport (feature `grpc`): the server side ([`serve`]) and the
//! agent's client ([`GrpcTransport`]), wire-compatible with the original
//! project's `package oxmon`.

mod client;
mod conn;
mod server;
mod wire;

pub use client::{COMPRESS_FROM_SAMPLES, GrpcTransport};
pub use server::{GrpcServer, GrpcServerOptions, serve};

/// Generated protobuf types and service stubs (`proto/oxmon.proto`).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("oxmon");
}

use oxmon_core::{MetricBatch, TransportErrorKind};
use tonic::Code;

/// Metadata key of the agent id.
pub const AGENT_ID_METADATA: &str = "agent-id";

pub(crate) fn batch_to_proto(batch: &MetricBatch) -> proto::MetricBatchProto {
    proto::MetricBatchProto {
        agent_id: batch.agent_id.clone(),
        timestamp_ms: batch.timestamp_ms,
        data_points: batch
            .samples
            .iter()
            .map(|s| proto::MetricDataPointProto {
                timestamp_ms: s.timestamp_ms,
                agent_id: batch.agent_id.clone(),
                metric_name: s.metric.clone(),
                value: Some(s.value),
                labels: s
                    .labels
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            })
            .collect(),
        batch_id: batch.batch_id.clone().unwrap_or_default(),
    }
}

/// Every point is filed under the batch's agent id: the wire's per-point
/// `agent_id` (kept for the original project's agents) is ignored, since a
/// [`Sample`] belongs to its batch's agent.
///
/// # Errors
/// `INVALID_ARGUMENT` for a point without a value (proto3 would otherwise
/// read it as 0, a value the agent never measured).
pub(crate) fn code_of(kind: TransportErrorKind) -> Code {
    match kind {
        TransportErrorKind::Unavailable => Code::Unavailable,
        TransportErrorKind::Timeout => Code::DeadlineExceeded,
        TransportErrorKind::InvalidArgument => Code::InvalidArgument,
        TransportErrorKind::Unauthenticated => Code::Unauthenticated,
        TransportErrorKind::PermissionDenied => Code::PermissionDenied,
        TransportErrorKind::ResourceExhausted => Code::ResourceExhausted,
        TransportErrorKind::FailedPrecondition => Code::FailedPrecondition,
        _ => Code::Internal,
    }
}

pub(crate) fn kind_of(code: Code) -> TransportErrorKind {
    match code {
        Code::Unavailable | Code::Aborted | Code::Cancelled => TransportErrorKind::Unavailable,
        Code::DeadlineExceeded => TransportErrorKind::Timeout,
        Code::InvalidArgument => TransportErrorKind::InvalidArgument,
        Code::FailedPrecondition => TransportErrorKind::FailedPrecondition,
        Code::Unauthenticated => TransportErrorKind::Unauthenticated,
        Code::PermissionDenied => TransportErrorKind::PermissionDenied,
        // tonic reports a message over the size limit as OUT_OF_RANGE.
        Code::ResourceExhausted | Code::OutOfRange => TransportErrorKind::ResourceExhausted,
        _ => TransportErrorKind::Internal,
    }
}
