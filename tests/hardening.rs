//! Attacks on the release server's listeners, each a regression test of
//! issue #14: the server process (the `server` example) is started with a
//! real configuration, attacked over real sockets on 127.0.0.1, and must
//! refuse, stay within a memory bound and keep answering `/v1/health`.
//!
//! Timeouts that the attacks rely on are set short in the configuration
//! (1 to 2 s) so that the tests wait little; the waits have generous
//! deadlines and assert what happened, not how fast.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use tonic::Code;

mod support;
use support::attack::{bomb, login, send_raw, server_toml, varint, whitelist};
use support::{example, free_port, spawn, terminate, wait_until};

const PASSWORD: &str = "Hardening-Test-Pass-42";

struct Server {
    child: Child,
    http: u16,
    grpc: u16,
    dir: tempfile::TempDir,
}

impl Server {
    fn start(extra: &str) -> Self {
        let bin = example("server");
        assert!(bin.exists(), "example binary missing: {}", bin.display());
        let dir = tempfile::tempdir().unwrap();
        let (grpc, http) = (free_port(), free_port());
        let toml = server_toml(dir.path(), grpc, http, PASSWORD, extra);
        let child = spawn(&bin, &toml, &dir.path().join("server.log"));
        let server = Self {
            child,
            http,
            grpc,
            dir,
        };
        wait_until("the server's health", Duration::from_secs(30), || {
            server.health().is_some()
        });
        server
    }

    /// `/v1/health` over a fresh connection: the status line's code, or
    /// `None` when nothing answered.
    fn health(&self) -> Option<u16> {
        Self::health_at(self.http)
    }

    fn health_at(port: u16) -> Option<u16> {
        let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        s.write_all(b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        out.get(9..12)?.parse().ok()
    }

    /// Peak resident memory of the server process, KiB.
    fn peak_rss_kib(&self) -> u64 {
        proc_status(self.child.id(), "VmHWM:")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }

    fn grpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc)
    }

    fn stop(mut self) {
        terminate(&mut self.child);
    }
}

fn proc_status(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or_else(|| panic!("{key} in /proc/{pid}/status"))
}

/// The 16 KB gzip bomb (an 8 MiB agent id and millions of empty points)
/// with and without credentials: refused, memory bounded, health answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_bombs_are_refused_within_a_memory_bound() {
    let server = Server::start("require_agent_auth = true\n");
    let token = whitelist(&server.base(), PASSWORD, "bomber").await;
    let url = server.grpc_url();
    let before = server.peak_rss_kib();

    // Without credentials: refused before the body is read.
    let e = send_raw(&url, bomb(8 << 20, 4_000_000), None, None)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    // With a wrong token for a real agent: the same.
    let e = send_raw(&url, bomb(8 << 20, 4_000_000), Some("bomber"), Some("nope"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    // With valid credentials: 16 MiB decompressed is over the 4 MiB limit.
    let e = send_raw(&url, bomb(8 << 20, 4_000_000), Some("bomber"), Some(&token))
        .await
        .unwrap_err();
    assert!(
        matches!(e.code(), Code::ResourceExhausted | Code::OutOfRange),
        "{e:?}"
    );
    // 8 million empty points, no id, six at once: over the size limit too.
    let sends = (0..6).map(|_| {
        let (url, token) = (url.clone(), token.clone());
        async move { send_raw(&url, bomb(0, 8_000_000), Some("bomber"), Some(&token)).await }
    });
    for r in futures_join_all(sends).await {
        let e = r.unwrap_err();
        assert!(
            matches!(e.code(), Code::ResourceExhausted | Code::OutOfRange),
            "{e:?}"
        );
    }
    // Within the size limit (2 million points in 4 MiB): the wire scan
    // counts the points before anything is decoded.
    let e = send_raw(&url, bomb(0, 2_000_000), Some("bomber"), Some(&token))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert_eq!(e.message(), "more than 10000 points in one batch");
    // An 8 MiB agent id is not an agent id.
    let e = send_raw(&url, bomb(1 << 20, 1), Some("bomber"), Some(&token))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");

    assert_eq!(server.health(), Some(200));
    let peak = server.peak_rss_kib();
    println!("peak RSS before the bombs {before} KiB, after {peak} KiB");
    // Six concurrent 4 MiB decompressions plus their compressed bodies are
    // what the limits allow; at main before #14 one bomb took 6.5 GiB.
    assert!(
        peak < 256 * 1024,
        "peak RSS {peak} KiB (was {before} KiB before the attack)"
    );
    server.stop();
}

/// Waits for every future, in order (the test avoids a futures dependency).
async fn futures_join_all<F: Future + Send + 'static>(fs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// A batch whose agent id carries a newline and an escape sequence does not
/// forge a log line, and the refusal does not echo it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_agent_id_does_not_reach_the_log() {
    let server = Server::start("");
    let forged = "web-1\n2026-12-02T00:00:00.000000Z  INFO oxmon: FORGED admin logged in\u{1b}[2J";
    // The batch's own agent id field (the metadata cannot hold a newline).
    let mut body = vec![0x0a];
    varint(&mut body, forged.len() as u64);
    body.extend_from_slice(forged.as_bytes());
    let e = send_raw(&server.grpc_url(), body, None, None)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(!e.message().contains('\n'), "{}", e.message());
    // Three large refused requests do not flood the log either.
    for _ in 0..3 {
        let _ = send_raw(&server.grpc_url(), bomb(100, 1), None, None).await;
    }
    let log = server.log();
    assert!(
        !log.lines().any(|l| l.contains("FORGED")),
        "forged text in the log:\n{log}"
    );
    assert!(!log.contains('\u{1b}'));
    assert!(log.len() < 64 * 1024, "log grew to {} bytes", log.len());
    server.stop();
}

/// Reads until the server closes the connection or `deadline` passes;
/// true when it was closed.
fn closed_within(s: &mut TcpStream, deadline: Duration) -> bool {
    let end = Instant::now() + deadline;
    let mut buf = [0_u8; 256];
    while Instant::now() < end {
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

/// Connects from a given loopback source address (all of 127/8 is local).
/// std has no bind-before-connect; tokio's `TcpSocket` has.
async fn connect_from(source: [u8; 4], port: u16) -> TcpStream {
    {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from((source, 0))).unwrap();
        let stream = socket
            .connect(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .unwrap();
        let std = stream.into_std().unwrap();
        std.set_nonblocking(false).unwrap();
        std
    }
}

/// A counter of `/metrics` with the given labels.
async fn counter(server: &Server, jwt: &str, name_and_labels: &str) -> u64 {
    let text = reqwest::Client::new()
        .get(format!("{}/metrics", server.base()))
        .bearer_auth(jwt)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name_and_labels} in /metrics:\n{text}"))
}

/// Slow and idle connections are closed after their timeouts; the
/// connection limits hold and the server keeps answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_idle_and_excess_connections_are_closed() {
    let server = Server::start(
        "[limits]\nhttp_max_connections = 40\nhttp_max_connections_per_address = 30\nhttp_header_timeout_secs = 2\nhttp_idle_timeout_secs = 8\nhttp_request_timeout_secs = 8\ngrpc_max_connections = 20\ngrpc_idle_timeout_secs = 3\ngrpc_request_timeout_secs = 3\n",
    );
    let jwt = login(&server.base(), PASSWORD).await;
    // A half-sent request: closed after the header timeout.
    let mut slow = TcpStream::connect(("127.0.0.1", server.http)).unwrap();
    slow.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // An idle connection that never sends anything: closed when idle.
    let mut idle = TcpStream::connect(("127.0.0.1", server.http)).unwrap();
    assert!(
        closed_within(&mut slow, Duration::from_secs(20)),
        "half-sent request still open"
    );
    assert!(
        closed_within(&mut idle, Duration::from_secs(20)),
        "idle connection still open"
    );

    // 35 connections from one address: 30 are kept, 5 closed at once; a
    // client from another address still gets through.
    let refused_http = r#"oxmon_connections_refused_total{listener="http"}"#;
    let before = counter(&server, &jwt, refused_http).await;
    let held: Vec<TcpStream> = (0..35)
        .map(|_| TcpStream::connect(("127.0.0.1", server.http)).unwrap())
        .collect();
    let mut other = connect_from([127, 0, 0, 2], server.http).await;
    other
        .write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    other
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    other.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(held);
    // Five over the per-address limit (one more when the client's previous
    // connection to `/metrics` has not closed yet on the server's side).
    let refused = counter(&server, &jwt, refused_http).await - before;
    assert!(
        (5..=6).contains(&refused),
        "{refused} refused over the per-address limit"
    );

    // gRPC: 25 connections against a limit of 20, then idle ones closed.
    let mut grpc: Vec<TcpStream> = (0..25)
        .map(|_| TcpStream::connect(("127.0.0.1", server.grpc)).unwrap())
        .collect();
    assert!(
        grpc.iter_mut()
            .all(|s| closed_within(s, Duration::from_secs(20))),
        "idle gRPC connections still open"
    );
    let refused_grpc = r#"oxmon_connections_refused_total{listener="grpc"}"#;
    assert_eq!(counter(&server, &jwt, refused_grpc).await, 5);
    let idle_closed = r#"oxmon_connections_idle_closed_total{listener="grpc"}"#;
    assert_eq!(counter(&server, &jwt, idle_closed).await, 20);
    assert_eq!(server.health(), Some(200));
    server.stop();
}

/// The data directory and the databases are private whatever the umask.
#[test]
fn data_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let server = Server::start("[local_agent]\nenabled = true\ncollection_interval_secs = 1\n");
    let data = server.dir.path().join("data");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "data dir");
    wait_until("a day partition", Duration::from_secs(30), || {
        std::fs::read_dir(&data)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".db") && e.file_name() != "cert.db")
    });
    for e in std::fs::read_dir(&data).unwrap().flatten() {
        let m = mode(&e.path());
        assert_eq!(m & 0o077, 0, "{} is {m:o}", e.path().display());
    }
    server.stop();
}

/// A batch of `n` new series for `agent`, labels in descending order.
fn series_batch(agent: &str, first: usize, n: usize, ts: i64) -> oxmon::core::MetricBatch {
    let samples = (first..first + n)
        .rev()
        .map(|i| {
            oxmon::core::Sample::new(
                "card.series",
                oxmon::core::Labels::new().with("id", format!("{i:07}")),
                ts,
                1.0,
            )
        })
        .collect();
    oxmon::core::MetricBatch {
        agent_id: agent.to_owned(),
        batch_id: None,
        timestamp_ms: ts,
        samples,
    }
}

fn transport(server: &Server, agent: &str) -> oxmon::transport::grpc::GrpcTransport {
    let mut config = oxmon::core::config::AgentConfig::default();
    config.server_endpoint = format!("127.0.0.1:{}", server.grpc);
    oxmon::transport::grpc::GrpcTransport::connect(&config, agent).unwrap()
}

/// Series past the per-agent cap are refused with RESOURCE_EXHAUSTED while
/// existing series keep flowing; below the cap, 100,000 new series in
/// descending order go in while `/v1/health` keeps answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_cardinality_is_capped_and_does_not_stall_the_api() {
    use oxmon::core::{Clock, SystemClock, Transport, TransportErrorKind};
    let server = Server::start("[ingest]\nmax_series_per_agent = 100000\nmax_series = 150000\n");
    let now = SystemClock.now_ms();
    let flood = transport(&server, "flood");

    // Health polled from another thread while 10 batches of 10,000 new
    // series arrive.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (stop, port) = (stop.clone(), server.http);
        std::thread::spawn(move || {
            let probe = Server::health_at;
            let mut latencies = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let t = Instant::now();
                assert_eq!(probe(port), Some(200), "health failed during the insert");
                latencies.push(t.elapsed());
            }
            latencies
        })
    };
    for b in 0..10 {
        flood
            .send(&series_batch("flood", b * 10_000, 10_000, now))
            .await
            .unwrap_or_else(|e| panic!("batch {b}: {e:?}"));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut latencies = poller.join().unwrap();
    latencies.sort();
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    println!(
        "/v1/health during 100,000 new series: {} polls, p99 {p99:?}",
        latencies.len()
    );
    assert!(p99 < Duration::from_secs(2), "health p99 {p99:?}");

    // The agent is at its cap: one more new series is refused...
    let e = flood
        .send(&series_batch("flood", 100_000, 1, now + 1))
        .await
        .unwrap_err();
    assert_eq!(e.kind, TransportErrorKind::ResourceExhausted, "{e:?}");
    // ...existing series keep flowing...
    flood
        .send(&series_batch("flood", 0, 1_000, now + 2))
        .await
        .unwrap();
    // ...and the global cap holds for another agent.
    let other = transport(&server, "other");
    other
        .send(&series_batch("other", 0, 10_000, now))
        .await
        .unwrap();
    let mut refused = None;
    for b in 1..10 {
        if let Err(e) = other
            .send(&series_batch("other", b * 10_000, 10_000, now))
            .await
        {
            refused = Some((b, e));
            break;
        }
    }
    let (at, e) = refused.expect("the global cap refuses a batch");
    assert_eq!(e.kind, TransportErrorKind::ResourceExhausted, "{e:?}");
    assert_eq!(at, 5, "150,000 series in all: 100,000 + 5 x 10,000");
    assert_eq!(server.health(), Some(200));
    server.stop();
}
