//! What keeps alerts few and right: absence rules (`agent_offline`,
//! `absent`) judged on ticks, hysteresis (`recovery_value`),
//! `keep_firing_secs` and inhibition, on hand-built series with explicit
//! times (the engine reads no clock).

use oxmon_core::config::ServerConfig;
use oxmon_core::{AlertEvent, AlertStatus, Labels, MetricBatch, Sample};

use crate::{AGENT_OFFLINE_METRIC, AlertEngine, EngineOptions, replay};

const T0: i64 = 1_767_225_600_000;
const S: i64 = 1000;

fn engine(toml_rules: &str) -> AlertEngine {
    let rules = ServerConfig::from_toml(toml_rules, "test.toml")
        .expect("rules parse")
        .alert
        .rules;
    AlertEngine::from_config(&rules, EngineOptions::default()).expect("engine")
}

fn batch(agent: &str, metric: &str, ts: i64, v: f64) -> MetricBatch {
    MetricBatch::new(agent, vec![Sample::new(metric, Labels::new(), ts, v)])
}

/// (status, agent, time) of each event.
fn brief(events: &[AlertEvent]) -> Vec<(AlertStatus, String, i64)> {
    events
        .iter()
        .map(|e| (e.status, e.series.agent_id.clone(), e.timestamp_ms))
        .collect()
}

const OFFLINE: &str = r#"
[[alert.rules]]
name = "down"
type = "agent_offline"
agent_pattern = "web-*"
after_secs = 60
silence_secs = 0
"#;

#[test]
fn an_agent_silent_for_exactly_the_limit_fires_and_its_next_report_resolves() {
    let mut e = engine(OFFLINE);
    let mut out = Vec::new();
    e.observe_batch_at(&batch("web-1", "cpu.usage", T0, 1.0), T0, &mut out);
    e.observe_batch_at(&batch("db-1", "cpu.usage", T0, 1.0), T0, &mut out);
    // One millisecond short of the limit: nothing.
    e.tick(T0 + 60 * S - 1, &mut out);
    assert!(out.is_empty(), "{out:?}");
    // Exactly the limit: web-1 fires; db-1 is not watched.
    e.tick(T0 + 60 * S, &mut out);
    assert_eq!(
        brief(&out),
        [(AlertStatus::Firing, "web-1".to_owned(), T0 + 60 * S)]
    );
    let fired = &out[0];
    assert_eq!(fired.series.metric, AGENT_OFFLINE_METRIC);
    assert_eq!(fired.severity, oxmon_core::Severity::Critical);
    assert_eq!(fired.value, 60.0);
    assert!(
        fired
            .message
            .starts_with("agent web-1: nothing reported for 1m00s (last at 2026-01-01T00:00:00Z)"),
        "{}",
        fired.message
    );
    // Listed as active like any other alert.
    let active = e.active();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].rule, "down");
    // Later ticks say nothing more (no reminders with silence_secs = 0).
    out.clear();
    e.tick(T0 + 120 * S, &mut out);
    assert!(out.is_empty(), "{out:?}");
    // Back one report later: resolved at its arrival, whatever the
    // sample's own (lagging) time says.
    e.observe_batch_at(
        &batch("web-1", "cpu.usage", T0 - 30 * S, 1.0),
        T0 + 121 * S,
        &mut out,
    );
    assert_eq!(
        brief(&out),
        [(AlertStatus::Resolved, "web-1".to_owned(), T0 + 121 * S)]
    );
    assert_eq!(out[0].message, "agent web-1: reporting again");
    assert_eq!(out[0].fired_at_ms, T0 + 60 * S);
    assert!(e.active().is_empty());
    // Its silence counts from the new report.
    out.clear();
    e.tick(T0 + 180 * S, &mut out);
    assert!(out.is_empty(), "{out:?}");
    e.tick(T0 + 181 * S, &mut out);
    assert_eq!(out.len(), 1);
}

#[test]
fn a_whitelisted_agent_that_never_reports_fires_from_when_it_was_expected() {
    let mut e = engine(OFFLINE);
    let mut out = Vec::new();
    e.expect_agent("web-9", T0);
    e.tick(T0 + 59 * S, &mut out);
    assert!(out.is_empty());
    e.tick(T0 + 60 * S, &mut out);
    assert_eq!(
        brief(&out),
        [(AlertStatus::Firing, "web-9".to_owned(), T0 + 60 * S)]
    );
    assert!(
        out[0].message.contains("never reported"),
        "{}",
        out[0].message
    );
    // Expecting it again changes nothing; its first report resolves.
    e.expect_agent("web-9", T0 + 60 * S);
    out.clear();
    e.observe_batch_at(
        &batch("web-9", "mem", T0 + 70 * S, 1.0),
        T0 + 70 * S,
        &mut out,
    );
    assert_eq!(
        brief(&out),
        [(AlertStatus::Resolved, "web-9".to_owned(), T0 + 70 * S)]
    );
}

#[test]
fn resolving_an_offline_alert_by_hand_forgets_the_agent_until_it_reports() {
    let mut e = engine(OFFLINE);
    let mut out = Vec::new();
    e.agent_seen("web-1", T0, &mut out);
    e.tick(T0 + 60 * S, &mut out);
    let id = e.active()[0].id.clone();
    out.clear();
    assert!(e.resolve_by_hand(&id, "alice", T0 + 61 * S, &mut out));
    assert_eq!(out.len(), 1);
    assert!(out[0].message.contains("resolved by hand by alice"));
    out.clear();
    e.tick(T0 + 3600 * S, &mut out);
    assert!(out.is_empty(), "decommissioned: {out:?}");
    // Reporting again, it is watched again.
    e.observe_batch_at(
        &batch("web-1", "cpu.usage", T0 + 3600 * S, 1.0),
        T0 + 3600 * S,
        &mut out,
    );
    e.tick(T0 + 3660 * S, &mut out);
    assert_eq!(brief(&out).len(), 1);
}

#[test]
fn absent_fires_per_series_and_for_an_agent_without_the_series() {
    let mut e = engine(
        r#"
[[alert.rules]]
name = "no-root-disk"
type = "absent"
metric = "disk.used_percent"
labels = { mount = "/" }
after_secs = 30
silence_secs = 0
"#,
    );
    let root = Labels::new().with("mount", "/");
    let data = Labels::new().with("mount", "/data");
    let mut out = Vec::new();
    let report =
        |e: &mut AlertEngine, agent: &str, labels: &Labels, at: i64, out: &mut Vec<AlertEvent>| {
            e.observe_batch_at(
                &MetricBatch::new(
                    agent,
                    vec![Sample::new("disk.used_percent", labels.clone(), at, 50.0)],
                ),
                at,
                out,
            );
        };
    report(&mut e, "a", &root, T0, &mut out);
    report(&mut e, "a", &data, T0, &mut out);
    // b reports, but never its root disk.
    report(&mut e, "b", &data, T0, &mut out);
    e.tick(T0 + 29 * S, &mut out);
    assert!(out.is_empty());
    // a keeps reporting /data only; its / goes silent. b never had one.
    report(&mut e, "a", &data, T0 + 20 * S, &mut out);
    e.tick(T0 + 30 * S, &mut out);
    let mut fired: Vec<(String, String)> = out
        .iter()
        .map(|e| (e.series.agent_id.clone(), e.series.labels.to_string()))
        .collect();
    fired.sort();
    assert_eq!(
        fired,
        [
            ("a".to_owned(), root.to_string()),
            ("b".to_owned(), root.to_string())
        ]
    );
    assert!(out.iter().all(|e| e.status == AlertStatus::Firing));
    // b's first root sample ends b's alert.
    out.clear();
    report(&mut e, "b", &root, T0 + 40 * S, &mut out);
    assert_eq!(
        brief(&out),
        [(AlertStatus::Resolved, "b".to_owned(), T0 + 40 * S)]
    );
    assert_eq!(e.active().len(), 1);
}

#[test]
fn replay_judges_absence_on_ticks_of_event_time() {
    let rules = ServerConfig::from_toml(OFFLINE, "t").unwrap().alert.rules;
    // web-1 reports every 10 s, then stops for 5 minutes; web-2 goes on.
    let mut batches = Vec::new();
    for i in 0..60 {
        let ts = T0 + i * 10 * S;
        batches.push(batch("web-2", "cpu.usage", ts, 1.0));
        if !(10..40).contains(&i) {
            batches.push(batch("web-1", "cpu.usage", ts, 1.0));
        }
    }
    let events = replay(&rules, batches, EngineOptions::default()).unwrap();
    // Last report at 90 s: fires at 150 s, resolves at its return (400 s).
    assert_eq!(
        brief(&events),
        [
            (AlertStatus::Firing, "web-1".to_owned(), T0 + 150 * S),
            (AlertStatus::Resolved, "web-1".to_owned(), T0 + 400 * S),
        ]
    );
}

#[test]
fn changing_other_rules_keeps_what_absence_rules_know() {
    let mut e = engine(OFFLINE);
    let mut out = Vec::new();
    e.agent_seen("web-1", T0, &mut out);
    e.tick(T0 + 60 * S, &mut out);
    assert_eq!(out.len(), 1);
    let mut rules = e.rules().to_vec();
    let extra = ServerConfig::from_toml(
        "[[alert.rules]]\nname = \"x\"\ntype = \"threshold\"\nmetric = \"m\"\noperator = \">\"\nvalue = 1.0\n",
        "t",
    )
    .unwrap()
    .alert
    .rules;
    rules.push(crate::Rule::from_config(&extra[0]).unwrap());
    e.set_rules(rules).unwrap();
    // Still firing, not re-fired.
    out.clear();
    e.tick(T0 + 120 * S, &mut out);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(e.active().len(), 1);
}

const HYSTERESIS: &str = r#"
[[alert.rules]]
name = "hot"
type = "threshold"
metric = "cpu.usage"
operator = "greater_than"
value = 90.0
recovery_value = 80.0
silence_secs = 0
"#;

#[test]
fn hysteresis_fires_above_the_value_and_resolves_only_past_the_recovery_value() {
    let mut e = engine(HYSTERESIS);
    let mut out = Vec::new();
    let values = [85.0, 91.0, 85.0, 80.5, 80.0, 85.0, 90.0, 90.5];
    for (i, v) in values.iter().enumerate() {
        e.observe_batch(
            &batch("h", "cpu.usage", T0 + i as i64 * 10 * S, *v),
            &mut out,
        );
    }
    // 85 does not fire; 91 does; 85 and 80.5 hold it; 80 (not > 80)
    // resolves; 85 and 90 do not fire again (not > 90); 90.5 does.
    assert_eq!(
        out.iter().map(|e| (e.status, e.value)).collect::<Vec<_>>(),
        [
            (AlertStatus::Firing, 91.0),
            (AlertStatus::Resolved, 80.0),
            (AlertStatus::Firing, 90.5),
        ]
    );
}

const KEEP_FIRING: &str = r#"
[[alert.rules]]
name = "hot"
type = "threshold"
metric = "cpu.usage"
operator = "greater_than"
value = 90.0
duration_secs = 20
keep_firing_secs = 30
silence_secs = 0
"#;

#[test]
fn keep_firing_holds_through_a_short_dip_and_resolves_after_a_long_one() {
    let mut e = engine(KEEP_FIRING);
    let mut out = Vec::new();
    // Fires at 20 s; dips at 30 and 40 s (20 s < 30 s) and is back at
    // 50 s without waiting the duration again: one alert.
    let values = [95.0, 95.0, 95.0, 50.0, 50.0, 95.0, 95.0];
    for (i, v) in values.iter().enumerate() {
        e.observe_batch(
            &batch("h", "cpu.usage", T0 + i as i64 * 10 * S, *v),
            &mut out,
        );
    }
    assert_eq!(
        out.iter()
            .map(|e| (e.status, e.timestamp_ms))
            .collect::<Vec<_>>(),
        [(AlertStatus::Firing, T0 + 20 * S)]
    );
    // A dip from 70 s: still firing at 90 s (20 s clear), resolved at
    // 100 s (30 s clear), stamped then.
    for (i, v) in [50.0, 50.0, 50.0, 50.0].iter().enumerate() {
        e.observe_batch(
            &batch("h", "cpu.usage", T0 + (70 + i as i64 * 10) * S, *v),
            &mut out,
        );
    }
    assert_eq!(
        out.iter()
            .map(|e| (e.status, e.timestamp_ms))
            .collect::<Vec<_>>(),
        [
            (AlertStatus::Firing, T0 + 20 * S),
            (AlertStatus::Resolved, T0 + 100 * S)
        ]
    );
}

const DISK: &str = r#"
[[alert.rules]]
name = "disk-warn"
type = "threshold"
metric = "disk.used_percent"
operator = ">"
value = 80.0
silence_secs = 0

[[alert.rules]]
name = "disk-crit"
type = "threshold"
metric = "disk.used_percent"
operator = ">"
value = 90.0
severity = "critical"
silence_secs = 0
"#;

/// (status, rule) of each event.
fn rules_of(events: &[AlertEvent]) -> Vec<(AlertStatus, String)> {
    events.iter().map(|e| (e.status, e.rule.clone())).collect()
}

#[test]
fn a_critical_alert_inhibits_the_warning_of_the_same_series_until_it_resolves() {
    let mut e = engine(DISK);
    let step = |e: &mut AlertEngine, at: i64, v: f64| {
        let mut events = Vec::new();
        e.observe_batch(
            &batch("db", "disk.used_percent", T0 + at * S, v),
            &mut events,
        );
        let notified = e.notifiable(&events, T0 + at * S);
        (events, notified)
    };
    // 95: both fire together; only the critical one is notified.
    let (events, notified) = step(&mut e, 0, 95.0);
    assert_eq!(events.len(), 2, "both fire and are stored");
    assert_eq!(
        rules_of(&notified),
        [(AlertStatus::Firing, "disk-crit".to_owned())]
    );
    let active = e.active();
    let warn = active.iter().find(|a| a.rule == "disk-warn").unwrap();
    let crit = active.iter().find(|a| a.rule == "disk-crit").unwrap();
    assert_eq!(warn.inhibited_by.as_deref(), Some(crit.id.as_str()));
    assert_eq!(crit.inhibited_by, None);
    // 85: the critical one resolves; the warning, still firing, is
    // notified now that nothing inhibits it.
    let (_, notified) = step(&mut e, 10, 85.0);
    assert_eq!(
        rules_of(&notified),
        [
            (AlertStatus::Resolved, "disk-crit".to_owned()),
            (AlertStatus::Firing, "disk-warn".to_owned())
        ]
    );
    assert!(
        notified[1].message.ends_with("(no longer inhibited)"),
        "{}",
        notified[1].message
    );
    assert_eq!(e.active()[0].inhibited_by, None);
    // 70: its resolution is notified (it was).
    let (_, notified) = step(&mut e, 20, 70.0);
    assert_eq!(
        rules_of(&notified),
        [(AlertStatus::Resolved, "disk-warn".to_owned())]
    );
}

#[test]
fn a_warning_never_notified_is_not_resolved_either() {
    let mut e = engine(DISK);
    let mut events = Vec::new();
    e.observe_batch(&batch("db", "disk.used_percent", T0, 95.0), &mut events);
    e.notifiable(&events, T0);
    events.clear();
    // Both end at once: the critical resolution only.
    e.observe_batch(
        &batch("db", "disk.used_percent", T0 + 10 * S, 50.0),
        &mut events,
    );
    assert_eq!(events.len(), 2);
    assert_eq!(
        rules_of(&e.notifiable(&events, T0 + 10 * S)),
        [(AlertStatus::Resolved, "disk-crit".to_owned())]
    );
}

#[test]
fn an_offline_agent_inhibits_its_other_alerts_and_built_ins_can_be_turned_off() {
    let text = r#"
[[alert.rules]]
name = "down"
type = "agent_offline"
after_secs = 60
silence_secs = 0

[[alert.rules]]
name = "no-cpu"
type = "absent"
metric = "cpu.usage"
after_secs = 30
silence_secs = 0
"#;
    let mut e = engine(text);
    let mut events = Vec::new();
    e.observe_batch_at(&batch("web", "cpu.usage", T0, 1.0), T0, &mut events);
    // 30 s: the series is absent (nothing inhibits it yet): notified.
    e.tick(T0 + 30 * S, &mut events);
    assert_eq!(
        rules_of(&e.notifiable(&events, T0 + 30 * S)),
        [(AlertStatus::Firing, "no-cpu".to_owned())]
    );
    events.clear();
    // 60 s: offline; from now on the agent's other alerts are inhibited.
    e.tick(T0 + 60 * S, &mut events);
    assert_eq!(
        rules_of(&e.notifiable(&events, T0 + 60 * S)),
        [(AlertStatus::Firing, "down".to_owned())]
    );
    let absent = e.active().into_iter().find(|a| a.rule == "no-cpu").unwrap();
    assert!(
        absent
            .inhibited_by
            .as_deref()
            .is_some_and(|id| id.starts_with("down-"))
    );

    // With the built-in off, nothing is held back.
    let mut config = ServerConfig::from_toml(text, "t").unwrap().alert;
    config.offline_inhibits_agent = false;
    e.set_inhibition(&config).unwrap();
    assert_eq!(
        e.active()
            .iter()
            .filter(|a| a.inhibited_by.is_some())
            .count(),
        0
    );
}

#[test]
fn inhibit_entries_match_labels_and_require_equal_ones() {
    let text = r#"
[[alert.rules]]
name = "disk-full"
type = "threshold"
metric = "disk.used_percent"
operator = ">"
value = 95.0
severity = "warning"
silence_secs = 0

[[alert.rules]]
name = "disk-growth"
type = "rate_of_change"
metric = "disk.used_percent"
rate_threshold = 1.0
window_secs = 10
severity = "info"
silence_secs = 0

[[alert.inhibit]]
source = { rule = "disk-full" }
target = { metric = "disk.*", severity = "info" }
equal = ["agent", "mount"]
"#;
    let config = ServerConfig::from_toml(text, "t").unwrap().alert;
    let mut e = AlertEngine::from_config(&config.rules, EngineOptions::default()).unwrap();
    e.set_inhibition(&config).unwrap();
    let disk = |mount: &str, at: i64, v: f64| {
        MetricBatch::new(
            "db",
            vec![Sample::new(
                "disk.used_percent",
                Labels::new().with("mount", mount),
                at,
                v,
            )],
        )
    };
    let mut events = Vec::new();
    for (mount, v0, v1) in [("/", 90.0, 97.0), ("/data", 50.0, 60.0)] {
        e.observe_batch(&disk(mount, T0, v0), &mut events);
        e.observe_batch(&disk(mount, T0 + 10 * S, v1), &mut events);
    }
    // "/" is full (warning) and grew (info): the growth is inhibited.
    // "/data" grew only: notified, since its mount differs.
    let notified = e.notifiable(&events, T0 + 10 * S);
    let mut shown: Vec<(String, String)> = notified
        .iter()
        .map(|e| {
            (
                e.rule.clone(),
                e.series.labels.get("mount").unwrap_or_default().to_owned(),
            )
        })
        .collect();
    shown.sort();
    assert_eq!(
        shown,
        [
            ("disk-full".to_owned(), "/".to_owned()),
            ("disk-growth".to_owned(), "/data".to_owned())
        ]
    );
    assert_eq!(events.len(), 3, "all three are stored");

    let bad = "[[alert.inhibit]]\nsource = {}\ntarget = { severity = \"info\" }\n";
    let err = ServerConfig::from_toml(bad, "server.toml").unwrap_err();
    assert_eq!(
        err.field.as_deref(),
        Some("alert.inhibit[0].source"),
        "{err}"
    );
    let bad = "[[alert.inhibit]]\nsource = { rule = \"[x\" }\ntarget = { severity = \"info\" }\n";
    let err = ServerConfig::from_toml(bad, "server.toml").unwrap_err();
    assert_eq!(
        err.field.as_deref(),
        Some("alert.inhibit[0].source.rule"),
        "{err}"
    );
}

#[test]
fn an_agent_back_from_offline_gets_its_series_time_before_they_count_as_absent() {
    let mut e = engine(
        r#"
[[alert.rules]]
name = "down"
type = "agent_offline"
after_secs = 60
silence_secs = 0

[[alert.rules]]
name = "no-cpu"
type = "absent"
metric = "cpu.usage"
after_secs = 60
silence_secs = 0
"#,
    );
    let mut notified = Vec::new();
    let step = |e: &mut AlertEngine,
                events: &mut Vec<AlertEvent>,
                notified: &mut Vec<(AlertStatus, String)>,
                at: i64| {
        notified.extend(
            e.notifiable(events, at)
                .into_iter()
                .map(|ev| (ev.status, ev.rule)),
        );
        events.clear();
    };
    let mut events = Vec::new();
    e.observe_batch_at(&batch("web", "cpu.usage", T0, 1.0), T0, &mut events);
    step(&mut e, &mut events, &mut notified, T0);
    // Silent: offline and absent fire in the same tick; only offline pages.
    e.tick(T0 + 60 * S, &mut events);
    step(&mut e, &mut events, &mut notified, T0 + 60 * S);
    // Back, first with memory only (CPU needs two readings): offline ends,
    // the absent CPU ends with it, and a tick later nothing is "lifted".
    e.observe_batch_at(
        &batch("web", "memory.used_percent", T0 + 300 * S, 1.0),
        T0 + 300 * S,
        &mut events,
    );
    step(&mut e, &mut events, &mut notified, T0 + 300 * S);
    e.tick(T0 + 301 * S, &mut events);
    step(&mut e, &mut events, &mut notified, T0 + 301 * S);
    e.observe_batch_at(
        &batch("web", "cpu.usage", T0 + 310 * S, 1.0),
        T0 + 310 * S,
        &mut events,
    );
    step(&mut e, &mut events, &mut notified, T0 + 310 * S);
    assert_eq!(
        notified,
        [
            (AlertStatus::Firing, "down".to_owned()),
            (AlertStatus::Resolved, "down".to_owned())
        ]
    );
    // A series that really stays away while the agent reports fires again
    // after its limit, paged this time.
    e.observe_batch_at(
        &batch("web", "memory.used_percent", T0 + 360 * S, 1.0),
        T0 + 360 * S,
        &mut events,
    );
    step(&mut e, &mut events, &mut notified, T0 + 360 * S);
    e.tick(T0 + 370 * S, &mut events);
    step(&mut e, &mut events, &mut notified, T0 + 370 * S);
    assert_eq!(notified.len(), 3, "{notified:?}");
    assert_eq!(notified[2], (AlertStatus::Firing, "no-cpu".to_owned()));
}

#[test]
fn an_inhibit_entry_across_agents_holds_back_the_others_alerts() {
    // The gateway is down: the hosts behind it are not to page.
    let text = r#"
[[alert.rules]]
name = "hot"
type = "threshold"
metric = "cpu.usage"
operator = ">"
value = 90.0
silence_secs = 0

[[alert.inhibit]]
source = { agent = "gateway" }
target = { agent = "web-*" }
"#;
    let config = ServerConfig::from_toml(text, "t").unwrap().alert;
    let mut e = AlertEngine::from_config(&config.rules, EngineOptions::default()).unwrap();
    e.set_inhibition(&config).unwrap();
    let mut events = Vec::new();
    for agent in ["gateway", "web-1", "web-2", "db-1"] {
        e.observe_batch(&batch(agent, "cpu.usage", T0, 95.0), &mut events);
    }
    let mut notified: Vec<String> = e
        .notifiable(&events, T0)
        .into_iter()
        .map(|ev| ev.series.agent_id)
        .collect();
    notified.sort();
    assert_eq!(notified, ["db-1", "gateway"]);
    let gateway = e
        .active()
        .into_iter()
        .find(|a| a.series.agent_id == "gateway")
        .unwrap();
    let inhibited: Vec<String> = e
        .active()
        .into_iter()
        .filter(|a| a.inhibited_by.as_deref() == Some(gateway.id.as_str()))
        .map(|a| a.series.agent_id)
        .collect();
    assert_eq!(inhibited, ["web-1", "web-2"]);
}

#[test]
fn the_whitelist_decides_who_is_expected_and_a_dismissed_agent_stays_dismissed() {
    let mut e = engine(OFFLINE);
    let mut out = Vec::new();
    e.set_expected_agents([("web-1", T0), ("web-2", T0)]);
    e.agent_seen("web-1", T0, &mut out);
    e.tick(T0 + 60 * S, &mut out);
    assert_eq!(e.active().len(), 2, "both silent");
    // web-1 resolved by hand (gone for good): the whitelist, read again,
    // does not bring it back.
    let id = e
        .active()
        .into_iter()
        .find(|a| a.series.agent_id == "web-1")
        .unwrap()
        .id;
    assert!(e.resolve_by_hand(&id, "alice", T0 + 61 * S, &mut out));
    e.set_expected_agents([("web-1", T0), ("web-2", T0)]);
    out.clear();
    e.tick(T0 + 120 * S, &mut out);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(e.active().len(), 1);
    // web-2 removed from the whitelist: no longer expected, its alert ends.
    e.set_expected_agents([("web-1", T0)]);
    assert!(e.active().is_empty());
    e.tick(T0 + 180 * S, &mut out);
    assert!(out.is_empty(), "{out:?}");
    // Reporting again, web-1 is watched again.
    e.observe_batch_at(
        &batch("web-1", "cpu.usage", T0 + 200 * S, 1.0),
        T0 + 200 * S,
        &mut out,
    );
    e.tick(T0 + 260 * S, &mut out);
    assert_eq!(
        brief(&out),
        [(AlertStatus::Firing, "web-1".to_owned(), T0 + 260 * S)]
    );
}
