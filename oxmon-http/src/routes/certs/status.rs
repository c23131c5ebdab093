//! `/v1/certs/status...` and `.../check`: the latest check results, and
//! checks on demand.

use axum::Json;
use axum::extract::State;

use super::views::CertStatusView;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, OperatorUser};
use crate::state::AppState;

/// The latest check result of every domain that has one.
#[utoipa::path(
    get,
    path = "/v1/certs/status",
    tag = "certificates",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Latest results, by domain and port", body = Vec<CertStatusView>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 503, description = "Certificate monitoring is not available", body = ErrorBody),
    )
)]
pub(in crate::routes) async fn status_all(
    State(state): State<AppState>,
    _who: AuthUser,
) -> Result<Json<Vec<CertStatusView>>, ApiError> {
    let results = state.certs()?.latest_check_results().await?;
    Ok(Json(results.into_iter().map(Into::into).collect()))
}

/// The latest check result of one domain name (across its ports).
#[utoipa::path(
    get,
    path = "/v1/certs/status/{domain}",
    tag = "certificates",
    params(("domain" = String, Path, description = "The domain name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The latest result", body = CertStatusView),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "Not monitored or not checked yet", body = ErrorBody),
        (status = 503, description = "Certificate monitoring is not available", body = ErrorBody),
    )
)]
pub(in crate::routes) async fn status_one(
    State(state): State<AppState>,
    _who: AuthUser,
    ApiPath(domain): ApiPath<String>,
) -> Result<Json<CertStatusView>, ApiError> {
    let result = state
        .certs()?
        .latest_check_result(&domain)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no check result for `{domain}` (not monitored, or not checked yet)"
            ))
        })?;
    Ok(Json(result.into()))
}

/// Checks one domain now (enabled or not) and returns the result.
#[utoipa::path(
    post,
    path = "/v1/certs/domains/{id}/check",
    tag = "certificates",
    params(("id" = String, Path, description = "The domain id")),
    security(("bearer" = ["operator"])),
    responses(
        (status = 200, description = "The result, also recorded", body = CertStatusView),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below operator", body = ErrorBody),
        (status = 404, description = "No such domain", body = ErrorBody),
        (status = 503, description = "Certificate checks are not available", body = ErrorBody),
    )
)]
pub(in crate::routes) async fn check_one(
    State(state): State<AppState>,
    _who: OperatorUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CertStatusView>, ApiError> {
    let checks = state.cert_checks()?.clone();
    let domain = state
        .certs()?
        .get_domain(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no domain with id `{id}`")))?;
    let result = checks
        .check_now(vec![domain])
        .await
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("the checker returned no result"))?;
    Ok(Json(result.into()))
}

/// Checks every enabled domain now, at most `max_concurrent` at once, and
/// returns the results.
#[utoipa::path(
    post,
    path = "/v1/certs/check",
    tag = "certificates",
    security(("bearer" = ["operator"])),
    responses(
        (status = 200, description = "The results, also recorded, by domain and port", body = Vec<CertStatusView>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below operator", body = ErrorBody),
        (status = 503, description = "Certificate checks are not available", body = ErrorBody),
    )
)]
pub(in crate::routes) async fn check_all(
    State(state): State<AppState>,
    _who: OperatorUser,
) -> Result<Json<Vec<CertStatusView>>, ApiError> {
    let checks = state.cert_checks()?.clone();
    let domains = state.certs()?.all_domains(Some(true)).await?;
    let results = checks.check_now(domains).await;
    Ok(Json(results.into_iter().map(Into::into).collect()))
}
