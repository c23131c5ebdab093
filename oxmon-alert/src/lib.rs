#![doc = include_str!("../README.md")]

mod engine;
mod error;
mod history;
mod registry;
pub mod regression;
mod rule;
mod series;
mod tracker;
mod windows;

pub use engine::{
    ActiveAlert, AlertEngine, EngineOptions, EngineStats, SeriesHandle, compile, replay,
};
pub use error::{Error, Result};
pub use registry::RuleRegistry;
pub use rule::{CERT_VALID_METRIC, Rule};

#[cfg(test)]
mod tests;
