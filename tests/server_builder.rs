//! The server builder with parts of a program's own: a metric store and a
//! management store in memory instead of SQLite files, a channel plugin, a
//! collector for the local agent; and `check` refusing what `start` would.

use std::sync::Arc;
use std::time::Duration;

use oxmon::ServerConfig;
use oxmon::core::{CollectContext, Collector, Labels, MetricStore, Sample};
use oxmon::notify::StubPlugin;
use oxmon::server::{Server, ServerError};
use oxmon::storage::{MemoryManagementStore, MemoryStore};

/// Reports `queue.depth = 7` at every collection.
#[derive(Debug)]
struct QueueDepth;

impl Collector for QueueDepth {
    fn name(&self) -> &str {
        "queue"
    }

    fn collect(
        &mut self,
        ctx: &CollectContext<'_>,
        out: &mut Vec<Sample>,
    ) -> oxmon::core::Result<()> {
        out.push(Sample::new(
            "queue.depth",
            Labels::new(),
            ctx.timestamp_ms,
            7.0,
        ));
        Ok(())
    }
}

fn config(data_dir: &std::path::Path) -> ServerConfig {
    ServerConfig::from_toml(
        &format!(
            r#"
data_dir = "{}"
grpc_bind = "127.0.0.1"
grpc_port = 0
http_bind = "127.0.0.1"
http_port = 0
aggregation_window_secs = 0

[local_agent]
enabled = true
agent_id = "local"
collection_interval_secs = 1

[[alert.rules]]
name = "queue-backlog"
type = "threshold"
metric = "queue.depth"
operator = "gt"
value = 5

[[notification.channels]]
type = "stub"
name = "test-stub"
"#,
            data_dir.display()
        ),
        "server.toml",
    )
    .expect("valid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_on_memory_stores_with_its_own_channel_and_collector() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    assert!(
        matches!(oxmon::server::check(&config), Err(ServerError::Config(e)) if e.to_string().contains("unknown type `stub`")),
        "the built-in parts do not know `stub`"
    );
    let stub = StubPlugin::new();
    let store = Arc::new(MemoryStore::new());
    let management = Arc::new(MemoryManagementStore::new());
    let builder = Server::builder(config)
        .channel_plugin(Arc::new(stub.clone()))
        .collector(Box::new(QueueDepth))
        .metric_store(store.clone())
        .management_store(management.clone());
    builder.check().expect("the builder knows `stub`");
    let server = builder.start().await.expect("starts");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let sent = loop {
        let sent = stub
            .channel("test-stub")
            .map(|c| c.sent())
            .unwrap_or_default();
        if !sent.is_empty() {
            break sent;
        }
        assert!(tokio::time::Instant::now() < deadline, "no notification");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        oxmon::notify::render::title(&sent[0]).contains("queue-backlog on local"),
        "{}",
        oxmon::notify::render::title(&sent[0])
    );
    // The samples and the first administrator went to the given stores.
    let latest = store.latest("local").await.unwrap();
    assert!(
        latest
            .iter()
            .any(|s| s.metric == "queue.depth" && s.value == 7.0)
    );
    assert!(
        latest.iter().any(|s| s.metric.starts_with("memory.")),
        "built-in collectors too"
    );
    use oxmon::core::manage::UserStore;
    assert_eq!(management.count_users().await.unwrap(), 1);
    server.shutdown().await;
    // ... and no SQLite file was made for them.
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files.iter().all(|f| !f.ends_with(".db")),
        "no database in data_dir: {files:?}"
    );
}

#[test]
fn check_refuses_a_plugin_that_claims_a_built_in_rule_type() {
    #[derive(Debug)]
    struct Impostor;
    impl oxmon::core::RulePlugin for Impostor {
        fn type_name(&self) -> &str {
            "threshold"
        }
        fn build(
            &self,
            _: &oxmon::core::config::RuleConfig,
            _: &oxmon::core::config::CustomRule,
        ) -> Result<Arc<dyn oxmon::core::RuleEvaluator>, oxmon::core::config::ConfigError> {
            unreachable!("never registered")
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let err = Server::builder(config(dir.path()))
        .channel_plugin(Arc::new(StubPlugin::new()))
        .rule_plugin(Arc::new(Impostor))
        .check()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "rule type `threshold` is built in; a plugin cannot replace it"
    );
}
