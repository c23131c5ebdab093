#![doc = include_str!("../README.md")]

pub mod auth;
#[cfg(feature = "http")]
mod error;
#[cfg(feature = "http")]
mod extract;
#[cfg(feature = "http")]
mod routes;
#[cfg(feature = "http")]
mod state;

#[cfg(feature = "http")]
pub use error::{ApiError, ErrorBody, ErrorDetail};
#[cfg(feature = "http")]
pub use extract::{ApiJson, ApiPath, ClientAddr};
#[cfg(feature = "http")]
pub use routes::{
    AddAgentRequest, AddAgentResponse, AgentStatus, BEARER_SCHEME, ChangePasswordRequest,
    HealthResponse, LoginRequest, LoginResponse, RegenerateTokenResponse, UpdateAgentRequest,
    WhitelistItem, openapi, router,
};
#[cfg(feature = "http")]
pub use state::{AppState, DEFAULT_BODY_LIMIT};

/// A time in ms since the epoch as RFC 3339 (`2026-02-08T10:00:00Z`).
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_string()
}
