//! The state machine of one (rule, series): an outcome either holds (the
//! alert fires, is reminded, escalates or fires silently within its silence),
//! clears (a notified alert resolves) or says nothing; each notification
//! becomes an [`AlertEvent`].

use std::fmt::Write as _;

use oxmon_core::{AlertEvent, AlertStatus, FmtValue, SeriesKey, Severity};

use crate::memory::heap_block;
use crate::rule::{Logic, Rule};
use crate::series::SeriesIndex;
use crate::tracker::{Detail, Hit, Outcome};
use crate::windows::SeriesWindows;

/// The alert of one (rule, series).
#[derive(Debug, Clone)]
pub(crate) struct AlertState {
    /// Boxed: most (rule, series) pairs never fire, so the slot stays small.
    pub(crate) firing: Option<Box<Firing>>,
    /// `i64::MIN`: never notified.
    last_notified_ms: i64,
}

impl Default for AlertState {
    fn default() -> Self {
        Self {
            firing: None,
            last_notified_ms: i64::MIN,
        }
    }
}

/// An alert that fires.
#[derive(Debug, Clone)]
pub(crate) struct Firing {
    pub(crate) since_ms: i64,
    pub(crate) severity: Severity,
    pub(crate) notified: bool,
    pub(crate) value: f64,
    pub(crate) detail: Detail,
    /// Who took it on: no reminders or escalations until it resolves.
    pub(crate) ack: Option<Box<Ack>>,
    /// Since when its condition is clear, while `keep_firing_secs` holds
    /// it.
    pub(crate) clear_since_ms: Option<i64>,
}

/// An acknowledgement: who and when (ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ack {
    pub(crate) by: String,
    pub(crate) at_ms: i64,
}

/// The id of the alert of `rule` on `key`: stable while it fires, and the
/// start of its events' ids.
pub(crate) fn alert_id(rule: &str, key: &SeriesKey) -> String {
    let mut id = String::with_capacity(rule.len() + 17);
    push_alert_id(&mut id, rule, key);
    id
}

/// Appends [`alert_id`] to `out`.
fn push_alert_id(out: &mut String, rule: &str, key: &SeriesKey) {
    let mut h = Fnv1a::default();
    h.part(key.agent_id.as_bytes());
    h.part(key.metric.as_bytes());
    // Writing to the hasher cannot fail.
    let _ = key.labels.write_canonical(&mut h);
    h.end_part();
    out.push_str(rule);
    let _ = write!(out, "-{:016x}", h.0);
}

/// The series an outcome concerns.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// A series of the index, by its index, and its windows.
    Series(&'a SeriesIndex, u32, &'a SeriesWindows),
    /// A key kept apart from the series index (certificates, absence).
    Key(&'a SeriesKey),
}

impl Target<'_> {
    /// The key, built for an event.
    pub(crate) fn key(&self) -> SeriesKey {
        match self {
            Target::Series(index, idx, _) => index.key(*idx),
            Target::Key(key) => (*key).clone(),
        }
    }

    /// The series' windows (a trend's fit, for its events).
    fn windows(&self) -> Option<&SeriesWindows> {
        match self {
            Target::Series(_, _, windows) => Some(windows),
            Target::Key(_) => None,
        }
    }
}

impl AlertState {
    /// Heap bytes of the state (the firing alert, if any, and its detail).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.firing.as_ref().map_or(0, |f| {
            heap_block(size_of::<Firing>())
                + match &f.detail {
                    Detail::Custom(c) => {
                        heap_block(size_of::<crate::tracker::CustomHit>())
                            + heap_block(c.message.capacity())
                    }
                    _ => 0,
                }
                + f.ack.as_ref().map_or(0, |a| {
                    heap_block(size_of::<Ack>()) + heap_block(a.by.capacity())
                })
        })
    }

    /// Moves the alert on by the outcome of the sample (`ts`, `value`) of
    /// `target`; the events it emits go to `out`.
    pub(crate) fn transition(
        &mut self,
        rule: &Rule,
        target: Target<'_>,
        outcome: Outcome,
        ts: i64,
        value: f64,
        out: &mut Vec<AlertEvent>,
    ) {
        match outcome {
            Outcome::Insufficient => {}
            Outcome::Holds(hit) => self.hold(rule, target, hit, ts, out),
            Outcome::Clear => self.clear(rule, target, ts, value, out),
        }
    }

    /// The rule holds: notify when the alert starts, escalates or is due a
    /// reminder, and keep the latest hit.
    fn hold(
        &mut self,
        rule: &Rule,
        target: Target<'_>,
        hit: Hit,
        ts: i64,
        out: &mut Vec<AlertEvent>,
    ) {
        let notify = self.due(rule, hit.severity, ts);
        let since_ms = self.firing.as_ref().map_or(ts, |f| f.since_ms);
        let notified = notify || self.firing.as_ref().is_some_and(|f| f.notified);
        if notify {
            self.last_notified_ms = ts;
            out.push(firing_event(rule, target, &hit, ts, since_ms));
        }
        self.record(since_ms, notified, hit);
    }

    /// Whether a hit of `severity` at `ts` is notified.
    fn due(&self, rule: &Rule, severity: Severity, ts: i64) -> bool {
        let silence_over = self.last_notified_ms == i64::MIN
            || ts.saturating_sub(self.last_notified_ms) >= rule.silence_ms;
        match &self.firing {
            None => silence_over,
            // Reminders need a silence period; with `silence_secs = 0` an
            // alert is notified when it starts, escalates and resolves only.
            Some(f) if f.ack.is_some() => false,
            Some(f) => {
                severity > f.severity || (silence_over && (rule.silence_ms > 0 || !f.notified))
            }
        }
    }

    /// Keeps the latest hit as the firing alert.
    fn record(&mut self, since_ms: i64, notified: bool, hit: Hit) {
        let Hit {
            severity,
            value,
            detail,
            ..
        } = hit;
        match &mut self.firing {
            Some(f) => {
                (f.severity, f.notified, f.value, f.detail) = (severity, notified, value, detail);
                f.clear_since_ms = None;
            }
            None => {
                self.firing = Some(Box::new(Firing {
                    since_ms,
                    severity,
                    notified,
                    value,
                    detail,
                    ack: None,
                    clear_since_ms: None,
                }));
            }
        }
    }

    /// The rule no longer holds: once it has been clear for the rule's
    /// `keep_firing_secs`, a notified alert resolves and a silent one ends
    /// silently.
    fn clear(
        &mut self,
        rule: &Rule,
        target: Target<'_>,
        ts: i64,
        value: f64,
        out: &mut Vec<AlertEvent>,
    ) {
        let Some(firing) = self.firing.as_mut() else {
            return;
        };
        if rule.keep_firing_ms > 0 {
            let since = *firing.clear_since_ms.get_or_insert(ts);
            if ts.saturating_sub(since) < rule.keep_firing_ms {
                firing.value = value;
                return;
            }
        }
        let Some(f) = self.firing.take() else { return };
        if f.notified {
            out.push(resolved_event(rule, target, &f, value, ts));
        }
    }
}

impl AlertState {
    /// Records who took the firing alert on at `at_ms`: no reminders or
    /// escalations until it resolves. `false` when it does not fire.
    pub(crate) fn acknowledge(&mut self, by: &str, at_ms: i64) -> bool {
        let Some(f) = self.firing.as_mut() else {
            return false;
        };
        f.ack = Some(Box::new(Ack {
            by: by.to_owned(),
            at_ms,
        }));
        true
    }

    /// Ends the firing alert by hand at `ts`; a notified one resolves with
    /// an event saying who. Should the condition still hold, the next
    /// sample fires it again.
    pub(crate) fn resolve_by_hand(
        &mut self,
        rule: &Rule,
        key: SeriesKey,
        by: &str,
        ts: i64,
        out: &mut Vec<AlertEvent>,
    ) -> bool {
        let Some(f) = self.firing.take() else {
            return false;
        };
        if f.notified {
            let message = format!("{key}: resolved by hand by {by}{}", acknowledged(&f));
            out.push(resolution(rule, key, &f, f.value, ts, message));
        }
        true
    }
}

/// The firing event of `hit` at `ts` (kept out of the per-sample path:
/// most samples notify nobody).
#[cold]
#[inline(never)]
fn firing_event(rule: &Rule, target: Target<'_>, hit: &Hit, ts: i64, since_ms: i64) -> AlertEvent {
    let key = target.key();
    let message = hit.detail.render(&key, hit.value);
    let head = Head {
        severity: hit.severity,
        value: hit.value,
        threshold: hit.threshold(rule),
        prediction: hit.prediction(target.windows(), ts),
    };
    event(rule, key, AlertStatus::Firing, ts, since_ms, head, message)
}

/// The resolved event of the firing alert `f` at `ts`, the value then
/// `value`.
#[cold]
#[inline(never)]
fn resolved_event(rule: &Rule, target: Target<'_>, f: &Firing, value: f64, ts: i64) -> AlertEvent {
    let key = target.key();
    let message = resolved_message(rule, &key.to_string(), value) + &acknowledged(f);
    resolution(rule, key, f, value, ts, message)
}

/// ` (acknowledged by X)` for an acknowledged alert, else nothing.
fn acknowledged(f: &Firing) -> String {
    f.ack
        .as_ref()
        .map(|a| format!(" (acknowledged by {})", a.by))
        .unwrap_or_default()
}

/// The resolution, at `ts`, of an alert whose rule was withdrawn (deleted,
/// disabled or changed) while it fired.
pub(crate) fn withdrawn(rule: &Rule, key: SeriesKey, f: &Firing, ts: i64) -> AlertEvent {
    let message = format!(
        "{key}: rule `{}` was removed, disabled or changed; the alert ends{}",
        rule.name,
        acknowledged(f)
    );
    resolution(rule, key, f, f.value, ts, message)
}

/// The firing notification, at `ts`, of alert `f` whose inhibition lifted
/// while it fired.
pub(crate) fn lifted(rule: &Rule, key: SeriesKey, f: &Firing, ts: i64) -> AlertEvent {
    let message = format!("{} (no longer inhibited)", f.detail.render(&key, f.value));
    let head = Head {
        severity: f.severity,
        value: f.value,
        threshold: rule.threshold(),
        prediction: None,
    };
    event(
        rule,
        key,
        AlertStatus::Firing,
        ts,
        f.since_ms,
        head,
        message,
    )
}

/// The resolved event of firing alert `f` at `ts`, the value then `value`.
fn resolution(
    rule: &Rule,
    key: SeriesKey,
    f: &Firing,
    value: f64,
    ts: i64,
    message: String,
) -> AlertEvent {
    let head = Head {
        severity: f.severity,
        value,
        threshold: rule.threshold(),
        prediction: None,
    };
    event(
        rule,
        key,
        AlertStatus::Resolved,
        ts,
        f.since_ms,
        head,
        message,
    )
}

/// The message of a resolved alert of `what`, now at `value`.
fn resolved_message(rule: &Rule, what: &str, value: f64) -> String {
    match (&rule.logic, rule.threshold()) {
        (Logic::Offline { .. }, _) => format!(
            "agent {}: reporting again",
            crate::tracker::offline_agent(what)
        ),
        (Logic::Absent { .. }, _) => format!("{what}: reporting again"),
        (Logic::Trend { .. }, Some(t)) => format!(
            "{what}: no longer predicted to reach {} within the horizon (now {})",
            FmtValue(t),
            FmtValue(value)
        ),
        (_, Some(t)) => format!(
            "{what}: back to {} (threshold {})",
            FmtValue(value),
            FmtValue(t)
        ),
        (_, None) => format!("{what}: back to {}", FmtValue(value)),
    }
}

/// `<alert id>-<ts>-f` (firing) or `-r` (resolved).
fn event_id(rule: &str, key: &SeriesKey, ts: i64, status: AlertStatus) -> String {
    let mut id = String::with_capacity(rule.len() + 40);
    push_alert_id(&mut id, rule, key);
    let kind = if status == AlertStatus::Firing {
        'f'
    } else {
        'r'
    };
    let _ = write!(id, "-{ts}-{kind}");
    id
}

/// What an event reports besides its series, time and message.
struct Head {
    severity: Severity,
    value: f64,
    threshold: Option<f64>,
    prediction: Option<oxmon_core::Prediction>,
}

fn event(
    rule: &Rule,
    key: SeriesKey,
    status: AlertStatus,
    ts: i64,
    since: i64,
    head: Head,
    message: String,
) -> AlertEvent {
    AlertEvent {
        id: event_id(&rule.name, &key, ts, status),
        rule: rule.name.clone(),
        series: key,
        severity: head.severity,
        status,
        value: head.value,
        threshold: head.threshold,
        timestamp_ms: ts,
        fired_at_ms: since,
        prediction: head.prediction,
        message,
    }
}

/// FNV-1a over parts, each followed by a 0xff separator: a stable id that
/// does not change between versions or processes.
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn end_part(&mut self) {
        self.bytes(&[0xff]);
    }

    fn part(&mut self, bytes: &[u8]) {
        self.bytes(bytes);
        self.end_part();
    }
}

/// The bytes of a part written in pieces (end it with `end_part`).
impl std::io::Write for Fnv1a {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxmon_core::Labels;

    /// The id as it was computed before it was streamed: FNV-1a over the
    /// agent, the metric and the canonical labels, each followed by 0xff.
    #[test]
    fn alert_ids_are_stable() {
        let key = SeriesKey::new(
            "web-1",
            "disk.used_percent",
            Labels::new().with("mount", "/var \"x\""),
        );
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for p in [&key.agent_id, &key.metric, &key.labels.canonical()] {
            for b in p.bytes().chain([0xff]) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        assert_eq!(alert_id("disk", &key), format!("disk-{h:016x}"));
        assert_eq!(
            alert_id("r", &SeriesKey::new("a", "m", Labels::new())),
            "r-969a441d34ca51ea"
        );
    }
}
