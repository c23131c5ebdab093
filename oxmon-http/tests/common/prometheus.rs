//! Debian's Prometheus on 127.0.0.1, for the tests and figures that compare
//! oxmon's PromQL with it: empty with its remote write receiver on (the
//! corpus loads it through oxmon's own remote write), or holding given
//! series backfilled with `promtool tsdb create-blocks-from openmetrics`
//! (the figures: a day at once).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One generated series: agent, metric, labels, samples (ms, value).
pub type Generated = (
    String,
    &'static str,
    Vec<(&'static str, String)>,
    Vec<(i64, f64)>,
);

/// Prometheus with the fleet backfilled; killed on drop.
pub struct Prometheus {
    child: Child,
    pub base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn prometheus(fleet: &[Generated]) -> Prometheus {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    let mut families: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (agent, metric, labels, points) in fleet {
        let name = metric.replace('.', "_");
        let mut l = format!("agent=\"{agent}\"");
        for (k, v) in labels {
            write!(l, ",{k}=\"{v}\"").unwrap();
        }
        let lines = families.entry(name.clone()).or_default();
        for (t, v) in points {
            lines.push(format!("{name}{{{l}}} {v} {}.{:03}", t / 1000, t % 1000));
        }
    }
    for (name, lines) in families {
        writeln!(text, "# TYPE {name} gauge").unwrap();
        for l in lines {
            writeln!(text, "{l}").unwrap();
        }
    }
    text.push_str("# EOF\n");
    let data = dir.path().join("data");
    std::fs::write(dir.path().join("fleet.om"), text).unwrap();
    let status = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics", "fleet.om"])
        .arg(&data)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .status()
        .expect("promtool runs (scripts/test.sh installs Debian's prometheus)");
    assert!(status.success(), "backfill");
    start(dir, &data, &[]).await
}

/// Prometheus with an empty store and its remote write receiver on
/// (`{base}/api/v1/write`).
pub async fn prometheus_receiving() -> Prometheus {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    start(dir, &data, &["--web.enable-remote-write-receiver"]).await
}

async fn start(dir: tempfile::TempDir, data: &std::path::Path, extra: &[&str]) -> Prometheus {
    std::fs::write(dir.path().join("prometheus.yml"), "global: {}\n").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.path().join("prometheus.yml").display()
        ))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg("--storage.tsdb.retention.time=100y")
        .args(extra)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus runs");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if http
            .get(format!("{base}/-/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Prometheus {
        child,
        base,
        _dir: dir,
    }
}
