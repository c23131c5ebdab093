//! `/v1/certs/domains...`: the monitored domains, added one by one or in an
//! all-or-nothing batch, listed, changed and deleted.

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use oxmon_core::manage::{CertDomainUpdate, DomainFilter, NewCertDomain};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::views::{CertDomainView, Page};
use super::{MAX_DOMAIN_BATCH, PageParams, Paging};
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody, ErrorDetail};
use crate::extract::{AdminUser, ApiJson, ApiPath, ApiQuery};
use crate::routes::json_int;
use crate::routes::params::{check_len, optional_bool, optional_text};
use crate::state::{AppState, audited};

/// Longest accepted note, in characters.
const MAX_NOTE_LEN: usize = 1024;

/// A domain to monitor.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddDomainRequest {
    /// Host name or IP address (no scheme, port or path; an IPv6 address
    /// without brackets), at most 253 bytes.
    #[schema(
        min_length = 1,
        max_length = 253,
        pattern = r"^([^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000/@:]+|[0-9A-Fa-f:.]+)$"
    )]
    pub domain: String,
    /// TLS port (default 443).
    #[serde(default, deserialize_with = "json_int::option")]
    #[schema(minimum = 1, maximum = 65535)]
    pub port: Option<u16>,
    /// Whether to check it (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Its own check interval in seconds (default: the server's).
    #[serde(default, deserialize_with = "json_int::option")]
    #[schema(minimum = 1, maximum = 9223372036854775807_u64)]
    pub check_interval_secs: Option<u64>,
    /// Free text for operators.
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub note: Option<String>,
}

impl AddDomainRequest {
    fn into_new(self) -> NewCertDomain {
        let mut d = NewCertDomain::new(self.domain);
        if let Some(port) = self.port {
            d = d.with_port(port);
        }
        d.enabled = self.enabled.unwrap_or(true);
        d.check_interval_secs = self.check_interval_secs;
        d.note = self.note;
        d
    }
}

/// Several domains to monitor, stored all or none.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddDomainsRequest {
    /// The domains.
    #[schema(min_items = 1, max_items = 1000)]
    pub domains: Vec<AddDomainRequest>,
}

/// Changes to a domain; absent fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDomainRequest {
    /// New TLS port.
    #[serde(default, deserialize_with = "json_int::option")]
    #[schema(minimum = 1, maximum = 65535)]
    pub port: Option<u16>,
    /// Check it or not.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// New interval in seconds; `null` returns to the server's default.
    #[serde(default, deserialize_with = "json_int::present_option")]
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 9223372036854775807_u64)]
    pub check_interval_secs: Option<Option<u64>>,
    /// New note; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 1024)]
    pub note: Option<Option<String>>,
}

/// A field that is present (possibly `null`) is `Some`; an absent one stays
/// `None` through `#[serde(default)]`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// One item of a refused batch.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchItemError {
    /// Position in the request, from 0.
    pub index: usize,
    /// The item's domain as sent.
    pub domain: String,
    /// `invalid_input` or `conflict`.
    pub code: String,
    /// What is wrong with it.
    pub message: String,
}

/// A refused batch: nothing was stored; every bad item is listed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchErrorBody {
    /// Summary.
    pub error: ErrorDetail,
    /// Each refused item (absent when the request as a whole is refused:
    /// bad shape, empty or too large).
    #[schema(required = false)]
    pub items: Vec<BatchItemError>,
}

/// The query string of `GET /v1/certs/domains`, raw (each bad value is 400).
#[derive(Debug, Deserialize)]
pub(in crate::routes) struct DomainParams {
    enabled: Option<String>,
    search: Option<String>,
    #[serde(flatten)]
    page: PageParams,
}

impl DomainParams {
    /// The store's filter, with the paging the answer reports.
    fn parse(self) -> Result<(DomainFilter, Paging), ApiError> {
        let enabled = optional_bool("enabled", self.enabled.as_deref())?;
        let paging = self.page.parse()?;
        let filter = DomainFilter {
            enabled,
            search: optional_text(self.search),
            limit: paging.limit(),
            offset: paging.offset(),
        };
        Ok((filter, paging))
    }
}

fn check_note(note: Option<&str>) -> Result<(), ApiError> {
    check_len("note", note, MAX_NOTE_LEN)
}

/// Why the checker would never check `domain`, if it would not.
fn target_refusal(state: &AppState, domain: &str) -> Option<String> {
    state
        .cert_checks
        .as_ref()
        .and_then(|c| c.refuse_target(domain))
}

/// The checker's refusal of a target it would never check (422).
fn check_target(state: &AppState, domain: &str) -> Result<(), ApiError> {
    match target_refusal(state, domain) {
        Some(why) => Err(ApiError::unprocessable("invalid_input", why)),
        None => Ok(()),
    }
}

/// Adds a domain to monitor; the scheduler checks it at its next tick.
#[utoipa::path(
    post,
    path = "/v1/certs/domains",
    tag = "certificates",
    request_body = AddDomainRequest,
    security(("bearer" = ["admin"])),
    responses(
        (status = 201, description = "Added", body = CertDomainView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below admin", body = ErrorBody),
        (status = 409, description = "The domain is already monitored on this port", body = ErrorBody),
        (status = 422, description = "Invalid domain, port, interval or note, or an address this server does not check (`[cert_check] allow_private_targets = false`)", body = ErrorBody),
        (status = 503, description = "Certificate monitoring is not available", body = ErrorBody),
    )
)]
pub(in crate::routes) async fn add_domain(
    State(state): State<AppState>,
    who: AdminUser,
    ApiJson(req): ApiJson<AddDomainRequest>,
) -> Result<(StatusCode, Json<CertDomainView>), ApiError> {
    check_note(req.note.as_deref())?;
    let store = state.certs()?;
    let new = req.into_new().normalized()?;
    check_target(&state, &new.domain)?;
    let domain = store.add_domain(&new, state.clock.now_ms()).await?;
    state
        .audit(
            &who.0,
            "cert_domain.add",
            &domain.id,
            None,
            audited(&domain),
        )
        .await;
    Ok((StatusCode::CREATED, Json(domain.into())))
}

fn batch_refused(status: StatusCode, items: Vec<BatchItemError>, total: usize) -> Response {
    let summary = items
        .iter()
        .map(|e| format!("item {} ({}): {}", e.index, e.domain, e.message))
        .collect::<Vec<_>>()
        .join("; ");
    let code = if status == StatusCode::CONFLICT {
        "conflict"
    } else {
        "invalid_input"
    };
    let body = BatchErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message: format!(
                "{} of {total} items refused, nothing stored: {summary}",
                items.len()
            ),
        },
        items,
    };
    (status, Json(body)).into_response()
}

/// Adds several domains, all or none. A refused batch lists every bad item.
#[utoipa::path(
    post,
    path = "/v1/certs/domains/batch",
    tag = "certificates",
    request_body = AddDomainsRequest,
    security(("bearer" = ["admin"])),
    responses(
        (status = 201, description = "All added, in order", body = Vec<CertDomainView>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below admin", body = ErrorBody),
        (status = 409, description = "Some items are monitored already or repeat an earlier item; nothing stored", body = BatchErrorBody),
        (status = 422, description = "Some items are invalid, or the batch is empty or too large; nothing stored", body = BatchErrorBody),
        (status = 503, description = "Certificate monitoring is not available", body = ErrorBody),
    )
)]
pub(in crate::routes) async fn add_domains(
    State(state): State<AppState>,
    who: AdminUser,
    ApiJson(req): ApiJson<AddDomainsRequest>,
) -> Result<Response, ApiError> {
    let store = state.certs()?.clone();
    let total = req.domains.len();
    if total == 0 || total > MAX_DOMAIN_BATCH {
        return Err(ApiError::unprocessable(
            "invalid_input",
            format!("`domains` must hold 1 to {MAX_DOMAIN_BATCH} items, not {total}"),
        ));
    }
    let mut invalid = Vec::new();
    let mut valid = Vec::with_capacity(total);
    for (index, item) in req.domains.into_iter().enumerate() {
        let sent = item.domain.clone();
        let checked = check_note(item.note.as_deref())
            .map_err(|e| e.to_string())
            .and_then(|()| item.into_new().normalized().map_err(|e| e.to_string()))
            .and_then(|d| target_refusal(&state, &d.domain).map_or(Ok(d), Err));
        match checked {
            Ok(d) => valid.push((index, sent, d)),
            Err(message) => invalid.push(BatchItemError {
                index,
                domain: sent,
                code: "invalid_input".to_owned(),
                message,
            }),
        }
    }
    if !invalid.is_empty() {
        return Ok(batch_refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            invalid,
            total,
        ));
    }
    let monitored: HashSet<(String, u16)> = store
        .all_domains(None)
        .await?
        .into_iter()
        .map(|d| (d.domain, d.port))
        .collect();
    let mut seen = HashSet::new();
    let mut conflicts = Vec::new();
    for (index, sent, d) in &valid {
        let key = (d.domain.clone(), d.port);
        let message = if !seen.insert(key.clone()) {
            format!("repeats an earlier item ({}:{})", d.domain, d.port)
        } else if monitored.contains(&key) {
            format!("{}:{} is already monitored", d.domain, d.port)
        } else {
            continue;
        };
        conflicts.push(BatchItemError {
            index: *index,
            domain: sent.clone(),
            code: "conflict".to_owned(),
            message,
        });
    }
    if !conflicts.is_empty() {
        return Ok(batch_refused(StatusCode::CONFLICT, conflicts, total));
    }
    let items: Vec<NewCertDomain> = valid.into_iter().map(|(_, _, d)| d).collect();
    // A concurrent request may still win a race: the store refuses atomically.
    let added = store.add_domains(&items, state.clock.now_ms()).await?;
    for domain in &added {
        state
            .audit(&who.0, "cert_domain.add", &domain.id, None, audited(domain))
            .await;
    }
    let views: Vec<CertDomainView> = added.into_iter().map(Into::into).collect();
    Ok((StatusCode::CREATED, Json(views)).into_response())
}

/// Monitored domains, by domain and port, filtered and paged.
#[utoipa::path(
    get,
    path = "/v1/certs/domains",
    tag = "certificates",
    params(
        ("enabled" = Option<bool>, Query, description = "Only enabled (true) or disabled (false) domains"),
        ("search" = Option<String>, Query, description = "Only domains containing this text, case-insensitive (empty: any)"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 1000, description = "Page size (default 100)"),
        ("offset" = Option<u64>, Query, minimum = 0, maximum = 4294967295_u64, description = "Items to skip (default 0)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of domains", body = Page<CertDomainView>),
        (status = 400, description = "Bad parameter", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 503, description = "Certificate monitoring is not available", body = ErrorBody),
    )
)]
pub(in crate::routes) async fn list_domains(
    State(state): State<AppState>,
    _who: AuthUser,
    ApiQuery(params): ApiQuery<DomainParams>,
) -> Result<Json<Page<CertDomainView>>, ApiError> {
    let (filter, paging) = params.parse()?;
    let page = state.certs()?.list_domains(&filter).await?;
    Ok(Json(paging.answer(page, Into::into)))
}

/// Changes a domain's port, enabled flag, interval or note.
#[utoipa::path(
    put,
    path = "/v1/certs/domains/{id}",
    tag = "certificates",
    params(("id" = String, Path, description = "The domain id")),
    request_body = UpdateDomainRequest,
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Updated", body = CertDomainView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below admin", body = ErrorBody),
        (status = 404, description = "No such domain", body = ErrorBody),
        (status = 409, description = "The domain is already monitored on the new port", body = ErrorBody),
        (status = 422, description = "Invalid port, interval or note", body = ErrorBody),
        (status = 503, description = "Certificate monitoring is not available", body = ErrorBody),
    )
)]
pub(in crate::routes) async fn update_domain(
    State(state): State<AppState>,
    who: AdminUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateDomainRequest>,
) -> Result<Json<CertDomainView>, ApiError> {
    check_note(req.note.as_ref().and_then(Option::as_deref))?;
    let update = CertDomainUpdate {
        port: req.port,
        enabled: req.enabled,
        check_interval_secs: req.check_interval_secs,
        note: req.note,
    };
    let before = state.certs()?.get_domain(&id).await?;
    let domain = state
        .certs()?
        .update_domain(&id, &update, state.clock.now_ms())
        .await?;
    state
        .audit(
            &who.0,
            "cert_domain.update",
            &id,
            before.as_ref().and_then(audited),
            audited(&domain),
        )
        .await;
    Ok(Json(domain.into()))
}

/// Stops monitoring a domain and deletes its results and details.
#[utoipa::path(
    delete,
    path = "/v1/certs/domains/{id}",
    tag = "certificates",
    params(("id" = String, Path, description = "The domain id")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller's role is below admin", body = ErrorBody),
        (status = 404, description = "No such domain", body = ErrorBody),
        (status = 503, description = "Certificate monitoring is not available", body = ErrorBody),
    )
)]
pub(in crate::routes) async fn delete_domain(
    State(state): State<AppState>,
    who: AdminUser,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let before = state.certs()?.get_domain(&id).await?;
    state.certs()?.delete_domain(&id).await?;
    state
        .audit(
            &who.0,
            "cert_domain.delete",
            &id,
            before.as_ref().and_then(audited),
            None,
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}
