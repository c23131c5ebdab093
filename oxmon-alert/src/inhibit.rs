//! Inhibition: while one alert fires, others are not notified (they still
//! fire, are stored and listed, marked as inhibited). Alertmanager's
//! semantics over an oxmon alert's labels (`rule`, `type`, `agent`,
//! `metric`, `severity` and its series' labels), plus two built-ins: a
//! critical alert inhibits a warning alert of the same series, and an
//! offline agent inhibits the agent's other alerts.
//!
//! What is held back is remembered: the resolution of an alert that was
//! never notified is not sent either, and an alert still firing when its
//! inhibition lifts is notified then.

use oxmon_core::config::{AlertConfig, InhibitRule};
use oxmon_core::{AlertEvent, AlertStatus, SeriesKey, Severity};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::error::{Error, Result};
use crate::rule::{Logic, Rule};
use crate::transition::Firing;

/// What inhibition needs to know of one firing alert.
#[derive(Debug, Clone)]
pub(crate) struct Facts<'a> {
    pub(crate) id: String,
    pub(crate) rule: &'a Rule,
    pub(crate) key: SeriesKey,
    pub(crate) severity: Severity,
    pub(crate) firing: &'a Firing,
}

impl Facts<'_> {
    /// The value of `label` for matchers and `equal`.
    fn label(&self, label: &str) -> Option<&str> {
        match label {
            "rule" => Some(&self.rule.name),
            "type" => Some(self.rule.type_name()),
            "agent" => Some(&self.key.agent_id),
            "metric" => Some(&self.key.metric),
            "severity" => Some(self.severity.as_str()),
            other => self.key.labels.get(other),
        }
    }

    fn is_offline(&self) -> bool {
        matches!(self.rule.logic, Logic::Offline { .. })
    }
}

#[derive(Debug, Clone)]
struct Matchers(Vec<(String, glob::Pattern)>);

impl Matchers {
    fn new(
        index: usize,
        side: &str,
        m: &std::collections::BTreeMap<String, String>,
    ) -> Result<Self> {
        m.iter()
            .map(|(label, glob)| {
                glob::Pattern::new(glob)
                    .map(|p| (label.clone(), p))
                    .map_err(|e| Error::InvalidRule {
                        rule: format!("alert.inhibit[{index}]"),
                        problem: format!("{side}.{label} `{glob}`: {e}"),
                    })
            })
            .collect::<Result<_>>()
            .map(Matchers)
    }

    fn matches(&self, alert: &Facts<'_>) -> bool {
        self.0
            .iter()
            .all(|(label, p)| alert.label(label).is_some_and(|v| p.matches(v)))
    }
}

#[derive(Debug, Clone)]
struct Compiled {
    source: Matchers,
    target: Matchers,
    equal: Vec<String>,
}

/// The firing alerts indexed for inhibition: the built-ins and entries
/// whose `equal` names `agent` look only at the target's agent; entries
/// across agents at the few alerts matching their `source`. A search is
/// then as long as one agent's alerts, not the whole fleet's.
pub(crate) struct Sources<'f, 'r> {
    by_agent: FxHashMap<&'f str, Vec<&'f Facts<'r>>>,
    across: Vec<&'f Facts<'r>>,
}

/// The inhibition rules of an engine and what they hold back.
#[derive(Debug, Clone, Default)]
pub(crate) struct Inhibition {
    rules: Vec<Compiled>,
    critical_inhibits_warning: bool,
    offline_inhibits_agent: bool,
    /// Alerts whose firing notification was held back, by alert id.
    held: FxHashSet<String>,
}

impl Inhibition {
    /// The inhibitions of `[alert]`.
    pub(crate) fn from_config(config: &AlertConfig) -> Result<Self> {
        let rules = config
            .inhibit
            .iter()
            .enumerate()
            .map(|(i, r): (usize, &InhibitRule)| {
                Ok(Compiled {
                    source: Matchers::new(i, "source", &r.source)?,
                    target: Matchers::new(i, "target", &r.target)?,
                    equal: r.equal.clone(),
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            rules,
            critical_inhibits_warning: config.critical_inhibits_warning,
            offline_inhibits_agent: config.offline_inhibits_agent,
            held: FxHashSet::default(),
        })
    }

    /// Whether anything can be inhibited at all.
    pub(crate) fn is_active(&self) -> bool {
        self.critical_inhibits_warning || self.offline_inhibits_agent || !self.rules.is_empty()
    }

    /// Takes over what `old` held back.
    pub(crate) fn inherit(&mut self, old: Inhibition) {
        self.held = old.held;
    }

    /// The firing alerts as inhibition searches them (see [`Sources`]).
    pub(crate) fn index<'f, 'r>(&self, firing: &'f [Facts<'r>]) -> Sources<'f, 'r> {
        let mut sources = Sources {
            by_agent: FxHashMap::default(),
            across: Vec::new(),
        };
        for f in firing {
            sources
                .by_agent
                .entry(f.key.agent_id.as_str())
                .or_default()
                .push(f);
            let across_agents = self
                .rules
                .iter()
                .any(|r| !r.equal.iter().any(|l| l == "agent") && r.source.matches(f));
            if across_agents {
                sources.across.push(f);
            }
        }
        sources
    }

    /// The id of a firing alert that inhibits `target`, if any.
    pub(crate) fn inhibitor<'f>(
        &self,
        target: &Facts<'_>,
        sources: &Sources<'f, '_>,
    ) -> Option<&'f str> {
        sources
            .by_agent
            .get(target.key.agent_id.as_str())
            .into_iter()
            .flatten()
            .chain(sources.across.iter())
            .find(|source| source.id != target.id && self.inhibits(source, target))
            .map(|source| source.id.as_str())
    }

    fn inhibits(&self, source: &Facts<'_>, target: &Facts<'_>) -> bool {
        if self.offline_inhibits_agent
            && source.is_offline()
            && source.key.agent_id == target.key.agent_id
        {
            return true;
        }
        if self.critical_inhibits_warning
            && source.severity == Severity::Critical
            && target.severity == Severity::Warning
            && source.key == target.key
        {
            return true;
        }
        self.rules.iter().any(|r| {
            r.source.matches(source)
                && r.target.matches(target)
                && r.equal.iter().all(|l| source.label(l) == target.label(l))
        })
    }

    /// Of the events just emitted, those to notify, given what fires now
    /// (`firing`, after the events); then, for each alert held back whose
    /// inhibition has lifted, its firing notification made at `now_ms` by
    /// `lifted`.
    pub(crate) fn route(
        &mut self,
        events: &[AlertEvent],
        firing: &[Facts<'_>],
        now_ms: i64,
        lifted: impl Fn(&Facts<'_>, i64) -> AlertEvent,
    ) -> Vec<AlertEvent> {
        let by_id: FxHashMap<&str, &Facts<'_>> =
            firing.iter().map(|f| (f.id.as_str(), f)).collect();
        let sources = self.index(firing);
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            let id = crate::transition::alert_id(&e.rule, &e.series);
            match e.status {
                AlertStatus::Firing => {
                    let inhibited = by_id
                        .get(id.as_str())
                        .is_some_and(|f| self.inhibitor(f, &sources).is_some());
                    if inhibited {
                        self.held.insert(id);
                    } else {
                        self.held.remove(&id);
                        out.push(e.clone());
                    }
                }
                AlertStatus::Resolved => {
                    // Never notified: its resolution is not either.
                    if !self.held.remove(&id) {
                        out.push(e.clone());
                    }
                }
            }
        }
        for id in std::mem::take(&mut self.held) {
            match by_id.get(id.as_str()) {
                // Ended without a resolution event (a rule withdrawn).
                None => {}
                Some(f) if self.inhibitor(f, &sources).is_some() => {
                    self.held.insert(id);
                }
                Some(f) => out.push(lifted(f, now_ms)),
            }
        }
        out
    }

    /// Whether any notification is held back.
    pub(crate) fn holds_any(&self) -> bool {
        !self.held.is_empty()
    }
}
