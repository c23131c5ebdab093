//! `[[alert.inhibit]]` and the built-in inhibitions of `[alert]`: while an
//! alert matching `source` fires, alerts matching `target` (with the same
//! values of the `equal` labels) are not notified. Alertmanager's
//! inhibition rules, over the labels an oxmon alert has.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::rules::validate_glob;
use super::{ConfigError, Ctx};

/// One `[[alert.inhibit]]` entry, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct InhibitRule {
    /// What the inhibiting alert must match: label name to a glob of its
    /// value (`severity = "critical"`, `rule = "disk-*"`); at least one.
    pub source: BTreeMap<String, String>,
    /// What an inhibited alert must match, the same way; at least one.
    pub target: BTreeMap<String, String>,
    /// Labels whose values must be the same in both (`["agent"]`,
    /// `["agent", "mount"]`); a label neither has counts as equal.
    #[serde(default)]
    pub equal: Vec<String>,
}

impl InhibitRule {
    /// A rule from its matchers (for code that builds its own).
    pub fn new(
        source: BTreeMap<String, String>,
        target: BTreeMap<String, String>,
        equal: Vec<String>,
    ) -> Self {
        Self {
            source,
            target,
            equal,
        }
    }
}

/// Checks the `[[alert.inhibit]]` entry at `index`.
pub(crate) fn validate_inhibit(
    rule: &InhibitRule,
    ctx: Ctx<'_>,
    index: usize,
) -> Result<(), ConfigError> {
    let at = |f: &str| format!("alert.inhibit[{index}].{f}");
    for (side, matchers) in [("source", &rule.source), ("target", &rule.target)] {
        if matchers.is_empty() {
            return Err(ctx.err(
                at(side),
                "needs at least one matcher (for example severity = \"critical\")",
            ));
        }
        for (label, glob) in matchers {
            if label.trim().is_empty() {
                return Err(ctx.err(at(side), "has a matcher without a label name"));
            }
            validate_glob(glob).map_err(|p| ctx.err(at(&format!("{side}.{label}")), p))?;
        }
    }
    if let Some(i) = rule.equal.iter().position(|l| l.trim().is_empty()) {
        return Err(ctx.err(at(&format!("equal[{i}]")), "must be a label name"));
    }
    Ok(())
}
