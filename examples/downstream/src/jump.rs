//! `type = "jump"`: fires when a value rises by more than `max_increase`
//! from one point to the next within `window_secs` — a connection count
//! that leaps (a flood, a leak), a queue that suddenly backs up. A
//! threshold rule would need a fixed ceiling; this one follows the
//! baseline wherever it is.
//!
//! ```toml
//! [[alert.rules]]
//! name = "connection-jump"
//! type = "jump"
//! metric = "tcp.connections"
//! max_increase = 100      # required, > 0
//! window_secs = 120       # optional, the longest gap between the two points (default 300)
//! ```

use std::sync::Arc;

use oxmon::core::config::{ConfigError, CustomRule, RuleConfig};
use oxmon::core::{Breach, Point, RuleEvaluator, RulePlugin, SeriesKey, Verdict};

/// The plugin for `type = "jump"`.
#[derive(Debug, Clone, Copy, Default)]
pub struct JumpPlugin;

impl RulePlugin for JumpPlugin {
    fn type_name(&self) -> &str {
        "jump"
    }

    fn build(
        &self,
        rule: &RuleConfig,
        custom: &CustomRule,
    ) -> Result<Arc<dyn RuleEvaluator>, ConfigError> {
        custom.deny_unknown(&["max_increase", "window_secs"])?;
        let max_increase = custom.required_f64("max_increase")?;
        if max_increase <= 0.0 {
            return Err(custom.error(
                "max_increase",
                format!("must be greater than 0, got {max_increase}"),
            ));
        }
        let window_secs = match custom.optional_int("window_secs")? {
            None => 300,
            Some(s @ 1..=86_400) => s,
            Some(s) => {
                return Err(custom.error(
                    "window_secs",
                    format!("must be between 1 and 86400, got {s}"),
                ));
            }
        };
        Ok(Arc::new(Jump {
            name: rule.name.clone(),
            metric: rule.metric.clone(),
            severity: rule.severity,
            max_increase,
            window_ms: window_secs * 1000,
        }))
    }
}

/// One `jump` rule, ready for the engine.
#[derive(Debug, Clone)]
pub struct Jump {
    name: String,
    metric: String,
    severity: oxmon::core::Severity,
    max_increase: f64,
    window_ms: i64,
}

impl RuleEvaluator for Jump {
    fn name(&self) -> &str {
        &self.name
    }

    fn metric(&self) -> &str {
        &self.metric
    }

    fn applies_to(&self, _series: &SeriesKey) -> bool {
        true
    }

    fn lookback_ms(&self) -> i64 {
        self.window_ms
    }

    fn evaluate(&self, window: &[Point]) -> Verdict {
        let [.., before, last] = window else {
            return Verdict::Insufficient;
        };
        let increase = last.value - before.value;
        if increase > self.max_increase {
            Verdict::Holds(Breach {
                severity: self.severity,
                value: last.value,
                threshold: Some(before.value + self.max_increase),
                prediction: None,
                message: format!(
                    "{} jumped from {} to {} (more than +{})",
                    self.metric, before.value, last.value, self.max_increase
                ),
            })
        } else {
            Verdict::Clear
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jump() -> Jump {
        Jump {
            name: "j".into(),
            metric: "tcp.connections".into(),
            severity: oxmon::core::Severity::Warning,
            max_increase: 100.0,
            window_ms: 60_000,
        }
    }

    fn points(values: &[f64]) -> Vec<Point> {
        values
            .iter()
            .enumerate()
            .map(|(i, &value)| Point {
                timestamp_ms: i as i64 * 10_000,
                value,
            })
            .collect()
    }

    #[test]
    fn a_rise_past_max_increase_between_two_points_holds() {
        assert_eq!(jump().evaluate(&points(&[])), Verdict::Insufficient);
        assert_eq!(jump().evaluate(&points(&[5.0])), Verdict::Insufficient);
        assert_eq!(jump().evaluate(&points(&[5.0, 105.0])), Verdict::Clear);
        assert_eq!(jump().evaluate(&points(&[500.0, 5.0])), Verdict::Clear);
        let Verdict::Holds(b) = jump().evaluate(&points(&[1.0, 5.0, 106.0])) else {
            panic!("holds")
        };
        assert_eq!((b.value, b.threshold), (106.0, Some(105.0)));
        assert!(b.message.contains("from 5 to 106"), "{}", b.message);
    }
}
