//! The Prometheus-compatible query API (feature `prometheus`), so that
//! Grafana's stock Prometheus data source reads oxmon: `/api/v1/query`,
//! `query_range`, `series`, `labels`, `label/{name}/values`, `metadata`
//! and `status/buildinfo`, GET or form-encoded POST, in Prometheus's
//! response and error envelopes.
//!
//! Names map one to one (design §13): oxmon's `cpu.usage` is `cpu_usage`,
//! the agent is the label `agent`, other labels are unchanged. PromQL is
//! parsed by `promql-parser` and evaluated here (`eval.rs`).
//!
//! Authentication is the API's: `Authorization: Bearer <token>` (a login
//! or an API token), or Basic with an API token as the password (what
//! Grafana's "Basic auth" sends). Limits: 11,000 steps per query, 10,000
//! series and 5,000,000 samples loaded per query, 31 days of range.

mod eval;
mod functions;
mod load;
mod ops;
mod value;

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Form, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{Value as Json_, json};

use crate::auth::AuthUser;
use crate::state::AppState;
pub use load::CatalogCache;
use value::{PromLabels, Value, format_value};

/// Most evaluation steps of one range query (Prometheus's limit).
pub const MAX_STEPS: i64 = 11_000;
/// Longest range of a query, ms.
pub const MAX_RANGE_MS: i64 = 31 * 86_400_000;

/// The routes, merged into the REST API's router.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/metadata", get(metadata))
        .route("/api/v1/status/buildinfo", get(buildinfo))
}

/// A Prometheus error: its HTTP status, `errorType` and message.
#[derive(Debug)]
pub(crate) struct PromError(StatusCode, &'static str, String);

impl PromError {
    pub(crate) fn bad_data(message: impl Into<String>) -> Self {
        Self(StatusCode::BAD_REQUEST, "bad_data", message.into())
    }

    fn execution(message: impl Into<String>) -> Self {
        Self(
            StatusCode::UNPROCESSABLE_ENTITY,
            "execution",
            message.into(),
        )
    }

    fn unavailable(message: impl Into<String>) -> Self {
        Self(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            message.into(),
        )
    }
}

impl IntoResponse for PromError {
    fn into_response(self) -> Response {
        let body = json!({"status": "error", "errorType": self.1, "error": self.2});
        (self.0, Json(body)).into_response()
    }
}

impl From<oxmon_core::Error> for PromError {
    fn from(e: oxmon_core::Error) -> Self {
        Self::unavailable(e.to_string())
    }
}

fn success(data: Json_) -> Response {
    Json(json!({"status": "success", "data": data})).into_response()
}

/// The caller: Bearer (login or API token) or Basic with a token as the
/// password; refused in Prometheus's envelope.
pub(crate) struct PromCaller(
    #[allow(dead_code, reason = "who asked; any signed-in role may read")] AuthUser,
);

impl FromRequestParts<AppState> for PromCaller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let refuse = |m: &str| {
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Basic realm=\"oxmon\"")],
                Json(json!({"status": "error", "errorType": "unauthorized", "error": m})),
            )
                .into_response()
        };
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| refuse("missing Authorization header"))?;
        let (scheme, rest) = value
            .split_once(' ')
            .ok_or_else(|| refuse("malformed Authorization header"))?;
        let token = if scheme.eq_ignore_ascii_case("bearer") {
            rest.trim().to_owned()
        } else if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| refuse("malformed Basic credentials"))?;
            let (_, password) = decoded
                .split_once(':')
                .ok_or_else(|| refuse("malformed Basic credentials"))?;
            password.to_owned()
        } else {
            return Err(refuse("expected Bearer or Basic authorization"));
        };
        match state.verify_token(&token).await {
            Ok(who) => Ok(PromCaller(who)),
            // The API's refusal, in Prometheus's envelope.
            Err(e) => Err(if e.into_response().status() == StatusCode::UNAUTHORIZED {
                refuse("invalid or expired token")
            } else {
                PromError::unavailable("credentials cannot be checked now").into_response()
            }),
        }
    }
}

/// Form or query parameters, repeated keys kept.
type Params = Vec<(String, String)>;

fn param<'a>(p: &'a Params, key: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// A time: RFC 3339 or Unix seconds (fractions allowed); ms.
pub(crate) fn parse_time(text: &str, what: &str) -> Result<i64, PromError> {
    if let Ok(secs) = text.parse::<f64>()
        && secs.is_finite()
        && secs.abs() < 1e13
    {
        return Ok((secs * 1000.0).round() as i64);
    }
    text.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|_| {
            PromError::bad_data(format!(
                "invalid parameter \"{what}\": cannot parse \"{}\" to a valid timestamp",
                text.escape_debug()
            ))
        })
}

/// A duration: seconds (`15`, `0.5`) or Prometheus units (`1m30s`); ms.
pub(crate) fn parse_duration(text: &str, what: &str) -> Result<i64, PromError> {
    let bad = || {
        PromError::bad_data(format!(
            "invalid parameter \"{what}\": cannot parse \"{}\" to a valid duration",
            text.escape_debug()
        ))
    };
    if let Ok(secs) = text.parse::<f64>() {
        if !secs.is_finite() || secs.abs() > 1e10 {
            return Err(bad());
        }
        return Ok((secs * 1000.0).round() as i64);
    }
    let mut total: i64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return Err(bad()),
        };
        total = total
            .checked_add(n.checked_mul(unit).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// Parses PromQL; the parser panics on some input (`x[1e30]`), which is
/// answered as the parse error it is.
fn parse_promql(text: &str) -> Result<promql_parser::parser::Expr, String> {
    std::panic::catch_unwind(|| promql_parser::parser::parse(text))
        .unwrap_or_else(|_| Err("a duration or number out of range".to_owned()))
}

fn parse_query(p: &Params) -> Result<promql_parser::parser::Expr, PromError> {
    let text = param(p, "query")
        .ok_or_else(|| PromError::bad_data("invalid parameter \"query\": missing"))?;
    if text.len() > 16 * 1024 {
        return Err(PromError::bad_data(
            "invalid parameter \"query\": longer than 16 KiB",
        ));
    }
    parse_promql(text).map_err(|e| PromError::bad_data(format!("invalid parameter \"query\": {e}")))
}

fn labels_json(labels: &PromLabels) -> Json_ {
    Json_::Object(
        labels
            .iter()
            .map(|(k, v)| (k.clone(), Json_::String(v.clone())))
            .collect(),
    )
}

async fn query(
    State(state): State<AppState>,
    _who: PromCaller,
    Form(p): Form<Params>,
) -> Result<Response, PromError> {
    let expr = parse_query(&p)?;
    let t = match param(&p, "time") {
        Some(text) => parse_time(text, "time")?,
        None => state.clock.now_ms(),
    };
    let data = load::load(&state, &expr, t, t).await?;
    let value = off_the_runtime(move || {
        eval::Evaluator::new(&data)
            .eval(&expr, t)
            .map_err(PromError::execution)
    })
    .await?;
    let ts = timestamp_json(t);
    Ok(success(match value {
        Value::Scalar(v) => json!({"resultType": "scalar", "result": [ts, format_value(v)]}),
        Value::String(s) => json!({"resultType": "string", "result": [ts, s]}),
        Value::Vector(v) => {
            check_unique(v.iter().map(|e| &e.labels))?;
            json!({"resultType": "vector", "result": v.iter().map(|e| json!({
                "metric": labels_json(&e.labels), "value": [ts, format_value(e.value)],
            })).collect::<Vec<_>>()})
        }
        Value::Matrix(m) => json!({"resultType": "matrix", "result": m.iter().map(|s| json!({
            "metric": labels_json(&s.labels),
            "values": s.points.iter().map(|(t, v)| json!([timestamp_json(*t), format_value(*v)])).collect::<Vec<_>>(),
        })).collect::<Vec<_>>()}),
    }))
}

/// A vector may not hold two elements with the same labels.
fn check_unique<'a>(labels: impl Iterator<Item = &'a PromLabels>) -> Result<(), PromError> {
    let mut seen = BTreeSet::new();
    for l in labels {
        if !seen.insert(l) {
            return Err(PromError::execution(
                "vector cannot contain metrics with the same labelset",
            ));
        }
    }
    Ok(())
}

async fn query_range(
    State(state): State<AppState>,
    _who: PromCaller,
    Form(p): Form<Params>,
) -> Result<Response, PromError> {
    let expr = parse_query(&p)?;
    let need = |k: &str| {
        param(&p, k)
            .ok_or_else(|| PromError::bad_data(format!("invalid parameter \"{k}\": missing")))
    };
    let start = parse_time(need("start")?, "start")?;
    let end = parse_time(need("end")?, "end")?;
    let step = parse_duration(need("step")?, "step")?;
    if end < start {
        return Err(PromError::bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    if step <= 0 {
        return Err(PromError::bad_data(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (end - start) / step >= MAX_STEPS {
        return Err(PromError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    if end - start > MAX_RANGE_MS {
        return Err(PromError::bad_data(
            "invalid parameter \"end\": the range is limited to 31 days",
        ));
    }
    let data = load::load(&state, &expr, start, end).await?;
    let body = off_the_runtime(move || {
        evaluate_range(&expr, &data, start, end, step).map(|out| matrix_body(&out))
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// A range query's answer, written straight to text: a day of points
/// per series is tens of thousands of small values, not worth a tree of
/// JSON values first.
fn matrix_body(out: &BTreeMap<PromLabels, Vec<(i64, f64)>>) -> String {
    use std::fmt::Write as _;
    let points: usize = out.values().map(Vec::len).sum();
    let mut s = String::with_capacity(128 + out.len() * 64 + points * 28);
    s.push_str(r#"{"status":"success","data":{"resultType":"matrix","result":["#);
    for (i, (labels, points)) in out.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(r#"{"metric":"#);
        s.push_str(&serde_json::to_string(labels).unwrap_or_else(|_| "{}".into()));
        s.push_str(r#","values":["#);
        for (j, (t, v)) in points.iter().enumerate() {
            if j > 0 {
                s.push(',');
            }
            let _ = write!(s, "[{},\"{}\"]", seconds_text(*t), format_value(*v));
        }
        s.push_str("]}");
    }
    s.push_str("]}}");
    s
}

/// A timestamp as a JSON number written as [`seconds_text`] writes it.
fn timestamp_json(ms: i64) -> Json_ {
    seconds_text(ms)
        .parse::<serde_json::Number>()
        .map_or(Json_::Null, Json_::Number)
}

/// Milliseconds as Prometheus writes a timestamp: seconds, with the
/// fraction only when there is one (`1435781460`, `1435781451.781`).
fn seconds_text(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    let (secs, frac) = (abs / 1000, abs % 1000);
    if frac == 0 {
        format!("{sign}{secs}")
    } else {
        format!("{sign}{secs}.{frac:03}")
            .trim_end_matches('0')
            .to_owned()
    }
}

/// Runs CPU-bound evaluation on the blocking pool, not on a runtime worker.
async fn off_the_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, PromError> + Send + 'static,
) -> Result<T, PromError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| PromError::unavailable(e.to_string()))?
}

/// A range query's result: every step from `start` to `end`.
fn evaluate_range(
    expr: &promql_parser::parser::Expr,
    data: &std::collections::HashMap<String, Vec<value::Series>>,
    start: i64,
    end: i64,
    step: i64,
) -> Result<BTreeMap<PromLabels, Vec<(i64, f64)>>, PromError> {
    let evaluator = eval::Evaluator::new(data);
    let mut out: BTreeMap<PromLabels, Vec<(i64, f64)>> = BTreeMap::new();
    let mut t = start;
    while t <= end {
        match evaluator.eval(expr, t).map_err(PromError::execution)? {
            Value::Scalar(v) => out.entry(PromLabels::new()).or_default().push((t, v)),
            Value::Vector(v) => {
                check_unique(v.iter().map(|e| &e.labels))?;
                for e in v {
                    out.entry(e.labels).or_default().push((t, e.value));
                }
            }
            other => {
                return Err(PromError::bad_data(format!(
                    "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                    if other.kind() == "matrix" {
                        "range vector"
                    } else {
                        other.kind()
                    }
                )));
            }
        }
        t += step;
    }
    Ok(out)
}

/// The series matching the `match[]` selectors (all of them without one).
async fn matching(state: &AppState, p: &Params) -> Result<Vec<PromLabels>, PromError> {
    let catalog = load::catalog(state).await?;
    let selectors: Vec<&str> = p
        .iter()
        .filter(|(k, _)| k == "match[]")
        .map(|(_, v)| v.as_str())
        .collect();
    if selectors.is_empty() {
        return Ok(catalog.iter().map(|e| e.labels.clone()).collect());
    }
    let mut parsed = Vec::new();
    for s in selectors {
        match parse_promql(s) {
            Ok(promql_parser::parser::Expr::VectorSelector(vs)) => parsed.push(vs),
            _ => {
                return Err(PromError::bad_data(format!(
                    "invalid parameter \"match[]\": `{}` is not a series selector",
                    s.escape_debug()
                )));
            }
        }
    }
    Ok(catalog
        .iter()
        .filter(|e| parsed.iter().any(|vs| load::selects(vs, &e.labels)))
        .map(|e| e.labels.clone())
        .collect())
}

async fn series(
    State(state): State<AppState>,
    _who: PromCaller,
    Form(p): Form<Params>,
) -> Result<Response, PromError> {
    let found = matching(&state, &p).await?;
    Ok(success(Json_::Array(
        found.iter().map(labels_json).collect(),
    )))
}

async fn labels(
    State(state): State<AppState>,
    _who: PromCaller,
    Form(p): Form<Params>,
) -> Result<Response, PromError> {
    let names: BTreeSet<String> = matching(&state, &p)
        .await?
        .into_iter()
        .flat_map(|l| l.into_keys())
        .collect();
    Ok(success(json!(names)))
}

async fn label_values(
    State(state): State<AppState>,
    _who: PromCaller,
    Path(name): Path<String>,
    Form(p): Form<Params>,
) -> Result<Response, PromError> {
    let values: BTreeSet<String> = matching(&state, &p)
        .await?
        .into_iter()
        .filter_map(|mut l| l.remove(&name))
        .collect();
    Ok(success(json!(values)))
}

async fn metadata(State(state): State<AppState>, _who: PromCaller) -> Result<Response, PromError> {
    let names: BTreeSet<String> = load::catalog(&state)
        .await?
        .iter()
        .filter_map(|e| e.labels.get(value::NAME).cloned())
        .collect();
    Ok(success(Json_::Object(
        names
            .into_iter()
            .map(|n| (n, json!([{"type": "gauge", "help": "", "unit": ""}])))
            .collect(),
    )))
}

async fn buildinfo(_who: PromCaller) -> Response {
    success(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": "",
        "branch": "",
        "buildUser": "oxmon",
        "buildDate": "",
        "goVersion": "",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_written_as_prometheus_writes_them() {
        assert_eq!(seconds_text(1_435_781_460_000), "1435781460");
        assert_eq!(seconds_text(1_435_781_451_781), "1435781451.781");
        assert_eq!(seconds_text(1_500), "1.5");
        assert_eq!(seconds_text(-1_500), "-1.5");
        assert_eq!(seconds_text(-20), "-0.02");
        assert_eq!(seconds_text(0), "0");
        let mut out = BTreeMap::new();
        out.insert(
            PromLabels::from([("a\"b".to_owned(), "x\ny".to_owned())]),
            vec![(1_000, 0.5), (2_500, f64::NAN)],
        );
        let body: serde_json::Value = serde_json::from_str(&matrix_body(&out)).unwrap();
        assert_eq!(
            body,
            json!({"status": "success", "data": {"resultType": "matrix", "result": [
                {"metric": {"a\"b": "x\ny"}, "values": [[1, "0.5"], [2.5, "NaN"]]}
            ]}})
        );
    }
}
