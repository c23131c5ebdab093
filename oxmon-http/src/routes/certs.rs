//! Certificates: details read by the checker (`/v1/certificates...`), the
//! monitored domains (`/v1/certs/domains...`), their latest results
//! (`/v1/certs/status...`) and checks on demand (`.../check`).

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use oxmon_core::manage::{
    CertCheckResult, CertDomain, CertDomainUpdate, CertStore, CertificateDetails, DetailsFilter,
    DomainFilter, NewCertDomain,
};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::json_int;
use super::params::{check_len, optional_bool, optional_text, optional_uint, page};
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody, ErrorDetail};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::rfc3339;
use crate::sources::CertChecks;
use crate::state::{AppState, unavailable};

/// Default page size of the certificate and domain lists.
pub const DEFAULT_CERT_PAGE_LIMIT: u64 = 100;
/// Largest page size of the certificate and domain lists.
pub const MAX_CERT_PAGE_LIMIT: u64 = 1000;
/// Most domains in one batch.
pub const MAX_DOMAIN_BATCH: usize = 1000;
/// Longest accepted note, in characters.
const MAX_NOTE_LEN: usize = 1024;

/// What a check of one certificate found, at `checked_at`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CertStatusView {
    /// Id of the checked domain.
    pub domain_id: String,
    /// The domain name.
    pub domain: String,
    /// The port checked.
    pub port: u16,
    /// When the check ran, RFC 3339.
    pub checked_at: String,
    /// Trusted chain, matching name, in date, and no connection error.
    pub is_valid: bool,
    /// Days until the leaf expires (negative once expired), when one was read.
    pub days_until_expiry: Option<f64>,
    /// The leaf's `notAfter`, RFC 3339, when one was read.
    pub not_after: Option<String>,
    /// Why the check failed (connection error or chain verdict).
    pub error: Option<String>,
}

impl From<CertCheckResult> for CertStatusView {
    fn from(r: CertCheckResult) -> Self {
        Self {
            checked_at: rfc3339(r.checked_at_ms),
            not_after: r.not_after_ms.map(rfc3339),
            domain_id: r.domain_id,
            domain: r.domain,
            port: r.port,
            is_valid: r.is_valid,
            days_until_expiry: r.days_until_expiry,
            error: r.error,
        }
    }
}

/// A monitored domain.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CertDomainView {
    /// Unique id (generated).
    pub id: String,
    /// The domain name, lower case.
    pub domain: String,
    /// The TLS port.
    pub port: u16,
    /// Whether the scheduler checks it.
    pub enabled: bool,
    /// Its own check interval; `null`: `[cert_check] default_interval_secs`.
    pub check_interval_secs: Option<u64>,
    /// Free text for operators.
    pub note: Option<String>,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Last change, RFC 3339.
    pub updated_at: String,
}

impl From<CertDomain> for CertDomainView {
    fn from(d: CertDomain) -> Self {
        Self {
            created_at: rfc3339(d.created_at_ms),
            updated_at: rfc3339(d.updated_at_ms),
            id: d.id,
            domain: d.domain,
            port: d.port,
            enabled: d.enabled,
            check_interval_secs: d.check_interval_secs,
            note: d.note,
        }
    }
}

/// What the last check read from a domain's certificate.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CertificateView {
    /// The domain name.
    pub domain: String,
    /// The port.
    pub port: u16,
    /// The leaf's `notBefore`, RFC 3339.
    pub not_before: String,
    /// The leaf's `notAfter`, RFC 3339.
    pub not_after: String,
    /// Days from now until `not_after` (negative once expired).
    pub days_until_expiry: f64,
    /// The earliest `notAfter` in the presented chain, RFC 3339.
    pub chain_earliest_expiry: String,
    /// Every address the domain resolved to.
    pub ip_addresses: Vec<String>,
    /// Issuer common name.
    pub issuer_cn: Option<String>,
    /// Issuer organization.
    pub issuer_o: Option<String>,
    /// Subject common name.
    pub subject_cn: Option<String>,
    /// Subject alternative names (DNS names and addresses).
    pub subject_alt_names: Vec<String>,
    /// Serial number, hex.
    pub serial: Option<String>,
    /// SHA-256 of the leaf certificate, hex.
    pub fingerprint_sha256: Option<String>,
    /// Public key type (`RSA`, `EC`, `Ed25519`).
    pub key_type: Option<String>,
    /// Public key size in bits.
    pub key_bits: Option<u32>,
    /// Signature algorithm of the leaf.
    pub signature_algorithm: Option<String>,
    /// Negotiated TLS version.
    pub tls_version: Option<String>,
    /// Negotiated cipher suite.
    pub cipher_suite: Option<String>,
    /// Whether the chain verified (trusted roots, host name, dates).
    pub chain_valid: bool,
    /// Why it did not.
    pub chain_error: Option<String>,
    /// When these details were read, RFC 3339.
    pub last_checked: String,
}

fn days_between(from_ms: i64, to_ms: i64) -> f64 {
    #[allow(clippy::cast_precision_loss)] // ms spans of certificates fit f64 exactly enough
    let days = oxmon_core::time::days_between(from_ms, to_ms);
    days
}

impl CertificateView {
    fn new(d: CertificateDetails, now_ms: i64) -> Self {
        let earliest = d
            .chain
            .iter()
            .map(|c| c.not_after_ms)
            .chain(std::iter::once(d.not_after_ms))
            .min()
            .unwrap_or(d.not_after_ms);
        Self {
            not_before: rfc3339(d.not_before_ms),
            not_after: rfc3339(d.not_after_ms),
            days_until_expiry: days_between(now_ms, d.not_after_ms),
            chain_earliest_expiry: rfc3339(earliest),
            last_checked: rfc3339(d.last_checked_ms),
            domain: d.domain,
            port: d.port,
            ip_addresses: d.ip_addresses,
            issuer_cn: d.issuer_cn,
            issuer_o: d.issuer_o,
            subject_cn: d.subject_cn,
            subject_alt_names: d.subject_alt_names,
            serial: d.serial,
            fingerprint_sha256: d.fingerprint_sha256,
            key_type: d.key_type,
            key_bits: d.key_bits,
            signature_algorithm: d.signature_algorithm,
            tls_version: d.tls_version,
            cipher_suite: d.cipher_suite,
            chain_valid: d.chain_valid,
            chain_error: d.chain_error,
        }
    }
}

/// One certificate of a presented chain.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ChainCertificateView {
    /// 0 for the leaf, then each certificate as the server sent it.
    pub position: usize,
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// `notBefore`, RFC 3339.
    pub not_before: String,
    /// `notAfter`, RFC 3339.
    pub not_after: String,
    /// Days from now until `not_after` (negative once expired).
    pub days_until_expiry: f64,
    /// Whether now is within its validity period.
    pub in_validity_period: bool,
    /// Whether it names itself as its issuer.
    pub self_issued: bool,
}

/// The chain a domain presented at its last check, and the verdict on it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CertificateChainView {
    /// The domain name.
    pub domain: String,
    /// The port.
    pub port: u16,
    /// Whether the chain verified (trusted roots, host name, dates).
    pub chain_valid: bool,
    /// Why it did not (`certificate expired`, `unknown issuer ...`).
    pub chain_error: Option<String>,
    /// When it was read, RFC 3339.
    pub last_checked: String,
    /// The certificates, leaf first.
    pub certificates: Vec<ChainCertificateView>,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Page<T> {
    /// How many items match the filters (ignoring `limit` and `offset`).
    pub total: u64,
    /// The page size used.
    pub limit: u64,
    /// The offset used.
    pub offset: u64,
    /// The items.
    pub items: Vec<T>,
}

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

/// The raw list query strings, parsed by hand (each bad value is 400).
#[derive(Debug, Deserialize)]
pub(super) struct CertificateParams {
    expiring_within_days: Option<String>,
    ip_address: Option<String>,
    issuer: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct DomainParams {
    enabled: Option<String>,
    search: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl AppState {
    fn certs(&self) -> Result<&std::sync::Arc<dyn CertStore>, ApiError> {
        self.certs
            .as_ref()
            .ok_or_else(|| unavailable("certificate monitoring"))
    }

    fn cert_checks(&self) -> Result<&std::sync::Arc<dyn CertChecks>, ApiError> {
        self.cert_checks
            .as_ref()
            .ok_or_else(|| unavailable("the certificate checker"))
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
pub(super) async fn list_certificates(
    State(state): State<AppState>,
    _who: AuthUser,
    ApiQuery(params): ApiQuery<CertificateParams>,
) -> Result<Json<Page<CertificateView>>, ApiError> {
    let days = optional_uint(
        "expiring_within_days",
        params.expiring_within_days.as_deref(),
        0,
        36_500,
    )?
    .map(|d| u32::try_from(d).unwrap_or(u32::MAX));
    let (limit, offset) = page(
        params.limit.as_deref(),
        params.offset.as_deref(),
        DEFAULT_CERT_PAGE_LIMIT,
        MAX_CERT_PAGE_LIMIT,
    )?;
    let now = state.clock.now_ms();
    let page = state
        .certs()?
        .list_details(
            &DetailsFilter {
                expiring_within_days: days,
                ip_address: optional_text(params.ip_address),
                issuer: optional_text(params.issuer),
                limit: to_usize(limit),
                offset: to_usize(offset),
            },
            now,
        )
        .await?;
    Ok(Json(Page {
        total: page.total,
        limit,
        offset,
        items: page
            .items
            .into_iter()
            .map(|d| CertificateView::new(d, now))
            .collect(),
    }))
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
pub(super) async fn get_certificate(
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
pub(super) async fn get_chain(
    State(state): State<AppState>,
    _who: AuthUser,
    ApiPath(domain): ApiPath<String>,
) -> Result<Json<CertificateChainView>, ApiError> {
    let d = details(&state, &domain).await?;
    let now = state.clock.now_ms();
    let certificates = d
        .chain
        .into_iter()
        .enumerate()
        .map(|(position, c)| ChainCertificateView {
            position,
            self_issued: c.subject == c.issuer,
            in_validity_period: (c.not_before_ms..=c.not_after_ms).contains(&now),
            days_until_expiry: days_between(now, c.not_after_ms),
            not_before: rfc3339(c.not_before_ms),
            not_after: rfc3339(c.not_after_ms),
            subject: c.subject,
            issuer: c.issuer,
        })
        .collect();
    Ok(Json(CertificateChainView {
        domain: d.domain,
        port: d.port,
        chain_valid: d.chain_valid,
        chain_error: d.chain_error,
        last_checked: rfc3339(d.last_checked_ms),
        certificates,
    }))
}

/// Adds a domain to monitor; the scheduler checks it at its next tick.
#[utoipa::path(
    post,
    path = "/v1/certs/domains",
    tag = "certificates",
    request_body = AddDomainRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Added", body = CertDomainView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 409, description = "The domain is already monitored on this port", body = ErrorBody),
        (status = 422, description = "Invalid domain, port, interval or note, or an address this server does not check (`[cert_check] allow_private_targets = false`)", body = ErrorBody),
        (status = 503, description = "Certificate monitoring is not available", body = ErrorBody),
    )
)]
pub(super) async fn add_domain(
    State(state): State<AppState>,
    _who: AuthUser,
    ApiJson(req): ApiJson<AddDomainRequest>,
) -> Result<(StatusCode, Json<CertDomainView>), ApiError> {
    check_note(req.note.as_deref())?;
    let store = state.certs()?;
    let new = req.into_new().normalized()?;
    check_target(&state, &new.domain)?;
    let domain = store.add_domain(&new, state.clock.now_ms()).await?;
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
    security(("bearer" = [])),
    responses(
        (status = 201, description = "All added, in order", body = Vec<CertDomainView>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 409, description = "Some items are monitored already or repeat an earlier item; nothing stored", body = BatchErrorBody),
        (status = 422, description = "Some items are invalid, or the batch is empty or too large; nothing stored", body = BatchErrorBody),
        (status = 503, description = "Certificate monitoring is not available", body = ErrorBody),
    )
)]
pub(super) async fn add_domains(
    State(state): State<AppState>,
    _who: AuthUser,
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
pub(super) async fn list_domains(
    State(state): State<AppState>,
    _who: AuthUser,
    ApiQuery(params): ApiQuery<DomainParams>,
) -> Result<Json<Page<CertDomainView>>, ApiError> {
    let enabled = optional_bool("enabled", params.enabled.as_deref())?;
    let (limit, offset) = page(
        params.limit.as_deref(),
        params.offset.as_deref(),
        DEFAULT_CERT_PAGE_LIMIT,
        MAX_CERT_PAGE_LIMIT,
    )?;
    let page = state
        .certs()?
        .list_domains(&DomainFilter {
            enabled,
            search: optional_text(params.search),
            limit: to_usize(limit),
            offset: to_usize(offset),
        })
        .await?;
    Ok(Json(Page {
        total: page.total,
        limit,
        offset,
        items: page.items.into_iter().map(Into::into).collect(),
    }))
}

/// Changes a domain's port, enabled flag, interval or note.
#[utoipa::path(
    put,
    path = "/v1/certs/domains/{id}",
    tag = "certificates",
    params(("id" = String, Path, description = "The domain id")),
    request_body = UpdateDomainRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Updated", body = CertDomainView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such domain", body = ErrorBody),
        (status = 409, description = "The domain is already monitored on the new port", body = ErrorBody),
        (status = 422, description = "Invalid port, interval or note", body = ErrorBody),
        (status = 503, description = "Certificate monitoring is not available", body = ErrorBody),
    )
)]
pub(super) async fn update_domain(
    State(state): State<AppState>,
    _who: AuthUser,
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
    let domain = state
        .certs()?
        .update_domain(&id, &update, state.clock.now_ms())
        .await?;
    Ok(Json(domain.into()))
}

/// Stops monitoring a domain and deletes its results and details.
#[utoipa::path(
    delete,
    path = "/v1/certs/domains/{id}",
    tag = "certificates",
    params(("id" = String, Path, description = "The domain id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such domain", body = ErrorBody),
        (status = 503, description = "Certificate monitoring is not available", body = ErrorBody),
    )
)]
pub(super) async fn delete_domain(
    State(state): State<AppState>,
    _who: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.certs()?.delete_domain(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

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
pub(super) async fn status_all(
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
pub(super) async fn status_one(
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
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The result, also recorded", body = CertStatusView),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such domain", body = ErrorBody),
        (status = 503, description = "Certificate checks are not available", body = ErrorBody),
    )
)]
pub(super) async fn check_one(
    State(state): State<AppState>,
    _who: AuthUser,
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
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The results, also recorded, by domain and port", body = Vec<CertStatusView>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 503, description = "Certificate checks are not available", body = ErrorBody),
    )
)]
pub(super) async fn check_all(
    State(state): State<AppState>,
    _who: AuthUser,
) -> Result<Json<Vec<CertStatusView>>, ApiError> {
    let checks = state.cert_checks()?.clone();
    let domains = state.certs()?.all_domains(Some(true)).await?;
    let results = checks.check_now(domains).await;
    Ok(Json(results.into_iter().map(Into::into).collect()))
}
