//! `GET /v1/metrics`: the points of one metric of one agent over a range.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use oxmon_core::{Labels, Point, RangeQuery};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::params::{check_order, optional_uint, parse_time, required};
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::state::AppState;

/// Largest accepted `step`, in seconds (one year).
const MAX_STEP_SECS: u64 = 366 * 86_400;

/// The raw query string; every field is parsed by hand so that each bad
/// value is a 400 with a message.
#[derive(Debug, Deserialize)]
pub(super) struct MetricsParams {
    agent: Option<String>,
    metric: Option<String>,
    from: Option<String>,
    to: Option<String>,
    step: Option<String>,
}

/// One point of a series.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PointView {
    /// RFC 3339; with `step`, the start of the step.
    pub timestamp: String,
    /// The value; with `step`, the average over the step.
    pub value: f64,
}

/// The points of one series in the range, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SeriesView {
    /// The agent.
    pub agent_id: String,
    /// The metric.
    pub metric: String,
    /// The series labels.
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub labels: Labels,
    /// The points, oldest first.
    pub points: Vec<PointView>,
}

/// Averages points per `step_ms` bucket aligned on `from_ms`; each bucket is
/// stamped with its start. Points must be oldest first.
pub(crate) fn downsample(points: &[Point], from_ms: i64, step_ms: i64) -> Vec<Point> {
    let mut out: Vec<Point> = Vec::new();
    let mut current: Option<(i64, f64, u32)> = None;
    for p in points {
        let offset = p.timestamp_ms.saturating_sub(from_ms).max(0);
        let start = from_ms.saturating_add(offset - offset % step_ms.max(1));
        match current.as_mut() {
            Some((s, sum, n)) if *s == start => {
                *sum += p.value;
                *n += 1;
            }
            _ => {
                if let Some((s, sum, n)) = current.take() {
                    out.push(Point {
                        timestamp_ms: s,
                        value: sum / f64::from(n),
                    });
                }
                current = Some((start, p.value, 1));
            }
        }
    }
    if let Some((s, sum, n)) = current {
        out.push(Point {
            timestamp_ms: s,
            value: sum / f64::from(n),
        });
    }
    out
}

/// The points of every series of a metric of an agent between two times
/// (inclusive), oldest first, optionally averaged per `step` seconds.
#[utoipa::path(
    get,
    path = "/v1/metrics",
    tag = "metrics",
    params(
        ("agent" = String, Query, min_length = 1, description = "Agent id"),
        ("metric" = String, Query, min_length = 1, description = "Metric name, such as `cpu.usage`"),
        ("from" = String, Query, min_length = 1, description = "Start, ISO 8601 (`2026-02-06T00:00:00Z`), inclusive, 1970 to 9999"),
        ("to" = String, Query, min_length = 1, description = "End, ISO 8601, inclusive; not before `from` and at most the maximum span (31 days by default) after it"),
        ("step" = Option<u64>, Query, minimum = 1, maximum = 31536000, description = "Average the points per this many seconds"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every series with points in the range, by labels", body = Vec<SeriesView>),
        (status = 400, description = "Missing parameter, bad time or step, `from` after `to`, span too long", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 503, description = "No metric store on this server", body = ErrorBody),
    )
)]
pub(super) async fn query(
    State(state): State<AppState>,
    _who: AuthUser,
    ApiQuery(params): ApiQuery<MetricsParams>,
) -> Result<Response, ApiError> {
    let agent = required("agent", params.agent.as_deref())?;
    let metric = required("metric", params.metric.as_deref())?;
    let from_ms = parse_time("from", required("from", params.from.as_deref())?)?;
    let to_ms = parse_time("to", required("to", params.to.as_deref())?)?;
    check_order(from_ms, to_ms)?;
    if to_ms - from_ms > state.max_query_span_ms {
        return Err(ApiError::bad_request(format!(
            "the range is longer than the maximum of {} seconds",
            state.max_query_span_ms / 1000
        )));
    }
    let step_ms = optional_uint("step", params.step.as_deref(), 1, MAX_STEP_SECS)?
        .and_then(|s| i64::try_from(s.saturating_mul(1000)).ok());
    let series = state
        .metrics()?
        .query_range(&RangeQuery {
            agent_id: agent.to_owned(),
            metric: metric.to_owned(),
            labels: None,
            from_ms,
            to_ms,
        })
        .await?;
    let views: Vec<SeriesJson<'_>> = series
        .iter()
        .map(|s| SeriesJson {
            agent_id: &s.series.agent_id,
            metric: &s.series.metric,
            labels: &s.series.labels,
            points: match step_ms {
                Some(step) => std::borrow::Cow::Owned(downsample(&s.points, from_ms, step)),
                None => std::borrow::Cow::Borrowed(&s.points),
            },
        })
        .collect();
    json_response(&views)
}

/// A [`SeriesView`] as it is written: borrowed from what the store read,
/// the points written straight into the response (a day of one series at
/// 10 s is 8,640 points; a `String` per timestamp, a copy of every point
/// and serde's escaping of every timestamp used to be most of the cost).
struct SeriesJson<'a> {
    agent_id: &'a str,
    metric: &'a str,
    labels: &'a Labels,
    points: std::borrow::Cow<'a, [Point]>,
}

/// Writes `views` as the JSON array of [`SeriesView`]s it stands for.
fn write_series(out: &mut Vec<u8>, views: &[SeriesJson<'_>]) -> serde_json::Result<()> {
    let mut time = oxmon_core::time::Rfc3339Writer::default();
    out.push(b'[');
    for (i, v) in views.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"agent_id\":");
        serde_json::to_writer(&mut *out, v.agent_id)?;
        out.extend_from_slice(b",\"metric\":");
        serde_json::to_writer(&mut *out, v.metric)?;
        out.extend_from_slice(b",\"labels\":");
        serde_json::to_writer(&mut *out, v.labels)?;
        out.extend_from_slice(b",\"points\":[");
        for (j, p) in v.points.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            // RFC 3339 needs no escaping.
            out.extend_from_slice(b"{\"timestamp\":\"");
            time.write(out, p.timestamp_ms);
            out.extend_from_slice(b"\",\"value\":");
            // As serde writes an f64 (`null` when not finite).
            serde_json::to_writer(&mut *out, &p.value)?;
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
    }
    out.push(b']');
    Ok(())
}

/// `views` as a JSON body, in one buffer sized for it up front (about 50
/// bytes a point).
fn json_response(views: &[SeriesJson<'_>]) -> Result<Response, ApiError> {
    let points: usize = views.iter().map(|v| v.points.len()).sum();
    let mut body = Vec::with_capacity(256 * views.len() + 56 * points);
    write_series(&mut body, views)
        .map_err(|e| ApiError::internal(format!("cannot write the response: {e}")))?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(timestamp_ms: i64, value: f64) -> Point {
        Point {
            timestamp_ms,
            value,
        }
    }

    /// The hand-written body is what serde writes for the documented
    /// types, byte for byte (fractions, non-finite values, escaped labels).
    #[test]
    fn written_series_are_the_documented_json() {
        let points = vec![
            p(1_770_544_800_000, 1.5),
            p(1_770_544_800_250, -0.0),
            p(1_770_544_810_000, 1e300),
            p(1_770_631_200_001, f64::NAN),
            p(1_770_631_210_000, 42.0),
        ];
        let labels = Labels::new().with("mount", "/da\"ta\\é");
        let views = [
            SeriesJson {
                agent_id: "web-1",
                metric: "disk.used_percent",
                labels: &labels,
                points: std::borrow::Cow::Borrowed(&points),
            },
            SeriesJson {
                agent_id: "web-1",
                metric: "disk.used_percent",
                labels: &Labels::new(),
                points: std::borrow::Cow::Borrowed(&[]),
            },
        ];
        let mut out = Vec::new();
        write_series(&mut out, &views).unwrap();
        let expected: Vec<SeriesView> = views
            .iter()
            .map(|v| SeriesView {
                agent_id: v.agent_id.to_owned(),
                metric: v.metric.to_owned(),
                labels: v.labels.clone(),
                points: v
                    .points
                    .iter()
                    .map(|p| PointView {
                        timestamp: oxmon_core::time::rfc3339(p.timestamp_ms),
                        value: p.value,
                    })
                    .collect(),
            })
            .collect();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string(&expected).unwrap()
        );
        let mut empty = Vec::new();
        write_series(&mut empty, &[]).unwrap();
        assert_eq!(empty, b"[]");
    }

    #[test]
    fn downsampling_averages_per_aligned_step() {
        let pts = [p(1000, 1.0), p(5000, 3.0), p(11_000, 10.0), p(35_000, 7.0)];
        assert_eq!(
            downsample(&pts, 1000, 10_000),
            vec![p(1000, 2.0), p(11_000, 10.0), p(31_000, 7.0)]
        );
        assert!(downsample(&[], 0, 1000).is_empty());
    }
}
