//! Whole-process figures for issue #14: the release `server` example under
//! each attack of the issue, one after another. For each: the server's peak
//! RSS while it runs (sampled from /proc/<pid>/status every 20 ms) and the
//! p99 and worst latency of `/v1/health`, polled every 20 ms over a fresh
//! connection from a second thread.
//!
//! ```sh
//! cargo build --release --example server
//! cargo bench --bench hardening
//! # OXMON_SERVER_BIN (target/release/examples/server)
//! ```
//!
//! Linux only (reads /proc). Not a criterion bench: the figure is the
//! server process's behaviour, measured once per attack.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use oxmon::core::config::AgentConfig;
use oxmon::core::{Labels, MetricBatch, Sample, Secret, Transport};
use oxmon::transport::grpc::GrpcTransport;

#[path = "../tests/support/attack.rs"]
#[allow(dead_code, unreachable_pub)]
mod attack;

const PASSWORD: &str = "Hardening-Bench-Pass-42";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        })
        .unwrap_or(0)
}

/// `/v1/health` from 127.0.0.2, a client other than the attacker (all of
/// 127/8 is loopback): the per-address limits must not refuse it.
fn health_once(rt: &tokio::runtime::Runtime, port: u16) -> Option<Duration> {
    let start = Instant::now();
    let mut s = rt
        .block_on(async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(([127, 0, 0, 2], 0).into())?;
            socket.connect(([127, 0, 0, 1], port).into()).await
        })
        .ok()?
        .into_std()
        .ok()?;
    s.set_nonblocking(false).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    s.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.starts_with("HTTP/1.1 200").then(|| start.elapsed())
}

/// Samples RSS and health latency until stopped.
struct Watch {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<(u64, Vec<Duration>, usize)>,
}

impl Watch {
    fn start(pid: u32, port: u16) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let (mut peak, mut lat, mut failed) = (0, Vec::new(), 0);
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(rss_kib(pid));
                match health_once(&rt, port) {
                    Some(d) => lat.push(d),
                    None => failed += 1,
                }
                peak = peak.max(rss_kib(pid));
                std::thread::sleep(Duration::from_millis(20));
            }
            (peak, lat, failed)
        });
        Self { stop, handle }
    }

    fn finish(self, name: &str, outcome: &str) {
        self.stop.store(true, Ordering::Relaxed);
        let (peak, mut lat, failed) = self.handle.join().unwrap();
        lat.sort();
        let p = |q: f64| {
            lat.get(((lat.len() as f64 * q) as usize).min(lat.len().saturating_sub(1)))
                .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
        };
        println!(
            "| {name} | {outcome} | {:.0} MiB | {:.1} ms | {:.1} ms | {} |",
            peak as f64 / 1024.0,
            p(0.99),
            lat.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1e3),
            failed
        );
    }
}

async fn login(http: &reqwest::Client, base: &str, password: &str) -> reqwest::StatusCode {
    http.post(format!("{base}/v1/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": password}))
        .send()
        .await
        .map_or(reqwest::StatusCode::SERVICE_UNAVAILABLE, |r| r.status())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let bin = std::env::var_os("OXMON_SERVER_BIN").map_or_else(
        || PathBuf::from("target/release/examples/server"),
        PathBuf::from,
    );
    assert!(
        bin.exists(),
        "{} missing: cargo build --release --example server",
        bin.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http_port) = (free_port(), free_port());
    let toml = attack::server_toml(
        dir.path(),
        grpc,
        http_port,
        PASSWORD,
        "require_agent_auth = true\n[ingest]\nmax_series_per_agent = 100000\n",
    );
    let mut child: Child = Command::new(&bin)
        .arg(&toml)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("server.log")).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    std::thread::spawn(move || {
        let probe = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        while health_once(&probe, http_port).is_none() {
            assert!(Instant::now() < deadline, "server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .join()
    .unwrap();
    let base = format!("http://127.0.0.1:{http_port}");
    let http = reqwest::Client::new();
    let token = attack::whitelist(&base, PASSWORD, "bomber").await;
    let url = format!("http://127.0.0.1:{grpc}");
    println!("idle server: {} MiB RSS", rss_kib(pid) / 1024);
    println!("| attack | outcome | peak RSS | health p99 | health max | health failed |");
    println!("|---|---|---|---|---|---|");

    // 1. The 16 KB gzip bomb, six at once, without and with credentials.
    for (name, agent, tok) in [
        ("6 x gzip bomb, no credentials", None, None),
        (
            "6 x gzip bomb, valid token",
            Some("bomber"),
            Some(token.as_str()),
        ),
    ] {
        let w = Watch::start(pid, http_port);
        let sends: Vec<_> = (0..6)
            .map(|_| {
                let url = url.clone();
                let agent = agent.map(str::to_owned);
                let tok = tok.map(str::to_owned);
                tokio::spawn(async move {
                    attack::send_raw(
                        &url,
                        attack::bomb(8 << 20, 4_000_000),
                        agent.as_deref(),
                        tok.as_deref(),
                    )
                    .await
                })
            })
            .collect();
        let mut codes = Vec::new();
        for s in sends {
            codes.push(format!(
                "{:?}",
                s.await.unwrap().map(|_| ()).unwrap_err().code()
            ));
        }
        codes.dedup();
        w.finish(name, &codes.join(","));
    }

    // 2. 100,000 new series in descending label order, 10 batches of
    // 10,000 from one agent (its cap raised to 100,000 for this run; the
    // refusal past the cap is tested in tests/hardening.rs).
    {
        let w = Watch::start(pid, http_port);
        let started = Instant::now();
        let mut refused = 0;
        let mut config = AgentConfig::default();
        config.server_endpoint = format!("127.0.0.1:{grpc}");
        let now = oxmon::core::Clock::now_ms(&oxmon::core::SystemClock);
        for b in 0..10 {
            config.auth_token = Some(Secret::new(token.clone()));
            let t = GrpcTransport::connect(&config, "bomber").unwrap();
            let samples = (0..10_000)
                .rev()
                .map(|i| {
                    Sample::new(
                        "card.series",
                        Labels::new().with("id", format!("{b:02}-{i:06}")),
                        now,
                        1.0,
                    )
                })
                .collect();
            let batch = MetricBatch {
                agent_id: "bomber".into(),
                batch_id: Some(format!("card-{b}")),
                timestamp_ms: now,
                samples,
            };
            if t.send(&batch).await.is_err() {
                refused += 1;
            }
        }
        w.finish(
            "100,000 new series, descending (10 x 10,000)",
            &format!(
                "{refused} of 10 batches refused, {:.1} s",
                started.elapsed().as_secs_f64()
            ),
        );
    }

    // 3. 1,500 concurrent wrong logins from one address.
    {
        let w = Watch::start(pid, http_port);
        let tasks: Vec<_> = (0..1_500)
            .map(|i| {
                let http = http.clone();
                let base = base.clone();
                tokio::spawn(async move { login(&http, &base, &format!("wrong-{i}")).await })
            })
            .collect();
        let mut by_status = std::collections::BTreeMap::new();
        for t in tasks {
            *by_status.entry(t.await.unwrap().as_u16()).or_insert(0) += 1;
        }
        w.finish("1,500 concurrent wrong logins", &format!("{by_status:?}"));
    }

    // 4. 3,000 half-sent REST requests, then 8,000 idle connections.
    for (name, port, n, half) in [
        (
            "3,000 half-sent REST requests (15 s)",
            http_port,
            3_000,
            true,
        ),
        ("8,000 idle gRPC connections (15 s)", grpc, 8_000, false),
    ] {
        let w = Watch::start(pid, http_port);
        let mut held = Vec::new();
        for _ in 0..n {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                if half {
                    let _ = s.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n");
                }
                held.push(s);
            }
        }
        std::thread::sleep(Duration::from_secs(15));
        let open = held
            .iter_mut()
            .filter(|s| {
                let s: &TcpStream = s;
                let mut s = s;
                s.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
                // Open: nothing to read yet, or the server's HTTP/2
                // settings; closed: end of stream or a reset.
                let mut b = [0_u8; 64];
                match s.read(&mut b) {
                    Ok(0) => false,
                    Ok(_) => true,
                    Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
                }
            })
            .count();
        drop(held);
        w.finish(name, &format!("{open} of {n} still open after 15 s"));
    }

    let _ = Command::new("kill").arg(pid.to_string()).status();
    let _ = child.wait();
}
