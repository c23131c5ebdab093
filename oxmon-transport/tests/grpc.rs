//! gRPC over real sockets on 127.0.0.1: the conformance suite, the ingest
//! rules (auth, validation, durability, duplicates), TLS with certificates
//! made by the test, and a client built on the original field numbers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use oxmon_core::config::AgentConfig;
use oxmon_core::manage::WhitelistStore;
use oxmon_core::testing::transport::{ScriptedHandler, awkward_batch, run_all};
use oxmon_core::token::hash_token;
use oxmon_core::{
    BatchHandler, Labels, ManualClock, MetricBatch, MetricStore, MetricStoreExt, Sample, Secret,
    SeriesKey, Transport, TransportErrorKind,
};
use oxmon_storage::{MemoryManagementStore, MemoryStore, SqliteOptions, SqliteStore};
use oxmon_transport::grpc::{GrpcServerOptions, GrpcTransport, serve};
use oxmon_transport::{Ingest, IngestLimits};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const NOW: i64 = 1_767_225_600_000;

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(handler: Arc<dyn BatchHandler>, options: GrpcServerOptions) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            serve(listener, handler, options, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = self.task.await;
    }
}

fn agent(endpoint: String, token: Option<&str>) -> AgentConfig {
    let mut c = AgentConfig::default();
    c.server_endpoint = endpoint;
    c.auth_token = token.map(Secret::new);
    c
}

fn batch(agent: &str, id: &str, samples: Vec<Sample>) -> MetricBatch {
    MetricBatch {
        agent_id: agent.into(),
        batch_id: Some(id.into()),
        timestamp_ms: NOW,
        samples,
    }
}

fn cpu(ts: i64, v: f64) -> Sample {
    Sample::new("cpu.usage", Labels::new(), ts, v)
}

#[tokio::test]
async fn grpc_transport_passes_the_conformance_suite() {
    let handler = Arc::new(ScriptedHandler::new());
    let server = Server::start(handler.clone(), GrpcServerOptions::default()).await;
    let t =
        GrpcTransport::connect(&agent(server.addr.to_string(), Some("tok-1")), "agent-1").unwrap();
    run_all(&t, &handler, "agent-1", Some("tok-1")).await;
    let t =
        GrpcTransport::connect(&agent(format!("http://{}", server.addr), None), "agent-2").unwrap();
    run_all(&t, &handler, "agent-2", None).await;
    server.stop().await;
}

struct Fixture {
    server: Server,
    store: Arc<MemoryStore>,
    ingest: Arc<Ingest>,
}

async fn fixture(auth: bool, limits: IngestLimits) -> Fixture {
    let store = Arc::new(MemoryStore::new());
    let whitelist = Arc::new(MemoryManagementStore::default());
    whitelist
        .add_agent("web-1", &hash_token("token-web-1"), None, NOW)
        .await
        .unwrap();
    whitelist
        .add_agent("web-2", &hash_token("token-web-2"), None, NOW)
        .await
        .unwrap();
    let wl: Option<Arc<dyn WhitelistStore>> = if auth { Some(whitelist) } else { None };
    let ingest = Arc::new(
        Ingest::new(store.clone(), wl, Arc::new(ManualClock::new(NOW))).with_limits(limits),
    );
    let server = Server::start(ingest.clone(), GrpcServerOptions::default()).await;
    Fixture {
        server,
        store,
        ingest,
    }
}

async fn send(
    f: &Fixture,
    as_agent: &str,
    token: Option<&str>,
    b: &MetricBatch,
) -> Result<oxmon_core::Ack, oxmon_core::TransportError> {
    GrpcTransport::connect(&agent(f.server.addr.to_string(), token), as_agent)
        .unwrap()
        .send(b)
        .await
}

#[tokio::test]
async fn authentication_cases() {
    let f = fixture(true, IngestLimits::default()).await;
    let b = batch("web-1", "b1", vec![cpu(NOW, 1.0)]);
    let kind =
        |r: Result<oxmon_core::Ack, oxmon_core::TransportError>| r.map(|_| ()).map_err(|e| e.kind);
    assert_eq!(
        kind(send(&f, "web-1", None, &b).await),
        Err(TransportErrorKind::Unauthenticated),
        "no token"
    );
    assert_eq!(
        kind(send(&f, "web-1", Some("wrong"), &b).await),
        Err(TransportErrorKind::Unauthenticated),
        "wrong token"
    );
    assert_eq!(
        kind(send(&f, "web-1", Some("token-web-2"), &b).await),
        Err(TransportErrorKind::Unauthenticated),
        "another agent's token"
    );
    assert_eq!(
        kind(
            send(
                &f,
                "ghost",
                Some("token-web-1"),
                &batch("ghost", "g", vec![cpu(NOW, 1.0)])
            )
            .await
        ),
        Err(TransportErrorKind::Unauthenticated),
        "unknown agent"
    );
    let other = batch("web-2", "b2", vec![cpu(NOW, 1.0)]);
    assert_eq!(
        kind(send(&f, "web-1", Some("token-web-1"), &other).await),
        Err(TransportErrorKind::PermissionDenied),
        "metadata agent differs from the batch's"
    );
    assert!(
        f.store.sample_count() == 0,
        "nothing stored by refused batches"
    );
    let ack = send(&f, "web-1", Some("token-web-1"), &b)
        .await
        .expect("authorized");
    assert!(!ack.duplicate);
    assert_eq!(f.store.sample_count(), 1);
    assert!(
        f.ingest.last_seen().contains_key("web-1"),
        "liveness recorded"
    );
    f.server.stop().await;
}

#[tokio::test]
async fn without_auth_anyone_reports_but_not_as_someone_else() {
    let f = fixture(false, IngestLimits::default()).await;
    let b = batch("edge-9", "b1", vec![cpu(NOW, 5.0)]);
    send(&f, "edge-9", None, &b).await.expect("open ingest");
    let err = send(&f, "edge-1", None, &b).await.unwrap_err();
    assert_eq!(err.kind, TransportErrorKind::PermissionDenied);
    f.server.stop().await;
}

#[tokio::test]
async fn validation_cases_get_real_status_codes() {
    let limits = IngestLimits {
        max_samples: 10,
        ..IngestLimits::default()
    };
    let f = fixture(false, limits).await;
    let err =
        |r: Result<oxmon_core::Ack, oxmon_core::TransportError>| r.expect_err("must be refused");
    let e = err(send(&f, "a", None, &batch("a", "x", vec![])).await);
    assert_eq!(e.kind, TransportErrorKind::InvalidArgument, "{e}");
    assert!(!e.is_retryable());
    let too_many: Vec<Sample> = (0..11).map(|i| cpu(NOW + i, 1.0)).collect();
    let e = err(send(&f, "a", None, &batch("a", "x", too_many)).await);
    assert_eq!(e.kind, TransportErrorKind::ResourceExhausted, "{e}");
    let long = Sample::new("m".repeat(300), Labels::new(), NOW, 1.0);
    assert_eq!(
        err(send(&f, "a", None, &batch("a", "x", vec![long])).await).kind,
        TransportErrorKind::InvalidArgument
    );
    let mut labels = Labels::new();
    for i in 0..40 {
        labels.insert(format!("l{i}"), "v");
    }
    let many_labels = Sample::new("m", labels, NOW, 1.0);
    assert_eq!(
        err(send(&f, "a", None, &batch("a", "x", vec![many_labels])).await).kind,
        TransportErrorKind::InvalidArgument
    );
    let e = err(send(&f, "", None, &batch("", "x", vec![cpu(NOW, 1.0)])).await);
    assert_eq!(
        e.kind,
        TransportErrorKind::InvalidArgument,
        "empty agent id: {e}"
    );
    // Per-sample time checks: the good sample is stored, the others counted.
    let mixed = vec![
        cpu(NOW, 1.0),
        cpu(NOW + 3_600_000, 2.0),
        cpu(NOW - 30 * 86_400_000, 3.0),
    ];
    let ack = send(&f, "a", None, &batch("a", "mixed", mixed))
        .await
        .unwrap();
    assert_eq!(ack.rejected_samples, 2);
    assert!(ack.message.contains("rejected 2"), "{}", ack.message);
    assert_eq!(f.store.sample_count(), 1);
    f.server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_only_when_stored_duplicates_once_and_unavailable_when_full() {
    let dir = tempfile::tempdir().unwrap();
    let opts = SqliteOptions {
        max_page_count: Some(40),
        synchronous_full: false,
        ..SqliteOptions::default()
    };
    let store = Arc::new(SqliteStore::open(dir.path(), opts).unwrap());
    let ingest = Arc::new(Ingest::new(
        store.clone(),
        None,
        Arc::new(ManualClock::new(NOW)),
    ));
    let server = Server::start(ingest, GrpcServerOptions::default()).await;
    let t = GrpcTransport::connect(&agent(server.addr.to_string(), None), "web-1").unwrap();
    // Per-point agent ids are ignored: everything is filed under the batch's agent.
    let b = batch("web-1", "b-1", vec![cpu(NOW, 1.0), cpu(NOW + 1, 2.0)]);
    let ack = t.send(&b).await.unwrap();
    assert!(!ack.duplicate);
    let pts = store
        .series_points(
            &SeriesKey::new("web-1", "cpu.usage", Labels::new()),
            NOW,
            NOW + 1,
        )
        .await
        .unwrap();
    assert_eq!(pts.len(), 2, "stored before the ack");
    assert!(store.latest("evil").await.unwrap().is_empty());
    let again = t.send(&b).await.unwrap();
    assert!(
        again.duplicate,
        "a re-sent batch is acknowledged without storing again"
    );
    // Fill the partition: the store refuses, the agent gets a retryable UNAVAILABLE.
    let mut last = None;
    for n in 0..100 {
        let samples: Vec<Sample> = (0..300)
            .map(|i| {
                Sample::new(
                    format!("m{n}"),
                    Labels::new().with("i", i.to_string()),
                    NOW + 2,
                    1.0,
                )
            })
            .collect();
        if let Err(e) = t.send(&batch("web-1", &format!("fill-{n}"), samples)).await {
            last = Some(e);
            break;
        }
    }
    let e = last.expect("the partition fills up");
    assert_eq!(e.kind, TransportErrorKind::Unavailable, "{e}");
    assert!(e.is_retryable());
    server.stop().await;
}

fn make_pki(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "oxmon test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let (ca, crt, k) = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    std::fs::write(&ca, ca_cert.pem()).unwrap();
    std::fs::write(&crt, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (ca, crt, k)
}

#[tokio::test]
async fn tls_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_pki(dir.path());
    let handler = Arc::new(ScriptedHandler::new());
    let server = Server::start(
        handler.clone(),
        GrpcServerOptions {
            tls: Some((cert, key)),
            ..GrpcServerOptions::default()
        },
    )
    .await;
    let endpoint = format!("localhost:{}", server.addr.port());
    let mut config = agent(endpoint.clone(), Some("tok"));
    config.tls = true;
    config.tls_ca_file = Some(ca);
    let t = GrpcTransport::connect(&config, "tls-agent").unwrap();
    run_all(&t, &handler, "tls-agent", Some("tok")).await;
    // Without the CA the server is not trusted: retryable failure, nothing delivered.
    let before = handler.received().len();
    let mut untrusted = agent(endpoint, None);
    untrusted.tls = true;
    let e = GrpcTransport::connect(&untrusted, "x")
        .unwrap()
        .send(&awkward_batch("x", "b"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, TransportErrorKind::Unavailable, "{e}");
    // A plaintext client cannot talk to the TLS port either.
    let plain = GrpcTransport::connect(
        &agent(format!("127.0.0.1:{}", server.addr.port()), None),
        "x",
    )
    .unwrap();
    assert!(plain.send(&awkward_batch("x", "b")).await.is_err());
    assert_eq!(handler.received().len(), before);
    server.stop().await;
}

#[test]
fn an_unusable_ca_file_is_a_configuration_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not a certificate\n").unwrap();
    let mut config = agent("localhost:9090".into(), None);
    config.tls = true;
    config.tls_ca_file = Some(ca.clone());
    let e = GrpcTransport::connect(&config, "x")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&ca.display().to_string()) && e.contains("no PEM certificate"),
        "{e}"
    );
    // Without TLS the file is not read at all.
    config.tls = false;
    assert!(GrpcTransport::connect(&config, "x").is_ok());
}

/// The original project's messages, written by hand from its field numbers:
/// no batch id, per-point agent ids.
mod original {
    use std::collections::HashMap;

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct MetricDataPointProto {
        #[prost(int64, tag = "1")]
        pub(crate) timestamp_ms: i64,
        #[prost(string, tag = "2")]
        pub(crate) agent_id: String,
        #[prost(string, tag = "3")]
        pub(crate) metric_name: String,
        #[prost(double, tag = "4")]
        pub(crate) value: f64,
        #[prost(map = "string, string", tag = "5")]
        pub(crate) labels: HashMap<String, String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct MetricBatchProto {
        #[prost(string, tag = "1")]
        pub(crate) agent_id: String,
        #[prost(int64, tag = "2")]
        pub(crate) timestamp_ms: i64,
        #[prost(message, repeated, tag = "3")]
        pub(crate) data_points: Vec<MetricDataPointProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct ReportResponse {
        #[prost(bool, tag = "1")]
        pub(crate) success: bool,
        #[prost(string, tag = "2")]
        pub(crate) message: String,
    }
}

#[tokio::test]
async fn an_agent_built_on_the_original_proto_is_accepted() {
    let f = fixture(true, IngestLimits::default()).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", f.server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc =
        tonic::client::Grpc::new(channel).send_compressed(tonic::codec::CompressionEncoding::Zstd);
    let point = |metric: &str, v: f64| original::MetricDataPointProto {
        timestamp_ms: NOW,
        agent_id: "someone-else".into(),
        metric_name: metric.into(),
        value: v,
        labels: HashMap::from([("mount".to_owned(), "/".to_owned())]),
    };
    let body = original::MetricBatchProto {
        agent_id: "web-1".into(),
        timestamp_ms: NOW,
        data_points: vec![point("disk.used_percent", 42.5), point("disk.total", 1e12)],
    };
    let mut request = tonic::Request::new(body);
    request
        .metadata_mut()
        .insert("authorization", "Bearer token-web-1".parse().unwrap());
    request
        .metadata_mut()
        .insert("agent-id", "web-1".parse().unwrap());
    grpc.ready().await.unwrap();
    let path =
        tonic::codegen::http::uri::PathAndQuery::from_static("/oxmon.MetricService/ReportMetrics");
    let codec =
        tonic_prost::ProstCodec::<original::MetricBatchProto, original::ReportResponse>::default();
    let response = grpc
        .unary(request, path, codec)
        .await
        .expect("accepted")
        .into_inner();
    assert!(response.success, "{}", response.message);
    let latest = f.store.latest("web-1").await.unwrap();
    assert_eq!(latest.len(), 2, "filed under the batch's agent: {latest:?}");
    assert_eq!(latest[1].labels, Labels::new().with("mount", "/"));
    assert!(f.store.latest("someone-else").await.unwrap().is_empty());
    f.server.stop().await;
}

#[tokio::test]
async fn messages_over_the_size_limit_are_refused() {
    let handler = Arc::new(ScriptedHandler::new());
    let server = Server::start(
        handler.clone(),
        GrpcServerOptions {
            max_message_bytes: 2048,
            ..GrpcServerOptions::default()
        },
    )
    .await;
    let t = GrpcTransport::connect(&agent(server.addr.to_string(), None), "big").unwrap();
    let samples: Vec<Sample> = (0..500)
        .map(|i| {
            Sample::new(
                format!("metric.{i}"),
                Labels::new().with("i", i.to_string()),
                NOW + i,
                1.0,
            )
        })
        .collect();
    let e = t.send(&batch("big", "b", samples)).await.unwrap_err();
    // tonic's decoder refuses it before our code runs, with INVALID_ARGUMENT
    // (some versions: OUT_OF_RANGE, mapped to ResourceExhausted): permanent either way.
    assert!(
        matches!(
            e.kind,
            TransportErrorKind::InvalidArgument | TransportErrorKind::ResourceExhausted
        ),
        "{e}"
    );
    assert!(e.message.contains("too large"), "{e}");
    assert!(
        !e.is_retryable(),
        "an oversized batch is not re-sent forever"
    );
    assert!(handler.received().is_empty());
    t.send(&batch("big", "small", vec![cpu(NOW, 1.0)]))
        .await
        .expect("a small batch still passes");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_the_store_can_never_take_is_refused_for_good() {
    let dir = tempfile::tempdir().unwrap();
    // The day's partition is unreadable: the store refuses that day forever.
    std::fs::write(
        dir.path().join("2026-01-01.db"),
        b"not a database at all, just bytes",
    )
    .unwrap();
    let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap());
    let ingest = Arc::new(Ingest::new(
        store.clone(),
        None,
        Arc::new(ManualClock::new(NOW)),
    ));
    let server = Server::start(ingest, GrpcServerOptions::default()).await;
    let t = GrpcTransport::connect(&agent(server.addr.to_string(), None), "web-1").unwrap();
    let e = t
        .send(&batch("web-1", "b-1", vec![cpu(NOW + 5, 1.0)]))
        .await
        .unwrap_err();
    assert_eq!(e.kind, TransportErrorKind::FailedPrecondition, "{e}");
    assert!(
        !e.is_retryable(),
        "a poison batch must not block the agent's buffer forever"
    );
    // Other days are fine.
    let ack = t
        .send(&batch("web-1", "b-2", vec![cpu(NOW - 1_000, 1.0)]))
        .await
        .unwrap();
    assert_eq!(ack.rejected_samples, 0);
    server.stop().await;
}
