//! Agents: `GET /v1/agents` and `GET /v1/agents/{id}/latest`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue};
use oxmon_core::{Labels, LatestQuery};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::params::{check_len, optional_text, page};
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::rfc3339;
use crate::state::AppState;

/// One agent that has reported or is whitelisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AgentItem {
    /// The agent id.
    pub agent_id: String,
    /// Time of its newest stored sample, RFC 3339; `null` when never seen.
    pub last_seen: Option<String>,
    /// Whether it reported within the configured multiple of its interval.
    pub active: bool,
}

/// The newest value of one series of an agent.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LatestValue {
    /// The metric name.
    pub metric: String,
    /// The series labels.
    #[schema(value_type = BTreeMap<String, String>)]
    pub labels: Labels,
    /// The value.
    pub value: f64,
    /// When it was measured, RFC 3339.
    pub timestamp: String,
}

/// The newest sample time (ms) of every agent with stored samples; empty
/// without a metric store.
pub(super) async fn last_seen_map(state: &AppState) -> Result<BTreeMap<String, i64>, ApiError> {
    let Some(metrics) = state.metrics.as_ref() else {
        return Ok(BTreeMap::new());
    };
    Ok(metrics
        .agents()
        .await?
        .into_iter()
        .map(|a| (a.agent_id, a.last_seen_ms))
        .collect())
}

/// Every agent that has reported or is whitelisted, by agent id.
#[utoipa::path(
    get,
    path = "/v1/agents",
    tag = "agents",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The agents", body = Vec<AgentItem>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 503, description = "No metric store on this server", body = ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    _who: AuthUser,
) -> Result<Json<Vec<AgentItem>>, ApiError> {
    state.metrics()?;
    let mut seen: BTreeMap<String, Option<i64>> = last_seen_map(&state)
        .await?
        .into_iter()
        .map(|(id, ms)| (id, Some(ms)))
        .collect();
    for entry in state.whitelist.list_agents().await? {
        seen.entry(entry.agent_id).or_insert(None);
    }
    let now = state.clock.now_ms();
    Ok(Json(
        seen.into_iter()
            .map(|(agent_id, last)| AgentItem {
                agent_id,
                last_seen: last.map(rfc3339),
                active: last.is_some_and(|ms| state.activity.is_active(ms, now)),
            })
            .collect(),
    ))
}

/// One agent at a glance: status and its newest headline values.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AgentOverview {
    /// The agent id.
    pub agent_id: String,
    /// Time of its newest stored sample, RFC 3339; `null` when never seen.
    pub last_seen: Option<String>,
    /// Whether it reported within the configured multiple of its interval.
    pub active: bool,
    /// Newest `cpu.usage`, percent.
    pub cpu: Option<f64>,
    /// Newest `memory.used_percent`.
    pub memory: Option<f64>,
    /// Newest `disk.used_percent` of its fullest mount.
    pub disk: Option<f64>,
    /// Newest `load.load_1`.
    pub load: Option<f64>,
    /// `cpu.usage` over the last hour as 12 averages of
    /// five minutes, oldest first; `null` where it has no sample.
    pub cpu_trend: Vec<Option<f64>>,
}

/// How many averages [`AgentOverview::cpu_trend`] holds.
const TREND_BUCKETS: usize = 12;
/// The span of one of them, ms.
const TREND_BUCKET_MS: i64 = 300_000;

/// How many alerts fire now, by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct FiringCounts {
    /// Critical ones.
    pub critical: u64,
    /// Warnings.
    pub warning: u64,
    /// Informational ones.
    pub info: u64,
}

/// The fleet in one answer: what the console's overview shows.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FleetOverview {
    /// Every agent that has reported or is whitelisted, by agent id.
    pub agents: Vec<AgentOverview>,
    /// Alerts firing now, by severity (zeros without an alert engine).
    pub firing: FiringCounts,
}

/// Every agent with its status and newest CPU, memory, disk and load, and
/// the firing alerts by severity: one call instead of one per agent.
#[utoipa::path(
    get,
    path = "/v1/agents/overview",
    tag = "agents",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The fleet", body = FleetOverview),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 503, description = "No metric store on this server", body = ErrorBody),
    )
)]
pub(super) async fn overview(
    State(state): State<AppState>,
    who: AuthUser,
) -> Result<Json<FleetOverview>, ApiError> {
    let Json(items) = list(State(state.clone()), who).await?;
    let metrics = state.metrics()?.clone();
    let now_ms = state.clock.now_ms();
    // A few agents at a time: the store's readers work in parallel.
    let mut pending = tokio::task::JoinSet::new();
    let mut agents = Vec::with_capacity(items.len());
    for (position, item) in items.into_iter().enumerate() {
        if pending.len() >= OVERVIEW_PARALLELISM
            && let Some(done) = pending.join_next().await
        {
            agents.push(joined(done)?);
        }
        let metrics = metrics.clone();
        pending.spawn(async move {
            let overview = agent_overview(metrics.as_ref(), item, now_ms).await;
            overview.map(|o| (position, o))
        });
    }
    while let Some(done) = pending.join_next().await {
        agents.push(joined(done)?);
    }
    agents.sort_unstable_by_key(|(position, _)| *position);
    let agents = agents.into_iter().map(|(_, o)| o).collect();
    let mut firing = FiringCounts::default();
    if let Some(source) = state.active_alerts.as_ref() {
        for alert in source.active() {
            match alert.severity {
                oxmon_core::Severity::Critical => firing.critical += 1,
                oxmon_core::Severity::Warning => firing.warning += 1,
                oxmon_core::Severity::Info => firing.info += 1,
            }
        }
    }
    Ok(Json(FleetOverview { agents, firing }))
}

/// How many agents the overview reads at once.
const OVERVIEW_PARALLELISM: usize = 8;

/// The result of one agent's overview task.
fn joined(
    done: Result<Result<(usize, AgentOverview), ApiError>, tokio::task::JoinError>,
) -> Result<(usize, AgentOverview), ApiError> {
    done.map_err(|e| ApiError::from(oxmon_core::Error::unavailable(e.to_string())))?
}

/// One agent's line of the overview.
async fn agent_overview(
    metrics: &dyn oxmon_core::MetricStore,
    item: AgentItem,
    now_ms: i64,
) -> Result<AgentOverview, ApiError> {
    let (latest, cpu_trend) = if item.last_seen.is_some() {
        (
            metrics.latest(&item.agent_id).await?,
            cpu_trend(metrics, &item.agent_id, now_ms).await?,
        )
    } else {
        (Vec::new(), vec![None; TREND_BUCKETS])
    };
    let newest = |metric: &str| {
        latest
            .iter()
            .filter(|s| s.metric == metric)
            .map(|s| s.value)
            .reduce(f64::max)
    };
    Ok(AgentOverview {
        cpu_trend,
        cpu: newest("cpu.usage"),
        memory: newest("memory.used_percent"),
        disk: newest("disk.used_percent"),
        load: newest("load.load_1"),
        agent_id: item.agent_id,
        last_seen: item.last_seen,
        active: item.active,
    })
}

/// An agent's `cpu.usage` of the hour before `now_ms` in five-minute
/// averages, oldest first (the first series when it has several).
async fn cpu_trend(
    metrics: &dyn oxmon_core::MetricStore,
    agent_id: &str,
    now_ms: i64,
) -> Result<Vec<Option<f64>>, ApiError> {
    let span = TREND_BUCKET_MS * TREND_BUCKETS as i64;
    let from_ms = now_ms - span + 1;
    let series = metrics
        .query_range(&oxmon_core::RangeQuery {
            agent_id: agent_id.to_owned(),
            metric: "cpu.usage".to_owned(),
            labels: None,
            from_ms,
            to_ms: now_ms,
        })
        .await?;
    // The metrics route's bucket averages, each put in its slot.
    let points = series
        .first()
        .map(|s| s.points.as_slice())
        .unwrap_or_default();
    let mut trend = vec![None; TREND_BUCKETS];
    for p in super::metrics::downsample(points, from_ms, TREND_BUCKET_MS) {
        if let Some(slot) = usize::try_from((p.timestamp_ms - from_ms) / TREND_BUCKET_MS)
            .ok()
            .and_then(|i| trend.get_mut(i))
        {
            *slot = Some(p.value);
        }
    }
    Ok(trend)
}

/// Default page size of `/v1/agents/{id}/latest`.
const DEFAULT_LATEST_LIMIT: u64 = 1000;
/// Largest page size of `/v1/agents/{id}/latest`.
const MAX_LATEST_LIMIT: u64 = 10_000;
/// Longest accepted `metric` filter, bytes.
const MAX_METRIC_FILTER: usize = 1024;

/// The raw `/latest` query string, parsed by hand (each bad value is 400).
#[derive(Debug, Deserialize)]
pub(super) struct LatestParams {
    metric: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

/// One page of the newest value of every series of an agent, by metric then
/// labels; the number of matching series is in `X-Total-Count`.
#[utoipa::path(
    get,
    path = "/v1/agents/{id}/latest",
    tag = "agents",
    params(
        ("id" = String, Path, description = "The agent id"),
        ("metric" = Option<String>, Query, max_length = 1024, description = "Only metrics whose name starts with this text (`disk.` selects every disk metric)"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 10000, description = "Page size, 1 to 10000 (default 1000)"),
        ("offset" = Option<u64>, Query, minimum = 0, description = "Series to skip (default 0)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of newest values (empty for a whitelisted agent without data)", body = Vec<LatestValue>,
            headers(("X-Total-Count" = u64, description = "How many series match `metric`, ignoring limit and offset"))),
        (status = 400, description = "Bad limit or offset", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No data and not whitelisted", body = ErrorBody),
        (status = 422, description = "`metric` longer than 1024 bytes", body = ErrorBody),
        (status = 503, description = "No metric store on this server", body = ErrorBody),
    )
)]
pub(super) async fn latest(
    State(state): State<AppState>,
    _who: AuthUser,
    ApiPath(agent_id): ApiPath<String>,
    ApiQuery(params): ApiQuery<LatestParams>,
) -> Result<([(HeaderName, HeaderValue); 1], Json<Vec<LatestValue>>), ApiError> {
    check_len("`metric`", params.metric.as_deref(), MAX_METRIC_FILTER)?;
    let (limit, offset) = page(
        params.limit.as_deref(),
        params.offset.as_deref(),
        DEFAULT_LATEST_LIMIT,
        MAX_LATEST_LIMIT,
    )?;
    let query = LatestQuery {
        metric: optional_text(params.metric),
        limit: usize::try_from(limit).unwrap_or(usize::MAX),
        offset: usize::try_from(offset).unwrap_or(usize::MAX),
    };
    let store = state.metrics()?;
    let page = store.latest_page(&agent_id, &query).await?;
    if page.total == 0 {
        // Unknown only when it has no data at all (not merely none matching).
        let any = LatestQuery {
            limit: 1,
            ..LatestQuery::default()
        };
        let has_data =
            query.metric.is_some() && store.latest_page(&agent_id, &any).await?.total > 0;
        if !has_data && state.whitelist.get_agent(&agent_id).await?.is_none() {
            return Err(ApiError::not_found(format!(
                "no agent `{agent_id}`: it has no data and is not whitelisted"
            )));
        }
    }
    let total = [(
        HeaderName::from_static("x-total-count"),
        HeaderValue::from(page.total),
    )];
    Ok((
        total,
        Json(
            page.samples
                .into_iter()
                .map(|s| LatestValue {
                    timestamp: rfc3339(s.timestamp_ms),
                    metric: s.metric,
                    labels: s.labels,
                    value: s.value,
                })
                .collect(),
        ),
    ))
}
