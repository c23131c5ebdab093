//! Rules as the engine runs them: a validated configuration (or a custom
//! evaluator) with its agent pattern compiled.

use std::fmt;
use std::sync::Arc;

use oxmon_core::cert::IS_VALID_METRIC;
use oxmon_core::config::{Operator, RateDirection, RuleConfig, RuleKind};
use oxmon_core::{Labels, RuleEvaluator, SeriesKey, Severity};

use crate::error::{Error, Result};

/// One rule, ready for the engine.
#[derive(Clone)]
pub struct Rule {
    pub(crate) name: String,
    pub(crate) metric: String,
    pub(crate) pattern: glob::Pattern,
    pub(crate) severity: Severity,
    pub(crate) silence_ms: i64,
    /// A firing alert resolves only after its condition has been clear
    /// this long.
    pub(crate) keep_firing_ms: i64,
    pub(crate) logic: Logic,
    pub(crate) config: Option<RuleConfig>,
}

#[derive(Clone)]
pub(crate) enum Logic {
    Threshold {
        op: Operator,
        value: f64,
        duration_ms: i64,
        /// Once firing, the alert holds while `op` holds against this.
        recovery: Option<f64>,
    },
    Rate {
        threshold: f64,
        window_ms: i64,
        direction: RateDirection,
    },
    Trend {
        threshold: f64,
        horizon_ms: i64,
        min_points: usize,
        window_ms: i64,
        min_r_squared: Option<f64>,
    },
    Cert {
        warning_days: f64,
        critical_days: f64,
    },
    Custom(Arc<dyn RuleEvaluator>),
    /// An agent silent for `after_ms` (`absence.rs`).
    Offline {
        after_ms: i64,
    },
    /// A series silent for `after_ms` (`absence.rs`).
    Absent {
        after_ms: i64,
        labels: Labels,
    },
}

impl Rule {
    /// Compiles a rule from its configuration.
    ///
    /// # Errors
    /// [`Error::InvalidRule`] when the agent pattern is not a valid glob.
    pub fn from_config(config: &RuleConfig) -> Result<Self> {
        let mut rule = Self::from_common(config)?;
        rule.logic = match config.kind {
            RuleKind::Threshold {
                operator,
                value,
                duration_secs,
                recovery_value,
            } => Logic::Threshold {
                op: operator,
                value,
                duration_ms: secs(duration_secs),
                recovery: recovery_value,
            },
            RuleKind::RateOfChange {
                rate_threshold,
                window_secs,
                direction,
            } => Logic::Rate {
                threshold: rate_threshold,
                window_ms: secs(window_secs),
                direction,
            },
            RuleKind::TrendPrediction {
                predict_threshold,
                horizon_secs,
                min_data_points,
                window_secs,
                min_r_squared,
            } => Logic::Trend {
                threshold: predict_threshold,
                horizon_ms: secs(horizon_secs),
                min_points: min_data_points.max(3),
                window_ms: secs(window_secs),
                min_r_squared,
            },
            RuleKind::CertExpiration {
                warning_days,
                critical_days,
            } => Logic::Cert {
                warning_days,
                critical_days,
            },
            RuleKind::AgentOffline { after_secs } => Logic::Offline {
                after_ms: secs(after_secs),
            },
            RuleKind::Absent {
                after_secs,
                ref labels,
            } => Logic::Absent {
                after_ms: secs(after_secs),
                labels: Labels::from(labels.clone()),
            },
            _ => {
                return Err(Error::InvalidRule {
                    rule: config.name.clone(),
                    problem: format!(
                        "rule type `{}` is not built in: compile it with a RuleRegistry \
                         that has its plugin",
                        config.kind.type_name()
                    ),
                });
            }
        };
        Ok(rule)
    }

    /// The common keys; the logic is filled in by the caller.
    fn from_common(config: &RuleConfig) -> Result<Self> {
        let pattern =
            glob::Pattern::new(&config.agent_pattern).map_err(|e| Error::InvalidRule {
                rule: config.name.clone(),
                problem: format!("agent_pattern `{}`: {e}", config.agent_pattern),
            })?;
        Ok(Self {
            name: config.name.clone(),
            metric: config.metric.clone(),
            pattern,
            severity: config.severity,
            silence_ms: secs(config.silence_secs),
            keep_firing_ms: secs(config.keep_firing_secs),
            logic: Logic::Threshold {
                op: Operator::GreaterThan,
                value: f64::INFINITY,
                duration_ms: 0,
                recovery: None,
            },
            config: Some(config.clone()),
        })
    }

    /// A rule of a registered custom `type`: the common keys from `config`,
    /// the condition from `evaluator`.
    pub(crate) fn from_plugin(
        config: &RuleConfig,
        evaluator: Arc<dyn RuleEvaluator>,
    ) -> Result<Self> {
        let mut rule = Self::from_common(config)?;
        rule.logic = Logic::Custom(evaluator);
        Ok(rule)
    }

    /// A rule around a custom [`RuleEvaluator`]; the engine keeps the
    /// evaluator's window per series and handles state, silencing and
    /// resolution as for built-in rules.
    pub fn custom(
        evaluator: Arc<dyn RuleEvaluator>,
        severity: Severity,
        silence_secs: u64,
    ) -> Self {
        Self {
            name: evaluator.name().to_owned(),
            metric: evaluator.metric().to_owned(),
            pattern: glob::Pattern::new("*").unwrap_or_default(),
            severity,
            silence_ms: secs(silence_secs),
            keep_firing_ms: 0,
            logic: Logic::Custom(evaluator),
            config: None,
        }
    }

    /// The rule's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its `type` (`custom` for a rule built from a bare evaluator).
    pub fn type_name(&self) -> &str {
        self.config
            .as_ref()
            .map_or("custom", |c| c.kind.type_name())
    }

    /// The metric it watches.
    pub fn metric(&self) -> &str {
        &self.metric
    }

    /// The configuration it was built from (`None` for custom rules).
    pub fn config(&self) -> Option<&RuleConfig> {
        self.config.as_ref()
    }

    /// The metrics whose samples the rule consumes.
    pub(crate) fn watched_metrics(&self) -> Vec<&str> {
        match self.logic {
            Logic::Cert { .. } => vec![self.metric.as_str(), IS_VALID_METRIC],
            // Judged on ticks, from reports (`absence.rs`), not per series.
            Logic::Offline { .. } | Logic::Absent { .. } => Vec::new(),
            _ => vec![self.metric.as_str()],
        }
    }

    pub(crate) fn applies_to(&self, series: &SeriesKey) -> bool {
        match &self.logic {
            Logic::Custom(e) => self.pattern.matches(&series.agent_id) && e.applies_to(series),
            _ => self.pattern.matches(&series.agent_id),
        }
    }

    /// Same rule, same behaviour: state can be carried across a reload.
    pub(crate) fn same_as(&self, other: &Rule) -> bool {
        match (&self.logic, &other.logic) {
            // Built in code: the same evaluator. From a configuration: the
            // same configuration.
            (Logic::Custom(a), Logic::Custom(b)) if self.config.is_none() => {
                Arc::ptr_eq(a, b) && self.silence_ms == other.silence_ms
            }
            _ => self.config.is_some() && self.config == other.config,
        }
    }

    /// The fixed threshold, for messages of resolved events.
    pub(crate) fn threshold(&self) -> Option<f64> {
        match self.logic {
            Logic::Threshold { value, .. } => Some(value),
            Logic::Rate { threshold, .. } | Logic::Trend { threshold, .. } => Some(threshold),
            Logic::Cert { warning_days, .. } => Some(warning_days),
            Logic::Offline { after_ms } | Logic::Absent { after_ms, .. } => {
                Some(after_ms as f64 / 1000.0)
            }
            Logic::Custom(_) => None,
        }
    }
}

/// Seconds to milliseconds, saturating.
fn secs(s: u64) -> i64 {
    i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX)
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rule")
            .field("name", &self.name)
            .field("metric", &self.metric)
            .field("agent_pattern", &self.pattern.as_str())
            .field("severity", &self.severity)
            .field("silence_ms", &self.silence_ms)
            .finish_non_exhaustive()
    }
}
