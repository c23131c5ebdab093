//! The web console in a real headless Chromium, driven over the W3C
//! WebDriver protocol by Debian's chromedriver (installed by
//! scripts/test.sh), against a real server with its local agent reporting
//! real host metrics and a gRPC agent whose label carries an XSS probe:
//! log in, see the host in the fleet, open its page and read drawn points
//! from the CPU chart's data, see the probe rendered as text and never run,
//! whitelist an agent and see its token once, acknowledge a firing alert.
//! Screenshots of each page go to `target/console-screenshots/`.
//!
//! `OXMON_BROWSER_TESTS=0` skips it where no Chromium can be installed.

use std::path::Path;
use std::sync::Arc;

use oxmon::core::config::{AgentConfig, ServerConfig};
use oxmon::core::{Clock, Labels, MetricBatch, Sample, SystemClock, Transport};
use oxmon::server::Server;
use oxmon::transport::grpc::GrpcTransport;
use serde_json::{Value, json};

mod support;
use support::browser::Driver;
use support::free_port;

const PASSWORD: &str = "console-Admin-Passw0rd";
const HOST: &str = "console-host";
const PROBE: &str = "<img src=x onerror=\"window.__xss=1\">";

async fn start_server(dir: &Path) -> Server {
    start_server_with(dir, "").await
}

/// A server on `dir`, with `extra` top-level keys (before any table).
async fn start_server_with(dir: &Path, extra: &str) -> Server {
    let toml = format!(
        "{extra}\n{}",
        format_args!(
            "grpc_port = 0\nhttp_port = 0\ngrpc_bind = \"127.0.0.1\"\nhttp_bind = \"127.0.0.1\"\n\
         data_dir = \"{}\"\n[auth]\ndefault_password = \"{PASSWORD}\"\n[cert_check]\nenabled = false\nallow_private_targets = true\n\
         [local_agent]\nenabled = true\nagent_id = \"{HOST}\"\ncollection_interval_secs = 1\n",
            dir.display()
        )
    );
    let config = ServerConfig::from_toml(&toml, "server.toml").unwrap();
    Server::start(config, Arc::new(SystemClock)).await.unwrap()
}

/// Waits until `url` answers a non-empty list (at most 30 s).
async fn until_listed(http: &reqwest::Client, url: &str, jwt: &str) {
    support::eventually(url, 30, || async {
        let (_, list) = support::json_call(http, reqwest::Method::GET, url, Some(jwt), None).await;
        list.as_array().is_some_and(|a| !a.is_empty()).then_some(())
    })
    .await;
}

/// A gRPC agent whose disk label and CPU series carry the probe.
async fn send_probe(server: &Server) {
    let mut agent = AgentConfig::default();
    agent.server_endpoint = server.grpc_addr().to_string();
    let transport = GrpcTransport::connect(&agent, "xss-host").unwrap();
    let now = SystemClock.now_ms();
    let mut labels = Labels::new();
    labels.insert("mount", PROBE);
    let mut samples = Vec::new();
    for i in 0..5 {
        let at = now - 60_000 + i * 10_000;
        samples.push(Sample::new("disk.used_percent", labels.clone(), at, 40.0));
        samples.push(Sample::new("cpu.usage", labels.clone(), at, 12.0));
    }
    transport
        .send(&MetricBatch::new("xss-host", samples).with_batch_id(format!("probe-{now}")))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_logs_in_shows_the_fleet_and_charts_and_never_runs_agent_text() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&dir.path().join("data")).await;
    let base = format!("http://{}", server.http_addr());

    // The console's files come with their security headers.
    let http = reqwest::Client::new();
    let index = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(index.status(), 200);
    let csp = index.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(index.headers()["x-content-type-options"], "nosniff");
    for missing in [
        "/ui/nope.js",
        "/ui/..%2FCargo.toml",
        "/ui/%2e%2e%2fCargo.toml",
    ] {
        let r = http.get(format!("{base}{missing}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{missing}");
    }
    if !support::browser::enabled() {
        eprintln!("OXMON_BROWSER_TESTS=0: the browser part is skipped");
        server.shutdown().await;
        return;
    }
    send_probe(&server).await;
    // The local agent's first report is in before the console looks.
    let jwt = support::attack::login(&base, PASSWORD).await;
    let latest = format!("{base}/v1/agents/{HOST}/latest?metric=cpu.usage");
    until_listed(&http, &latest, &jwt).await;

    let driver = Driver::start(&dir.path().join("chromium")).await;
    driver.go(&format!("{base}/#/login")).await;
    driver
        .wait_for(
            "the login form",
            "return !!document.querySelector('#login');",
        )
        .await;
    driver.screenshot("login").await;
    driver.type_into("#username", "admin").await;
    driver.type_into("#password", PASSWORD).await;
    driver.click("#login button[type=submit]").await;

    // The fleet shows this host (reported by the local agent) and the
    // probe's agent.
    let row = format!("#fleet tr[data-agent=\"{HOST}\"]");
    driver
        .wait_for(
            "this host in the fleet",
            &format!("return window.oxmon.ready && !!document.querySelector('{row}');"),
        )
        .await;
    let cpu = driver
        .run(&format!(
            "return document.querySelector('{row}').children[3].textContent;"
        ))
        .await;
    assert!(
        cpu.as_str().is_some_and(|c| c.parse::<f64>().is_ok()),
        "the host's CPU shows a number: {cpu}"
    );
    // Its CPU of the last hour as a small line.
    driver
        .wait_for(
            "the CPU trend line",
            &format!("return !!document.querySelector('{row} svg.spark polyline');"),
        )
        .await;
    driver.screenshot("overview").await;

    // Its page: the CPU chart has drawn points, read from the chart's data.
    driver.go(&format!("{base}/#/agent/{HOST}")).await;
    let points = driver
        .wait_for(
            "CPU points in the chart",
            "const c = window.oxmon.ready && window.oxmon.charts['cpu.usage']; \
             return c && c.data[1].filter((v) => typeof v === 'number').length;",
        )
        .await;
    assert!(points.as_u64().is_some_and(|n| n >= 1), "{points}");
    driver.screenshot("agent").await;
    for range in ["6h", "7d"] {
        driver
            .click(&format!("button[data-range=\"{range}\"]"))
            .await;
        driver
            .wait_for(
                "the chart of another range",
                &format!(
                    "return window.oxmon.ready && document.querySelector('button.on').dataset.range === '{range}' \
                     && window.oxmon.charts['cpu.usage'] && window.oxmon.charts['cpu.usage'].data[0].length;"
                ),
            )
            .await;
    }

    // Per core, as its own chart.
    driver
        .wait_for(
            "the per-core chart",
            "const c = window.oxmon.charts['cpu.core_usage']; return c && c.data.length >= 2;",
        )
        .await;
    // A custom range: the last ten minutes, kept in the address.
    driver
        .run(
            "const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16); \
             const now = Date.now(); \
             document.querySelector('#range-from').value = local(new Date(now - 600000)); \
             document.querySelector('#range-to').value = local(new Date(now + 60000)); return true;",
        )
        .await;
    driver.click("#custom-range button[type=submit]").await;
    let span = driver
        .wait_for(
            "the chart of the custom range",
            "const c = window.oxmon.ready && location.hash.includes('from=') && window.oxmon.charts['cpu.usage']; \
             return c && !document.querySelector('button.on') && c.scales.x.max - c.scales.x.min;",
        )
        .await;
    let span = span.as_f64().expect("seconds");
    assert!(
        (540.0..720.0).contains(&span),
        "ten minutes, to now: {span}"
    );

    // The probe's page: its label is text in the legend, and nothing ran.
    driver.go(&format!("{base}/#/agent/xss-host")).await;
    driver
        .wait_for(
            "the probe's charts",
            "return window.oxmon.ready && !!window.oxmon.charts['disk.used_percent'];",
        )
        .await;
    let shown = driver
        .run("return document.querySelector('.chart[data-metric=\"disk.used_percent\"]').textContent;")
        .await;
    assert!(
        shown.as_str().is_some_and(|t| t.contains(PROBE)),
        "the label shows as text: {shown}"
    );
    let ran = driver
        .run("return [window.__xss === undefined, document.querySelectorAll('img').length];")
        .await;
    assert_eq!(ran, json!([true, 0]), "the probe never became markup");
    driver.screenshot("probe").await;

    // Whitelist an agent from the page: its token shows once, and works.
    driver.go(&format!("{base}/#/whitelist")).await;
    driver
        .wait_for(
            "the whitelist page",
            "return window.oxmon.ready && !!document.querySelector('#add-agent');",
        )
        .await;
    driver.type_into("#new-agent", "web-07").await;
    driver.click("#add-agent button[type=submit]").await;
    let token = driver
        .wait_for(
            "the new token",
            "const t = document.querySelector('#token-value'); return t && t.textContent;",
        )
        .await;
    let token = token.as_str().expect("token text").to_owned();
    assert!(
        driver
            .run("return !!document.querySelector('#whitelist tr[data-agent=\"web-07\"]');")
            .await
            == json!(true),
        "listed"
    );
    driver.screenshot("whitelist").await;
    let (status, _) = support::json_call(
        &http,
        reqwest::Method::GET,
        format!("{base}/v1/agents/whitelist"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 401, "an agent token is not an API token");
    let login = support::attack::login(&base, PASSWORD).await;
    let (_, listed) = support::json_call(
        &http,
        reqwest::Method::GET,
        format!("{base}/v1/agents/whitelist"),
        Some(&login),
        None,
    )
    .await;
    assert!(listed.to_string().contains("web-07"), "{listed}");
    assert!(
        !listed.to_string().contains(&token),
        "shown once, never listed"
    );

    // A firing alert shows on the alerts page and is acknowledged there.
    let rule = json!({"name": "probe-hot", "type": "threshold", "metric": "cpu.usage",
        "agent_pattern": "xss-host", "operator": "greater_than", "value": 10, "severity": "critical"});
    let (status, _) = support::json_call(
        &http,
        reqwest::Method::POST,
        format!("{base}/v1/alerts/rules"),
        Some(&login),
        Some(rule),
    )
    .await;
    assert_eq!(status, 201);
    send_probe(&server).await;
    // The alert task evaluates the batch after its ack: wait until it fires.
    until_listed(&http, &format!("{base}/v1/alerts/active"), &login).await;
    driver.go(&format!("{base}/#/alerts")).await;
    driver
        .wait_for(
            "the firing alert",
            "return window.oxmon.ready && !!document.querySelector('#active-alerts button.ack');",
        )
        .await;
    driver.click("#active-alerts button.ack").await;
    let acked = driver
        .wait_for(
            "the acknowledgement",
            "const a = document.querySelector('#active-alerts .acked'); return a && a.textContent;",
        )
        .await;
    assert!(
        acked.as_str().is_some_and(|a| a.contains("admin")),
        "{acked}"
    );
    driver.screenshot("alerts").await;
    // The history links to the agent's charts at the alert's time.
    driver.click("#alert-history a.at-time").await;
    let shown = driver
        .wait_for(
            "the agent's charts at the alert's time",
            "const c = window.oxmon.ready && location.hash.includes('at=') && window.oxmon.charts['cpu.usage']; \
             return c && [c.scales.x.min, c.scales.x.max];",
        )
        .await;
    let (min, max) = (shown[0].as_f64().unwrap(), shown[1].as_f64().unwrap());
    let fired = (SystemClock.now_ms() / 1000) as f64;
    assert!(
        min < fired - 60.0 && max <= fired + 5.0 && max - min > 6.0 * 3600.0 - 5.0,
        "a 6 h range around the alert: {shown}"
    );

    // Certificates: add a domain whose port is closed, check it now, and
    // read why it is invalid.
    let closed = free_port();
    driver.go(&format!("{base}/#/certificates")).await;
    driver
        .wait_for(
            "the certificates page",
            "return window.oxmon.ready && !!document.querySelector('#add-domain');",
        )
        .await;
    driver.type_into("#new-domain", "127.0.0.1").await;
    driver.type_into("#new-port", &closed.to_string()).await;
    driver.click("#add-domain button[type=submit]").await;
    let row = format!("#certificates tr[data-domain=\"127.0.0.1:{closed}\"]");
    driver
        .wait_for(
            "the new domain",
            &format!("return window.oxmon.ready && !!document.querySelector('{row}');"),
        )
        .await;
    driver.click(&format!("{row} button.check")).await;
    let reason = driver
        .wait_for(
            "the check's reason",
            &format!(
                "const r = document.querySelector('{row} .reason'); return r && r.textContent;"
            ),
        )
        .await;
    assert!(
        reason.as_str().is_some_and(|r| r.contains("refused")),
        "{reason}"
    );
    driver.screenshot("certificates").await;

    driver.quit().await;
    server.shutdown().await;
}

/// Sends `samples` as `agent` in batches of at most 5,000.
async fn send_all(server: &Server, agent: &str, samples: Vec<Sample>) {
    let mut config = AgentConfig::default();
    config.server_endpoint = server.grpc_addr().to_string();
    let transport = GrpcTransport::connect(&config, agent).unwrap();
    for (i, chunk) in samples.chunks(5_000).enumerate() {
        let batch = MetricBatch::new(agent, chunk.to_vec()).with_batch_id(format!("{agent}-{i}"));
        transport.send(&batch).await.unwrap();
    }
}

/// Loads `hash` in a fresh page (the session's token kept) and reports the
/// time until its data was drawn, first contentful paint and bytes moved.
async fn measure(driver: &Driver, base: &str, hash: &str, ready: &str) -> Value {
    // A fresh document (sessionStorage, and so the token, stays).
    driver.go("about:blank").await;
    driver.go(&format!("{base}/{hash}")).await;
    driver.wait_for("the page's data", ready).await;
    driver
        .run(
            "const paint = performance.getEntriesByType('paint').find((p) => p.name === 'first-contentful-paint'); \
             const nav = performance.getEntriesByType('navigation')[0]; \
             const resources = performance.getEntriesByType('resource'); \
             const api = resources.filter((r) => r.name.includes('/v1/')); \
             return { drawn_ms: Math.round(window.oxmon.readyAt), \
                      first_contentful_paint_ms: paint ? Math.round(paint.startTime) : null, \
                      bytes_total: nav.transferSize + resources.reduce((n, r) => n + r.transferSize, 0), \
                      bytes_api: api.reduce((n, r) => n + r.transferSize, 0), \
                      requests: resources.length + 1 };",
        )
        .await
}

/// The console's figures (docs/benchmarks.md): the overview of 1,000
/// agents and an agent page over 7 days of 10 s samples, in headless
/// Chromium. Run with
/// `cargo test --release --all-features --test console -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement, not a check: run it by hand (docs/benchmarks.md)"]
async fn console_figures() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_with(&dir.path().join("data"), "retention_days = 30").await;
    let base = format!("http://{}", server.http_addr());
    let now = SystemClock.now_ms();

    // 1,000 agents with their headline metrics and an hour of CPU at 10 s
    // (the overview's trend line reads it).
    for i in 0..1000 {
        let agent = format!("fleet-{i:04}");
        let mut disk = Labels::new();
        disk.insert("mount", "/");
        let mut samples: Vec<Sample> = (1..360)
            .map(|k| {
                let value = f64::from((i + k) % 100);
                Sample::new(
                    "cpu.usage",
                    Labels::new(),
                    now - 3_600_000 + i64::from(k) * 10_000,
                    value,
                )
            })
            .collect();
        samples.extend([
            Sample::new("cpu.usage", Labels::new(), now - 5_000, f64::from(i % 100)),
            Sample::new("memory.used_percent", Labels::new(), now - 5_000, 50.0),
            Sample::new("disk.used_percent", disk, now - 5_000, 70.0),
            Sample::new("load.load_1", Labels::new(), now - 5_000, 0.5),
        ]);
        send_all(&server, &agent, samples).await;
    }
    // One agent with 7 days at 10 s of CPU, memory and three loads.
    let week = 7 * 86_400_000 / 10_000;
    let mut samples = Vec::with_capacity(week * 5);
    for k in 0..week {
        let at = now - 7 * 86_400_000 + (k as i64) * 10_000 + 10_000;
        let x = (k % 360) as f64;
        for metric in [
            "cpu.usage",
            "memory.used_percent",
            "load.load_1",
            "load.load_5",
            "load.load_15",
        ] {
            samples.push(Sample::new(metric, Labels::new(), at, x / 3.6));
        }
    }
    send_all(&server, "week-host", samples).await;

    let driver = Driver::start(&dir.path().join("chromium")).await;
    driver.go(&format!("{base}/#/login")).await;
    driver
        .wait_for(
            "the login form",
            "return !!document.querySelector('#login');",
        )
        .await;
    driver.type_into("#password", PASSWORD).await;
    driver.click("#login button[type=submit]").await;
    driver
        .wait_for(
            "the first overview",
            "return window.oxmon.ready && !!document.querySelector('#fleet');",
        )
        .await;

    let overview = measure(
        &driver,
        &base,
        "#/",
        "return window.oxmon.ready && document.querySelectorAll('#fleet tbody tr').length >= 1000;",
    )
    .await;
    println!("overview of 1,000 agents: {overview}");
    let hour = measure(
        &driver,
        &base,
        "#/agent/week-host?range=1h",
        "return window.oxmon.ready && !!window.oxmon.charts['cpu.usage'];",
    )
    .await;
    println!("agent page, 1 h: {hour}");
    let week = measure(
        &driver,
        &base,
        "#/agent/week-host?range=7d",
        "return window.oxmon.ready && !!window.oxmon.charts['cpu.usage'];",
    )
    .await;
    let points = driver
        .run("return window.oxmon.charts['cpu.usage'].data[0].length;")
        .await;
    println!("agent page, 7 d of 10 s samples: {week}, {points} points per series");
    println!("console assets: {} bytes", oxmon::http::ui::assets_size());
    driver.quit().await;
    server.shutdown().await;
}
