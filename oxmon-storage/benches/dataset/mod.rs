//! The shared benchmark dataset (`../shared/bench-data/gen_dataset.py
//! --format promtext`) read as agents send it; used by the storage and the
//! remote write benches.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};

use oxmon_core::{Labels, MetricBatch, Sample};

/// `OXMON_DATASET` as a path from the repository root (cargo runs benches
/// in the package's directory), or `None` with a note when it is unset.
pub fn path() -> Option<String> {
    let Ok(path) = std::env::var("OXMON_DATASET") else {
        eprintln!(
            "set OXMON_DATASET to a promtext file from gen_dataset.py (see the file's header); skipping"
        );
        return None;
    };
    Some(if std::path::Path::new(&path).is_relative() {
        format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"))
    } else {
        path
    })
}

fn oxmon_name(name: &str) -> String {
    for (prefix, family) in [
        ("cpu_", "cpu"),
        ("memory_", "memory"),
        ("disk_", "disk"),
        ("network_", "network"),
        ("load_", "load"),
    ] {
        if let Some(rest) = name.strip_prefix(prefix) {
            return format!("{family}.{rest}");
        }
    }
    if name == "uptime" {
        "load.uptime".into()
    } else {
        name.replace('_', ".")
    }
}

/// Parses `name{k="v",...} value ts_ms` into (agent, sample).
fn parse(line: &str) -> Option<(String, Sample)> {
    let (head, rest) = line.split_once('}')?;
    let (name, labels) = head.split_once('{')?;
    let mut agent = String::new();
    let mut l = Labels::new();
    for pair in labels.split(',') {
        let (k, v) = pair.split_once('=')?;
        let v = v.trim_matches('"');
        if k == "agent" {
            agent = v.to_owned();
        } else {
            l.insert(k, v);
        }
    }
    let mut it = rest.split_whitespace();
    let value: f64 = it.next()?.parse().ok()?;
    let ts: i64 = it.next()?.parse().ok()?;
    Some((agent.clone(), Sample::new(oxmon_name(name), l, ts, value)))
}

/// Batches in file order: consecutive lines of one (agent, timestamp).
pub fn batches(path: &str) -> impl Iterator<Item = MetricBatch> {
    let file = std::fs::File::open(path).expect("dataset");
    let mut lines = BufReader::new(file).lines().map_while(Result::ok);
    let mut pending: Option<MetricBatch> = None;
    std::iter::from_fn(move || {
        for line in lines.by_ref() {
            let Some((agent, sample)) = parse(&line) else {
                continue;
            };
            match &mut pending {
                Some(b) if b.agent_id == agent && b.timestamp_ms == sample.timestamp_ms => {
                    b.samples.push(sample);
                }
                _ => {
                    let ts = sample.timestamp_ms;
                    let next = MetricBatch {
                        batch_id: Some(format!("{agent}-{ts}")),
                        agent_id: agent,
                        timestamp_ms: ts,
                        samples: vec![sample],
                    };
                    if let Some(done) = pending.replace(next) {
                        return Some(done);
                    }
                }
            }
        }
        pending.take()
    })
}

/// Bytes of the files directly in `dir`.
pub fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
