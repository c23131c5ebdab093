//! # oxmon
//!
//! The facade of the oxmon workspace: re-exports every crate under one name,
//! so a program can `cargo add oxmon` and reach the whole system, and (as the
//! runtimes land) assembles the agent and the server from the crates.
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
//! [`logging`] sets up the log output of both programs from `[log]`.

pub mod agent;
pub mod logging;
pub mod server;

pub use oxmon_alert as alert;
pub use oxmon_collector as collector;
pub use oxmon_core as core;
pub use oxmon_http as http;
pub use oxmon_notify as notify;
pub use oxmon_storage as storage;
pub use oxmon_transport as transport;

pub use oxmon_core::config::{AgentConfig, ServerConfig};
