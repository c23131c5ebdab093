//! What `agent --once` prints (`collect_once` then `write_json_lines`):
//! JSON lines, one sample each, with exactly the sample fields, covering
//! every metric of the spec's table that this machine has.

use std::collections::BTreeSet;
use std::time::Duration;

use oxmon_collector::once::{collect_once, write_json_lines};
use oxmon_collector::{CollectorOptions, default_collectors};
use oxmon_core::SystemClock;

#[test]
fn once_prints_one_collection_as_json_lines() {
    let mut collectors = default_collectors(&CollectorOptions::default());
    let (batch, failures) = collect_once(
        &mut collectors,
        "once-test",
        &SystemClock,
        Duration::from_millis(300),
    );
    assert!(failures.is_empty(), "{failures:?}");
    let mut out = Vec::new();
    write_json_lines(&batch, &mut out).expect("write");
    let text = String::from_utf8(out).expect("utf-8");
    assert!(text.ends_with('\n'));
    let mut metrics = BTreeSet::new();
    let mut timestamps = BTreeSet::new();
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let obj = v.as_object().expect("an object per line");
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 5, "{line}");
        for k in ["agent_id", "metric", "labels", "timestamp_ms", "value"] {
            assert!(obj.contains_key(k), "{k} missing in {line}");
        }
        assert_eq!(obj["agent_id"], "once-test");
        assert!(obj["labels"].is_object(), "{line}");
        assert!(obj["value"].as_f64().is_some_and(f64::is_finite), "{line}");
        timestamps.insert(obj["timestamp_ms"].as_i64().expect("integer timestamp"));
        metrics.insert(obj["metric"].as_str().expect("metric name").to_owned());
    }
    assert_eq!(timestamps.len(), 1, "one collection, one timestamp");
    let mut want = vec![
        "cpu.usage",
        "cpu.core_usage",
        "memory.total",
        "memory.used",
        "memory.available",
        "memory.used_percent",
        "memory.swap_total",
        "memory.swap_used",
        "load.load_1",
        "load.load_5",
        "load.load_15",
        "load.uptime",
    ];
    let has_real_disk = metrics.contains("disk.total");
    if has_real_disk {
        want.extend([
            "disk.total",
            "disk.used",
            "disk.available",
            "disk.used_percent",
        ]);
    } else {
        eprintln!("note: no real file system mounted here (container overlay only)");
    }
    if metrics.contains("network.bytes_recv") {
        want.extend([
            "network.bytes_sent",
            "network.bytes_recv",
            "network.packets_sent",
            "network.packets_recv",
        ]);
    } else {
        eprintln!("note: only loopback here, no network rates");
    }
    for m in want {
        assert!(metrics.contains(m), "{m} missing from --once output");
    }
}
