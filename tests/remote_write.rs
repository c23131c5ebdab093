//! Remote write without loss, against the real VictoriaMetrics (Debian's,
//! on 127.0.0.1): the `server` program stores a fleet that keeps reporting
//! over gRPC and writes it to VictoriaMetrics. VictoriaMetrics is killed
//! with SIGKILL mid-stream, the server is killed with SIGKILL and started
//! again while VictoriaMetrics is down, VictoriaMetrics comes back; in the
//! end it holds every sample the server acknowledged, each once, and
//! oxmon's `/metrics` shows the retries, the samples sent again and no lag.
//!
//! VictoriaMetrics acknowledges a write before it reaches its files (it
//! writes them every few seconds): a SIGKILL loses what it acknowledged
//! last. oxmon sends the last `resend_secs` again after the receiver was
//! unreachable and when it starts; VictoriaMetrics runs with
//! `-dedup.minScrapeInterval=1ms` (what it documents for senders that may
//! send a sample twice), so each sample is counted once.
//! `OXMON_PEER_TESTS=0` skips it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use oxmon::core::config::AgentConfig;
use oxmon::core::{Clock, Labels, MetricBatch, Sample, SystemClock, Transport};
use oxmon::transport::grpc::GrpcTransport;

mod support;
use support::peers::{Vm, enabled, encode};
use support::{eventually, example, free_port, json_call, login_when_up, spawn};

const PASSWORD: &str = "remote-Write-Passw0rd";
const AGENTS: usize = 10;
const SERIES: usize = 20;

/// One agent reporting `SERIES` samples every 50 ms, each batch re-sent
/// (same id) until the server acknowledges it, as agents do; counts the
/// samples acknowledged.
async fn agent(
    grpc: u16,
    name: String,
    base_ms: i64,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
) {
    let mut config = AgentConfig::default();
    config.server_endpoint = format!("127.0.0.1:{grpc}");
    let transport = GrpcTransport::connect(&config, &name)
        .expect("client")
        .with_timeout(Duration::from_secs(2));
    let mut k: i64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let samples = (0..SERIES)
            .map(|i| {
                Sample::new(
                    "fleet.load",
                    Labels::new().with("i", i.to_string()),
                    base_ms + k * 1_000,
                    (k * 100 + i as i64) as f64,
                )
            })
            .collect();
        let batch = MetricBatch::new(name.clone(), samples).with_batch_id(format!("{name}-{k}"));
        while transport.send(&batch).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        acked.fetch_add(SERIES as u64, Ordering::Relaxed);
        k += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `name{destination=...}` from the server's `/metrics`.
async fn server_metric(http: &reqwest::Client, base: &str, name: &str) -> Option<f64> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.starts_with(&format!("{name}{{")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn victoria_metrics_gets_every_sample_once_through_kills_and_restarts() {
    if !enabled() {
        eprintln!("OXMON_PEER_TESTS=0: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();

    let (vm_port, grpc, http_port) = (free_port(), free_port(), free_port());
    let vm_dir = dir.path().join("vm");
    let mut vm = Vm::start(&vm_dir, vm_port).await;
    let server_toml = dir.path().join("server.toml");
    std::fs::write(
        &server_toml,
        format!(
            r#"grpc_port = {grpc}
http_port = {http_port}
grpc_bind = "127.0.0.1"
http_bind = "127.0.0.1"
data_dir = "{data}"

[auth]
default_password = "{PASSWORD}"

[local_agent]
enabled = false

[[remote_write]]
url = "http://127.0.0.1:{vm_port}/api/v1/write"
name = "vm"
batch_size = 500
send_deadline_ms = 100
max_backoff_ms = 300
timeout_secs = 2
"#,
            data = dir.path().join("data").display()
        ),
    )
    .unwrap();
    let server_bin = example("server");
    let mut server = Guard(spawn(
        &server_bin,
        &server_toml,
        &dir.path().join("server1.log"),
    ));
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{http_port}");
    login_when_up(&http, &base, PASSWORD).await;

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let base_ms = SystemClock.now_ms() - 3_600_000;
    let agents: Vec<_> = (0..AGENTS)
        .map(|a| {
            tokio::spawn(agent(
                grpc,
                format!("node-{a:02}"),
                base_ms,
                stop.clone(),
                acked.clone(),
            ))
        })
        .collect();
    eventually("the first samples in VictoriaMetrics", 30, || async {
        vm.flush().await;
        (vm.number("sum(count_over_time(fleet_load[2h]))").await > 0.0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // VictoriaMetrics killed mid-stream; a second later the server too.
    vm.child.kill().unwrap();
    vm.child.wait().unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    let at_kill = acked.load(Ordering::Relaxed);

    // The server back while VictoriaMetrics is down: agents' batches are
    // stored, the sender retries.
    let mut server = Guard(spawn(
        &server_bin,
        &server_toml,
        &dir.path().join("server2.log"),
    ));
    eventually("failed sends counted after the restart", 30, || async {
        server_metric(&http, &base, "oxmon_remote_write_samples_failed_total")
            .await
            .filter(|&f| f > 0.0)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let vm = Vm::start(&vm_dir, vm_port).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for a in agents {
        a.await.unwrap();
    }
    let total = acked.load(Ordering::Relaxed);
    assert!(total > at_kill, "the fleet reported through the outage");

    let query = "sum(count_over_time(fleet_load[2h]))";
    let in_vm = eventually(
        "VictoriaMetrics to hold every acknowledged sample",
        60,
        || async {
            vm.flush().await;
            let n = vm.number(query).await;
            (n >= total as f64).then_some(n)
        },
    )
    .await;
    assert_eq!(in_vm, total as f64, "each sample once");
    let series = vm.number("count(count_over_time(fleet_load[2h]))").await;
    assert_eq!(series, (AGENTS * SERIES) as f64);
    // oxmon's own store, through its Prometheus API, says the same.
    let (_, ours) = json_call(
        &http,
        reqwest::Method::GET,
        format!("{base}/api/v1/query?query={}", encode(query)),
        Some(&login_when_up(&http, &base, PASSWORD).await),
        None,
    )
    .await;
    let ours: f64 = ours["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert_eq!(ours, total as f64, "oxmon holds the same");
    let lag = eventually("no lag", 30, || async {
        server_metric(&http, &base, "oxmon_remote_write_lag_seconds")
            .await
            .filter(|&l| l == 0.0)
    })
    .await;
    assert_eq!(lag, 0.0);
    assert_eq!(
        server_metric(&http, &base, "oxmon_remote_write_samples_dropped_total").await,
        Some(0.0)
    );
    let resent = server_metric(&http, &base, "oxmon_remote_write_samples_resent_total")
        .await
        .unwrap_or(0.0);
    assert!(
        resent > 0.0,
        "the seconds before the outage were sent again"
    );
    println!(
        "VictoriaMetrics holds {in_vm} samples = {total} acknowledged by oxmon; {resent} sent again after the restart"
    );
    support::terminate(&mut server.0);
}

/// A server process killed if the test fails before stopping it.
struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
