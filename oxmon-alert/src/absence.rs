//! Absence: an agent that stops reporting (`agent_offline`) and a series
//! that stops (`absent`). Nothing arrives to evaluate, so these rules are
//! evaluated on the clock's ticks ([`AlertEngine::tick`](crate::AlertEngine::tick)):
//! each tick compares the time of the last report with the rule's
//! `after_secs`. A report ends the alert at once.
//!
//! The time of a report is when it arrived (the server's clock, given to
//! [`AlertEngine::observe_batch_at`](crate::AlertEngine::observe_batch_at)),
//! or the sample's own time where no arrival time is given (replay), so an
//! agent whose clock is behind is not taken for a silent one.

use oxmon_core::{AlertEvent, Labels, SeriesKey};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::memory::{heap_block, key_bytes, table_bytes};
use crate::rule::{Logic, Rule};
use crate::tracker::{Detail, Hit, Outcome};
use crate::transition::{AlertState, Firing, Target};

use oxmon_core::config::AGENT_OFFLINE_METRIC as OFFLINE_METRIC;

/// An agent as absence rules know it.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// Since when it is expected to report (whitelisted, or first seen).
    since_ms: i64,
    /// Its last report; `None`: never.
    last_ms: Option<i64>,
}

/// The last report of each series an `absent` rule watches, and the agents
/// whose silence on it was dismissed by hand.
#[derive(Debug, Clone, Default)]
struct Watched {
    series: FxHashMap<SeriesKey, i64>,
    dismissed: FxHashSet<String>,
}

/// The absence rules' state: the agents, the series and the alerts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Absence {
    agents: FxHashMap<Box<str>, Seen>,
    /// By rule index: the series of each `absent` rule.
    watched: FxHashMap<u32, Watched>,
    /// By metric: the `absent` rules watching it.
    by_metric: FxHashMap<String, Vec<u32>>,
    /// The `agent_offline` rules.
    offline: Vec<u32>,
    alerts: FxHashMap<(u32, SeriesKey), AlertState>,
    /// The agents the whitelist lists now (`set_expected`).
    listed: FxHashSet<String>,
    /// Agents whose offline alert was resolved by hand: not expected
    /// again (by the whitelist) until they report.
    gone: FxHashSet<String>,
}

impl Absence {
    /// The absence rules among `rules`.
    pub(crate) fn new(rules: &[Rule]) -> Self {
        let mut this = Self::default();
        for (i, rule) in rules.iter().enumerate() {
            match rule.logic {
                Logic::Offline { .. } => this.offline.push(i as u32),
                Logic::Absent { .. } => {
                    this.by_metric
                        .entry(rule.metric.clone())
                        .or_default()
                        .push(i as u32);
                    this.watched.insert(i as u32, Watched::default());
                }
                _ => {}
            }
        }
        this
    }

    /// Whether there is any absence rule (else nothing needs tracking).
    pub(crate) fn is_active(&self) -> bool {
        !self.offline.is_empty() || !self.by_metric.is_empty()
    }

    /// Takes over what `old` knew: every agent, and the series and alerts
    /// of the rules `kept` maps (old index to new).
    pub(crate) fn inherit(&mut self, old: Absence, kept: &FxHashMap<u32, u32>) {
        self.agents = old.agents;
        self.listed = old.listed;
        self.gone = old.gone;
        for (rule, watched) in old.watched {
            if let Some(new) = kept.get(&rule)
                && self.watched.contains_key(new)
            {
                self.watched.insert(*new, watched);
            }
        }
        for ((rule, key), alert) in old.alerts {
            if let Some(&new) = kept.get(&rule) {
                self.alerts.insert((new, key), alert);
            }
        }
    }

    /// `agent` is expected to report from `since_ms` on (whitelisted): its
    /// silence counts from then until its first report.
    pub(crate) fn expect(&mut self, agent: &str, since_ms: i64) {
        self.agents.entry(agent.into()).or_insert(Seen {
            since_ms,
            last_ms: None,
        });
    }

    /// The expected agents as they are now: each listed one is expected
    /// from its time (nothing changes for one already known), and one that
    /// never reported and is no longer listed is forgotten.
    pub(crate) fn set_expected<'a>(&mut self, expected: impl IntoIterator<Item = (&'a str, i64)>) {
        let listed: FxHashMap<&str, i64> = expected.into_iter().collect();
        // Removed from the whitelist, or never reported and not listed.
        let mut unlisted: Vec<String> = self
            .listed
            .iter()
            .filter(|a| !listed.contains_key(a.as_str()))
            .cloned()
            .collect();
        unlisted.extend(
            self.agents
                .iter()
                .filter(|(agent, seen)| seen.last_ms.is_none() && !listed.contains_key(&***agent))
                .map(|(agent, _)| agent.to_string()),
        );
        for agent in unlisted {
            self.forget(&agent);
        }
        self.listed = listed.keys().map(|a| (*a).to_owned()).collect();
        for (agent, since_ms) in listed {
            if !self.gone.contains(agent) {
                self.expect(agent, since_ms);
            }
        }
    }

    /// Stops tracking `agent` until it reports again (decommissioned).
    pub(crate) fn forget(&mut self, agent: &str) {
        self.agents.remove(agent);
        for w in self.watched.values_mut() {
            w.series.retain(|k, _| k.agent_id != agent);
            w.dismissed.remove(agent);
        }
        self.alerts.retain(|(_, k), _| k.agent_id != agent);
    }

    /// `agent` reported at `at_ms`: an `agent_offline` alert of it ends.
    pub(crate) fn agent_reported(
        &mut self,
        rules: &[Rule],
        agent: &str,
        at_ms: i64,
        out: &mut Vec<AlertEvent>,
    ) {
        if !self.gone.is_empty() {
            self.gone.remove(agent);
        }
        match self.agents.get_mut(agent) {
            Some(seen) => {
                if seen.last_ms.is_some_and(|l| l >= at_ms) {
                    return;
                }
                seen.last_ms = Some(at_ms);
            }
            None => {
                self.agents.insert(
                    agent.into(),
                    Seen {
                        since_ms: at_ms,
                        last_ms: Some(at_ms),
                    },
                );
            }
        }
        let mut back = false;
        for &rule in &self.offline {
            let key = SeriesKey::new(agent, OFFLINE_METRIC, Labels::new());
            back |= clear(&mut self.alerts, rules, rule, key, at_ms, out);
        }
        if back {
            self.judge_afresh(rules, agent, at_ms, out);
        }
    }

    /// `agent` is back after being offline: its series are given their
    /// `after_secs` again from `at_ms` (the first report after an outage
    /// need not carry every series), and their absence alerts, which the
    /// outage covered, end. A series really gone fires again after its
    /// limit.
    fn judge_afresh(&mut self, rules: &[Rule], agent: &str, at_ms: i64, out: &mut Vec<AlertEvent>) {
        if let Some(seen) = self.agents.get_mut(agent) {
            seen.since_ms = at_ms;
        }
        for w in self.watched.values_mut() {
            for (key, last) in w.series.iter_mut() {
                if key.agent_id == agent {
                    *last = (*last).max(at_ms);
                }
            }
        }
        let ended: Vec<(u32, SeriesKey)> = self
            .alerts
            .keys()
            .filter(|(rule, key)| key.agent_id == agent && self.watched.contains_key(rule))
            .cloned()
            .collect();
        for (rule, key) in ended {
            clear(&mut self.alerts, rules, rule, key, at_ms, out);
        }
    }

    /// A sample of `metric` with `labels` of `agent` arrived at `at_ms`: an
    /// `absent` alert of its series ends.
    pub(crate) fn series_reported(
        &mut self,
        rules: &[Rule],
        agent: &str,
        metric: &str,
        labels: &Labels,
        at_ms: i64,
        out: &mut Vec<AlertEvent>,
    ) {
        let Some(watching) = self.by_metric.get(metric) else {
            return;
        };
        for &rule in watching {
            let r = &rules[rule as usize];
            let Logic::Absent {
                labels: ref wanted, ..
            } = r.logic
            else {
                continue;
            };
            if !r.pattern.matches(agent) || !wanted.iter().all(|(k, v)| labels.get(k) == Some(v)) {
                continue;
            }
            let Some(w) = self.watched.get_mut(&rule) else {
                continue;
            };
            w.dismissed.remove(agent);
            let key = SeriesKey::new(agent, metric, labels.clone());
            match w.series.get_mut(&key) {
                Some(last) if *last >= at_ms => continue,
                Some(last) => *last = at_ms,
                None => {
                    w.series.insert(key.clone(), at_ms);
                    // The agent's "no series at all" alert ends with its first.
                    let none = SeriesKey::new(agent, metric, wanted.clone());
                    if none != key {
                        clear(&mut self.alerts, rules, rule, none, at_ms, out);
                    }
                }
            }
            clear(&mut self.alerts, rules, rule, key, at_ms, out);
        }
    }

    /// Evaluates every absence rule at `now_ms`.
    pub(crate) fn tick(&mut self, rules: &[Rule], now_ms: i64, out: &mut Vec<AlertEvent>) {
        for &rule in &self.offline {
            let r = &rules[rule as usize];
            let Logic::Offline { after_ms } = r.logic else {
                continue;
            };
            for (agent, seen) in &self.agents {
                if !r.pattern.matches(agent) {
                    continue;
                }
                let key = || SeriesKey::new(&**agent, OFFLINE_METRIC, Labels::new());
                let from = seen.last_ms.unwrap_or(seen.since_ms);
                judge(
                    &mut self.alerts,
                    r,
                    rule,
                    key,
                    seen.last_ms,
                    from,
                    after_ms,
                    now_ms,
                    out,
                );
            }
        }
        for (&rule, w) in &self.watched {
            let r = &rules[rule as usize];
            let Logic::Absent {
                after_ms,
                labels: ref wanted,
            } = r.logic
            else {
                continue;
            };
            let mut reporting: FxHashSet<&str> = FxHashSet::default();
            for (key, &last) in &w.series {
                reporting.insert(&key.agent_id);
                judge(
                    &mut self.alerts,
                    r,
                    rule,
                    || key.clone(),
                    Some(last),
                    last,
                    after_ms,
                    now_ms,
                    out,
                );
            }
            // Agents that never sent the series at all.
            for (agent, seen) in &self.agents {
                if reporting.contains(&**agent)
                    || w.dismissed.contains(&**agent)
                    || !r.pattern.matches(agent)
                {
                    continue;
                }
                let key = || SeriesKey::new(&**agent, r.metric.clone(), wanted.clone());
                judge(
                    &mut self.alerts,
                    r,
                    rule,
                    key,
                    None,
                    seen.since_ms,
                    after_ms,
                    now_ms,
                    out,
                );
            }
        }
    }

    /// Every firing absence alert.
    pub(crate) fn firing(&self) -> impl Iterator<Item = (u32, Target<'_>, &Firing)> {
        self.alerts.iter().filter_map(|((rule, key), alert)| {
            alert
                .firing
                .as_deref()
                .map(|f| (*rule, Target::Key(key), f))
        })
    }

    /// Every absence alert, for changes by hand.
    pub(crate) fn alerts_mut(
        &mut self,
    ) -> impl Iterator<Item = (u32, &SeriesKey, &mut AlertState)> {
        self.alerts
            .iter_mut()
            .map(|((rule, key), alert)| (*rule, key, alert))
    }

    /// After an absence alert of `rule` on `key` was resolved by hand: the
    /// silence is taken as meant. An offline agent is forgotten until it
    /// reports again; a silent series likewise, and an agent without the
    /// series is not asked for it again.
    pub(crate) fn dismiss(&mut self, rules: &[Rule], rule: u32, key: &SeriesKey) {
        match rules.get(rule as usize).map(|r| &r.logic) {
            Some(Logic::Offline { .. }) => {
                self.forget(&key.agent_id);
                self.gone.insert(key.agent_id.clone());
            }
            Some(Logic::Absent { .. }) => {
                if let Some(w) = self.watched.get_mut(&rule) {
                    w.series.remove(key);
                    if !w.series.keys().any(|k| k.agent_id == key.agent_id) {
                        w.dismissed.insert(key.agent_id.clone());
                    }
                }
                self.alerts.remove(&(rule, key.clone()));
            }
            _ => {}
        }
    }

    /// Approximate heap bytes.
    pub(crate) fn approx_bytes(&self) -> usize {
        let agents = table_bytes(&self.agents)
            + self
                .agents
                .keys()
                .map(|a| heap_block(a.len()))
                .sum::<usize>();
        let series = self
            .watched
            .values()
            .map(|w| table_bytes(&w.series) + w.series.keys().map(key_bytes).sum::<usize>())
            .sum::<usize>();
        let alerts = table_bytes(&self.alerts)
            + self
                .alerts
                .iter()
                .map(|((_, k), a)| key_bytes(k) + a.heap_bytes())
                .sum::<usize>();
        agents + series + alerts
    }
}

/// Fires the alert of `rule` on `key` when it has been silent since
/// `from_ms` for `after_ms` at `now_ms` (its last report `last_ms`).
#[allow(
    clippy::too_many_arguments,
    reason = "one call shape for both rule types"
)]
fn judge(
    alerts: &mut FxHashMap<(u32, SeriesKey), AlertState>,
    rule: &Rule,
    index: u32,
    key: impl FnOnce() -> SeriesKey,
    last_ms: Option<i64>,
    from_ms: i64,
    after_ms: i64,
    now_ms: i64,
    out: &mut Vec<AlertEvent>,
) {
    let silent_ms = now_ms.saturating_sub(from_ms);
    if silent_ms < after_ms {
        return;
    }
    // Built only for what is silent: a tick over a healthy fleet allocates
    // nothing.
    let key = key();
    let hit = Hit {
        severity: rule.severity,
        value: silent_ms as f64 / 1000.0,
        detail: Detail::Absent {
            last_ms,
            silent_ms,
            offline: matches!(rule.logic, Logic::Offline { .. }),
        },
    };
    let value = hit.value;
    let alert = alerts.entry((index, key.clone())).or_default();
    alert.transition(
        rule,
        Target::Key(&key),
        Outcome::Holds(hit),
        now_ms,
        value,
        out,
    );
}

/// Ends the alert of `rule` on `key`, if it fires, at `at_ms` (unless its
/// `keep_firing_secs` holds it); whether it ended.
fn clear(
    alerts: &mut FxHashMap<(u32, SeriesKey), AlertState>,
    rules: &[Rule],
    rule: u32,
    key: SeriesKey,
    at_ms: i64,
    out: &mut Vec<AlertEvent>,
) -> bool {
    let entry = (rule, key);
    let Some(alert) = alerts.get_mut(&entry) else {
        return false;
    };
    let fired = alert.firing.is_some();
    alert.transition(
        &rules[rule as usize],
        Target::Key(&entry.1),
        Outcome::Clear,
        at_ms,
        0.0,
        out,
    );
    let ended = fired && alert.firing.is_none();
    if alert.firing.is_none() {
        alerts.remove(&entry);
    }
    ended
}
