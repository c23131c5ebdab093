//! The rule evaluator contract.

use crate::alert::Prediction;
use crate::config::{ConfigError, CustomRule, RuleConfig};
use crate::types::{Point, SeriesKey, Severity};

/// Why a rule's condition holds for a series right now.
#[derive(Debug, Clone, PartialEq)]
pub struct Breach {
    /// The severity of this breach (a certificate rule picks warning or critical).
    pub severity: Severity,
    /// The value that breaks the condition.
    pub value: f64,
    /// The threshold it was compared with, when there is one.
    pub threshold: Option<f64>,
    /// The forecast, for trend predictions.
    pub prediction: Option<Prediction>,
    /// A human-readable sentence describing the breach.
    pub message: String,
}

/// The result of evaluating a rule on a series' recent window.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Not enough data to decide (too few points, window not covered yet).
    /// The engine keeps the current alert state.
    Insufficient,
    /// The condition does not hold.
    Clear,
    /// The condition holds.
    Holds(Breach),
}

/// Decides whether one rule's condition holds for one series.
///
/// The engine (in `oxmon-alert`) owns the per-series windows, the alert state,
/// silencing and the firing/resolved transitions; an evaluator is a pure
/// function of the window it is given.
///
/// # Behavior
/// - `applies_to` is consulted once per new series; when it returns `false`
///   the evaluator never sees that series.
/// - `evaluate` receives the series' points from the last `lookback_ms`
///   milliseconds (relative to the newest point), oldest first, without
///   duplicate timestamps, newest point last. It must not panic on any input
///   (an empty window returns [`Verdict::Insufficient`]).
pub trait RuleEvaluator: Send + Sync + std::fmt::Debug {
    /// The rule's unique name.
    fn name(&self) -> &str;

    /// The metric the rule watches.
    fn metric(&self) -> &str;

    /// Whether the rule watches this series (agent pattern, label filters).
    fn applies_to(&self, series: &SeriesKey) -> bool;

    /// How much history `evaluate` needs, in milliseconds (0 = newest point only).
    fn lookback_ms(&self) -> i64;

    /// Evaluates the window; see the trait docs.
    fn evaluate(&self, window: &[Point]) -> Verdict;
}

/// A factory for one custom rule `type`: what a downstream crate registers
/// with the alert engine's registry so that `type = "<name>"` in
/// `[[alert.rules]]` (or a rule created over the API) reaches its evaluator.
///
/// # Behavior
/// - `type_name` is the `type` value that selects this plugin; it must not
///   be one of the built-in types.
/// - `build` checks the rule's own fields (the `settings` of [`CustomRule`]) and
///   returns the evaluator; it does no I/O. The engine takes the rule's
///   name, metric, `agent_pattern`, `severity` and `silence_secs` from the
///   common keys; the evaluator's [`RuleEvaluator::applies_to`] can narrow
///   the series further (labels), and its `name` and `metric` are not used.
///
/// # Errors
/// [`ConfigError`] naming the file and the field, built with
/// [`CustomRule::error`] or its typed getters
/// ([`CustomRule::required_f64`], [`CustomRule::deny_unknown`], ...).
///
/// [`CustomRule`]: crate::config::CustomRule
/// [`CustomRule::error`]: crate::config::CustomRule::error
/// [`CustomRule::required_f64`]: crate::config::CustomRule::required_f64
/// [`CustomRule::deny_unknown`]: crate::config::CustomRule::deny_unknown
pub trait RulePlugin: Send + Sync + std::fmt::Debug {
    /// The `type` this plugin handles.
    fn type_name(&self) -> &str;

    /// Builds the evaluator of one rule of this type.
    fn build(
        &self,
        rule: &RuleConfig,
        custom: &CustomRule,
    ) -> Result<std::sync::Arc<dyn RuleEvaluator>, ConfigError>;
}
