//! The certificate special case: a certificate rule watches two series of a
//! domain, its days until expiry (`certificate.days_left`) and its validity
//! (`certificate.is_valid`), and alerts once per domain on what both say. The
//! engine keeps one state per (rule, domain) here, shared by both series.

use oxmon_core::{AlertEvent, Labels, SeriesKey, Severity};
use rustc_hash::FxHashMap;

use crate::memory::{heap_block, key_bytes, table_bytes};
use oxmon_core::cert::IS_VALID_METRIC;

use crate::rule::{Logic, Rule};
use crate::tracker::{Detail, Hit, Outcome};
use crate::transition::{AlertState, Firing, Target};

/// The latest readings of one certificate (one domain of one checker).
#[derive(Debug, Clone, Default)]
pub(crate) struct CertReadings {
    days: Option<f64>,
    valid: Option<bool>,
}

impl CertReadings {
    fn outcome(&self, rule: &Rule) -> Outcome {
        let Logic::Cert {
            warning_days,
            critical_days,
        } = rule.logic
        else {
            return Outcome::Insufficient;
        };
        if self.valid == Some(false) {
            return Outcome::Holds(Hit {
                severity: rule.severity,
                value: self.days.unwrap_or(0.0),
                detail: Detail::Cert {
                    days: self.days,
                    limit: critical_days,
                    invalid: true,
                },
            });
        }
        let Some(days) = self.days else {
            return Outcome::Insufficient;
        };
        let (severity, limit) = if days <= critical_days {
            (Severity::Critical, critical_days)
        } else if days <= warning_days {
            (Severity::Warning, warning_days)
        } else {
            return Outcome::Clear;
        };
        Outcome::Holds(Hit {
            severity,
            value: days,
            detail: Detail::Cert {
                days: Some(days),
                limit,
                invalid: false,
            },
        })
    }
}

#[derive(Debug, Clone)]
struct CertState {
    rule: u32,
    key: SeriesKey,
    readings: CertReadings,
    alert: AlertState,
}

/// The states of the certificates the engine watches, one per (rule,
/// agent, labels), found by index from the series' trackers.
#[derive(Debug, Default)]
pub(crate) struct CertStates {
    states: Vec<CertState>,
    index: FxHashMap<(u32, String, Labels), u32>,
}

impl CertStates {
    /// The index of the state of `rule` for the domain of `days_key` (the
    /// rule's own, days, series), creating it.
    pub(crate) fn state(&mut self, rule: u32, days_key: &SeriesKey) -> u32 {
        let k = (rule, days_key.agent_id.clone(), days_key.labels.clone());
        if let Some(&i) = self.index.get(&k) {
            return i;
        }
        let i = self.states.len() as u32;
        self.states.push(CertState {
            rule,
            key: days_key.clone(),
            readings: CertReadings::default(),
            alert: AlertState::default(),
        });
        self.index.insert(k, i);
        i
    }

    /// Takes over the states of `old` whose rule is kept (old rule index to
    /// new), for a rule reload.
    pub(crate) fn inherit(&mut self, old: CertStates, kept: &FxHashMap<u32, u32>) {
        for c in old.states {
            let Some(&new_rule) = kept.get(&c.rule) else {
                continue;
            };
            let idx = self.state(new_rule, &c.key);
            let target = &mut self.states[idx as usize];
            target.readings = c.readings;
            target.alert = c.alert;
        }
    }

    /// Takes in a reading of `rule`'s certificate `state` from a series
    /// (`validity_series`: a `certificate.is_valid` one) and moves its alert
    /// on; events go to `out`.
    pub(crate) fn observe(
        &mut self,
        state: u32,
        rule: &Rule,
        validity_series: bool,
        ts: i64,
        value: f64,
        out: &mut Vec<AlertEvent>,
    ) {
        let c = &mut self.states[state as usize];
        if rule.metric != IS_VALID_METRIC && validity_series {
            c.readings.valid = Some(value != 0.0);
        } else {
            c.readings.days = Some(value);
        }
        let outcome = c.readings.outcome(rule);
        c.alert
            .transition(rule, Target::Key(&c.key), outcome, ts, value, out);
    }

    /// The certificate alerts firing now: rule index, domain, alert.
    pub(crate) fn firing(&self) -> impl Iterator<Item = (u32, Target<'_>, &Firing)> {
        self.states.iter().filter_map(|c| {
            c.alert
                .firing
                .as_ref()
                .map(|f| (c.rule, Target::Key(&c.key), &**f))
        })
    }

    /// Every certificate state: rule index, domain, alert state.
    pub(crate) fn alerts_mut(
        &mut self,
    ) -> impl Iterator<Item = (u32, &SeriesKey, &mut AlertState)> {
        self.states
            .iter_mut()
            .map(|c| (c.rule, &c.key, &mut c.alert))
    }

    /// Approximate heap bytes, as [`crate::AlertEngine::approx_bytes`] counts them.
    pub(crate) fn approx_bytes(&self) -> usize {
        heap_block(self.states.capacity() * size_of::<CertState>())
            + self
                .states
                .iter()
                .map(|c| key_bytes(&c.key) + c.alert.heap_bytes())
                .sum::<usize>()
            + table_bytes(&self.index)
            + self
                .index
                .keys()
                .map(|(_, agent, labels)| {
                    key_bytes(&SeriesKey::new(agent.as_str(), "", labels.clone()))
                })
                .sum::<usize>()
    }
}
