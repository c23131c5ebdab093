//! The values PromQL works with, labelled the Prometheus way: `__name__`
//! for the metric (oxmon's `cpu.usage` as `cpu_usage`), `agent` for the
//! agent, the series' own labels as they are.

use std::collections::BTreeMap;

/// A series' labels, `__name__` included.
pub(crate) type PromLabels = BTreeMap<String, String>;

/// The label of the metric name.
pub(crate) const NAME: &str = oxmon_core::prom::NAME_LABEL;

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Element {
    pub(crate) labels: PromLabels,
    pub(crate) value: f64,
    /// When the value was measured (ms): a selector's sample time, else
    /// the evaluation time.
    pub(crate) ts: i64,
}

/// One series of a range vector (or of a range query's result).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub(crate) labels: PromLabels,
    /// (ms, value), oldest first.
    pub(crate) points: Vec<(i64, f64)>,
}

/// What an expression evaluates to at one time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Scalar(f64),
    String(String),
    Vector(Vec<Element>),
    Matrix(Vec<Series>),
}

impl Value {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "scalar",
            Value::String(_) => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// A float as Prometheus writes it in JSON: shortest form, `NaN`, `+Inf`,
/// `-Inf`.
pub(crate) fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// The labels `by`/`on` keeps (`Include`) or `without`/`ignoring` leaves
/// (`Exclude`, which also drops the metric name); `None` for no modifier.
pub(crate) fn grouping(
    labels: &PromLabels,
    modifier: Option<&promql_parser::parser::LabelModifier>,
) -> Option<PromLabels> {
    use promql_parser::parser::LabelModifier;
    let keep = |k: &String| match modifier {
        Some(LabelModifier::Include(on)) => on.labels.contains(k),
        Some(LabelModifier::Exclude(off)) => k.as_str() != NAME && !off.labels.contains(k),
        None => true,
    };
    modifier?;
    Some(
        labels
            .iter()
            .filter(|(k, _)| keep(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// `labels` without the metric name.
pub(crate) fn drop_name(mut labels: PromLabels) -> PromLabels {
    labels.remove(NAME);
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_prometheus_writes_them() {
        assert_eq!(format_value(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_value(1e21), "1000000000000000000000");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
    }
}
