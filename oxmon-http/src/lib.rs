#![doc = include_str!("../README.md")]

pub mod auth;
#[cfg(feature = "http")]
mod error;
#[cfg(feature = "http")]
mod extract;
#[cfg(feature = "prometheus")]
pub mod prom;
#[cfg(feature = "http")]
mod routes;
#[cfg(feature = "http")]
mod serve;
#[cfg(feature = "http")]
mod sources;
#[cfg(feature = "http")]
mod state;
#[cfg(feature = "ui")]
pub mod ui;

#[cfg(feature = "http")]
pub use error::{ApiError, ErrorBody, ErrorDetail};
#[cfg(feature = "http")]
pub use extract::{AdminUser, ApiJson, ApiPath, ApiQuery, ClientAddr, OperatorUser};
#[cfg(feature = "http")]
pub use routes::{
    AddAgentRequest, AddAgentResponse, AgentItem, AgentOverview, AgentStatus, AlertEventView,
    AlertHistoryPage, BEARER_SCHEME, ChangePasswordRequest, DEFAULT_HISTORY_LIMIT, FiringCounts,
    FleetOverview, HealthResponse, LatestValue, LoginRequest, LoginResponse, MAX_HISTORY_LIMIT,
    PointView, RegenerateTokenResponse, RuleDefinition, RuleView, SeriesView, UpdateAgentRequest,
    WhitelistItem, openapi, router,
};
#[cfg(feature = "http")]
pub use routes::{
    AddDomainRequest, AddDomainsRequest, BatchErrorBody, BatchItemError, CertDomainView,
    CertStatusView, CertificateChainView, CertificateView, ChainCertificateView,
    DEFAULT_CERT_PAGE_LIMIT, MAX_CERT_PAGE_LIMIT, MAX_DOMAIN_BATCH, Page, UpdateDomainRequest,
};
#[cfg(feature = "http")]
pub use routes::{
    ApiTokenView, AuditPageView, AuditView, CreateTokenRequest, CreateTokenResponse,
    CreateUserRequest, DeliveryLogPage, DeliveryView, UpdateUserRequest, UserView,
};
#[cfg(feature = "http")]
pub use routes::{
    ChannelDefinition, ChannelTestView, ChannelView, CreateSilenceRequest, MatchersView,
    SecretState, SettingView, SilenceView, SilencesView, WindowDefinition, WindowView,
};
#[cfg(feature = "http")]
pub use serve::{ServeOptions, serve};
#[cfg(feature = "http")]
pub use sources::{
    ActiveAlertView, ActiveAlerts, CONFIG_ID_PREFIX, CertChecks, ChannelAdmin, ChannelTestOutcome,
    DEFAULT_ACTIVITY_INTERVAL_SECS, DEFAULT_ACTIVITY_MULTIPLE, DEFAULT_MAX_QUERY_SPAN_SECS,
    DefinitionSource, ManagedChannel, ManagedRule, ManagedSetting, ManagedWindow, RuleAdmin,
    ServerStatus, SettingsAdmin, WindowAdmin,
};
#[cfg(feature = "http")]
pub use state::{AppState, DEFAULT_BODY_LIMIT};

/// `oxmon-core`, the types and traits this crate is built on: the way to
/// everything of it not re-exported below, without a separate dependency.
pub use oxmon_core as core;
/// The `oxmon-core` items the API's state and the `auth` module take and
/// return, so that `oxmon-http` alone is enough to set them up: the
/// management store traits `AppState` reads (`UserStore`, `WhitelistStore`,
/// `CertStore`, in `manage`), the metric store, the clock, the signing
/// secret and the rules `/v1/alerts/rules` lists.
#[doc(no_inline)]
pub use oxmon_core::config::RuleConfig;
#[doc(no_inline)]
pub use oxmon_core::manage::{CertStore, User, UserStore, WhitelistStore};
#[doc(no_inline)]
pub use oxmon_core::{Clock, ManualClock, MetricStore, Secret, SystemClock, manage};

pub use oxmon_core::time::rfc3339;
