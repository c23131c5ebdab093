//! `[[alert.rules]]`.

use serde::{Deserialize, Serialize};

use super::custom_rule::CustomRule;
use super::{ConfigError, Ctx, deserialize_at};
use crate::types::Severity;

/// Comparison of a threshold rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// `value > threshold` (`greater_than`, `gt`, `>`).
    GreaterThan,
    /// `value < threshold` (`less_than`, `lt`, `<`).
    LessThan,
    /// `value >= threshold` (`greater_equal`, `gte`, `>=`).
    GreaterEqual,
    /// `value <= threshold` (`less_equal`, `lte`, `<=`).
    LessEqual,
}

impl Operator {
    /// Parses the spellings listed on each variant.
    ///
    /// # Errors
    /// A sentence listing the accepted spellings.
    pub fn parse(s: &str) -> Result<Self, String> {
        Ok(match s.trim() {
            "greater_than" | "gt" | ">" => Operator::GreaterThan,
            "less_than" | "lt" | "<" => Operator::LessThan,
            "greater_equal" | "gte" | ">=" => Operator::GreaterEqual,
            "less_equal" | "lte" | "<=" => Operator::LessEqual,
            _ => {
                return Err(format!(
                    "unknown operator `{s}`, expected one of: greater_than (gt), less_than (lt), \
                     greater_equal (gte), less_equal (lte)"
                ));
            }
        })
    }

    /// Whether `value` compared with `threshold` satisfies the operator.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Operator::GreaterThan => value > threshold,
            Operator::LessThan => value < threshold,
            Operator::GreaterEqual => value >= threshold,
            Operator::LessEqual => value <= threshold,
        }
    }

    /// `>`, `<`, `>=` or `<=`.
    pub fn symbol(self) -> &'static str {
        match self {
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
            Operator::GreaterEqual => ">=",
            Operator::LessEqual => "<=",
        }
    }
}

/// Which changes a rate-of-change rule reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RateDirection {
    /// Rises only.
    Up,
    /// Drops only.
    Down,
    /// Both rises and drops (`|change| > rate_threshold`). The default.
    #[default]
    Both,
}

/// What a rule checks, with the fields of its `type`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RuleKind {
    /// `type = "threshold"`: the value compared with a threshold for `duration_secs`.
    Threshold {
        /// The comparison.
        operator: Operator,
        /// The threshold (`value` in the file).
        value: f64,
        /// How long the condition must hold on every sample (0 = the latest sample decides).
        duration_secs: u64,
        /// Hysteresis: once firing, the alert holds while the value is
        /// past this one (on the threshold's side), so it fires above 90
        /// and resolves only below 80. `None`: `value` both ways.
        #[serde(skip_serializing_if = "Option::is_none")]
        recovery_value: Option<f64>,
    },
    /// `type = "rate_of_change"`: percentage change over `window_secs`.
    RateOfChange {
        /// Percent change that fires.
        rate_threshold: f64,
        /// The window, in seconds.
        window_secs: u64,
        /// Rises, drops or both (default both).
        direction: RateDirection,
    },
    /// `type = "trend_prediction"`: a least-squares line predicts a crossing.
    TrendPrediction {
        /// The value the prediction must reach.
        predict_threshold: f64,
        /// How far ahead to look, in seconds.
        horizon_secs: u64,
        /// Fewest points to fit (default 10).
        min_data_points: usize,
        /// The fitting window, in seconds (default 3600).
        window_secs: u64,
        /// Fits with a lower R² never fire (default: no minimum).
        min_r_squared: Option<f64>,
    },
    /// `type = "cert_expiration"`: days until a certificate expires.
    CertExpiration {
        /// Warning at or below this many days (default 30).
        warning_days: f64,
        /// Critical at or below this many days (default 7).
        critical_days: f64,
    },
    /// `type = "agent_offline"`: an agent (matching `agent_pattern`) has
    /// reported nothing for `after_secs`, including a whitelisted agent
    /// that never reported. Its events name the metric
    /// [`AGENT_OFFLINE_METRIC`], the value the seconds of silence.
    AgentOffline {
        /// Silence that fires, in seconds (default 120).
        after_secs: u64,
    },
    /// `type = "absent"`: a series of `metric` (with `labels`, when given)
    /// has had no sample for `after_secs`; an agent that reports but never
    /// sent one fires for the metric with those labels.
    Absent {
        /// Silence that fires, in seconds (default 120).
        after_secs: u64,
        /// Only series with these labels (equal values); empty: every
        /// series of the metric.
        #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        labels: std::collections::BTreeMap<String, String>,
    },
    /// Any other `type`: a rule type a downstream crate registers (a
    /// `RulePlugin` in the alert engine's registry), with its own fields.
    /// Parsing keeps them; the registry checks them.
    #[serde(untagged)]
    Custom(CustomRule),
}

impl RuleKind {
    /// The `type` string.
    pub fn type_name(&self) -> &str {
        match self {
            RuleKind::Threshold { .. } => "threshold",
            RuleKind::RateOfChange { .. } => "rate_of_change",
            RuleKind::TrendPrediction { .. } => "trend_prediction",
            RuleKind::CertExpiration { .. } => "cert_expiration",
            RuleKind::AgentOffline { .. } => "agent_offline",
            RuleKind::Absent { .. } => "absent",
            RuleKind::Custom(c) => &c.type_name,
        }
    }
}

/// The rule types the engine has built in.
pub const BUILTIN_RULE_TYPES: [&str; 6] = [
    "threshold",
    "rate_of_change",
    "trend_prediction",
    "cert_expiration",
    "agent_offline",
    "absent",
];

/// The metric the events of `agent_offline` rules name: the value is how
/// many seconds the agent has been silent.
pub const AGENT_OFFLINE_METRIC: &str = "agent.offline";

/// One `[[alert.rules]]` entry, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RuleConfig {
    /// Unique name.
    pub name: String,
    /// The metric it watches.
    pub metric: String,
    /// Glob over agent ids (`*`, `web-*`, `db-?`, `[ab]-*`). Default `*`.
    pub agent_pattern: String,
    /// Severity of its events. For `cert_expiration` it is the severity of an
    /// invalid certificate (default critical); days thresholds pick warning or critical.
    pub severity: Severity,
    /// After a notification, no repeat for the same series within this many seconds (default 600).
    pub silence_secs: u64,
    /// `false` keeps the rule configured but inactive. Default `true`.
    pub enabled: bool,
    /// A firing alert resolves only once its condition has been clear this
    /// many seconds (a short dip does not end it). Default 0: at once.
    #[serde(skip_serializing_if = "is_zero")]
    pub keep_firing_secs: u64,
    /// The type and its fields.
    #[serde(flatten)]
    pub kind: RuleKind,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The settings of a built-in rule type as written in the file, before
/// validation: every key that is not one of [`COMMON_KEYS`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct BuiltinFields {
    // threshold
    operator: Option<String>,
    value: Option<f64>,
    duration_secs: Option<u64>,
    recovery_value: Option<f64>,
    // rate_of_change (+ window_secs shared with trend_prediction)
    rate_threshold: Option<f64>,
    window_secs: Option<u64>,
    direction: Option<String>,
    // trend_prediction
    predict_threshold: Option<f64>,
    horizon_secs: Option<u64>,
    min_data_points: Option<usize>,
    min_r_squared: Option<f64>,
    // cert_expiration
    warning_days: Option<f64>,
    critical_days: Option<f64>,
    // agent_offline and absent
    after_secs: Option<u64>,
    // absent
    labels: Option<std::collections::BTreeMap<String, String>>,
}

impl BuiltinFields {
    /// The rule kind of type `ty` (one of [`BUILTIN_RULE_TYPES`]).
    fn kind(self, ctx: Ctx<'_>, index: usize, ty: &str) -> Result<RuleKind, ConfigError> {
        let at = |f: &str| format!("alert.rules[{index}].{f}");
        let required = |f: &str, ty: &str| ctx.err(at(f), format!("is required for a {ty} rule"));
        // Fields that belong to other types are refused: a threshold rule with
        // `rate_threshold` is almost certainly a mistake.
        let present: [(&str, bool); 15] = [
            ("operator", self.operator.is_some()),
            ("value", self.value.is_some()),
            ("duration_secs", self.duration_secs.is_some()),
            ("recovery_value", self.recovery_value.is_some()),
            ("after_secs", self.after_secs.is_some()),
            ("labels", self.labels.is_some()),
            ("rate_threshold", self.rate_threshold.is_some()),
            ("window_secs", self.window_secs.is_some()),
            ("direction", self.direction.is_some()),
            ("predict_threshold", self.predict_threshold.is_some()),
            ("horizon_secs", self.horizon_secs.is_some()),
            ("min_data_points", self.min_data_points.is_some()),
            ("min_r_squared", self.min_r_squared.is_some()),
            ("warning_days", self.warning_days.is_some()),
            ("critical_days", self.critical_days.is_some()),
        ];
        let allowed: &[&str] = match ty {
            "threshold" => &["operator", "value", "duration_secs", "recovery_value"],
            "agent_offline" => &["after_secs"],
            "absent" => &["after_secs", "labels"],
            "rate_of_change" => &["rate_threshold", "window_secs", "direction"],
            "trend_prediction" => &[
                "predict_threshold",
                "horizon_secs",
                "min_data_points",
                "window_secs",
                "min_r_squared",
            ],
            _ => &["warning_days", "critical_days"],
        };
        if let Some((field, _)) = present.iter().find(|(f, set)| *set && !allowed.contains(f)) {
            let article = if ty.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            return Err(ctx.err(at(field), format!("does not apply to {article} {ty} rule")));
        }
        let finite = |f: &str, v: f64| {
            if v.is_finite() {
                Ok(v)
            } else {
                Err(ctx.err(at(f), format!("must be a finite number, got {v}")))
            }
        };
        let kind = match ty {
            "threshold" => {
                let op = self
                    .operator
                    .as_deref()
                    .ok_or_else(|| required("operator", ty))?;
                let operator = Operator::parse(op).map_err(|p| ctx.err(at("operator"), p))?;
                let value = finite("value", self.value.ok_or_else(|| required("value", ty))?)?;
                let recovery_value = match self.recovery_value {
                    None => None,
                    Some(r) => {
                        let r = finite("recovery_value", r)?;
                        // On the clear side of the threshold, or it would
                        // never let the alert go.
                        let upward =
                            matches!(operator, Operator::GreaterThan | Operator::GreaterEqual);
                        if (upward && r > value) || (!upward && r < value) {
                            return Err(ctx.err(
                                at("recovery_value"),
                                format!(
                                    "must be on the clear side of value ({} {value} for operator {}), got {r}",
                                    if upward { "at most" } else { "at least" },
                                    operator.symbol()
                                ),
                            ));
                        }
                        Some(r)
                    }
                };
                RuleKind::Threshold {
                    operator,
                    value,
                    duration_secs: self.duration_secs.unwrap_or(0),
                    recovery_value,
                }
            }
            "agent_offline" | "absent" => {
                let after_secs = self.after_secs.unwrap_or(120);
                ctx.at_least(&at("after_secs"), after_secs, 1)?;
                if ty == "agent_offline" {
                    RuleKind::AgentOffline { after_secs }
                } else {
                    RuleKind::Absent {
                        after_secs,
                        labels: self.labels.unwrap_or_default(),
                    }
                }
            }
            "rate_of_change" => {
                let rate = finite(
                    "rate_threshold",
                    self.rate_threshold
                        .ok_or_else(|| required("rate_threshold", ty))?,
                )?;
                if rate <= 0.0 {
                    return Err(ctx.err(
                        at("rate_threshold"),
                        format!("must be greater than 0 (percent), got {rate}"),
                    ));
                }
                let window_secs = self.window_secs.unwrap_or(300);
                ctx.at_least(&at("window_secs"), window_secs, 1)?;
                let direction = match self.direction.as_deref() {
                    None | Some("both") => RateDirection::Both,
                    Some("up") => RateDirection::Up,
                    Some("down") => RateDirection::Down,
                    Some(other) => {
                        return Err(ctx.err(
                            at("direction"),
                            format!("unknown direction `{other}`, expected up, down or both"),
                        ));
                    }
                };
                RuleKind::RateOfChange {
                    rate_threshold: rate,
                    window_secs,
                    direction,
                }
            }
            "trend_prediction" => {
                let predict_threshold = finite(
                    "predict_threshold",
                    self.predict_threshold
                        .ok_or_else(|| required("predict_threshold", ty))?,
                )?;
                let horizon_secs = self
                    .horizon_secs
                    .ok_or_else(|| required("horizon_secs", ty))?;
                ctx.at_least(&at("horizon_secs"), horizon_secs, 1)?;
                let min_data_points = self.min_data_points.unwrap_or(10);
                ctx.at_least(&at("min_data_points"), min_data_points, 3)?;
                let window_secs = self.window_secs.unwrap_or(3600);
                ctx.at_least(&at("window_secs"), window_secs, 1)?;
                if let Some(r2) = self.min_r_squared
                    && !(0.0..=1.0).contains(&r2)
                {
                    return Err(ctx.err(
                        at("min_r_squared"),
                        format!("must be between 0 and 1, got {r2}"),
                    ));
                }
                RuleKind::TrendPrediction {
                    predict_threshold,
                    horizon_secs,
                    min_data_points,
                    window_secs,
                    min_r_squared: self.min_r_squared,
                }
            }
            _ => {
                let warning_days = finite("warning_days", self.warning_days.unwrap_or(30.0))?;
                let critical_days = finite("critical_days", self.critical_days.unwrap_or(7.0))?;
                if critical_days > warning_days {
                    return Err(ctx.err(
                        at("critical_days"),
                        format!(
                            "must not exceed warning_days ({warning_days}), got {critical_days}"
                        ),
                    ));
                }
                RuleKind::CertExpiration {
                    warning_days,
                    critical_days,
                }
            }
        };
        Ok(kind)
    }
}

/// The keys every rule has, whatever its type.
#[derive(Debug, Clone, Deserialize)]
struct Common {
    name: Option<String>,
    #[serde(rename = "type")]
    #[expect(dead_code, reason = "read before; listed so that it is not a setting")]
    kind: Option<String>,
    metric: Option<String>,
    agent_pattern: Option<String>,
    severity: Option<Severity>,
    silence_secs: Option<u64>,
    enabled: Option<bool>,
    keep_firing_secs: Option<u64>,
}

impl Common {
    fn check_name(&self, ctx: Ctx<'_>, index: usize) -> Result<(), ConfigError> {
        match &self.name {
            Some(name) if !name.trim().is_empty() => Ok(()),
            _ => Err(ctx.err(
                format!("alert.rules[{index}].name"),
                "is required and must not be empty",
            )),
        }
    }

    fn finish(self, ctx: Ctx<'_>, index: usize, kind: RuleKind) -> Result<RuleConfig, ConfigError> {
        let at = |f: &str| format!("alert.rules[{index}].{f}");
        self.check_name(ctx, index)?;
        let name = self.name.unwrap_or_default();
        let metric = match (self.metric, &kind) {
            // Every report counts: no metric of its own.
            (Some(m), RuleKind::AgentOffline { .. }) if m != AGENT_OFFLINE_METRIC => {
                return Err(ctx.err(
                    at("metric"),
                    "does not apply to an agent_offline rule (any report counts)",
                ));
            }
            (_, RuleKind::AgentOffline { .. }) => AGENT_OFFLINE_METRIC.to_owned(),
            (Some(m), _) if !m.trim().is_empty() => m,
            (None, RuleKind::CertExpiration { .. }) => {
                crate::cert::DAYS_UNTIL_EXPIRY_METRIC.to_owned()
            }
            _ => return Err(ctx.err(at("metric"), "is required and must not be empty")),
        };
        let agent_pattern = self.agent_pattern.unwrap_or_else(|| "*".to_owned());
        validate_glob(&agent_pattern).map_err(|p| ctx.err(at("agent_pattern"), p))?;
        let default_severity = match kind {
            RuleKind::CertExpiration { .. } | RuleKind::AgentOffline { .. } => Severity::Critical,
            _ => Severity::Warning,
        };
        Ok(RuleConfig {
            name,
            metric,
            agent_pattern,
            severity: self.severity.unwrap_or(default_severity),
            silence_secs: self.silence_secs.unwrap_or(600),
            enabled: self.enabled.unwrap_or(true),
            keep_firing_secs: self.keep_firing_secs.unwrap_or(0),
            kind,
        })
    }
}

/// The keys of [`Common`].
const COMMON_KEYS: [&str; 8] = [
    "name",
    "type",
    "metric",
    "agent_pattern",
    "severity",
    "silence_secs",
    "enabled",
    "keep_firing_secs",
];

/// Validates one `[[alert.rules]]` entry. A built-in `type` is checked here
/// in full; any other type keeps its own fields for the registry of the
/// engine that will run it, which refuses a type it does not know.
pub(crate) fn validate_rule(
    table: toml::Table,
    ctx: Ctx<'_>,
    index: usize,
) -> Result<RuleConfig, ConfigError> {
    let at = |f: &str| format!("alert.rules[{index}].{f}");
    let ty = match table.get("type") {
        None => {
            return Err(ctx.err(
                at("type"),
                format!("is required, one of: {}", BUILTIN_RULE_TYPES.join(", ")),
            ));
        }
        Some(toml::Value::String(t)) if !t.trim().is_empty() => t.clone(),
        Some(other) => {
            return Err(ctx.err(
                at("type"),
                format!("must be a non-empty string, got {other}"),
            ));
        }
    };
    let prefix = format!("alert.rules[{index}]");
    let (common, settings): (toml::Table, toml::Table) = table
        .into_iter()
        .partition(|(k, _)| COMMON_KEYS.contains(&k.as_str()));
    let common: Common = deserialize_at(toml::Value::Table(common), ctx.file, &prefix)?;
    common.check_name(ctx, index)?;
    let kind = if BUILTIN_RULE_TYPES.contains(&ty.as_str()) {
        let fields: BuiltinFields =
            deserialize_at(toml::Value::Table(settings), ctx.file, &prefix)?;
        fields.kind(ctx, index, &ty)?
    } else {
        RuleKind::Custom(CustomRule {
            type_name: ty,
            settings,
            index,
            origin: ctx.file.to_owned(),
        })
    };
    common.finish(ctx, index, kind)
}

/// Validates one rule given on its own (a REST request body rather than an
/// `[[alert.rules]]` entry of a file) with exactly the checks of the file:
/// the same messages, with the field named as it is in the rule
/// (`operator`, not `alert.rules[0].operator`) and `origin` as the file.
/// A custom type keeps its settings for its plugin, as in a file.
///
/// # Errors
/// [`ConfigError`] naming `origin` and the field.
pub fn parse_rule(table: toml::Table, origin: &str) -> Result<RuleConfig, ConfigError> {
    validate_rule(table, Ctx { file: origin }, 0).map_err(ConfigError::within_rule)
}

impl ConfigError {
    /// The error of a rule checked on its own (see [`parse_rule`]), its
    /// field named as in the rule: `alert.rules[0].operator` becomes
    /// `operator`. A rule plugin's errors about a rule of `parse_rule` name
    /// `alert.rules[0].<field>` and read right after this too.
    #[must_use]
    pub fn within_rule(mut self) -> Self {
        self.field = self.field.map(|f| {
            let own = f.strip_prefix("alert.rules[0]").unwrap_or(&f);
            own.strip_prefix('.').unwrap_or(own).to_owned()
        });
        self
    }
}

/// Checks glob syntax: non-empty, balanced `[...]` classes.
pub(crate) fn validate_glob(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("must not be empty (use \"*\" for every agent)".into());
    }
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '[' => {
                let mut closed = false;
                let mut first = true;
                while let Some(&n) = chars.peek() {
                    chars.next();
                    if n == ']' && !first {
                        closed = true;
                        break;
                    }
                    first = false;
                }
                if !closed {
                    return Err(format!("`{pattern}`: unclosed character class `[`"));
                }
            }
            _ => {}
        }
    }
    Ok(())
}
