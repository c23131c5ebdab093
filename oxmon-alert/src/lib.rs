#![doc = include_str!("../README.md")]

mod absence;
mod cert;
mod engine;
mod error;
mod history;
mod inhibit;
mod memory;
mod registry;
pub mod regression;
mod rule;
mod series;
mod tracker;
mod transition;
mod windows;

pub use engine::{
    ActiveAlert, AlertEngine, EngineOptions, EngineStats, Replayed, SeriesHandle, replay,
    replay_alerts,
};
pub use error::{Error, Result};
pub use registry::RuleRegistry;
pub use rule::Rule;

/// `oxmon-core`, the types and traits this crate is built on: the way to
/// everything of it not re-exported below, without a separate dependency.
pub use oxmon_core as core;
/// The `oxmon-core` items the engine's API takes and returns, so that
/// `oxmon-alert` alone is enough to use it: samples in, events out, rules
/// from `[[alert.rules]]` (`ServerConfig::from_toml(..).alert.rules`), and
/// the traits of a custom rule type (`RulePlugin`, `RuleEvaluator`).
#[doc(no_inline)]
pub use oxmon_core::config::{
    AGENT_OFFLINE_METRIC, AlertConfig, ConfigError, CustomRule, InhibitRule, RuleConfig, RuleKind,
    ServerConfig,
};
#[doc(no_inline)]
pub use oxmon_core::{
    AlertEvent, AlertStatus, Breach, Labels, Point, Prediction, RuleEvaluator, RulePlugin, Sample,
    SeriesKey, Severity, Verdict,
};

#[cfg(test)]
mod quality_tests;
#[cfg(test)]
mod tests;
