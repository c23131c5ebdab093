//! Crash safety: a child process ingests (and compacts) continuously and is
//! killed with SIGKILL at random moments, many times. After every restart,
//! every batch whose append returned success is present exactly once and
//! every partition passes `PRAGMA integrity_check`.
//!
//! The child is this same test binary, re-run with `OXMON_CRASH_CHILD` set.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use oxmon_core::{Labels, MetricBatch, MetricStore, MetricStoreExt, Sample, SeriesKey};
use oxmon_storage::{SqliteOptions, SqliteStore};

const T0: i64 = 1_767_225_600_000;
const POINTS: i64 = 50;
const TEST_NAME: &str = "acknowledged_batches_survive_sigkill";

/// Batch n: 50 points of series `s{n % 10}`, one second apart, starting 2 minutes
/// after batch n-1 (so the run crosses midnight), all with value n.
fn batch(n: i64) -> MetricBatch {
    let labels = Labels::new().with("s", (n % 10).to_string());
    let start = T0 + 23 * 3_600_000 + n * 120_000;
    let samples = (0..POINTS)
        .map(|j| Sample::new("m", labels.clone(), start + j * 1000, n as f64))
        .collect();
    MetricBatch {
        agent_id: "crash".into(),
        batch_id: Some(format!("batch-{n}")),
        timestamp_ms: start,
        samples,
    }
}

fn child(dir: &str, start: i64) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let opts = SqliteOptions {
            chunk_span_ms: 3_600_000,
            compaction_lag_ms: 0,
            ..SqliteOptions::default()
        };
        let store = SqliteStore::open(dir, opts).expect("open");
        for n in start.. {
            store.append(&batch(n)).await.expect("append");
            println!("ACK {n}");
            if n % 17 == 0 {
                store
                    .compact(T0 + 23 * 3_600_000 + n * 120_000)
                    .await
                    .expect("compact");
            }
        }
    });
}

fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn acknowledged_batches_survive_sigkill() {
    if let Ok(dir) = std::env::var("OXMON_CRASH_CHILD") {
        let start = std::env::var("OXMON_CRASH_START")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        child(&dir, start);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked: BTreeSet<i64> = BTreeSet::new();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut start = 0i64;
    for round in 0..10 {
        let mut child = Command::new(&exe)
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env("OXMON_CRASH_CHILD", dir.path())
            .env("OXMON_CRASH_START", start.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(n) = line
                    .strip_prefix("ACK ")
                    .and_then(|n| n.parse::<i64>().ok())
                {
                    let _ = tx.send(n);
                }
            }
        });
        // Kill after a random number of acknowledgements (5 to 60).
        let kill_after = 5 + next_random(&mut rng) % 56;
        let mut seen = 0;
        while seen < kill_after {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(n) => {
                    acked.insert(n);
                    seen += 1;
                }
                Err(e) => panic!("round {round}: child stopped acknowledging: {e}"),
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        // Acknowledgements printed before the kill still count.
        acked.extend(rx.try_iter());
        start = acked.last().map_or(0, |n| n + 1);

        // Verify in this process.
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let store = SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap();
            for &n in &acked {
                let b = batch(n);
                let key = SeriesKey::new("crash", "m", b.samples[0].labels.clone());
                let pts = store
                    .series_points(&key, b.samples[0].timestamp_ms, b.samples[49].timestamp_ms)
                    .await
                    .unwrap();
                assert_eq!(
                    pts.len() as i64,
                    POINTS,
                    "round {round}: batch {n} must be stored exactly once"
                );
                assert!(
                    pts.iter().all(|p| p.value == n as f64),
                    "round {round}: batch {n} values"
                );
                assert_eq!(
                    store.append(&b).await.unwrap(),
                    oxmon_core::AppendOutcome::Duplicate,
                    "batch {n} id remembered"
                );
            }
            store.close();
        });
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "db") {
                let conn = rusqlite::Connection::open(&path).unwrap();
                let check: String = conn
                    .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                    .unwrap();
                assert_eq!(check, "ok", "round {round}: {}", path.display());
            }
        }
    }
    assert!(
        acked.len() >= 50,
        "enough batches were acknowledged ({})",
        acked.len()
    );
    let days = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "db")
        })
        .count();
    assert!(days >= 2, "the run crossed midnight");
}
