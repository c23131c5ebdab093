//! `/v1/certificates...`: the details the checker read, listed, one by one
//! and as a chain.

use axum::Json;
use axum::extract::State;
use oxmon_core::cert::CertificateDetails;
use oxmon_core::manage::DetailsFilter;
use serde::Deserialize;

use super::views::{CertificateChainView, CertificateView, Page};
use super::{PageParams, Paging};
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::routes::params::{optional_text, optional_uint};
use crate::state::AppState;

/// Most days `expiring_within_days` accepts (100 years).
const MAX_EXPIRING_WITHIN_DAYS: u64 = 36_500;

/// The query string of `GET /v1/certificates`, raw (each bad value is 400).
#[derive(Debug, Deserialize)]
pub(in crate::routes) struct CertificateParams {
    expiring_within_days: Option<String>,
    ip_address: Option<String>,
    issuer: Option<String>,
    #[serde(flatten)]
    page: PageParams,
}

impl CertificateParams {
    /// The store's filter, with the paging the answer reports.
    fn parse(self) -> Result<(DetailsFilter, Paging), ApiError> {
        let days = optional_uint(
            "expiring_within_days",
            self.expiring_within_days.as_deref(),
            0,
            MAX_EXPIRING_WITHIN_DAYS,
        )?
        .map(|d| u32::try_from(d).unwrap_or(u32::MAX));
        let paging = self.page.parse()?;
        let filter = DetailsFilter {
            expiring_within_days: days,
            ip_address: optional_text(self.ip_address),
            issuer: optional_text(self.issuer),
            limit: paging.limit(),
            offset: paging.offset(),
        };
        Ok((filter, paging))
    }
}

/// Certificate details of every checked domain, filtered and paged.
#[utoipa::path(
    get,
    path = "/v1/certificates",
    tag = "certificates",
    params(
        ("expiring_within_days" = Option<u32>, Query, minimum = 0, maximum = 36500, description = "Only certificates expiring within this many days (expired ones included)"),
        ("ip_address" = Option<String>, Query, description = "Only domains that resolved to exactly this address (empty: any)"),
        ("issuer" = Option<String>, Query, description = "Only issuers whose CN or O contains this text, case-insensitive (empty: any)"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 1000, description = "Page size (default 100)"),
        ("offset" = Option<u64>, Query, minimum = 0, maximum = 4294967295_u64, description = "Items to skip (default 0)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of certificates, by domain and port", body = Page<CertificateView>),
        (status = 400, description = "Bad parameter", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 503, description = "Certificate monitoring is not available", body = ErrorBody),
    )
)]
pub(in crate::routes) async fn list_certificates(
    State(state): State<AppState>,
    _who: AuthUser,
    ApiQuery(params): ApiQuery<CertificateParams>,
) -> Result<Json<Page<CertificateView>>, ApiError> {
    let (filter, paging) = params.parse()?;
    let now = state.clock.now_ms();
    let page = state.certs()?.list_details(&filter, now).await?;
    Ok(Json(paging.answer(page, |d| CertificateView::new(d, now))))
}

async fn details(state: &AppState, domain: &str) -> Result<CertificateDetails, ApiError> {
    state.certs()?.get_details(domain).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "no certificate details for `{domain}` (not monitored, or not checked yet)"
        ))
    })
}

/// The certificate details of one domain (the most recently checked port).
#[utoipa::path(
    get,
    path = "/v1/certificates/{domain}",
    tag = "certificates",
    params(("domain" = String, Path, description = "The domain name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The details", body = CertificateView),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "Not monitored or not checked yet", body = ErrorBody),
        (status = 503, description = "Certificate monitoring is not available", body = ErrorBody),
    )
)]
pub(in crate::routes) async fn get_certificate(
    State(state): State<AppState>,
    _who: AuthUser,
    ApiPath(domain): ApiPath<String>,
) -> Result<Json<CertificateView>, ApiError> {
    let d = details(&state, &domain).await?;
    Ok(Json(CertificateView::new(d, state.clock.now_ms())))
}

/// The chain one domain presented, each certificate with its validity, and
/// the verdict on the chain with its reason.
#[utoipa::path(
    get,
    path = "/v1/certificates/{domain}/chain",
    tag = "certificates",
    params(("domain" = String, Path, description = "The domain name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The chain and its verdict", body = CertificateChainView),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "Not monitored or not checked yet", body = ErrorBody),
        (status = 503, description = "Certificate monitoring is not available", body = ErrorBody),
    )
)]
pub(in crate::routes) async fn get_chain(
    State(state): State<AppState>,
    _who: AuthUser,
    ApiPath(domain): ApiPath<String>,
) -> Result<Json<CertificateChainView>, ApiError> {
    let d = details(&state, &domain).await?;
    Ok(Json(CertificateChainView::new(d, state.clock.now_ms())))
}
