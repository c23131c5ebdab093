//! The router, its handlers and the OpenAPI document generated from them.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi as _};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::state::AppState;

mod agents;
mod alerts;
mod audit;
mod auth;
mod certs;
mod channels;
mod definition;
mod health;
mod json_int;
mod metrics;
mod notifications;
mod params;
mod rules;
mod settings;
mod silences;
mod tokens;
mod users;
mod whitelist;

pub use agents::{AgentItem, AgentOverview, FiringCounts, FleetOverview, LatestValue};
pub use alerts::{AlertEventView, AlertHistoryPage, DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT};
pub use audit::{AuditPageView, AuditView};
pub use channels::{ChannelDefinition, ChannelTestView, ChannelView, SecretState};
pub use metrics::{PointView, SeriesView};
pub use notifications::{DeliveryLogPage, DeliveryView};
pub use rules::{RuleDefinition, RuleView};
pub use settings::SettingView;
pub use silences::{
    CreateSilenceRequest, MatchersView, SilenceView, SilencesView, WindowDefinition, WindowView,
};
pub use tokens::{ApiTokenView, CreateTokenRequest, CreateTokenResponse};
pub use users::{CreateUserRequest, UpdateUserRequest, UserView};

pub use auth::{ChangePasswordRequest, LoginRequest, LoginResponse};
pub use certs::{
    AddDomainRequest, AddDomainsRequest, BatchErrorBody, BatchItemError, CertDomainView,
    CertStatusView, CertificateChainView, CertificateView, ChainCertificateView,
    DEFAULT_CERT_PAGE_LIMIT, MAX_CERT_PAGE_LIMIT, MAX_DOMAIN_BATCH, Page, UpdateDomainRequest,
};
pub use health::HealthResponse;
pub use whitelist::{
    AddAgentRequest, AddAgentResponse, AgentStatus, RegenerateTokenResponse, UpdateAgentRequest,
    WhitelistItem,
};

/// Name of the bearer security scheme in the OpenAPI document.
pub const BEARER_SCHEME: &str = "bearer";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "oxmon REST API", description = "Monitoring server API: auth, agents, metrics, alerts, agent whitelist, certificates"),
    modifiers(&BearerScheme),
    tags(
        (name = "health", description = "Server status"),
        (name = "settings", description = "The settings of server.toml a running server can change"),
        (name = "auth", description = "Login, password and API tokens"),
        (name = "agents", description = "Agents and their newest values"),
        (name = "metrics", description = "Time series queries"),
        (name = "alerts", description = "Alert rules, history and firing alerts"),
        (name = "notifications", description = "Channels, every attempt to notify them, and silences"),
        (name = "whitelist", description = "Agents allowed to report over gRPC"),
        (name = "users", description = "Users and their roles (viewer, operator, admin), and the audit log"),
        (name = "certificates", description = "TLS certificate monitoring: domains, details, chains, checks"),
        (name = "openapi", description = "This document"),
    )
)]
struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Every route with its OpenAPI description: the one list both
/// [`router`] and [`openapi`] are built from, so they cannot drift.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(health::prometheus))
        .routes(routes!(auth::login))
        .routes(routes!(auth::change_password))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::delete))
        .routes(routes!(agents::list))
        .routes(routes!(agents::overview))
        .routes(routes!(agents::latest))
        .routes(routes!(metrics::query))
        .routes(routes!(rules::list, rules::create))
        .routes(routes!(rules::get, rules::update, rules::delete))
        .routes(routes!(rules::enable))
        .routes(routes!(rules::disable))
        .routes(routes!(alerts::history))
        .routes(routes!(alerts::active))
        .routes(routes!(alerts::acknowledge))
        .routes(routes!(alerts::resolve))
        .routes(routes!(notifications::log))
        .routes(routes!(channels::list, channels::create))
        .routes(routes!(channels::get, channels::update, channels::delete))
        .routes(routes!(channels::test))
        .routes(routes!(silences::list, silences::create))
        .routes(routes!(silences::expire))
        .routes(routes!(silences::create_window))
        .routes(routes!(silences::delete_window))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::update, users::delete))
        .routes(routes!(audit::list))
        .routes(routes!(settings::list, settings::update))
        .routes(routes!(whitelist::list, whitelist::add))
        .routes(routes!(whitelist::update, whitelist::delete))
        .routes(routes!(whitelist::regenerate_token))
        .routes(routes!(certs::certificates::list_certificates))
        .routes(routes!(certs::certificates::get_certificate))
        .routes(routes!(certs::certificates::get_chain))
        .routes(routes!(
            certs::domains::list_domains,
            certs::domains::add_domain
        ))
        .routes(routes!(certs::domains::add_domains))
        .routes(routes!(
            certs::domains::update_domain,
            certs::domains::delete_domain
        ))
        .routes(routes!(certs::status::check_one))
        .routes(routes!(certs::status::check_all))
        .routes(routes!(certs::status::status_all))
        .routes(routes!(certs::status::status_one))
        .routes(routes!(openapi_json))
        .routes(routes!(openapi_yaml))
}

/// The OpenAPI 3 document of every route [`router`] serves.
pub fn openapi() -> &'static OpenApi {
    static DOC: OnceLock<OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = api_routes().into_openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        declare_body_errors(&mut doc);
        doc
    })
}

/// Every operation with a JSON body may answer 413 (over the body limit)
/// and 415 (not `Content-Type: application/json`): declared here once for
/// all of them, where the extractor that answers them is shared.
fn declare_body_errors(doc: &mut OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        let operations = [&mut item.post, &mut item.put, &mut item.patch];
        for op in operations.into_iter().flatten() {
            if op.request_body.is_none() {
                continue;
            }
            for (status, description) in [
                ("413", "Body larger than the limit (64 KiB by default)"),
                ("415", "Body not sent as `Content-Type: application/json`"),
            ] {
                op.responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| error(description).into());
            }
        }
    }
}

/// The REST API over `state`: every route, JSON errors for unknown routes
/// and methods, and the request body limit.
pub fn router(state: AppState) -> Router {
    let limit = state.body_limit;
    let cors = cors_layer(&state.cors_origins);
    let (router, _) = api_routes().split_for_parts();
    #[cfg(feature = "ui")]
    let router = router.merge(crate::ui::routes());
    #[cfg(feature = "prometheus")]
    let router = router.merge(crate::prom::routes());
    let router = router
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state);
    match cors {
        Some(layer) => router.layer(layer),
        None => router,
    }
}

/// CORS for the configured origins; `None` (no CORS headers) when there are none.
fn cors_layer(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use tower_http::cors::{AllowOrigin, Any, CorsLayer};
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| o.parse::<axum::http::HeaderValue>().ok()),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods(Any)
            .allow_headers(Any)
            // `/v1/agents/{id}/latest` pages with the total in a header.
            .expose_headers([axum::http::HeaderName::from_static("x-total-count")]),
    )
}

async fn route_not_found() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "route_not_found",
        "no such route",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}

/// The OpenAPI document as JSON.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "openapi",
    responses((status = 200, description = "OpenAPI 3 document", content_type = "application/json"))
)]
async fn openapi_json() -> Result<impl IntoResponse, ApiError> {
    let body = openapi().to_pretty_json().map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body))
}

/// The OpenAPI document as YAML.
#[utoipa::path(
    get,
    path = "/v1/openapi.yaml",
    tag = "openapi",
    responses((status = 200, description = "OpenAPI 3 document", content_type = "application/yaml"))
)]
async fn openapi_yaml() -> Result<impl IntoResponse, ApiError> {
    let body = openapi().to_yaml().map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, "application/yaml")], body))
}
