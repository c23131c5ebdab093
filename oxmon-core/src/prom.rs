//! The one name mapping between oxmon and the Prometheus world, used by the
//! query API (reading) and remote write (writing):
//!
//! - the metric `cpu.usage` is `cpu_usage` (every character outside
//!   `[a-zA-Z0-9_:]` becomes `_`, a leading digit gets a `_` before it);
//! - the agent is the label `agent`;
//! - a series' own labels keep their values; their names are mapped like
//!   metric names without `:` (`mount-point` → `mount_point`), and one
//!   named `__name__` or `agent` is kept as `exported___name__` /
//!   `exported_agent`.

use std::collections::BTreeMap;

use crate::Labels;

/// The label holding the metric name.
pub const NAME_LABEL: &str = "__name__";
/// The label holding the agent id.
pub const AGENT_LABEL: &str = "agent";

/// Prometheus's name of an oxmon metric: `cpu.usage` → `cpu_usage`.
pub fn metric_name(metric: &str) -> String {
    sanitize(metric, true)
}

/// Prometheus's name of a label: `mount-point` → `mount_point`.
pub fn label_name(name: &str) -> String {
    sanitize(name, false)
}

fn sanitize(text: &str, colons: bool) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    if text.starts_with(|c: char| c.is_ascii_digit()) || text.is_empty() {
        out.push('_');
    }
    out.extend(text.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':') {
            c
        } else {
            '_'
        }
    }));
    out
}

/// A series' Prometheus labels: `__name__`, `agent`, then its own.
pub fn series_labels(agent: &str, metric: &str, own: &Labels) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    for (k, v) in own.iter() {
        let k = label_name(k);
        let k = if k == NAME_LABEL || k == AGENT_LABEL {
            format!("exported_{k}")
        } else {
            k
        };
        labels.insert(k, v.to_owned());
    }
    labels.insert(NAME_LABEL.to_owned(), metric_name(metric));
    labels.insert(AGENT_LABEL.to_owned(), agent.to_owned());
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_as_documented() {
        assert_eq!(metric_name("cpu.usage"), "cpu_usage");
        assert_eq!(metric_name("disk.used_percent"), "disk_used_percent");
        assert_eq!(
            metric_name("certificate.days-left"),
            "certificate_days_left"
        );
        assert_eq!(metric_name("job:rate5m"), "job:rate5m");
        assert_eq!(metric_name("5xx.count"), "_5xx_count");
        assert_eq!(label_name("mount-point"), "mount_point");
        assert_eq!(label_name("a:b"), "a_b");
        let own = Labels::new()
            .with("agent", "spoof")
            .with("mount-point", "/")
            .with("__name__", "x");
        let labels = series_labels("web-1", "disk.used_percent", &own);
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("__name__", "disk_used_percent"),
                ("agent", "web-1"),
                ("exported___name__", "x"),
                ("exported_agent", "spoof"),
                ("mount_point", "/"),
            ]
        );
    }
}
