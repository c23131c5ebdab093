//! # oxmon
//!
//! The facade of the oxmon workspace: re-exports every crate under one name,
//! so a program can `cargo add oxmon` and reach the whole system, and
//! assembles the two programs from the crates: [`server::Server::builder`]
//! and [`agent::Agent::builder`] take a downstream crate's own channels,
//! rule types, collectors and stores (see `examples/downstream`).
//!
//! | module | crate | what it holds |
//! |---|---|---|
//! | [`core`] | `oxmon-core` | types, traits, `Clock`, errors, configuration |
//! | [`storage`] | `oxmon-storage` | `MetricStore` implementations |
//! | [`notify`] | `oxmon-notify` | channel plugins and registry |
//! | [`transport`] | `oxmon-transport` | agent-to-server transports |
//! | [`collector`] | `oxmon-collector` | system metric collectors |
//! | [`alert`] | `oxmon-alert` | the rule engine |
//! | [`http`] | `oxmon-http` | the REST API |
//!
//! | module | feature | what it holds |
//! |---|---|---|
//! | [`server`] | `server` | the assembled server and its program |
//! | [`agent`] | `agent` | the assembled agent |
//! | [`logging`], [`shutdown_signal`] | `agent` or `server` | what both programs share |
//!
//! Without the `server` and `agent` features the facade is re-exports only.

#[cfg(feature = "agent")]
pub mod agent;
#[cfg(feature = "agent")]
pub mod logging;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "agent")]
mod signal;

#[cfg(feature = "agent")]
pub use signal::shutdown_signal;

pub use oxmon_alert as alert;
pub use oxmon_collector as collector;
pub use oxmon_core as core;
pub use oxmon_http as http;
pub use oxmon_notify as notify;
pub use oxmon_storage as storage;
pub use oxmon_transport as transport;

pub use oxmon_core::config::{AgentConfig, ServerConfig};
