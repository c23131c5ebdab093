//! Debian's VictoriaMetrics on 127.0.0.1, for the remote write tests, the
//! figures and the scale-out check.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Whether the peer tests run (`OXMON_PEER_TESTS=0` skips them).
pub fn enabled() -> bool {
    std::env::var("OXMON_PEER_TESTS").as_deref() != Ok("0")
}

/// A VictoriaMetrics process (killed on drop).
pub struct Vm {
    pub child: Child,
    pub base: String,
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Vm {
    /// Starts VictoriaMetrics on `port` with its data in `dir`, and waits
    /// until it answers. `-dedup.minScrapeInterval=1ms` keeps one sample per
    /// series and millisecond: what VictoriaMetrics documents for senders
    /// that may send a sample twice (remote write is at least once).
    pub async fn start(dir: &Path, port: u16) -> Self {
        let child = Command::new("victoria-metrics")
            .arg(format!("-storageDataPath={}", dir.display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg("-retentionPeriod=100y")
            .arg("-search.latencyOffset=0")
            .arg("-dedup.minScrapeInterval=1ms")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("victoria-metrics runs (scripts/test.sh installs Debian's victoria-metrics)");
        let vm = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        for _ in 0..300 {
            if http
                .get(format!("{}/health", vm.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return vm;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("VictoriaMetrics did not answer on {}", vm.base);
    }

    /// Makes what it has received searchable (and written to its files).
    pub async fn flush(&self) {
        let _ = reqwest::get(format!("{}/internal/force_flush", self.base)).await;
    }

    /// The value of an instant query that yields one number (0 when it
    /// yields nothing).
    pub async fn number(&self, query: &str) -> f64 {
        let body: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/api/v1/query", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("query={}", encode(query)))
            .send()
            .await
            .expect("query")
            .json()
            .await
            .expect("json");
        body["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }
}

/// Percent-encodes a query for a URL or a form.
pub fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
