//! The Prometheus-compatible query API through `router(state).oneshot`
//! over a `MemoryStore`: the envelopes, PromQL over oxmon's names (answers
//! worked out by hand with Prometheus's rules), GET and form-encoded POST,
//! Bearer and Basic authentication, and the limits refusing hostile
//! queries.
#![cfg(feature = "prometheus")]

use std::sync::Arc;

use axum::http::StatusCode;
use base64::Engine as _;
use oxmon_core::{Labels, MetricStore, MetricStoreExt, Sample};
use oxmon_http::AppState;
use oxmon_storage::MemoryStore;
use serde_json::{Value, json};

mod common;
use common::{form_call as send, url_encode as enc};

/// 2026-02-08T10:00:00Z, the fixture clock's time.
const T0: i64 = 1_770_544_800_000;
const S: i64 = 1000;

async fn state() -> (AppState, String) {
    let f = common::fixture().await;
    let store = Arc::new(MemoryStore::new());
    for (agent, factor) in [("web-1", 1.0), ("web-2", 2.0)] {
        let samples = (0..=60)
            .map(|i| {
                Sample::new(
                    "cpu.usage",
                    Labels::new(),
                    T0 + i * 10 * S,
                    factor * i as f64,
                )
            })
            .collect();
        store.append_samples(agent, samples).await.unwrap();
    }
    let disk = |mount: &str, v: f64| {
        (0..=60)
            .map(move |i| {
                Sample::new(
                    "disk.used_percent",
                    Labels::new().with("mount", mount),
                    T0 + i * 10 * S,
                    v,
                )
            })
            .collect::<Vec<_>>()
    };
    let mut samples = disk("/", 50.0);
    samples.extend(disk("/data", 70.0));
    store.append_samples("web-1", samples).await.unwrap();
    let state = f.state.with_metrics(store as Arc<dyn MetricStore>);
    let jwt = common::token(&state).await;
    (state, jwt)
}

/// An instant query at `T0 + at_s`: the result, sorted by labels.
async fn instant(state: &AppState, jwt: &str, q: &str, at_s: i64) -> Value {
    let uri = format!(
        "/api/v1/query?query={}&time={}",
        enc(q),
        (T0 + at_s * S) / 1000
    );
    let (status, body) = send(state, "GET", &uri, Some(format!("Bearer {jwt}")), None).await;
    assert_eq!(status, StatusCode::OK, "{q}: {body}");
    assert_eq!(body["status"], "success", "{body}");
    let mut result = body["data"]["result"].clone();
    if let Some(list) = result.as_array_mut() {
        list.sort_by_key(|e| e["metric"].to_string());
    }
    result
}

/// The values of a vector result as (labels, value) pairs.
fn pairs(result: &Value) -> Vec<(Value, String)> {
    result
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["metric"].clone(),
                e["value"][1].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn promql_over_oxmon_names_answers_as_prometheus_does() {
    let (state, jwt) = state().await;
    let q = |query: &'static str| {
        let (state, jwt) = (state.clone(), jwt.clone());
        async move { pairs(&instant(&state, &jwt, query, 600).await) }
    };
    // Selectors: the metric's Prometheus name, the agent as a label.
    assert_eq!(
        q("cpu_usage").await,
        [
            (
                json!({"__name__": "cpu_usage", "agent": "web-1"}),
                "60".to_owned()
            ),
            (
                json!({"__name__": "cpu_usage", "agent": "web-2"}),
                "120".to_owned()
            ),
        ]
    );
    assert_eq!(q("cpu_usage{agent!~\"web-1\"}").await.len(), 1);
    assert_eq!(
        q("{__name__=~\"disk_.*\", mount=\"/data\"}").await[0].1,
        "70"
    );
    // The lookback: 5 minutes after the last sample, nothing.
    assert_eq!(
        pairs(&instant(&state, &jwt, "cpu_usage", 600 + 301).await).len(),
        0
    );
    assert_eq!(
        pairs(&instant(&state, &jwt, "cpu_usage", 600 + 300).await).len(),
        2
    );
    // Aggregations, by and without.
    assert_eq!(q("sum(cpu_usage)").await, [(json!({}), "180".to_owned())]);
    assert_eq!(
        q("avg by (agent) (cpu_usage)").await,
        [
            (json!({"agent": "web-1"}), "60".to_owned()),
            (json!({"agent": "web-2"}), "120".to_owned())
        ]
    );
    assert_eq!(
        q("count without (agent) (cpu_usage)").await,
        [(json!({}), "2".to_owned())]
    );
    assert_eq!(q("topk(1, cpu_usage)").await[0].0["agent"], "web-2");
    assert_eq!(q("quantile(0.5, cpu_usage)").await[0].1, "90");
    // rate over [540 s, 600 s]: 54 to 60 in 60 s, nothing to extrapolate.
    assert_eq!(
        q("rate(cpu_usage{agent=\"web-1\"}[1m])").await,
        [(json!({"agent": "web-1"}), "0.1".to_owned())]
    );
    assert_eq!(
        q("increase(cpu_usage{agent=\"web-2\"}[1m])").await[0].1,
        "12"
    );
    assert_eq!(
        q("max_over_time(cpu_usage{agent=\"web-1\"}[5m] offset 1m)").await[0].1,
        "54"
    );
    assert_eq!(q("deriv(cpu_usage{agent=\"web-2\"}[2m])").await[0].1, "0.2");
    // One selector bare and with a range: the range reads its 8 minutes
    // (the average of 12 to 60 is 36), not the bare one's lookback.
    assert_eq!(
        q("cpu_usage{agent=\"web-1\"} - avg_over_time(cpu_usage{agent=\"web-1\"}[8m])").await[0].1,
        "24"
    );
    assert_eq!(
        q("predict_linear(cpu_usage{agent=\"web-1\"}[2m], 60)").await[0].1,
        "66"
    );
    // Comparison filters (keeping the name), bool gives 0/1 (without it).
    assert_eq!(
        q("cpu_usage > 100").await,
        [(
            json!({"__name__": "cpu_usage", "agent": "web-2"}),
            "120".to_owned()
        )]
    );
    assert_eq!(
        q("cpu_usage > bool 100")
            .await
            .iter()
            .map(|p| p.1.clone())
            .collect::<Vec<_>>(),
        ["0", "1"]
    );
    // Vector matching: many disks to one CPU of the same agent.
    assert_eq!(
        q("disk_used_percent / on (agent) group_left cpu_usage").await,
        [
            (
                json!({"agent": "web-1", "mount": "/"}),
                (50.0_f64 / 60.0).to_string()
            ),
            (
                json!({"agent": "web-1", "mount": "/data"}),
                (70.0_f64 / 60.0).to_string()
            )
        ]
    );
    assert_eq!(
        q("cpu_usage unless cpu_usage{agent=\"web-1\"}").await.len(),
        1
    );
    // Functions and scalars.
    assert_eq!(q("clamp_max(cpu_usage, 100)").await[1].1, "100");
    assert_eq!(
        q("label_replace(cpu_usage{agent=\"web-1\"}, \"host\", \"$1\", \"agent\", \"web-(.*)\")")
            .await[0]
            .0["host"],
        "1"
    );
    let scalar = instant(&state, &jwt, "scalar(sum(cpu_usage)) * 2", 600).await;
    assert_eq!(scalar[1], "360");
}

#[tokio::test]
async fn range_queries_posted_as_grafana_does_and_the_metadata_routes() {
    let (state, jwt) = state().await;
    let bearer = Some(format!("Bearer {jwt}"));
    // A form-encoded POST, steps not aligned with the samples.
    let form = format!(
        "query={}&start={}&end={}&step=55s",
        enc("cpu_usage{agent=\"web-1\"}"),
        (T0 + 500 * S) / 1000,
        (T0 + 620 * S) / 1000
    );
    let (status, body) = send(
        &state,
        "POST",
        "/api/v1/query_range",
        bearer.clone(),
        Some(&form),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["resultType"], "matrix");
    let values: Vec<(f64, String)> = body["data"]["result"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_f64().unwrap(), p[1].as_str().unwrap().to_owned()))
        .collect();
    let t = |s: i64| (T0 + s * S) as f64 / 1000.0;
    // 500 s → 50, 555 s → the sample at 550 s, 610 s → the last (600 s).
    assert_eq!(
        values,
        [
            (t(500), "50".into()),
            (t(555), "55".into()),
            (t(610), "60".into())
        ]
    );

    let (_, series) = send(
        &state,
        "GET",
        "/api/v1/series?match[]=cpu_usage",
        bearer.clone(),
        None,
    )
    .await;
    assert_eq!(series["data"].as_array().unwrap().len(), 2, "{series}");
    let (_, labels) = send(&state, "GET", "/api/v1/labels", bearer.clone(), None).await;
    assert_eq!(labels["data"], json!(["__name__", "agent", "mount"]));
    let (_, names) = send(
        &state,
        "GET",
        "/api/v1/label/__name__/values",
        bearer.clone(),
        None,
    )
    .await;
    assert_eq!(names["data"], json!(["cpu_usage", "disk_used_percent"]));
    let (_, meta) = send(&state, "GET", "/api/v1/metadata", bearer.clone(), None).await;
    assert_eq!(meta["data"]["cpu_usage"][0]["type"], "gauge");
    let (status, info) = send(&state, "GET", "/api/v1/status/buildinfo", bearer, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["status"], "success");
    assert!(info["data"]["version"].is_string());
}

#[tokio::test]
async fn authentication_and_hostile_queries_are_refused_in_the_envelope() {
    let (state, jwt) = state().await;
    // No credentials, a wrong token, a wrong Basic password: 401.
    for auth in [
        None,
        Some("Bearer nope".to_owned()),
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("grafana:nope")
        )),
    ] {
        let (status, body) = send(&state, "GET", "/api/v1/query?query=1", auth, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(
            body["errorType"], "unauthorized",
            "in Prometheus's envelope: {body}"
        );
    }
    // An offset past any time there is: nothing, not an error.
    let (status, body) = send(
        &state,
        "GET",
        "/api/v1/query?query=cpu_usage%20offset%204294967295y",
        Some(format!("Bearer {jwt}")),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["result"], json!([]));
    // Basic with an API token as the password: what Grafana sends.
    let (status, made) = common::call(
        &state,
        "POST",
        "/v1/auth/tokens",
        Some(&jwt),
        Some(&json!({"name": "grafana", "role": "viewer"}).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("grafana:{}", made["token"].as_str().unwrap()))
    );
    let (status, body) = send(
        &state,
        "GET",
        "/api/v1/query?query=cpu_usage",
        Some(basic),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let bearer = || Some(format!("Bearer {jwt}"));
    let refused = [
        ("/api/v1/query?query=cpu_usage%5B", "bad_data"),
        ("/api/v1/query", "bad_data"),
        (
            "/api/v1/query?query=rate(cpu_usage%5B5m%5D%5B10m:1m%5D)",
            "bad_data",
        ),
        ("/api/v1/query?query=cpu_usage%20%40%20100", "bad_data"),
        ("/api/v1/query?query=1&time=yesterday", "bad_data"),
        (
            "/api/v1/query_range?query=1&start=0&end=100000&step=1",
            "bad_data",
        ),
        (
            "/api/v1/query_range?query=1&start=100&end=0&step=1",
            "bad_data",
        ),
        (
            "/api/v1/query_range?query=1&start=0&end=100&step=0",
            "bad_data",
        ),
        (
            "/api/v1/query_range?query=1&start=0&end=100&step=1x",
            "bad_data",
        ),
        ("/api/v1/series?match[]=sum(cpu_usage)", "bad_data"),
        // The parser panics on this one; it is a parse error here.
        ("/api/v1/query?query=cpu_usage%5B1e30%5D", "bad_data"),
        // A range longer than 31 days, in an instant query too.
        ("/api/v1/query?query=rate(cpu_usage%5B3650d%5D)", "bad_data"),
    ];
    for (uri, kind) in refused {
        let (status, body) = send(&state, "GET", uri, bearer(), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(
            (body["status"].as_str(), body["errorType"].as_str()),
            (Some("error"), Some(kind)),
            "{uri}: {body}"
        );
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}"
        );
    }
    // Evaluation errors: many-to-many matching, two series left with the
    // same labels.
    for q in [
        "cpu_usage - ignoring (agent) cpu_usage",
        "label_replace(cpu_usage, \"agent\", \"same\", \"agent\", \".*\")",
    ] {
        let (status, body) = send(
            &state,
            "GET",
            &format!("/api/v1/query?query={}", enc(q)),
            bearer(),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {body}");
        assert_eq!(body["errorType"], "execution", "{body}");
    }
    // A query longer than 16 KiB.
    let long = format!("/api/v1/query?query={}1", "1%2B".repeat(9000));
    let (status, body) = send(&state, "GET", &long, bearer(), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

/// What Grafana's Prometheus data source sends: the health check, the
/// build info, the metrics browser (labels, metric names, series) and a
/// panel's range query as a form POST, each with the window Grafana adds.
#[tokio::test]
async fn the_requests_grafana_sends_to_build_a_dashboard_are_answered() {
    let (state, jwt) = state().await;
    let auth = || Some(format!("Bearer {jwt}"));
    let (start, end) = ((T0 + 300 * S) / 1000, (T0 + 600 * S) / 1000);
    let window = format!("start={start}&end={end}");
    let gets = [
        format!("/api/v1/query?query=1%2B1&time={end}"),
        "/api/v1/status/buildinfo".to_owned(),
        format!("/api/v1/labels?{window}"),
        format!("/api/v1/label/__name__/values?{window}"),
        format!("/api/v1/label/agent/values?match[]=cpu_usage&{window}"),
        format!("/api/v1/series?match[]=%7B__name__%3D%22cpu_usage%22%7D&{window}"),
        "/api/v1/metadata".to_owned(),
    ];
    for uri in &gets {
        let (status, body) = send(&state, "GET", uri, auth(), None).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        assert_eq!(body["status"], "success", "{uri}: {body}");
    }
    let (_, health) = send(&state, "GET", &gets[0], auth(), None).await;
    assert_eq!(health["data"]["result"][1], "2");
    let (_, agents) = send(&state, "GET", &gets[4], auth(), None).await;
    assert_eq!(agents["data"], json!(["web-1", "web-2"]));
    for (uri, form) in [
        ("/api/v1/labels", window.clone()),
        ("/api/v1/series", format!("match%5B%5D=cpu_usage&{window}")),
        (
            "/api/v1/query_range",
            format!(
                "query={}&{window}&step=15",
                enc("sum by (agent) (rate(cpu_usage[1m]))")
            ),
        ),
        (
            "/api/v1/query",
            format!("query={}&time={end}", enc("cpu_usage")),
        ),
    ] {
        let (status, body) = send(&state, "POST", uri, auth(), Some(&form)).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        assert_eq!(body["status"], "success", "{uri}: {body}");
    }
    // The panel: 21 steps of 15 s, one series per agent, a rate of 0.1
    // and 0.2 per second once the 1-minute window is full of samples.
    let form = format!(
        "query={}&{window}&step=15",
        enc("sum by (agent) (rate(cpu_usage[1m]))")
    );
    let (_, panel) = send(&state, "POST", "/api/v1/query_range", auth(), Some(&form)).await;
    let result = panel["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 2, "{panel}");
    assert_eq!(result[0]["values"].as_array().unwrap().len(), 21);
    assert_eq!(result[1]["values"][20][1], "0.2");
}

/// A query that is cheap to send and dear to evaluate (thousands of steps,
/// each over a long range of many series) is refused once it has read
/// Prometheus's default of 50 million samples, and the server answers the
/// next query.
#[tokio::test(flavor = "multi_thread")]
async fn a_query_too_dear_to_evaluate_is_refused_and_the_server_goes_on() {
    let f = common::fixture().await;
    let store = Arc::new(MemoryStore::new());
    for a in 0..50 {
        let samples = (0..2_000)
            .map(|i| Sample::new("cpu.usage", Labels::new(), T0 + i * 60 * S, i as f64))
            .collect();
        store
            .append_samples(&format!("host-{a:02}"), samples)
            .await
            .unwrap();
    }
    let state = f.state.with_metrics(store as Arc<dyn MetricStore>);
    let jwt = common::token(&state).await;
    let (start, end) = (T0 / 1000, (T0 + 2_000 * 60 * S) / 1000);
    let uri = format!(
        "/api/v1/query_range?query={}&start={start}&end={end}&step=11",
        enc("count_over_time(cpu_usage[31d])")
    );
    let (status, body) = send(&state, "GET", &uri, Some(format!("Bearer {jwt}")), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errorType"], "execution");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("50000000 samples")),
        "{body}"
    );
    let uri = format!("/api/v1/query?query=count(cpu_usage)&time={end}");
    let (status, body) = send(&state, "GET", &uri, Some(format!("Bearer {jwt}")), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["result"][0]["value"][1], "50");
}
