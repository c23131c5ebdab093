//! Alert events: what the rule engine emits and the notifier sends.

use serde::{Deserialize, Serialize};

use crate::types::{SeriesKey, Severity};

/// Whether an event opens or closes an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// The rule's condition holds for the series.
    Firing,
    /// The condition stopped holding; the alert is over.
    Resolved,
}

impl AlertStatus {
    /// `firing` or `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// The forecast attached to a trend-prediction alert.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// When the fitted line reaches the threshold (ms since the epoch).
    pub breach_at_ms: i64,
    /// Slope of the fitted line, in value units per second.
    pub slope_per_sec: f64,
    /// Coefficient of determination of the fit, 0..=1.
    pub r_squared: f64,
    /// Earliest plausible crossing, lower end of the 95% prediction interval (ms).
    pub breach_earliest_ms: Option<i64>,
    /// Latest plausible crossing, upper end of the 95% prediction interval (ms);
    /// `None` when the interval is unbounded (the line might never cross).
    pub breach_latest_ms: Option<i64>,
}

/// An alert transition for one (rule, series).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// Unique id of this event.
    pub id: String,
    /// Name of the rule that produced it.
    pub rule: String,
    /// The series it concerns (agent, metric, labels).
    pub series: SeriesKey,
    /// How serious it is.
    pub severity: Severity,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// The value that triggered (or cleared) the condition.
    pub value: f64,
    /// The threshold the value was compared with, when the rule has one.
    pub threshold: Option<f64>,
    /// When the event happened (ms since the epoch): the sample time.
    pub timestamp_ms: i64,
    /// When the alert started firing (ms). For a resolved event,
    /// `timestamp_ms - fired_at_ms` is how long it fired.
    pub fired_at_ms: i64,
    /// The forecast of a trend-prediction rule.
    pub prediction: Option<Prediction>,
    /// A human-readable sentence.
    pub message: String,
}

impl AlertEvent {
    /// The agent the event concerns.
    pub fn agent_id(&self) -> &str {
        &self.series.agent_id
    }

    /// The metric the event concerns.
    pub fn metric(&self) -> &str {
        &self.series.metric
    }

    /// How long the alert has been (or was) firing, in milliseconds.
    pub fn firing_for_ms(&self) -> i64 {
        (self.timestamp_ms - self.fired_at_ms).max(0)
    }
}
