//! Rule semantics on hand-built series.
//!
//! One concern (the engine's rule semantics) kept in one file: tests, one a
//! behaviour, sharing the rule, sample and feed helpers.

use std::sync::Arc;

use oxmon_core::config::{RuleConfig, ServerConfig};
use oxmon_core::{
    AlertEvent, AlertStatus, Breach, Labels, MetricBatch, Point, RuleEvaluator, Sample, SeriesKey,
    Severity, Verdict,
};

use crate::{AlertEngine, EngineOptions, Rule, replay};

const T0: i64 = 1_767_225_600_000;
const S: i64 = 1000;

fn rules(toml_rules: &str) -> Vec<RuleConfig> {
    ServerConfig::from_toml(toml_rules, "test.toml")
        .expect("rules parse")
        .alert
        .rules
}

fn engine(toml_rules: &str) -> AlertEngine {
    AlertEngine::from_config(&rules(toml_rules), EngineOptions::default()).expect("engine")
}

/// A batch of one sample.
fn sample(agent: &str, metric: &str, labels: &Labels, ts: i64, v: f64) -> MetricBatch {
    MetricBatch::new(agent, vec![Sample::new(metric, labels.clone(), ts, v)])
}

/// Feeds `values` every `step` ms from `start`, returning the events.
fn feed(
    e: &mut AlertEngine,
    agent: &str,
    metric: &str,
    labels: &Labels,
    start: i64,
    step: i64,
    values: &[f64],
) -> Vec<AlertEvent> {
    let mut out = Vec::new();
    for (i, &v) in values.iter().enumerate() {
        e.observe_batch(
            &sample(agent, metric, labels, start + i as i64 * step, v),
            &mut out,
        );
    }
    out
}

fn statuses(events: &[AlertEvent]) -> Vec<(AlertStatus, i64)> {
    events.iter().map(|e| (e.status, e.timestamp_ms)).collect()
}

const HIGH_CPU: &str = r#"
[[alert.rules]]
name = "high-cpu"
type = "threshold"
metric = "cpu.usage"
operator = "greater_than"
value = 90.0
duration_secs = 60
severity = "critical"
silence_secs = 600
"#;

#[test]
fn threshold_fires_only_once_every_sample_covers_the_duration() {
    let mut e = engine(HIGH_CPU);
    let none = Labels::new();
    // 95 at 0..=50 s: only 50 s covered, no event; at 60 s the oldest qualifying sample is 60 s old.
    let ev = feed(&mut e, "web-1", "cpu.usage", &none, T0, 10 * S, &[95.0; 6]);
    assert!(ev.is_empty(), "{ev:?}");
    let ev = feed(
        &mut e,
        "web-1",
        "cpu.usage",
        &none,
        T0 + 60 * S,
        10 * S,
        &[96.0],
    );
    assert_eq!(ev.len(), 1);
    let f = &ev[0];
    assert_eq!(
        (f.status, f.severity, f.rule.as_str()),
        (AlertStatus::Firing, Severity::Critical, "high-cpu")
    );
    assert_eq!(
        (f.value, f.threshold, f.timestamp_ms, f.fired_at_ms),
        (96.0, Some(90.0), T0 + 60 * S, T0 + 60 * S)
    );
    assert_eq!(f.message, "web-1/cpu.usage is 96, > 90 for 60s");
}

#[test]
fn threshold_a_dip_restarts_the_pending_time() {
    let mut e = engine(HIGH_CPU);
    let ev = feed(
        &mut e,
        "web-1",
        "cpu.usage",
        &Labels::new(),
        T0,
        10 * S,
        &[
            95.0, 95.0, 95.0, 50.0, 95.0, 95.0, 95.0, 95.0, 95.0, 95.0, 95.0,
        ],
    );
    // Condition restarts at index 4 (40 s); 60 s later is index 10.
    assert_eq!(statuses(&ev), [(AlertStatus::Firing, T0 + 100 * S)]);
}

#[test]
fn threshold_zero_duration_fires_on_the_latest_sample() {
    let mut e = engine(&HIGH_CPU.replace("duration_secs = 60", "duration_secs = 0"));
    let ev = feed(
        &mut e,
        "web-1",
        "cpu.usage",
        &Labels::new(),
        T0,
        10 * S,
        &[50.0, 91.0],
    );
    assert_eq!(statuses(&ev), [(AlertStatus::Firing, T0 + 10 * S)]);
}

#[test]
fn threshold_a_data_gap_restarts_the_pending_time() {
    let mut e = engine(HIGH_CPU);
    let l = Labels::new();
    // 10 s interval, 50 s covered, then a 2-minute gap (> 3 x 10 s).
    assert!(feed(&mut e, "web-1", "cpu.usage", &l, T0, 10 * S, &[95.0; 6]).is_empty());
    let after_gap = T0 + 50 * S + 120 * S;
    let ev = feed(
        &mut e,
        "web-1",
        "cpu.usage",
        &l,
        after_gap,
        10 * S,
        &[95.0; 6],
    );
    assert!(
        ev.is_empty(),
        "the gap must restart the pending time: {ev:?}"
    );
    let ev = feed(
        &mut e,
        "web-1",
        "cpu.usage",
        &l,
        after_gap + 60 * S,
        10 * S,
        &[95.0],
    );
    assert_eq!(statuses(&ev), [(AlertStatus::Firing, after_gap + 60 * S)]);
}

#[test]
fn operators_and_agent_patterns() {
    let mut e = engine(
        r#"
[[alert.rules]]
name = "low-mem"
type = "threshold"
metric = "memory.available"
agent_pattern = "web-[0-9]*"
operator = "lte"
value = 100.0
[[alert.rules]]
name = "db-load"
type = "threshold"
metric = "load.load_1"
agent_pattern = "db-?"
operator = "gte"
value = 4.0
"#,
    );
    let l = Labels::new();
    assert_eq!(
        feed(&mut e, "web-7", "memory.available", &l, T0, S, &[100.0]).len(),
        1,
        "lte includes equality"
    );
    assert!(
        feed(&mut e, "webx", "memory.available", &l, T0, S, &[1.0]).is_empty(),
        "class requires a digit"
    );
    assert!(feed(&mut e, "db-main", "memory.available", &l, T0, S, &[1.0]).is_empty());
    assert_eq!(
        feed(&mut e, "db-1", "load.load_1", &l, T0, S, &[4.0]).len(),
        1
    );
    assert!(
        feed(&mut e, "db-12", "load.load_1", &l, T0, S, &[9.0]).is_empty(),
        "? is exactly one character"
    );
}

#[test]
fn every_mount_alerts_on_its_own() {
    let mut e = engine(
        r#"
[[alert.rules]]
name = "disk-full"
type = "threshold"
metric = "disk.used_percent"
operator = "gt"
value = 90.0
"#,
    );
    let root = Labels::new().with("mount", "/");
    let data = Labels::new().with("mount", "/data");
    let mut out = Vec::new();
    for i in 0..5 {
        e.observe_batch(
            &sample("web-1", "disk.used_percent", &root, T0 + i * 10 * S, 40.0),
            &mut out,
        );
        e.observe_batch(
            &sample("web-1", "disk.used_percent", &data, T0 + i * 10 * S, 97.0),
            &mut out,
        );
    }
    assert_eq!(out.len(), 1, "one alert, for /data only: {out:?}");
    assert_eq!(out[0].series.labels, data);
    assert_eq!(e.active().len(), 1);
    // Another rule-less metric on the same agent changes nothing.
    e.observe_batch(
        &sample("web-1", "cpu.usage", &Labels::new(), T0, 99.0),
        &mut out,
    );
    assert_eq!(out.len(), 1);
}

#[test]
fn resolved_event_says_how_long_it_fired() {
    let mut e = engine(&HIGH_CPU.replace("duration_secs = 60", "duration_secs = 0"));
    let ev = feed(
        &mut e,
        "web-1",
        "cpu.usage",
        &Labels::new(),
        T0,
        10 * S,
        &[95.0, 96.0, 97.0, 40.0, 41.0],
    );
    assert_eq!(
        statuses(&ev),
        [
            (AlertStatus::Firing, T0),
            (AlertStatus::Resolved, T0 + 30 * S)
        ]
    );
    let r = &ev[1];
    assert_eq!(
        (r.fired_at_ms, r.firing_for_ms(), r.value),
        (T0, 30 * S, 40.0)
    );
    assert_eq!(r.severity, Severity::Critical);
    assert!(r.message.contains("back to 40"), "{}", r.message);
    assert_ne!(ev[0].id, ev[1].id);
    assert!(e.active().is_empty());
}

#[test]
fn silence_repeats_reminders_and_swallows_flapping() {
    let mut e = engine(&HIGH_CPU.replace("duration_secs = 60", "duration_secs = 0"));
    let l = Labels::new();
    // Firing continuously for 20 minutes at 1-minute samples: fire at 0, reminders at 600 s and 1200 s.
    let ev = feed(&mut e, "web-1", "cpu.usage", &l, T0, 60 * S, &[95.0; 21]);
    assert_eq!(
        statuses(&ev),
        [
            (AlertStatus::Firing, T0),
            (AlertStatus::Firing, T0 + 600 * S),
            (AlertStatus::Firing, T0 + 1200 * S)
        ]
    );
    assert!(
        ev.iter().all(|x| x.fired_at_ms == T0),
        "reminders keep the start time"
    );
    // Resolves, then flaps back within silence_secs of the last notification: silent both ways.
    let t = T0 + 1260 * S;
    let ev = feed(
        &mut e,
        "web-1",
        "cpu.usage",
        &l,
        t,
        60 * S,
        &[10.0, 95.0, 10.0],
    );
    assert_eq!(
        statuses(&ev),
        [(AlertStatus::Resolved, t)],
        "the flap fires and resolves silently"
    );
    // A real incident long after the silence is notified again.
    let ev = feed(
        &mut e,
        "web-1",
        "cpu.usage",
        &l,
        t + 3600 * S,
        60 * S,
        &[95.0],
    );
    assert_eq!(statuses(&ev), [(AlertStatus::Firing, t + 3600 * S)]);
}

#[test]
fn a_silently_refired_alert_is_notified_once_the_silence_ends() {
    let mut e = engine(&HIGH_CPU.replace("duration_secs = 60", "duration_secs = 0"));
    let l = Labels::new();
    let ev = feed(
        &mut e,
        "web-1",
        "cpu.usage",
        &l,
        T0,
        60 * S,
        &[
            95.0, 10.0, 95.0, 95.0, 95.0, 95.0, 95.0, 95.0, 95.0, 95.0, 95.0, 95.0,
        ],
    );
    // Fired at 0, resolved at 60 s, silent re-fire at 120 s, notified at 600 s (silence from 0 over).
    assert_eq!(
        statuses(&ev),
        [
            (AlertStatus::Firing, T0),
            (AlertStatus::Resolved, T0 + 60 * S),
            (AlertStatus::Firing, T0 + 600 * S)
        ]
    );
    assert_eq!(ev[2].fired_at_ms, T0 + 120 * S);
}

const MEM_SPIKE: &str = r#"
[[alert.rules]]
name = "memory-spike"
type = "rate_of_change"
metric = "memory.used_percent"
rate_threshold = 20.0
window_secs = 300
severity = "warning"
silence_secs = 0
"#;

#[test]
fn rate_of_change_compares_with_the_value_window_secs_ago() {
    let mut e = engine(MEM_SPIKE);
    let l = Labels::new();
    // 60 s samples: 40 at 0..=240 s, then 47 at 300 s: +17.5% vs the value at 0 s: clear.
    let ev = feed(
        &mut e,
        "web-1",
        "memory.used_percent",
        &l,
        T0,
        60 * S,
        &[40.0, 40.0, 40.0, 40.0, 40.0, 47.0],
    );
    assert!(ev.is_empty(), "{ev:?}");
    // 49 at 360 s vs 40 at 60 s: +22.5%: fires.
    let ev = feed(
        &mut e,
        "web-1",
        "memory.used_percent",
        &l,
        T0 + 360 * S,
        60 * S,
        &[49.0],
    );
    assert_eq!(statuses(&ev), [(AlertStatus::Firing, T0 + 360 * S)]);
    assert!(ev[0].message.contains("rose 22.5%"), "{}", ev[0].message);
    assert_eq!(ev[0].threshold, Some(20.0));
}

#[test]
fn rate_of_change_uses_the_nearest_sample_at_or_before_the_window() {
    let mut e = engine(MEM_SPIKE);
    let l = Labels::new();
    // Irregular timestamps: at 310 s the baseline is the sample at 0 s (10 is at 20 s, after 310 - 300).
    let mut out = Vec::new();
    for (t, v) in [(0, 50.0), (20, 10.0), (310, 55.0)] {
        e.observe_batch(
            &sample("a", "memory.used_percent", &l, T0 + t * S, v),
            &mut out,
        );
    }
    assert!(out.is_empty(), "55 vs 50 is +10%: {out:?}");
    // At 330 s the baseline is the sample at 20 s (10): +600%.
    e.observe_batch(
        &sample("a", "memory.used_percent", &l, T0 + 330 * S, 70.0),
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert!(
        out[0].message.contains("from 10 to 70"),
        "{}",
        out[0].message
    );
}

#[test]
fn rate_of_change_needs_history_and_handles_zero() {
    let mut e = engine(MEM_SPIKE);
    let l = Labels::new();
    // Less than window_secs of history: no verdict even on a big jump.
    assert!(
        feed(
            &mut e,
            "a",
            "memory.used_percent",
            &l,
            T0,
            60 * S,
            &[10.0, 90.0]
        )
        .is_empty()
    );
    // Zero baseline: undefined percentage, no division by zero, no event.
    let mut z = engine(MEM_SPIKE);
    assert!(
        feed(
            &mut z,
            "a",
            "memory.used_percent",
            &l,
            T0,
            60 * S,
            &[0.0, 0.0, 0.0, 0.0, 0.0, 80.0, 80.0]
        )
        .is_empty()
    );
    // A baseline far older than the window (a data gap) is not used.
    let mut g = engine(MEM_SPIKE);
    let mut out = Vec::new();
    for (t, v) in [(0, 40.0), (60, 40.0), (120, 40.0), (3600, 90.0)] {
        g.observe_batch(
            &sample("a", "memory.used_percent", &l, T0 + t * S, v),
            &mut out,
        );
    }
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn rate_of_change_direction() {
    let l = Labels::new();
    let drop = [50.0, 50.0, 50.0, 50.0, 50.0, 30.0];
    let mut both = engine(MEM_SPIKE);
    assert_eq!(
        feed(&mut both, "a", "memory.used_percent", &l, T0, 60 * S, &drop).len(),
        1,
        "both: a 40% drop fires"
    );
    let mut up =
        engine(&MEM_SPIKE.replace("window_secs = 300", "window_secs = 300\ndirection = \"up\""));
    assert!(
        feed(&mut up, "a", "memory.used_percent", &l, T0, 60 * S, &drop).is_empty(),
        "up: drops do not count"
    );
    let mut down = engine(&MEM_SPIKE.replace(
        "window_secs = 300",
        "window_secs = 300\ndirection = \"down\"",
    ));
    let ev = feed(&mut down, "a", "memory.used_percent", &l, T0, 60 * S, &drop);
    assert_eq!(ev.len(), 1);
    assert!(ev[0].message.contains("fell 40%"), "{}", ev[0].message);
    // Resolves when the change is back within the threshold.
    let ev = feed(
        &mut down,
        "a",
        "memory.used_percent",
        &l,
        T0 + 360 * S,
        60 * S,
        &[30.0, 30.0, 30.0, 30.0, 30.0],
    );
    assert_eq!(ev.last().map(|e| e.status), Some(AlertStatus::Resolved));
}

const DISK_TREND: &str = r#"
[[alert.rules]]
name = "disk-full-prediction"
type = "trend_prediction"
metric = "disk.used_percent"
predict_threshold = 95.0
horizon_secs = 86400
min_data_points = 10
window_secs = 3600
severity = "info"
silence_secs = 3600
"#;

#[test]
fn trend_prediction_reports_the_crossing_time_and_fit() {
    let mut e = engine(DISK_TREND);
    let l = Labels::new().with("mount", "/");
    // 50% rising 0.01 %/s: reaches 95% 4500 s after T0.
    let values: Vec<f64> = (0..10).map(|i| 50.0 + 0.01 * (i * 60) as f64).collect();
    let ev = feed(
        &mut e,
        "web-1",
        "disk.used_percent",
        &l,
        T0,
        60 * S,
        &values[..9],
    );
    assert!(ev.is_empty(), "fewer than min_data_points: {ev:?}");
    let ev = feed(
        &mut e,
        "web-1",
        "disk.used_percent",
        &l,
        T0 + 540 * S,
        60 * S,
        &values[9..],
    );
    assert_eq!(ev.len(), 1);
    let p = ev[0].prediction.expect("prediction");
    assert_eq!(p.breach_at_ms, T0 + 4500 * S);
    assert!((p.slope_per_sec - 0.01).abs() < 1e-12);
    assert!((p.r_squared - 1.0).abs() < 1e-12);
    assert_eq!(ev[0].severity, Severity::Info);
    assert_eq!(ev[0].series.labels, l);
    assert!(
        ev[0].message.contains("predicted to reach 95"),
        "{}",
        ev[0].message
    );
}

#[test]
fn trend_prediction_with_noise_has_an_interval() {
    let mut e = engine(DISK_TREND);
    let l = Labels::new();
    // The reference data of regression::tests (slope 0.015879, crossing 2823.09 s,
    // 95% interval 2703.1 s to 2954.9 s), fed at 60 s from T0.
    let ys = [50.3, 51.1, 51.9, 53.2, 53.8, 55.1, 55.7, 57.0, 57.6, 58.9];
    let ev = feed(&mut e, "a", "disk.used_percent", &l, T0, 60 * S, &ys);
    let p = ev[0].prediction.expect("prediction");
    assert_eq!(p.breach_at_ms, T0 + 2_823_092);
    assert_eq!(p.breach_earliest_ms, Some(T0 + 2_703_107));
    assert_eq!(p.breach_latest_ms, Some(T0 + 2_954_872));
    assert!((p.r_squared - 0.996_544_8).abs() < 1e-6);
}

#[test]
fn trend_prediction_outside_the_horizon_or_already_over_is_not_a_prediction() {
    let l = Labels::new();
    let slow: Vec<f64> = (0..20).map(|i| 10.0 + 0.000_01 * (i * 60) as f64).collect();
    let mut e = engine(DISK_TREND);
    assert!(
        feed(&mut e, "a", "disk.used_percent", &l, T0, 60 * S, &slow).is_empty(),
        "crossing in ~100 days"
    );
    let over: Vec<f64> = (0..20).map(|i| 96.0 + 0.01 * i as f64).collect();
    let mut e = engine(DISK_TREND);
    assert!(
        feed(&mut e, "a", "disk.used_percent", &l, T0, 60 * S, &over).is_empty(),
        "already past the threshold"
    );
    let falling: Vec<f64> = (0..20).map(|i| 80.0 - i as f64).collect();
    let mut e = engine(DISK_TREND);
    assert!(
        feed(&mut e, "a", "disk.used_percent", &l, T0, 60 * S, &falling).is_empty(),
        "heading away"
    );
}

#[test]
fn trend_prediction_towards_a_lower_threshold() {
    let mut e = engine(
        &DISK_TREND
            .replace("disk.used_percent", "disk.available")
            .replace("predict_threshold = 95.0", "predict_threshold = 1000.0"),
    );
    let values: Vec<f64> = (0..12)
        .map(|i| 100_000.0 - 10.0 * (i * 60) as f64)
        .collect();
    let ev = feed(
        &mut e,
        "a",
        "disk.available",
        &Labels::new(),
        T0,
        60 * S,
        &values,
    );
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].prediction.unwrap().breach_at_ms, T0 + 9900 * S);
}

#[test]
fn trend_prediction_min_r_squared_keeps_noise_quiet() {
    let noisy: Vec<f64> = (0..40)
        .map(|i| 60.0 + 0.02 * (i * 60) as f64 + if i % 2 == 0 { 25.0 } else { -25.0 })
        .collect();
    let mut loose = engine(DISK_TREND);
    assert!(
        !feed(
            &mut loose,
            "a",
            "disk.used_percent",
            &Labels::new(),
            T0,
            60 * S,
            &noisy
        )
        .is_empty()
    );
    let mut strict = engine(&DISK_TREND.replace(
        "window_secs = 3600",
        "window_secs = 3600\nmin_r_squared = 0.9",
    ));
    assert!(
        feed(
            &mut strict,
            "a",
            "disk.used_percent",
            &Labels::new(),
            T0,
            60 * S,
            &noisy
        )
        .is_empty()
    );
}

const CERT: &str = r#"
[[alert.rules]]
name = "cert-expiry"
type = "cert_expiration"
agent_pattern = "cert-checker"
warning_days = 30
critical_days = 7
silence_secs = 86400
"#;

#[test]
fn cert_expiration_warns_then_escalates_per_domain() {
    let mut e = engine(CERT);
    let a = Labels::new().with("domain", "a.example");
    let b = Labels::new().with("domain", "b.example");
    let day = 86_400 * S;
    let mut out = Vec::new();
    for (i, (da, db)) in [
        (40.0, 90.0),
        (30.0, 89.0),
        (20.0, 88.0),
        (7.0, 87.0),
        (6.0, 86.0),
    ]
    .into_iter()
    .enumerate()
    {
        let t = T0 + i as i64 * day / 4;
        e.observe_batch(
            &sample("cert-checker", "certificate.days_until_expiry", &a, t, da),
            &mut out,
        );
        e.observe_batch(
            &sample("cert-checker", "certificate.days_until_expiry", &b, t, db),
            &mut out,
        );
    }
    let got: Vec<(Severity, f64)> = out.iter().map(|e| (e.severity, e.value)).collect();
    assert_eq!(
        got,
        [(Severity::Warning, 30.0), (Severity::Critical, 7.0)],
        "warning, then critical at once despite the silence"
    );
    assert!(
        out.iter().all(|e| e.series.labels == a),
        "b.example stays quiet"
    );
    // Renewed: resolved.
    e.observe_batch(
        &sample(
            "cert-checker",
            "certificate.days_until_expiry",
            &a,
            T0 + 2 * day,
            89.0,
        ),
        &mut out,
    );
    assert_eq!(out.last().map(|e| e.status), Some(AlertStatus::Resolved));
    // Other agents are not the cert checker.
    e.observe_batch(
        &sample("web-1", "certificate.days_until_expiry", &a, T0, 1.0),
        &mut out,
    );
    assert_eq!(out.len(), 3);
}

#[test]
fn cert_invalid_alerts_critical_without_a_days_value() {
    let mut e = engine(CERT);
    let d = Labels::new().with("domain", "broken.example");
    let mut out = Vec::new();
    e.observe_batch(
        &sample("cert-checker", "certificate.is_valid", &d, T0, 0.0),
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].severity, out[0].series.metric.as_str()),
        (Severity::Critical, "certificate.days_until_expiry")
    );
    assert!(out[0].message.contains("invalid"), "{}", out[0].message);
    // The days value arrives: still one alert for the domain (shared state), no duplicate.
    e.observe_batch(
        &sample(
            "cert-checker",
            "certificate.days_until_expiry",
            &d,
            T0 + 1,
            200.0,
        ),
        &mut out,
    );
    assert_eq!(out.len(), 1);
    // Valid again: resolved.
    e.observe_batch(
        &sample("cert-checker", "certificate.is_valid", &d, T0 + 2, 1.0),
        &mut out,
    );
    e.observe_batch(
        &sample(
            "cert-checker",
            "certificate.days_until_expiry",
            &d,
            T0 + 3,
            200.0,
        ),
        &mut out,
    );
    assert_eq!(
        out.iter().map(|e| e.status).collect::<Vec<_>>(),
        [AlertStatus::Firing, AlertStatus::Resolved]
    );
    assert_eq!(e.active(), []);
}

#[test]
fn late_duplicate_and_non_finite_samples_do_not_corrupt_state() {
    let mut e = engine(&HIGH_CPU.replace("duration_secs = 60", "duration_secs = 0"));
    let l = Labels::new();
    let mut out = Vec::new();
    e.observe_batch(&sample("a", "cpu.usage", &l, T0 + 100 * S, 10.0), &mut out);
    e.observe_batch(&sample("a", "cpu.usage", &l, T0 + 50 * S, 99.0), &mut out);
    e.observe_batch(&sample("a", "cpu.usage", &l, T0 + 100 * S, 99.0), &mut out);
    e.observe_batch(
        &sample("a", "cpu.usage", &l, T0 + 110 * S, f64::NAN),
        &mut out,
    );
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(e.stats().out_of_order, 3);
    e.observe_batch(&sample("a", "cpu.usage", &l, T0 + 110 * S, 99.0), &mut out);
    assert_eq!(out.len(), 1);
}

#[test]
fn reload_keeps_state_of_unchanged_rules_only() {
    let two = format!("{HIGH_CPU}\n{MEM_SPIKE}").replace("duration_secs = 60", "duration_secs = 0");
    let mut e = engine(&two);
    let l = Labels::new();
    assert_eq!(
        feed(&mut e, "a", "cpu.usage", &l, T0, 10 * S, &[95.0]).len(),
        1
    );
    assert_eq!(e.active().len(), 1);
    // Reload with the CPU rule unchanged and the memory rule changed.
    let changed = two.replace("rate_threshold = 20.0", "rate_threshold = 30.0");
    e.set_rules(
        crate::RuleRegistry::new()
            .compile(&rules(&changed))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(e.active().len(), 1, "the firing alert survives the reload");
    assert!(
        feed(&mut e, "a", "cpu.usage", &l, T0 + 10 * S, 10 * S, &[96.0]).is_empty(),
        "no re-fire after a reload"
    );
    assert_eq!(
        feed(&mut e, "a", "cpu.usage", &l, T0 + 20 * S, 10 * S, &[10.0])[0].status,
        AlertStatus::Resolved
    );
    // A changed rule starts fresh; a removed rule's alerts are gone.
    feed(&mut e, "a", "cpu.usage", &l, T0 + 30 * S, 10 * S, &[95.0]);
    e.set_rules(
        crate::RuleRegistry::new()
            .compile(&rules(&changed.replace("value = 90.0", "value = 80.0")))
            .unwrap(),
    )
    .unwrap();
    assert!(
        e.active().is_empty(),
        "a changed rule does not inherit state"
    );
    let dup = format!("{HIGH_CPU}{HIGH_CPU}");
    assert!(ServerConfig::from_toml(&dup, "t").is_err());
    let r = crate::RuleRegistry::new()
        .compile(&rules(HIGH_CPU))
        .unwrap();
    assert!(
        e.set_rules(vec![r[0].clone(), r[0].clone()]).is_err(),
        "duplicate names are refused"
    );
    assert_eq!(e.rules().len(), 2, "a refused reload keeps the old rules");
}

#[test]
fn disabled_rules_are_left_out() {
    let e = engine(&HIGH_CPU.replace("severity", "enabled = false\nseverity"));
    assert!(e.rules().is_empty());
}

#[test]
fn replay_gives_the_live_events_whatever_the_input_order() {
    let r = rules(&format!("{HIGH_CPU}\n{MEM_SPIKE}"));
    let l = Labels::new();
    let mut samples = Vec::new();
    for i in 0..200i64 {
        let cpu = if (i / 20) % 2 == 0 { 95.0 } else { 20.0 };
        samples.push(sample("a", "cpu.usage", &l, T0 + i * 10 * S, cpu));
        samples.push(sample(
            "a",
            "memory.used_percent",
            &l,
            T0 + i * 10 * S,
            30.0 + (i % 50) as f64,
        ));
    }
    let mut live = AlertEngine::from_config(&r, EngineOptions::default()).unwrap();
    let mut expected = Vec::new();
    for b in &samples {
        live.observe_batch(b, &mut expected);
    }
    assert!(!expected.is_empty());
    samples.reverse();
    assert_eq!(
        replay(&r, samples, EngineOptions::default()).unwrap(),
        expected
    );
}

#[test]
fn window_memory_is_bounded_by_the_rule_window() {
    let mut e = engine(&format!("{MEM_SPIKE}\n{DISK_TREND}"));
    let l = Labels::new();
    let mut out = Vec::new();
    for i in 0..20_000i64 {
        e.observe_batch(
            &sample("a", "memory.used_percent", &l, T0 + i * 10 * S, 50.0),
            &mut out,
        );
        e.observe_batch(
            &sample("a", "disk.used_percent", &l, T0 + i * 10 * S, 50.0),
            &mut out,
        );
    }
    let st = e.stats();
    // 300 s / 10 s + baseline = 31 points; 3600 s / 10 s + 1 = 361 points.
    assert!(st.window_points <= 31 + 361, "{st:?}");
    assert_eq!(st.series, 2);
}

/// The whole-server load test's rules: a threshold on `cpu.usage` held for
/// 300 s, a rate of change of `memory.used_percent` over 300 s, a trend of
/// `disk.used_percent` over the default 3600 s window.
const LOAD_TEST_RULES: &str = r#"
[[alert.rules]]
name = "high-cpu"
type = "threshold"
metric = "cpu.usage"
operator = "greater_than"
value = 90.0
duration_secs = 300

[[alert.rules]]
name = "memory-spike"
type = "rate_of_change"
metric = "memory.used_percent"
rate_threshold = 20.0
window_secs = 300
direction = "up"

[[alert.rules]]
name = "disk-full-soon"
type = "trend_prediction"
metric = "disk.used_percent"
predict_threshold = 95.0
horizon_secs = 86400
min_data_points = 10
"#;

/// Values of a series over time, by the kind of data they model.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Values {
    /// The load test's: whole numbers cycling through 20..70.
    LoadTest,
    /// As the collectors report them: a ratio of block or page counts that
    /// move by a few hundred every 10 s (full precision, low bits changing).
    Counters,
    /// A random walk in steps of up to 2% of its range, in full precision:
    /// consecutive values share little more than their top bits (the worst
    /// case for the history's encoding).
    Incompressible,
}

/// Engine memory per watched series, from [`AlertEngine::approx_bytes`], for
/// 200 agents with 5 watched series each (cpu, memory, 3 mounts) reporting
/// every 10 s for 400 scrapes: past the longest window, so every window holds
/// all it ever will. Agents stamp collections on their fixed 10 s grid (the
/// scheduled tick's time), so timestamps land within a couple of ms of it.
fn bytes_per_series_at_10s(values: Values) -> usize {
    let mut e = engine(LOAD_TEST_RULES);
    let mut series = Vec::new();
    for a in 0..200 {
        let agent = format!("load-{a:04}");
        series.push((agent.clone(), "cpu.usage", Labels::new()));
        series.push((agent.clone(), "memory.used_percent", Labels::new()));
        for mount in ["/", "/boot", "/data"] {
            let l = Labels::new().with("mount", mount);
            series.push((agent.clone(), "disk.used_percent", l));
        }
    }
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut level: Vec<u64> = (0..series.len())
        .map(|_| 20_000_000 + next() % 50_000_000)
        .collect();
    let mut out = Vec::new();
    for round in 0..400i64 {
        for (i, (agent, metric, labels)) in series.iter().enumerate() {
            let ts = T0 + round * 10 * S + (i as i64 * 37) % 10_000 + (next() % 3) as i64;
            let v = match values {
                Values::LoadTest => 20.0 + ((round as usize * 7 + i * 13) % 50) as f64,
                Values::Counters => {
                    level[i] += next() % 200;
                    level[i] as f64 * 100.0 / 100_000_000.0
                }
                Values::Incompressible => {
                    level[i] = (level[i] as i64 + (next() % 4_000_001) as i64 - 2_000_000)
                        .clamp(0, 100_000_000) as u64;
                    level[i] as f64 / 1_000_017.0
                }
            };
            e.observe_batch(&sample(agent, metric, labels, ts, v), &mut out);
        }
        out.clear();
    }
    let st = e.stats();
    assert_eq!(st.series, 1000);
    // 31 points for the rate window, 361 for each trend window (360 when
    // the jitter puts the oldest just outside).
    let points = st.window_points as usize;
    assert!((200 * (30 + 3 * 360)..=200 * (31 + 3 * 361)).contains(&points));
    e.approx_bytes() / st.series as usize
}

/// The windows grow with the points they hold, a few bytes each, not to a
/// window's largest possible size at 16 bytes a point. At 10 s this rule set
/// cost about 7 KB per watched series (a 3600 s trend window alone held its
/// 361 points in a ring of 512, 8 KiB, and every series kept two copies of
/// its labels); now about 1.3 KB on the load test's values, 1.85 KB on
/// collector-like ones, 2.3 KB when no two values share more than their top
/// bits.
#[test]
fn memory_per_watched_series_at_10s() {
    for (values, bound) in [
        (Values::LoadTest, 1_450),
        (Values::Counters, 2_048),
        (Values::Incompressible, 2_500),
    ] {
        let per_series = bytes_per_series_at_10s(values);
        assert!(
            per_series <= bound,
            "{values:?}: {per_series} bytes per series, more than {bound}"
        );
    }
}

/// The fit's sums are recomputed exactly every window's worth of
/// evictions; the window keeps its points across that (it used to be emptied,
/// leaving predictions to a fraction of `window_secs` for an hour in two).
#[test]
fn trend_window_stays_full_across_exact_recomputations() {
    let mut e = engine(DISK_TREND);
    let l = Labels::new();
    let mut out = Vec::new();
    for i in 0..3_000i64 {
        let v = 50.0 + (i % 13) as f64 * 0.1;
        e.observe_batch(
            &sample("a", "disk.used_percent", &l, T0 + i * 10 * S, v),
            &mut out,
        );
        if i >= 360 {
            assert_eq!(e.stats().window_points, 361, "after sample {i}");
        }
    }
}

#[derive(Debug)]
struct AboveMean;

impl RuleEvaluator for AboveMean {
    fn name(&self) -> &str {
        "above-mean"
    }
    fn metric(&self) -> &str {
        "load.load_1"
    }
    fn applies_to(&self, series: &SeriesKey) -> bool {
        series.agent_id.starts_with("db")
    }
    fn lookback_ms(&self) -> i64 {
        30 * S
    }
    fn evaluate(&self, window: &[Point]) -> Verdict {
        let Some(last) = window.last() else {
            return Verdict::Insufficient;
        };
        if window.len() < 3 {
            return Verdict::Insufficient;
        }
        let mean = window.iter().map(|p| p.value).sum::<f64>() / window.len() as f64;
        if last.value > 2.0 * mean {
            Verdict::Holds(Breach {
                severity: Severity::Warning,
                value: last.value,
                threshold: Some(mean),
                prediction: None,
                message: "spike".into(),
            })
        } else {
            Verdict::Clear
        }
    }
}

#[test]
fn custom_evaluators_get_their_window_and_the_engine_semantics() {
    let mut e = AlertEngine::new(
        vec![Rule::custom(Arc::new(AboveMean), Severity::Warning, 0)],
        EngineOptions::default(),
    )
    .unwrap();
    let l = Labels::new();
    assert!(
        feed(
            &mut e,
            "web-1",
            "load.load_1",
            &l,
            T0,
            10 * S,
            &[1.0, 1.0, 1.0, 50.0]
        )
        .is_empty(),
        "not a db host"
    );
    let ev = feed(
        &mut e,
        "db-1",
        "load.load_1",
        &l,
        T0,
        10 * S,
        &[1.0, 1.0, 1.0, 1.0, 50.0, 1.0],
    );
    assert_eq!(
        statuses(&ev),
        [
            (AlertStatus::Firing, T0 + 40 * S),
            (AlertStatus::Resolved, T0 + 50 * S)
        ]
    );
    assert_eq!(
        e.stats().window_points,
        4,
        "window holds lookback_ms of points"
    );
}

/// `type = "above_mean"`: [`AboveMean`] with a configurable factor.
#[derive(Debug)]
struct AboveMeanPlugin;

impl oxmon_core::RulePlugin for AboveMeanPlugin {
    fn type_name(&self) -> &str {
        "above_mean"
    }
    fn build(
        &self,
        _rule: &RuleConfig,
        custom: &oxmon_core::config::CustomRule,
    ) -> Result<Arc<dyn RuleEvaluator>, oxmon_core::config::ConfigError> {
        custom.deny_unknown(&["factor"])?;
        let factor = custom.required_f64("factor")?;
        if factor != 2.0 {
            return Err(custom.error("factor", format!("only 2 is supported, got {factor}")));
        }
        Ok(Arc::new(AboveMean))
    }
}

fn registry() -> crate::RuleRegistry {
    let mut r = crate::RuleRegistry::new();
    assert!(r.register(Arc::new(AboveMeanPlugin)).unwrap().is_none());
    r
}

const CUSTOM: &str = r#"
[[alert.rules]]
name = "spike"
type = "above_mean"
metric = "load.load_1"
agent_pattern = "db-*"
severity = "critical"
silence_secs = 0
factor = 2.0
"#;

#[test]
fn a_registered_rule_type_runs_with_the_common_keys_of_its_entry() {
    let mut e = registry()
        .engine(&rules(CUSTOM), EngineOptions::default())
        .unwrap();
    let l = Labels::new();
    // The evaluator's own filter (`db*`) and the entry's agent_pattern
    // (`db-*`) both apply.
    for agent in ["web-1", "dbx"] {
        let ev = feed(
            &mut e,
            agent,
            "load.load_1",
            &l,
            T0,
            10 * S,
            &[1.0, 1.0, 1.0, 50.0],
        );
        assert!(ev.is_empty(), "{agent}: {ev:?}");
    }
    let ev = feed(
        &mut e,
        "db-1",
        "load.load_1",
        &l,
        T0,
        10 * S,
        &[1.0, 1.0, 1.0, 1.0, 50.0, 1.0],
    );
    assert_eq!(
        statuses(&ev),
        [
            (AlertStatus::Firing, T0 + 40 * S),
            (AlertStatus::Resolved, T0 + 50 * S)
        ]
    );
    assert_eq!(ev[0].rule, "spike", "the entry's name, not the evaluator's");
    assert_eq!(
        ev[0].severity,
        Severity::Warning,
        "the breach's severity, as for every custom evaluator"
    );
}

#[test]
fn the_registry_refuses_what_it_cannot_run_naming_the_file_and_field() {
    let err = |r: &crate::RuleRegistry, text: &str| -> String {
        r.compile(&rules(text)).unwrap_err().to_string()
    };
    let bogus = "[[alert.rules]]\nname = \"r\"\nmetric = \"m\"\ntype = \"bogus\"";
    assert_eq!(
        err(&crate::RuleRegistry::new(), bogus),
        "test.toml: field `alert.rules[0].type`: unknown rule type `bogus`, expected one of: \
         threshold, rate_of_change, trend_prediction, cert_expiration, agent_offline, absent"
    );
    assert!(
        err(&registry(), bogus).ends_with("agent_offline, absent, above_mean"),
        "registered types are listed"
    );
    let bad = CUSTOM.replace("factor = 2.0", "factor = 3");
    assert_eq!(
        err(&registry(), &bad),
        "test.toml: field `alert.rules[0].factor`: only 2 is supported, got 3"
    );
    let typo = CUSTOM.replace("factor = 2.0", "factor = 2.0\nfactr = 1");
    assert!(
        err(&registry(), &typo).starts_with(
            "test.toml: field `alert.rules[0].factr`: unknown key for a above_mean rule"
        ),
    );
    // A disabled rule is still checked, and left out of the engine.
    let disabled = bad.replace("factor = 3", "factor = 3\nenabled = false");
    assert!(err(&registry(), &disabled).contains("only 2 is supported"));
    let off = CUSTOM.replace("factor = 2.0", "factor = 2.0\nenabled = false");
    assert!(registry().compile(&rules(&off)).unwrap().is_empty());
    // Without a registry, a custom type cannot compile.
    assert!(AlertEngine::from_config(&rules(CUSTOM), EngineOptions::default()).is_err());
    // A plugin cannot take a built-in type.
    #[derive(Debug)]
    struct Impostor;
    impl oxmon_core::RulePlugin for Impostor {
        fn type_name(&self) -> &str {
            "threshold"
        }
        fn build(
            &self,
            _: &RuleConfig,
            _: &oxmon_core::config::CustomRule,
        ) -> Result<Arc<dyn RuleEvaluator>, oxmon_core::config::ConfigError> {
            Ok(Arc::new(AboveMean))
        }
    }
    assert_eq!(
        crate::RuleRegistry::new()
            .register(Arc::new(Impostor))
            .unwrap_err(),
        crate::Error::BuiltinType("threshold".into())
    );
}

#[test]
fn reloading_an_unchanged_custom_rule_keeps_its_state() {
    let r = registry();
    let mut e = r.engine(&rules(CUSTOM), EngineOptions::default()).unwrap();
    let l = Labels::new();
    let ev = feed(
        &mut e,
        "db-1",
        "load.load_1",
        &l,
        T0,
        10 * S,
        &[1.0, 1.0, 1.0, 1.0, 50.0],
    );
    assert_eq!(statuses(&ev), [(AlertStatus::Firing, T0 + 40 * S)]);
    e.set_rules(r.compile(&rules(CUSTOM)).unwrap()).unwrap();
    assert_eq!(e.active().len(), 1, "the open alert survives the reload");
    // A changed entry starts over: its open alert resolves.
    let changed = CUSTOM.replace("severity = \"critical\"", "severity = \"warning\"");
    e.set_rules(r.compile(&rules(&changed)).unwrap()).unwrap();
    assert!(e.active().is_empty());
}

#[test]
fn replacing_rules_resolves_the_alerts_of_withdrawn_rules_only() {
    let cpu = HIGH_CPU.replace("duration_secs = 60", "duration_secs = 0");
    let mut e = engine(&format!("{cpu}\n{CERT}"));
    let l = Labels::new();
    let domain = Labels::new().with("domain", "a.example");
    assert_eq!(
        feed(&mut e, "a", "cpu.usage", &l, T0, 10 * S, &[95.0]).len(),
        1
    );
    let mut out = Vec::new();
    e.observe_batch(
        &sample(
            "cert-checker",
            "certificate.days_until_expiry",
            &domain,
            T0,
            3.0,
        ),
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(e.active().len(), 2);
    let registry = crate::RuleRegistry::new();

    // The same rules again: nothing ends, nothing is said.
    out.clear();
    e.replace_rules(
        registry.compile(&rules(&format!("{cpu}\n{CERT}"))).unwrap(),
        T0 + 20 * S,
        &mut out,
    )
    .unwrap();
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(e.active().len(), 2);

    // The CPU rule disabled, the certificate rule kept.
    let disabled = cpu.replace("silence_secs = 600", "silence_secs = 600\nenabled = false");
    e.replace_rules(
        registry
            .compile(&rules(&format!("{disabled}\n{CERT}")))
            .unwrap(),
        T0 + 30 * S,
        &mut out,
    )
    .unwrap();
    assert_eq!(out.len(), 1, "{out:?}");
    let ev = &out[0];
    assert_eq!(
        (ev.rule.as_str(), ev.status, ev.timestamp_ms, ev.fired_at_ms),
        ("high-cpu", AlertStatus::Resolved, T0 + 30 * S, T0)
    );
    assert_eq!(ev.series, SeriesKey::new("a", "cpu.usage", l.clone()));
    assert!(
        ev.message.contains("`high-cpu` was removed"),
        "{}",
        ev.message
    );
    assert_eq!(e.active().len(), 1);
    assert_eq!(e.active()[0].rule, "cert-expiry");

    // The certificate rule deleted: its per-domain alert ends too.
    out.clear();
    e.replace_rules(Vec::new(), T0 + 40 * S, &mut out).unwrap();
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(
        (out[0].rule.as_str(), out[0].status),
        ("cert-expiry", AlertStatus::Resolved)
    );
    assert_eq!(out[0].series.labels, domain);
    assert!(e.active().is_empty());
}

#[test]
fn an_acknowledged_alert_gets_no_reminders_and_resolves_naming_who() {
    // Reminders every 60 s, escalation from warning to critical possible.
    let rule = r#"
[[alert.rules]]
name = "disk"
type = "threshold"
metric = "disk.used_percent"
operator = "greater_than"
value = 90.0
severity = "warning"
silence_secs = 60
"#;
    let mut e = engine(rule);
    let l = Labels::new().with("mount", "/");
    let mut out = Vec::new();
    e.observe_batch(&sample("a", "disk.used_percent", &l, T0, 95.0), &mut out);
    assert_eq!(out.len(), 1);
    let id = e.active()[0].id.clone();
    assert!(out[0].id.starts_with(&id), "{} / {id}", out[0].id);
    assert_eq!(e.acknowledge("nope", "ann", T0), None);
    let acked = e.acknowledge(&id, "ann", T0 + S).expect("fires");
    assert_eq!(acked.acknowledged, Some(("ann".to_owned(), T0 + S)));
    // Minutes of breaching samples: no reminder.
    out.clear();
    for i in 1..=10 {
        e.observe_batch(
            &sample("a", "disk.used_percent", &l, T0 + i * 60 * S, 96.0),
            &mut out,
        );
    }
    assert!(out.is_empty(), "{out:?}");
    // It resolves as usual, naming who had it.
    e.observe_batch(
        &sample("a", "disk.used_percent", &l, T0 + 700 * S, 50.0),
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].status, AlertStatus::Resolved);
    assert!(
        out[0].message.contains("acknowledged by ann"),
        "{}",
        out[0].message
    );
    // A new incident starts unacknowledged: the reminder comes again.
    out.clear();
    e.observe_batch(
        &sample("a", "disk.used_percent", &l, T0 + 800 * S, 97.0),
        &mut out,
    );
    e.observe_batch(
        &sample("a", "disk.used_percent", &l, T0 + 900 * S, 97.0),
        &mut out,
    );
    assert_eq!(out.len(), 2, "fired and reminded: {out:?}");
    assert_eq!(e.active()[0].acknowledged, None);

    // Resolved by hand: an event saying who; the next breach fires again.
    out.clear();
    let id = e.active()[0].id.clone();
    assert!(!e.resolve_by_hand("nope", "bob", T0, &mut out));
    assert!(e.resolve_by_hand(&id, "bob", T0 + 905 * S, &mut out));
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].status, out[0].timestamp_ms),
        (AlertStatus::Resolved, T0 + 905 * S)
    );
    assert!(
        out[0].message.contains("resolved by hand by bob"),
        "{}",
        out[0].message
    );
    assert!(e.active().is_empty());
    // Still breaching: it fires again, silently within the rule's silence
    // after the last notification (at 900 s), notified after it.
    out.clear();
    e.observe_batch(
        &sample("a", "disk.used_percent", &l, T0 + 910 * S, 97.0),
        &mut out,
    );
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(e.active().len(), 1);
    e.observe_batch(
        &sample("a", "disk.used_percent", &l, T0 + 960 * S, 97.0),
        &mut out,
    );
    assert_eq!(out.len(), 1, "{out:?}");
}
