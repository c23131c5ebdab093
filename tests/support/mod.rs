//! Helpers shared by the tests that run real processes and receivers:
//! the example binaries, free ports, clean termination, waiting, and a
//! webhook receiver on 127.0.0.1.
#![allow(dead_code, unreachable_pub)]

pub mod attack;
pub mod browser;
pub mod peers;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// The path of an example binary that `cargo test` built.
pub fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/e2e_fault-<hash> -> target/<profile>/examples/<name>
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("examples")
        .join(name)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

pub fn spawn(binary: &Path, config: &Path, log: &Path) -> Child {
    spawn_logging(binary, config, log, "info")
}

/// As [`spawn`], logging at `level` (a `RUST_LOG` filter).
pub fn spawn_logging(binary: &Path, config: &Path, log: &Path, level: &str) -> Child {
    let log = std::fs::File::create(log).expect("log file");
    Command::new(binary)
        .arg(config)
        .env("RUST_LOG", level)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()))
}

pub fn terminate(child: &mut Child) {
    // SIGTERM without relying on a `kill` binary being installed.
    if let Some(pid) = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            assert!(status.success(), "clean shutdown must exit 0, got {status}");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("process did not stop within 20 s of SIGTERM");
}

pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A webhook receiver: answers 200 to every POST and hands over the body.
pub async fn receiver() -> (u16, mpsc::UnboundedReceiver<String>) {
    let (port, mut requests) = requests().await;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some((_, body)) = requests.recv().await {
            if tx.send(body).is_err() {
                return;
            }
        }
    });
    (port, rx)
}

/// A webhook receiver: answers 200 to every POST and hands over its head
/// (request line and headers) and body.
pub async fn requests() -> (u16, mpsc::UnboundedReceiver<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    let Some((head, body)) = text.split_once("\r\n\r\n") else {
                        continue;
                    };
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() < len {
                        continue;
                    }
                    let _ = tx.send((head.to_owned(), body[..len].to_owned()));
                    let _ = sock
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        )
                        .await;
                    return;
                }
            });
        }
    });
    (port, rx)
}

pub async fn next(rx: &mut mpsc::UnboundedReceiver<String>) -> serde_json::Value {
    let body = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("a notification in time")
        .expect("receiver open");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("webhook body is JSON ({e}): {body}"))
}

/// Sends a request with an optional bearer token and JSON body; returns the
/// status and the JSON answer (`Null` when there is none; status 0 when
/// nothing answered, as while a server starts).
pub async fn json_call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: impl reqwest::IntoUrl,
    jwt: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut request = http.request(method, url);
    if let Some(jwt) = jwt {
        request = request.bearer_auth(jwt);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    match request.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(serde_json::Value::Null))
        }
        Err(_) => (0, serde_json::Value::Null),
    }
}

/// Polls `probe` every 100 ms until it returns `Some`, for at most `secs`.
pub async fn eventually<T, F, Fut>(what: &str, secs: u64, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Logs in as `admin` at `base` once the server answers (at most 30 s,
/// as a server program starts); the JWT.
pub async fn login_when_up(http: &reqwest::Client, base: &str, password: &str) -> String {
    let url = format!("{base}/v1/auth/login");
    eventually("the server to answer a login", 30, || async {
        let (status, body) = json_call(
            http,
            reqwest::Method::POST,
            &url,
            None,
            Some(serde_json::json!({"username": "admin", "password": password})),
        )
        .await;
        (status == 200).then(|| body["token"].as_str().unwrap_or_default().to_owned())
    })
    .await
}
