//! The engine: routes samples to the rules that watch them and keeps the
//! state of every (rule, series); each outcome moves that pair's alert on
//! (`transition.rs`), certificates through their shared states (`cert.rs`).

use oxmon_core::config::RuleConfig;
use oxmon_core::{AlertEvent, MetricBatch, Sample, SeriesKey, Severity};
use rustc_hash::FxHashMap;

use crate::absence::Absence;
use crate::cert::CertStates;
use crate::error::{Error, Result};
use crate::inhibit::{Facts, Inhibition};
use crate::memory::{heap_block, reserve_quarter};
use crate::rule::Rule;
use crate::series::{Lookup, SeriesIndex};
use crate::tracker::{Outcome, Tracker};
use crate::transition::{AlertState, Firing, Target, alert_id};
use crate::windows::{Obs, SeriesWindows};

/// Tuning of the engine.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct EngineOptions {
    /// A gap between two samples longer than this multiple of the series'
    /// usual interval restarts a threshold rule's pending time, and a
    /// rate-of-change baseline further than this from `window_secs` ago is
    /// not used. Default 3.
    pub gap_factor: f64,
    /// Most points kept per (rule, series) window, whatever the window's
    /// length. Default 100,000 (11.5 days at 10 s).
    pub max_window_points: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            gap_factor: 3.0,
            max_window_points: 100_000,
        }
    }
}

/// A pre-resolved series, to feed samples without looking the series up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeriesHandle(u32);

/// An alert that is firing now.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveAlert {
    /// Its id: stable while it fires, and the start of its events' ids.
    pub id: String,
    /// The rule.
    pub rule: String,
    /// The series.
    pub series: SeriesKey,
    /// Current severity.
    pub severity: Severity,
    /// When it started firing (ms).
    pub since_ms: i64,
    /// The latest value.
    pub value: f64,
    /// Whether a notification went out (a re-fire within `silence_secs` of
    /// the previous notification fires silently).
    pub notified: bool,
    /// The latest message.
    pub message: String,
    /// Who acknowledged it and when (ms): no reminders or escalations
    /// until it resolves.
    pub acknowledged: Option<(String, i64)>,
    /// The id of the alert that keeps it from being notified, while one
    /// does (inhibition).
    pub inhibited_by: Option<String>,
}

/// Counters of the engine's work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EngineStats {
    /// Samples that reached at least one rule.
    pub evaluated: u64,
    /// Samples ignored because they were not newer than their series' latest.
    pub out_of_order: u64,
    /// Events emitted.
    pub events: u64,
    /// Series with state.
    pub series: u64,
    /// Points held in rule windows, over all series.
    pub window_points: u64,
}

#[derive(Debug, Clone)]
struct Slot {
    rule: u32,
    tracker: Tracker,
    alert: AlertState,
}

/// The state of one series (its identity is in the [`SeriesIndex`], at the
/// same index).
#[derive(Debug, Clone)]
struct SeriesState {
    last_ts: i64,
    interval_ms: f64,
    windows: SeriesWindows,
    slots: Box<[Slot]>,
}

impl SeriesState {
    fn heap_bytes(&self) -> usize {
        self.windows.heap_bytes()
            + heap_block(self.slots.len() * size_of::<Slot>())
            + self
                .slots
                .iter()
                .map(|s| s.tracker.heap_bytes() + s.alert.heap_bytes())
                .sum::<usize>()
    }
}

/// The alert engine. Feed it samples; it returns events.
///
/// - **Per series.** State is kept per (rule, series): every disk mount, core,
///   interface and certificate domain alerts on its own.
/// - **Event time.** Durations, windows and silences are measured in sample
///   timestamps, never the wall clock, so [`replay`] over stored history gives
///   exactly the events the live engine gave.
/// - **Forward only.** A sample not newer than its series' latest is ignored
///   (counted in [`EngineStats::out_of_order`]); duplicates and late data
///   cannot corrupt state.
/// - **Notifications.** A series that starts breaching emits a `Firing` event;
///   while it keeps breaching, a reminder `Firing` event follows every
///   `silence_secs` (none when it is 0); a higher severity is emitted at once. When the condition
///   clears, a `Resolved` event follows, carrying `fired_at_ms`. An alert that
///   re-fires within `silence_secs` of the previous notification (flapping)
///   fires silently and resolves silently.
/// - **Cost.** Rules are indexed by metric, so a sample of an unwatched metric
///   costs one hash lookup; each rule's state is O(1) per sample (amortized)
///   and holds at most its own window. The rules of a series share one
///   history of its points, delta-encoded (a few bytes a point, grown as
///   points arrive, never sized from a window's length): at 10 s a 3600 s
///   trend window costs 1 to 3 KB depending on how much its values vary.
///   [`AlertEngine::approx_bytes`] tells what the engine holds.
#[derive(Debug)]
pub struct AlertEngine {
    rules: Vec<Rule>,
    options: EngineOptions,
    index: SeriesIndex,
    series: Vec<SeriesState>,
    certs: CertStates,
    absence: Absence,
    inhibition: Inhibition,
    /// When the batch being observed arrived (`observe_batch_at`).
    arrival_ms: Option<i64>,
    stats: EngineStats,
}

impl AlertEngine {
    /// An engine over compiled rules.
    ///
    /// # Errors
    /// [`Error::DuplicateRule`] when two rules share a name.
    pub fn new(rules: Vec<Rule>, options: EngineOptions) -> Result<Self> {
        for (i, r) in rules.iter().enumerate() {
            if rules[..i].iter().any(|o| o.name == r.name) {
                return Err(Error::DuplicateRule(r.name.clone()));
            }
        }
        Ok(Self {
            index: SeriesIndex::new(&rules),
            absence: Absence::new(&rules),
            inhibition: Inhibition::from_config(&oxmon_core::config::AlertConfig::default())?,
            arrival_ms: None,
            rules,
            options,
            series: Vec::new(),
            certs: CertStates::default(),
            stats: EngineStats::default(),
        })
    }

    /// An engine over configured rules (disabled rules are left out).
    ///
    /// # Errors
    /// As [`RuleRegistry::compile`](crate::RuleRegistry::compile) (built-in rule types only) and [`AlertEngine::new`].
    pub fn from_config(rules: &[RuleConfig], options: EngineOptions) -> Result<Self> {
        Self::new(crate::RuleRegistry::new().compile(rules)?, options)
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Counters.
    pub fn stats(&self) -> EngineStats {
        let window_points = self
            .series
            .iter()
            .map(|s| {
                (s.windows.held_points()
                    + s.slots
                        .iter()
                        .map(|x| x.tracker.held_points())
                        .sum::<usize>()) as u64
            })
            .sum();
        EngineStats {
            series: self.series.len() as u64,
            window_points,
            ..self.stats
        }
    }

    /// Approximate bytes the engine holds for its series and certificates:
    /// windows, rule states, series identities and the indexes, heap blocks
    /// counted as an allocator like glibc's malloc hands them out. The rules
    /// themselves are not counted. A measure for capacity planning and
    /// tests, not an exact figure: it walks every series.
    pub fn approx_bytes(&self) -> usize {
        let series = heap_block(self.series.capacity() * size_of::<SeriesState>())
            + self
                .series
                .iter()
                .map(SeriesState::heap_bytes)
                .sum::<usize>();
        let index = self.index.approx_bytes();
        let certs = self.certs.approx_bytes();
        size_of::<Self>() + series + index + certs + self.absence.approx_bytes()
    }

    /// Replaces the rule set, keeping the state of every rule whose
    /// definition did not change (same name, same configuration), so a
    /// config reload neither re-fires nor forgets firing alerts.
    ///
    /// # Errors
    /// As [`AlertEngine::new`]; on error the engine keeps its old rules.
    pub fn set_rules(&mut self, rules: Vec<Rule>) -> Result<()> {
        let mut next = AlertEngine::new(rules, self.options)?;
        let kept: FxHashMap<u32, u32> = self
            .rules
            .iter()
            .enumerate()
            .filter_map(|(old, r)| {
                next.rules
                    .iter()
                    .position(|n| n.name == r.name && n.same_as(r))
                    .map(|new| (old as u32, new as u32))
            })
            .collect();
        for (i, s) in std::mem::take(&mut self.series).into_iter().enumerate() {
            if !s.slots.iter().any(|slot| kept.contains_key(&slot.rule)) {
                continue;
            }
            let Some(h) = next.resolve(&self.index.key(i as u32)) else {
                continue;
            };
            let target = &mut next.series[h.0 as usize];
            target.last_ts = s.last_ts;
            target.interval_ms = s.interval_ms;
            target.windows.inherit(s.windows);
            for slot in s.slots {
                let Some(&new_rule) = kept.get(&slot.rule) else {
                    continue;
                };
                if let Some(t) = target.slots.iter_mut().find(|t| t.rule == new_rule) {
                    if matches!(
                        slot.tracker,
                        Tracker::Threshold { .. } | Tracker::Custom { .. }
                    ) {
                        t.tracker = slot.tracker;
                    }
                    t.alert = slot.alert;
                }
            }
        }
        next.certs.inherit(std::mem::take(&mut self.certs), &kept);
        next.absence
            .inherit(std::mem::take(&mut self.absence), &kept);
        next.inhibition = std::mem::take(&mut self.inhibition);
        next.stats = self.stats;
        *self = next;
        Ok(())
    }

    /// Replaces the rule set as [`AlertEngine::set_rules`] does and ends, as
    /// of `at_ms`, every alert of a rule that is gone or changed (deleted,
    /// disabled or edited): a notified one resolves with an event in `out`
    /// saying why, so its resolution is stored and notified like any other;
    /// a silent one ends silently.
    ///
    /// # Errors
    /// As [`AlertEngine::new`]; on error the engine keeps its old rules and
    /// `out` is unchanged.
    pub fn replace_rules(
        &mut self,
        rules: Vec<Rule>,
        at_ms: i64,
        out: &mut Vec<AlertEvent>,
    ) -> Result<()> {
        let kept = |old: &Rule| rules.iter().any(|n| n.name == old.name && n.same_as(old));
        let withdrawn: Vec<AlertEvent> = self
            .firing()
            .filter(|(rule, _, f)| f.notified && !kept(&self.rules[*rule as usize]))
            .map(|(rule, target, f)| {
                crate::transition::withdrawn(&self.rules[rule as usize], target.key(), f, at_ms)
            })
            .collect();
        self.set_rules(rules)?;
        out.extend(withdrawn);
        Ok(())
    }

    /// Acknowledges the firing alert `id` for `by` at `at_ms`: no reminders
    /// or escalations until it resolves (its resolution is still notified,
    /// naming who acknowledged it). `None` when no alert `id` fires.
    pub fn acknowledge(&mut self, id: &str, by: &str, at_ms: i64) -> Option<ActiveAlert> {
        let (rule, key, alert) = firing_mut(
            &self.rules,
            &self.index,
            &mut self.series,
            &mut self.certs,
            &mut self.absence,
            id,
        )?;
        alert.acknowledge(by, at_ms);
        let f = alert.firing.as_deref()?;
        Some(active_alert(&self.rules[rule as usize], key, f))
    }

    /// Resolves the firing alert `id` by hand for `by` at `at_ms`; a
    /// notified one resolves with an event in `out`. Should its condition
    /// still hold, the next sample fires it again. `false` when no alert
    /// `id` fires.
    pub fn resolve_by_hand(
        &mut self,
        id: &str,
        by: &str,
        at_ms: i64,
        out: &mut Vec<AlertEvent>,
    ) -> bool {
        let Some((rule, key, alert)) = firing_mut(
            &self.rules,
            &self.index,
            &mut self.series,
            &mut self.certs,
            &mut self.absence,
            id,
        ) else {
            return false;
        };
        let resolved =
            alert.resolve_by_hand(&self.rules[rule as usize], key.clone(), by, at_ms, out);
        // An absence resolved by hand is taken as meant (a decommissioned
        // agent, a series gone for good).
        self.absence.dismiss(&self.rules, rule, &key);
        resolved
    }

    /// Every firing alert: its rule's index, its series and its state.
    fn firing(&self) -> impl Iterator<Item = (u32, Target<'_>, &Firing)> {
        let index = &self.index;
        let from_slots = self.series.iter().enumerate().flat_map(move |(i, s)| {
            s.slots
                .iter()
                .filter(|slot| !matches!(slot.tracker, Tracker::Cert { .. }))
                .filter_map(move |slot| {
                    slot.alert
                        .firing
                        .as_deref()
                        .map(|f| (slot.rule, Target::Series(index, i as u32, &s.windows), f))
                })
        });
        from_slots
            .chain(self.certs.firing())
            .chain(self.absence.firing())
    }

    /// The series' handle, creating its state; `None` when no rule watches it.
    pub fn resolve(&mut self, key: &SeriesKey) -> Option<SeriesHandle> {
        match self.index.get(&key.metric, &key.agent_id, &key.labels) {
            Lookup::Known(idx) => return Some(SeriesHandle(idx)),
            Lookup::Unwatched => return None,
            Lookup::Unknown => {}
        }
        let (metric, agent, rules) =
            self.index
                .rules_for(&key.metric, &key.agent_id, &self.rules)?;
        let mut windows = SeriesWindows::default();
        let slots: Box<[Slot]> = rules
            .iter()
            .copied()
            .filter(|&r| self.rules[r as usize].applies_to(key))
            .map(|r| Slot {
                rule: r,
                tracker: Tracker::new(&self.rules[r as usize], &mut windows),
                alert: AlertState::default(),
            })
            .collect();
        let idx = self.index.insert(metric, agent, &key.labels);
        debug_assert_eq!(idx as usize, self.series.len());
        // A quarter more at a time rather than double: series come and stay,
        // and a doubled vector of states is mostly empty.
        reserve_quarter(&mut self.series);
        self.series.push(SeriesState {
            last_ts: i64::MIN,
            interval_ms: 0.0,
            windows,
            slots,
        });
        // Certificate rules share one state per domain between the days and validity series.
        for slot in self.series[idx as usize].slots.iter_mut() {
            if let Tracker::Cert { state } = &mut slot.tracker {
                let days_key = SeriesKey::new(
                    key.agent_id.clone(),
                    self.rules[slot.rule as usize].metric.clone(),
                    key.labels.clone(),
                );
                *state = self.certs.state(slot.rule, &days_key);
            }
        }
        Some(SeriesHandle(idx))
    }

    /// Feeds one sample of `agent_id`'s; events go to `out`. For absence
    /// rules the sample counts as a report at its own time (see
    /// [`AlertEngine::observe_batch_at`] for reports at their arrival).
    pub fn observe(&mut self, agent_id: &str, sample: &Sample, out: &mut Vec<AlertEvent>) {
        if self.absence.is_active() {
            let before = out.len();
            let at = match self.arrival_ms {
                Some(at) => at,
                None => {
                    self.absence
                        .agent_reported(&self.rules, agent_id, sample.timestamp_ms, out);
                    sample.timestamp_ms
                }
            };
            self.absence.series_reported(
                &self.rules,
                agent_id,
                &sample.metric,
                &sample.labels,
                at,
                out,
            );
            self.stats.events += (out.len() - before) as u64;
        }
        // Fast path: a metric no rule watches costs one lookup, no allocation.
        let known = self.index.get(&sample.metric, agent_id, &sample.labels);
        let handle = match known {
            Lookup::Unwatched => return,
            Lookup::Known(idx) => SeriesHandle(idx),
            Lookup::Unknown => match self.resolve(&sample.series_key(agent_id)) {
                Some(h) => h,
                None => return,
            },
        };
        self.observe_handle(handle, sample.timestamp_ms, sample.value, out);
    }

    /// Feeds a batch's samples in order; events go to `out`.
    pub fn observe_batch(&mut self, batch: &MetricBatch, out: &mut Vec<AlertEvent>) {
        for s in &batch.samples {
            self.observe(&batch.agent_id, s, out);
        }
    }

    /// Feeds a batch that arrived at `arrived_ms` (the server's clock):
    /// for absence rules the agent and each of the batch's series reported
    /// then, whatever the samples' own times say.
    pub fn observe_batch_at(
        &mut self,
        batch: &MetricBatch,
        arrived_ms: i64,
        out: &mut Vec<AlertEvent>,
    ) {
        // Known even without absence rules, for those added later.
        self.agent_seen(&batch.agent_id, arrived_ms, out);
        self.arrival_ms = Some(arrived_ms);
        self.observe_batch(batch, out);
        self.arrival_ms = None;
    }

    /// Evaluates the absence rules (`agent_offline`, `absent`) at `now_ms`:
    /// call it on the clock's ticks (the server does once a second).
    pub fn tick(&mut self, now_ms: i64, out: &mut Vec<AlertEvent>) {
        if self.absence.is_active() {
            let before = out.len();
            self.absence.tick(&self.rules, now_ms, out);
            self.stats.events += (out.len() - before) as u64;
        }
    }

    /// Whether any rule is judged on ticks (absence rules).
    pub fn needs_ticks(&self) -> bool {
        self.absence.is_active()
    }

    /// `agent_id` last reported at `at_ms` (known from storage after a
    /// restart, for example): absence rules count its silence from then.
    pub fn agent_seen(&mut self, agent_id: &str, at_ms: i64, out: &mut Vec<AlertEvent>) {
        let before = out.len();
        self.absence
            .agent_reported(&self.rules, agent_id, at_ms, out);
        self.stats.events += (out.len() - before) as u64;
    }

    /// `agent_id` is expected to report from `since_ms` on (whitelisted):
    /// until it does, `agent_offline` rules count its silence from then.
    /// Nothing changes for an agent already known.
    pub fn expect_agent(&mut self, agent_id: &str, since_ms: i64) {
        self.absence.expect(agent_id, since_ms);
    }

    /// Stops expecting `agent_id` (removed from the whitelist, or gone):
    /// its absence alerts end silently; it is known again when it reports.
    pub fn forget_agent(&mut self, agent_id: &str) {
        self.absence.forget(agent_id);
    }

    /// The agents expected to report (the whitelist, with when each was
    /// added) as they are now: new ones are expected from then, and those
    /// no longer listed that never reported are forgotten.
    pub fn set_expected_agents<'a>(&mut self, expected: impl IntoIterator<Item = (&'a str, i64)>) {
        self.absence.set_expected(expected);
    }

    /// Feeds one point of a resolved series; events go to `out`.
    pub fn observe_handle(
        &mut self,
        handle: SeriesHandle,
        ts: i64,
        value: f64,
        out: &mut Vec<AlertEvent>,
    ) {
        let Some(s) = self.series.get_mut(handle.0 as usize) else {
            return;
        };
        if ts <= s.last_ts || !value.is_finite() {
            self.stats.out_of_order += 1;
            return;
        }
        self.stats.evaluated += 1;
        let gap_factor = self.options.gap_factor;
        let (gap, gap_limit_ms) = if s.last_ts == i64::MIN {
            (false, i64::MAX)
        } else {
            let delta = (ts - s.last_ts) as f64;
            let gap = s.interval_ms > 0.0 && delta > gap_factor * s.interval_ms;
            let limit = if s.interval_ms > 0.0 {
                (gap_factor * s.interval_ms) as i64
            } else {
                i64::MAX
            };
            // Follow the series' usual interval; a gap moves it only halfway, so
            // a one-off outage is forgotten quickly and a new interval is learnt.
            s.interval_ms = match (s.interval_ms > 0.0, gap) {
                (false, _) => delta,
                (true, false) => 0.8 * s.interval_ms + 0.2 * delta,
                (true, true) => 0.5 * s.interval_ms + 0.5 * delta,
            };
            (gap, limit)
        };
        s.last_ts = ts;
        let obs = Obs {
            ts,
            value,
            gap,
            gap_limit_ms,
            max_points: self.options.max_window_points,
        };
        s.windows.update(obs);
        let before = out.len();
        for slot in &mut s.slots {
            let rule = &self.rules[slot.rule as usize];
            if let Tracker::Cert { state } = slot.tracker {
                let validity = self.index.is_validity(handle.0);
                self.certs.observe(state, rule, validity, ts, value, out);
                continue;
            }
            let firing = slot.alert.firing.is_some();
            match slot.tracker.observe(rule, &s.windows, obs, firing) {
                // Most rules of most samples: nothing to move on.
                Outcome::Insufficient => {}
                Outcome::Clear if !firing => {}
                outcome => {
                    let series = Target::Series(&self.index, handle.0, &s.windows);
                    slot.alert.transition(rule, series, outcome, ts, value, out);
                }
            }
        }
        self.stats.events += (out.len() - before) as u64;
    }

    /// Sets the inhibitions (`[[alert.inhibit]]` and the built-ins of
    /// `[alert]`); by default both built-ins are on and there are no
    /// others. What is held back now stays held back.
    ///
    /// # Errors
    /// [`Error::InvalidRule`] naming `alert.inhibit[i]` for a bad glob.
    pub fn set_inhibition(&mut self, config: &oxmon_core::config::AlertConfig) -> Result<()> {
        let mut next = Inhibition::from_config(config)?;
        next.inherit(std::mem::take(&mut self.inhibition));
        self.inhibition = next;
        Ok(())
    }

    /// Every firing alert as inhibition sees it.
    fn facts(&self) -> Vec<Facts<'_>> {
        self.firing()
            .map(|(rule, target, f)| {
                let rule = &self.rules[rule as usize];
                let key = target.key();
                Facts {
                    id: alert_id(&rule.name, &key),
                    rule,
                    key,
                    severity: f.severity,
                    firing: f,
                }
            })
            .collect()
    }

    /// Of `events` (just emitted, already stored), those to notify: an
    /// inhibited alert's firing event is held back, and so is the
    /// resolution of one never notified; an alert held back whose
    /// inhibition has lifted is notified now (`now_ms`). Call it after
    /// every change, and on ticks with no events (for the lifting).
    pub fn notifiable(&mut self, events: &[AlertEvent], now_ms: i64) -> Vec<AlertEvent> {
        if !self.inhibition.is_active() {
            return events.to_vec();
        }
        if events.is_empty() && !self.inhibition.holds_any() {
            return Vec::new();
        }
        let mut inhibition = std::mem::take(&mut self.inhibition);
        let routed = {
            let facts = self.facts();
            inhibition.route(events, &facts, now_ms, |f, ts| {
                crate::transition::lifted(f.rule, f.key.clone(), f.firing, ts)
            })
        };
        self.inhibition = inhibition;
        routed
    }

    /// Every alert firing now, ordered by rule then series.
    pub fn active(&self) -> Vec<ActiveAlert> {
        let facts = if self.inhibition.is_active() {
            self.facts()
        } else {
            Vec::new()
        };
        let sources = self.inhibition.index(&facts);
        let by_id: FxHashMap<&str, &Facts<'_>> = facts.iter().map(|f| (f.id.as_str(), f)).collect();
        let mut active: Vec<ActiveAlert> = self
            .firing()
            .map(|(rule, target, f)| {
                let rule = &self.rules[rule as usize];
                let mut alert = active_alert(rule, target.key(), f);
                if let Some(me) = by_id.get(alert.id.as_str()) {
                    alert.inhibited_by = self.inhibition.inhibitor(me, &sources).map(str::to_owned);
                }
                alert
            })
            .collect();
        active.sort_by(|a, b| a.rule.cmp(&b.rule).then_with(|| a.series.cmp(&b.series)));
        active
    }
}

/// The firing alert `f` of `rule` on `key`, as [`AlertEngine::active`]
/// lists it.
fn active_alert(rule: &Rule, key: SeriesKey, f: &Firing) -> ActiveAlert {
    ActiveAlert {
        id: alert_id(&rule.name, &key),
        acknowledged: f.ack.as_ref().map(|a| (a.by.clone(), a.at_ms)),
        rule: rule.name.clone(),
        severity: f.severity,
        since_ms: f.since_ms,
        value: f.value,
        notified: f.notified,
        message: f.detail.render(&key, f.value),
        series: key,
        inhibited_by: None,
    }
}

/// The firing alert `id` (an [`ActiveAlert::id`]) among the engine's
/// states: its rule's index, series and state.
fn firing_mut<'a>(
    rules: &[Rule],
    index: &SeriesIndex,
    series: &'a mut [SeriesState],
    certs: &'a mut CertStates,
    absence: &'a mut Absence,
    id: &str,
) -> Option<(u32, SeriesKey, &'a mut AlertState)> {
    let slots = series.iter_mut().enumerate().flat_map(|(i, s)| {
        s.slots
            .iter_mut()
            .filter(|slot| {
                !matches!(slot.tracker, Tracker::Cert { .. }) && slot.alert.firing.is_some()
            })
            .map(move |slot| (slot.rule, index.key(i as u32), &mut slot.alert))
    });
    let certs = certs
        .alerts_mut()
        .filter(|(_, _, alert)| alert.firing.is_some())
        .map(|(rule, key, alert)| (rule, key.clone(), alert));
    let absent = absence
        .alerts_mut()
        .filter(|(_, _, alert)| alert.firing.is_some())
        .map(|(rule, key, alert)| (rule, key.clone(), alert));
    slots
        .chain(certs)
        .chain(absent)
        .find(|(rule, key, _)| alert_id(&rules[*rule as usize].name, key) == id)
}

/// Runs rules over stored history and returns the events they would have
/// produced: back-testing a rule before enabling it. The batches' samples
/// are sorted by timestamp (then agent, metric, labels) first, so the result
/// does not depend on their order.
///
/// # Errors
/// As [`AlertEngine::from_config`].
pub fn replay(
    rules: &[RuleConfig],
    batches: impl IntoIterator<Item = MetricBatch>,
    options: EngineOptions,
) -> Result<Vec<AlertEvent>> {
    let engine = AlertEngine::from_config(rules, options)?;
    Ok(run_replay(engine, batches, false).events)
}

/// What [`replay_alerts`] gives: every event the rules produced, and those
/// a notifier would have been handed (inhibition applied, lifted alerts
/// included), in order.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Replayed {
    /// Every event, as stored.
    pub events: Vec<AlertEvent>,
    /// The notifications ([`AlertEngine::notifiable`] after each step).
    pub notified: Vec<AlertEvent>,
}

/// As [`replay`], with the whole `[alert]` section: its rules and its
/// inhibitions, so that what would have been notified is known too.
///
/// # Errors
/// As [`AlertEngine::from_config`] and [`AlertEngine::set_inhibition`].
pub fn replay_alerts(
    alert: &oxmon_core::config::AlertConfig,
    batches: impl IntoIterator<Item = MetricBatch>,
    options: EngineOptions,
) -> Result<Replayed> {
    let mut engine = AlertEngine::from_config(&alert.rules, options)?;
    engine.set_inhibition(alert)?;
    Ok(run_replay(engine, batches, true))
}

fn run_replay(
    mut engine: AlertEngine,
    batches: impl IntoIterator<Item = MetricBatch>,
    notify: bool,
) -> Replayed {
    let mut samples: Vec<(String, Sample)> = batches
        .into_iter()
        .flat_map(|b| {
            let agent = b.agent_id;
            b.samples.into_iter().map(move |s| (agent.clone(), s))
        })
        .collect();
    samples.sort_by(|(a_agent, a), (b_agent, b)| {
        (a.timestamp_ms, a_agent, &a.metric, &a.labels).cmp(&(
            b.timestamp_ms,
            b_agent,
            &b.metric,
            &b.labels,
        ))
    });
    let mut out = Replayed::default();
    let mut step = Vec::new();
    let mut settle = |engine: &mut AlertEngine, step: &mut Vec<AlertEvent>, at: i64| {
        if notify && (!step.is_empty() || engine.inhibition.holds_any()) {
            out.notified.extend(engine.notifiable(step, at));
        }
        out.events.append(step);
    };
    // Absence rules are judged on ticks of event time, one a second as on
    // the server, up to the last sample.
    let mut next_tick = samples.first().map_or(0, |(_, s)| s.timestamp_ms);
    for (agent, s) in &samples {
        if engine.needs_ticks() {
            while next_tick < s.timestamp_ms {
                engine.tick(next_tick, &mut step);
                settle(&mut engine, &mut step, next_tick);
                next_tick += REPLAY_TICK_MS;
            }
        }
        engine.observe(agent, s, &mut step);
        settle(&mut engine, &mut step, s.timestamp_ms);
    }
    out
}

/// The tick of [`replay`] for absence rules, ms of event time.
const REPLAY_TICK_MS: i64 = 1000;
