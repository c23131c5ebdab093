//! Whole-process figure: the release `server` example under 1,000 simulated
//! agents, each reporting its 60 series (the shared dataset's shape) every
//! 10 s over its own gRPC connection with its own whitelisted token. Prints
//! the server process's CPU (share of one core, from /proc/<pid>/stat) and
//! RSS (from /proc/<pid>/status) over the measured window.
//!
//! ```sh
//! cargo build --release --example server
//! cargo bench --bench server_load
//! # knobs: OXMON_LOAD_AGENTS (1000), OXMON_LOAD_INTERVAL_SECS (10),
//! #        OXMON_LOAD_WARMUP_SECS (30), OXMON_LOAD_MEASURE_SECS (60),
//! #        OXMON_LOAD_COMMIT_WINDOW_MS (50, the server's default),
//! #        OXMON_LOAD_RULES (1; 0 runs without alert rules),
//! #        OXMON_LOAD_SERIES (60; fewer series per agent, at most 60),
//! #        OXMON_SERVER_BIN (target/release/examples/server)
//! ```
//!
//! Linux only (reads /proc). Not a criterion bench: one long run of a
//! separate process is the figure; the load generator runs in this process,
//! so its own CPU is not counted.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use oxmon::core::config::AgentConfig;
use oxmon::core::{Clock, Labels, MetricBatch, Sample, Secret, SystemClock, Transport};
use oxmon::transport::grpc::GrpcTransport;

const PASSWORD: &str = "load-Test-Passw0rd";

/// The alert rules of the run (`OXMON_LOAD_RULES=0` leaves them out, to
/// tell the engine's share of CPU and memory).
const RULES: &str = r#"[[alert.rules]]
name = "high-cpu"
type = "threshold"
metric = "cpu.usage"
agent_pattern = "*"
operator = "greater_than"
value = 90.0
duration_secs = 300
severity = "critical"

[[alert.rules]]
name = "memory-spike"
type = "rate_of_change"
metric = "memory.used_percent"
agent_pattern = "*"
rate_threshold = 20.0
window_secs = 300
direction = "up"
severity = "warning"

[[alert.rules]]
name = "disk-full-soon"
type = "trend_prediction"
metric = "disk.used_percent"
agent_pattern = "*"
predict_threshold = 95.0
horizon_secs = 86400
min_data_points = 10
severity = "info"

"#;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// utime + stime of a process, in clock ticks (USER_HZ, 100 on Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
    // Fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields[11].parse().expect("utime");
    let stime: u64 = fields[12].parse().expect("stime");
    utime + stime
}

/// A `kB` field of /proc/<pid>/status (VmRSS, VmHWM), in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim_start_matches(':').split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One simulated agent: its series with values that wander a little.
fn batch(agent: &str, series: &[(String, Labels)], round: u64, now_ms: i64) -> MetricBatch {
    let samples = series
        .iter()
        .enumerate()
        .map(|(i, (metric, labels))| {
            #[allow(clippy::cast_precision_loss)]
            let value = 20.0 + ((round * 7 + i as u64 * 13) % 50) as f64;
            Sample::new(metric.clone(), labels.clone(), now_ms, value)
        })
        .collect();
    MetricBatch {
        agent_id: agent.to_owned(),
        batch_id: Some(format!("{agent}-{round}")),
        timestamp_ms: now_ms,
        samples,
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        // `cargo bench -- --list` and `cargo test --benches` probe benches.
        return;
    }
    let agents = env_u64("OXMON_LOAD_AGENTS", 1000);
    let interval = Duration::from_secs(env_u64("OXMON_LOAD_INTERVAL_SECS", 10));
    let warmup = Duration::from_secs(env_u64("OXMON_LOAD_WARMUP_SECS", 30));
    let measure = Duration::from_secs(env_u64("OXMON_LOAD_MEASURE_SECS", 60));
    let bin = std::env::var_os("OXMON_SERVER_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/examples/server"),
        PathBuf::from,
    );
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --release --example server` first (or set OXMON_SERVER_BIN)",
        bin.display()
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let (grpc, http) = (free_port(), free_port());
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            r#"grpc_port = {grpc}
http_port = {http}
grpc_bind = "127.0.0.1"
http_bind = "127.0.0.1"
data_dir = "{}"
require_agent_auth = true

[auth]
default_password = "{PASSWORD}"

[ingest]
max_future_secs = 300
commit_window_ms = {commit_window_ms}

{rules}[cert_check]
enabled = false
"#,
            dir.path().join("data").display(),
            commit_window_ms = env_u64("OXMON_LOAD_COMMIT_WINDOW_MS", 50),
            rules = if env_u64("OXMON_LOAD_RULES", 1) == 1 {
                RULES
            } else {
                ""
            },
        ),
    )
    .expect("config");
    let log = std::fs::File::create(dir.path().join("server.log")).expect("log");
    let server = ServerProcess(
        Command::new(&bin)
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the server"),
    );
    let pid = server.0.id();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let base = format!("http://127.0.0.1:{http}");
        let client = reqwest::Client::new();
        let started = Instant::now();
        while client
            .get(format!("{base}/v1/health"))
            .send()
            .await
            .is_err()
        {
            assert!(started.elapsed() < Duration::from_secs(30), "server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let login: serde_json::Value = client
            .post(format!("{base}/v1/auth/login"))
            .json(&serde_json::json!({"username": "admin", "password": PASSWORD}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("login body");
        let jwt = login["token"].as_str().expect("token").to_owned();

        // Whitelist every agent through the API and connect it.
        let mut series = oxmon::core::testing::agent_series();
        series.truncate(usize::try_from(env_u64("OXMON_LOAD_SERIES", 60)).unwrap_or(60));
        let series = Arc::new(series);
        let mut clients = Vec::new();
        for a in 0..agents {
            let id = format!("load-{a:04}");
            let added: serde_json::Value = client
                .post(format!("{base}/v1/agents/whitelist"))
                .bearer_auth(&jwt)
                .json(&serde_json::json!({"agent_id": id}))
                .send()
                .await
                .expect("whitelist")
                .json()
                .await
                .expect("whitelist body");
            let mut config = AgentConfig::default();
            config.server_endpoint = format!("127.0.0.1:{grpc}");
            config.auth_token = Some(Secret::new(added["token"].as_str().expect("agent token")));
            let transport = GrpcTransport::connect(&config, &id).expect("client");
            clients.push((id, Arc::new(transport)));
        }
        println!(
            "{agents} agents whitelisted; {} series each, every {} s ({:.0} samples/s)",
            series.len(),
            interval.as_secs(),
            agents as f64 * series.len() as f64 / interval.as_secs_f64()
        );

        // Each agent on its own fixed schedule, spread over the interval.
        let sent = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let n = clients.len() as u32;
        for (i, (id, transport)) in clients.into_iter().enumerate() {
            let (series, sent, failed) = (series.clone(), sent.clone(), failed.clone());
            let offset = interval * u32::try_from(i).unwrap_or(0) / n.max(1);
            tokio::spawn(async move {
                tokio::time::sleep(offset).await;
                let mut ticker = tokio::time::interval(interval);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                for round in 0.. {
                    ticker.tick().await;
                    let b = batch(&id, &series, round, SystemClock.now_ms());
                    match transport.send(&b).await {
                        Ok(_) => sent.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            });
        }

        tokio::time::sleep(warmup).await;
        let (ticks0, t0, sent0) = (cpu_ticks(pid), Instant::now(), sent.load(Ordering::Relaxed));
        let mut rss = Vec::new();
        while t0.elapsed() < measure {
            tokio::time::sleep(Duration::from_secs(1)).await;
            rss.push(status_kib(pid, "VmRSS"));
        }
        let (ticks1, elapsed) = (cpu_ticks(pid), t0.elapsed());
        let batches = sent.load(Ordering::Relaxed) - sent0;
        // USER_HZ is 100 on every Linux this runs on.
        let cpu_secs = (ticks1 - ticks0) as f64 / 100.0;
        let share = cpu_secs / elapsed.as_secs_f64() * 100.0;
        let max_rss = rss.iter().copied().max().unwrap_or(0);
        let avg_rss = rss.iter().sum::<u64>() / rss.len().max(1) as u64;
        println!(
            "measured {:.0} s after {} s warm-up: {batches} batches ({:.0} samples/s) acknowledged, {} failed",
            elapsed.as_secs_f64(),
            warmup.as_secs(),
            batches as f64 * series.len() as f64 / elapsed.as_secs_f64(),
            failed.load(Ordering::Relaxed)
        );
        println!(
            "server CPU: {cpu_secs:.2} s in {:.0} s = {share:.2}% of one core",
            elapsed.as_secs_f64()
        );
        println!(
            "server RSS: max {:.1} MiB, mean {:.1} MiB, peak (VmHWM) {:.1} MiB",
            max_rss as f64 / 1024.0,
            avg_rss as f64 / 1024.0,
            status_kib(pid, "VmHWM") as f64 / 1024.0
        );
    });
    drop(server);
}
