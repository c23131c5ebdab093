//! The server runtime: wires storage, the ingest path, gRPC, the alert
//! engine, notifications, the REST API and the local agent together.
//! Wiring only: configuration in, parts built, tasks started; the logic
//! lives in the crates.

mod admin;
mod channels;
mod managed;
mod parts;
mod program;
mod rules;
mod settings;
mod status;
mod windows;

pub use admin::AdminPasswordSource;
pub use program::main_with;

use parts::{
    AlertFeed, AlertTask, EngineAlerts, HttpCertChecks, RestListener, alert_task, open_sqlite,
    retention_task,
};

use std::net::SocketAddr;
use std::sync::Arc;

use oxmon_alert::{EngineOptions, RuleRegistry};
use oxmon_collector::cert::{CertChecker, CertCheckerError};
use oxmon_core::config::ConfigError;
use oxmon_core::config::{AgentConfig, ServerConfig};
use oxmon_core::manage::{DefinitionKind, ManagementStore, WhitelistStore};
use oxmon_core::notify_history::NotificationHistory;
use oxmon_core::{ChannelPlugin, Clock, Collector, MetricStore, RulePlugin, SystemClock};
use oxmon_http::auth::{LoginLimiter, LoginLimits, PasswordPool};
use oxmon_notify::{ChannelRegistry, Notifier, NotifierOptions};
use oxmon_storage::{SqliteManagementStore, SqliteStore};
use oxmon_transport::grpc::{GrpcServer, GrpcServerOptions};
use oxmon_transport::net::{ConnectionLimits, LimitedListener};
use oxmon_transport::{InProcessTransport, Ingest, IngestLimits, IngestObserver};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Storage could not be opened.
    #[error("storage: {0}")]
    Storage(#[from] oxmon_core::Error),
    /// A socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The alert rules could not be compiled (an unknown `type`, a custom
    /// rule its plugin refuses: naming the file and the field).
    #[error(transparent)]
    Rules(#[from] oxmon_alert::Error),
    /// A notification channel is misconfigured (names the channel and field).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `[cert_check]` cannot be set up (its CA file).
    #[error(transparent)]
    CertCheck(#[from] CertCheckerError),
    /// The API's signing secret or first administrator could not be set up.
    #[error("auth: {message}")]
    Auth {
        /// What could not be set up, and why.
        message: String,
        /// The underlying error (an unreadable secret file, a hashing failure).
        #[source]
        source: Option<oxmon_core::BoxError>,
    },
    /// The first administrator's password, from the configuration file or
    /// `OXMON_ADMIN_PASSWORD`, fails the password rules of a password
    /// change. Nothing was started.
    #[error("{from}: too weak for the first administrator: {reason}")]
    WeakAdminPassword {
        /// Where the password came from.
        from: AdminPasswordSource,
        /// The rule it fails.
        reason: String,
    },
}

/// Checks what parsing alone cannot, with the built-in channels and rule
/// types only. A program with its own plugins checks with
/// [`ServerBuilder::check`] instead.
///
/// # Errors
/// The first problem, naming the file and the field.
pub fn check(config: &ServerConfig) -> Result<(), ServerError> {
    Server::builder(config.clone()).check()
}

/// A running server. Drop it or call [`Server::shutdown`] to stop.
#[derive(Debug)]
pub struct Server {
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    initial_admin_password: Option<oxmon_core::Secret>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    store: Arc<dyn MetricStore>,
    /// Set when the server opened its own SQLite store: closed at shutdown.
    sqlite: Option<Arc<SqliteStore>>,
}

impl ServerError {
    fn auth(message: impl Into<String>) -> Self {
        ServerError::Auth {
            message: message.into(),
            source: None,
        }
    }

    fn auth_from(message: impl Into<String>, source: impl Into<oxmon_core::BoxError>) -> Self {
        ServerError::Auth {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

impl Server {
    /// A builder for a server as `config` says, to which a program adds
    /// its own channel plugins, rule types, local-agent collectors, stores
    /// and clock before [`ServerBuilder::start`].
    pub fn builder(config: ServerConfig) -> ServerBuilder {
        ServerBuilder::new(config)
    }

    /// Starts a server with the built-in parts only: the same as
    /// `Server::builder(config).clock(clock).start()`.
    ///
    /// # Errors
    /// As [`ServerBuilder::start`].
    pub async fn start(config: ServerConfig, clock: Arc<dyn Clock>) -> Result<Self, ServerError> {
        Self::builder(config).clock(clock).start().await
    }

    /// The address gRPC listens on.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The address the REST API listens on.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The first administrator's password when it was generated at this
    /// start (no user existed and none was configured): show it once.
    pub fn initial_admin_password(&self) -> Option<&oxmon_core::Secret> {
        self.initial_admin_password.as_ref()
    }

    /// The metric store.
    pub fn store(&self) -> Arc<dyn MetricStore> {
        self.store.clone()
    }

    /// Stops accepting, lets in-flight batches finish, flushes the store.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            // The alert task ends when every ingest (and its feed) is gone.
            if !t.is_finished() {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(10), t).await;
            }
        }
        if let Some(sqlite) = self.sqlite {
            let _ = tokio::task::spawn_blocking(move || sqlite.close()).await;
        }
        tracing::info!("oxmon server stopped");
    }
}

/// Assembles a [`Server`]: the configuration, plus what a program brings of
/// its own. Everything not given is the built-in default: the SQLite stores
/// in `data_dir`, every built-in channel and rule type, the system clock.
///
/// ```no_run
/// # async fn demo(config: oxmon::ServerConfig, pager: std::sync::Arc<dyn oxmon::core::ChannelPlugin>) -> Result<(), oxmon::server::ServerError> {
/// use oxmon::server::Server;
///
/// let server = Server::builder(config).channel_plugin(pager).start().await?;
/// server.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ServerBuilder {
    config: ServerConfig,
    clock: Arc<dyn Clock>,
    channel_plugins: Vec<Arc<dyn ChannelPlugin>>,
    rule_plugins: Vec<Arc<dyn RulePlugin>>,
    collectors: Vec<Box<dyn Collector>>,
    store: Option<Arc<dyn MetricStore>>,
    management: Option<Arc<dyn ManagementStore>>,
}

/// The registries a server checks and runs its configuration with.
#[derive(Debug)]
struct Registries {
    channels: ChannelRegistry,
    rules: RuleRegistry,
}

impl ServerBuilder {
    fn new(config: ServerConfig) -> Self {
        Self {
            config,
            clock: Arc::new(SystemClock),
            channel_plugins: Vec::new(),
            rule_plugins: Vec::new(),
            collectors: Vec::new(),
            store: None,
            management: None,
        }
    }

    /// Where time comes from (default: the system clock).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Adds a notification channel `type`; it replaces a built-in plugin of
    /// the same `type`.
    #[must_use]
    pub fn channel_plugin(mut self, plugin: Arc<dyn ChannelPlugin>) -> Self {
        self.channel_plugins.push(plugin);
        self
    }

    /// Adds a rule `type`. A plugin that claims a built-in type is refused
    /// by [`ServerBuilder::check`] and [`ServerBuilder::start`].
    #[must_use]
    pub fn rule_plugin(mut self, plugin: Arc<dyn RulePlugin>) -> Self {
        self.rule_plugins.push(plugin);
        self
    }

    /// Adds a collector to the local agent (`[local_agent] enabled`), which
    /// runs it after the built-in ones at every collection.
    #[must_use]
    pub fn collector(mut self, collector: Box<dyn Collector>) -> Self {
        self.collectors.push(collector);
        self
    }

    /// Stores metrics and alert events here instead of the SQLite store in
    /// `data_dir`. The server applies `retention_days` to it once an hour.
    #[must_use]
    pub fn metric_store(mut self, store: Arc<dyn MetricStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Keeps users, the whitelist, certificate data and the notification
    /// history here instead of `data_dir/cert.db`.
    #[must_use]
    pub fn management_store(mut self, store: Arc<dyn ManagementStore>) -> Self {
        self.management = Some(store);
        self
    }

    fn registries(&self) -> Result<Registries, ServerError> {
        let mut channels = ChannelRegistry::with_builtin();
        for p in &self.channel_plugins {
            channels.register(p.clone());
        }
        let mut rules = RuleRegistry::new();
        for p in &self.rule_plugins {
            rules.register(p.clone())?;
        }
        Ok(Registries { channels, rules })
    }

    /// Checks what parsing alone cannot, with the channels and rule types
    /// this server will run: every channel against its plugin, every rule
    /// (enabled or not, the file's and those made through the API and kept
    /// in `data_dir/cert.db`, read without changing it) against its type,
    /// the certificate checker's CA file and the first administrator's
    /// password. `--check-config` runs it.
    ///
    /// # Errors
    /// The first problem, naming the file and the field.
    pub fn check(&self) -> Result<(), ServerError> {
        let parts = self.registries()?;
        Self::check_with(&self.config, &parts)
    }

    fn check_with(config: &ServerConfig, parts: &Registries) -> Result<(), ServerError> {
        for channel in &config.notification.channels {
            parts.channels.validate(channel)?;
        }
        // The file's rules and channels, then those made through the API,
        // read from `cert.db` without changing it: all of them as the server
        // runs them.
        let cert_db = config.data_dir.join("cert.db");
        let stored = oxmon_storage::read_stored_definitions(&cert_db, DefinitionKind::Rule)?;
        parts
            .rules
            .compile(&rules::combine(&config.alert.rules, &stored)?)?;
        let stored = oxmon_storage::read_stored_definitions(&cert_db, DefinitionKind::Channel)?;
        channels::combine(&config.notification.channels, &stored, &parts.channels)?;
        let stored =
            oxmon_storage::read_stored_definitions(&cert_db, DefinitionKind::SilenceWindow)?;
        windows::combine(&config.notification.silence_windows, &stored)?;
        let stored = oxmon_storage::read_stored_definitions(&cert_db, DefinitionKind::Setting)?;
        settings::effective(config, &stored)?;
        CertChecker::validate(&config.cert_check)?;
        admin::check_first_password(config)?;
        parts::remote_writers(config)?;
        Ok(())
    }

    /// Opens the stores (unless given), binds gRPC and the REST API, starts
    /// the alert task, the certificate checks and, when `[local_agent]
    /// enabled`, the in-process agent.
    ///
    /// # Errors
    /// [`ServerError`] when the configuration fails [`ServerBuilder::check`]
    /// (checked before anything starts), storage cannot be opened or a
    /// port cannot be bound.
    pub async fn start(mut self) -> Result<Server, ServerError> {
        let parts = self.registries()?;
        Self::check_with(&self.config, &parts)?;
        let config = self.config.clone();
        let clock = self.clock.clone();
        let (store, sqlite): (Arc<dyn MetricStore>, Option<Arc<SqliteStore>>) =
            match self.store.take() {
                Some(store) => (store, None),
                None => {
                    let sqlite = open_sqlite(&config, clock.clone()).await?;
                    (sqlite.clone(), Some(sqlite))
                }
            };
        let manage: Arc<dyn ManagementStore> = match self.management {
            Some(m) => m,
            None => Arc::new(SqliteManagementStore::open(config.data_dir.join("cert.db")).await?),
        };
        // Always there: whether it is checked is `require_agent_auth`, a
        // runtime setting.
        let whitelist: Option<Arc<dyn WhitelistStore>> = Some(manage.clone());

        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        let retention_days = Arc::new(std::sync::atomic::AtomicU32::new(config.retention_days));
        if sqlite.is_none() {
            tasks.push(tokio::spawn(retention_task(
                store.clone(),
                retention_days.clone(),
                clock.clone(),
                stopped.clone(),
            )));
        }

        let remote_write =
            parts::start_remote_writers(&config, &store, &clock, &stopped, &mut tasks).await?;
        let counting = Arc::new(status::CountingHistory::new(manage.clone()));
        let history: Arc<dyn NotificationHistory> = counting.clone();
        let notification_log = history.clone();
        let mut notifier_options = NotifierOptions::from_config(&config.notification)?;
        notifier_options.silences = Some(manage.clone());
        // The routes come from the channel manager: the file's channels and
        // those made through the API.
        let notifier = Notifier::new(Vec::new(), notifier_options, clock.clone(), history);
        let settings_notifier = notifier.clone();
        let channel_admin = Arc::new(channels::ChannelManager::new(
            config.notification.channels.clone(),
            manage.clone(),
            parts.channels.clone(),
            notifier.clone(),
            clock.clone(),
        ));
        let window_admin = Arc::new(windows::WindowManager::new(
            config.notification.silence_windows.clone(),
            manage.clone(),
            notifier.clone(),
            clock.clone(),
        ));
        let config_error = |e| match e {
            oxmon_core::Error::Config(c) => ServerError::Config(c),
            other => ServerError::Storage(other),
        };
        channel_admin.apply().await.map_err(config_error)?;
        window_admin.apply().await.map_err(config_error)?;
        let alert_counters = Arc::new(status::AlertCounters::default());
        let (feed, batches) = mpsc::channel(config.ingest.max_queued_batches.max(1));
        let all_rules = rules::all_rules(&config.alert.rules, manage.as_ref()).await?;
        let mut engine = parts.rules.engine(&all_rules, EngineOptions::default())?;
        engine.set_inhibition(&config.alert)?;
        let engine = Arc::new(std::sync::Mutex::new(engine));
        tasks.push(tokio::spawn(alert_task(AlertTask {
            counters: alert_counters.clone(),
            engine: engine.clone(),
            inputs: batches,
            store: store.clone(),
            whitelist: manage.clone(),
            notifier,
            clock: clock.clone(),
        })));
        let rule_admin = Arc::new(rules::RuleManager::new(
            config.alert.rules.clone(),
            manage.clone(),
            parts.rules.clone(),
            feed.clone(),
            clock.clone(),
        ));
        let alert_inputs = feed.clone();

        let limits = IngestLimits::from_config(&config);
        let observer: Arc<dyn IngestObserver> = Arc::new(AlertFeed(feed));
        let ingest = Arc::new(
            Ingest::new(store.clone(), whitelist, clock.clone())
                .with_limits(limits)
                .with_observer(observer.clone()),
        );

        // The server's own sources (certificate checks under
        // `cert_check.agent_id`, the local agent) take the ingest path in
        // process and without a token.
        let trusted_ingest = Arc::new(
            Ingest::new(store.clone(), None, clock.clone())
                .with_limits(limits)
                .with_observer(observer.clone()),
        );
        let checker = CertChecker::new(
            &config.cert_check,
            manage.clone(),
            trusted_ingest.clone(),
            clock.clone(),
        )?;
        let settings_admin = Arc::new(settings::SettingsManager::new(
            config.clone(),
            manage.clone(),
            settings::Targets {
                notifier: settings_notifier,
                ingest: ingest.clone(),
                checker: checker.clone(),
                sqlite: sqlite.clone(),
                retention_days,
            },
            clock.clone(),
        ));
        settings_admin.apply().await.map_err(config_error)?;
        if !ingest.auth_required() && !config.grpc_bind.is_loopback() {
            tracing::warn!(bind = %config.grpc_bind, "require_agent_auth = false: anyone who reaches the gRPC port can write metrics");
        }
        // Always running: `cert_check.enabled` and `tick_secs` are runtime
        // settings the scheduler reads at each tick.
        let mut rx = stopped.clone();
        let scheduler = checker.clone();
        tasks.push(tokio::spawn(async move {
            scheduler
                .run(async move {
                    let _ = rx.wait_for(|s| *s).await;
                })
                .await;
        }));

        let addr = SocketAddr::new(config.grpc_bind, config.grpc_port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        let grpc_addr = listener
            .local_addr()
            .map_err(|source| ServerError::Bind { addr, source })?;
        let grpc_options = GrpcServerOptions::from_config(&config);
        let grpc_server = GrpcServer::new(listener, ingest.clone(), grpc_options);
        let grpc_connections = grpc_server.connection_stats();
        let mut rx = stopped.clone();
        tasks.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            if let Err(e) = grpc_server.run(shutdown).await {
                tracing::error!(error = %e, "gRPC server stopped");
            }
        }));

        // REST API.
        let secret = admin::jwt_secret(&config)?;
        let state = oxmon_http::AppState::new(
            manage.clone(),
            manage.clone(),
            clock.clone(),
            &secret,
            std::time::Duration::from_secs(config.auth.token_expire_secs),
        )
        .map_err(|e| ServerError::auth_from(e.to_string(), e))?
        .with_login_limiter(LoginLimiter::with_limits(LoginLimits::from_config(
            &config.auth,
        )))
        .with_password_pool(PasswordPool::from_config(&config.auth));
        let initial_admin_password = admin::ensure_admin(
            manage.as_ref(),
            &config,
            state.password_hasher(),
            clock.as_ref(),
        )
        .await?;
        let http_bind = SocketAddr::new(config.http_bind, config.http_port);
        let http_listener = tokio::net::TcpListener::bind(http_bind)
            .await
            .map_err(|source| ServerError::Bind {
                addr: http_bind,
                source,
            })?;
        let http_addr = http_listener
            .local_addr()
            .map_err(|source| ServerError::Bind {
                addr: http_bind,
                source,
            })?;
        let http_listener =
            LimitedListener::new(http_listener, ConnectionLimits::http(&config.limits));
        let http_connections = http_listener.stats();
        let server_status = Arc::new(status::Status {
            store: store.clone(),
            sqlite: sqlite.clone(),
            ingests: vec![ingest.clone(), trusted_ingest.clone()],
            connections: vec![("grpc", grpc_connections), ("http", http_connections)],
            alerts: alert_counters,
            notifications: counting,
            remote_write,
            data_dir: config.data_dir.clone(),
            clock: clock.clone(),
            active_within_ms: 3_000
                * i64::try_from(config.local_agent.collection_interval_secs.max(10)).unwrap_or(10),
        });
        let state = state
            .with_status(server_status.clone())
            .with_cors(config.cors_allowed_origins.clone())
            .with_metrics(store.clone())
            .with_rule_admin(rule_admin)
            .with_channel_admin(channel_admin)
            .with_settings_admin(settings_admin)
            .with_notification_log(notification_log)
            .with_audit_log(manage.clone())
            .with_window_admin(manage.clone(), window_admin)
            .with_active_alerts(Arc::new(EngineAlerts {
                engine: engine.clone(),
                alerts: alert_inputs,
                clock: clock.clone(),
            }))
            .with_certs(manage.clone(), Some(Arc::new(HttpCertChecks(checker))))
            .with_activity(config.local_agent.collection_interval_secs.max(10), 3);
        let app = oxmon_http::router(state);
        let options = oxmon_http::ServeOptions::from_config(&config.limits);
        let mut rx = stopped.clone();
        tasks.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            oxmon_http::serve(RestListener(http_listener), app, options, shutdown).await;
        }));

        if config.local_agent.enabled {
            let mut agent_config = AgentConfig::default();
            agent_config
                .agent_id
                .clone_from(&config.local_agent.agent_id);
            agent_config.collection_interval_secs = config.local_agent.collection_interval_secs;
            let mut collectors =
                oxmon_collector::default_collectors(&oxmon_collector::CollectorOptions::default());
            collectors.append(&mut self.collectors);
            let transport = Arc::new(InProcessTransport::new(trusted_ingest, None));
            let agent = crate::agent::Agent::new(&agent_config, collectors, transport, clock);
            tracing::info!(agent = agent.agent_id(), "local agent started");
            let mut rx = stopped.clone();
            tasks.push(tokio::spawn(async move {
                agent
                    .run(async move {
                        let _ = rx.wait_for(|s| *s).await;
                    })
                    .await;
            }));
        }
        tracing::info!(%grpc_addr, %http_addr, data_dir = %config.data_dir.display(), "oxmon server started");
        Ok(Server {
            grpc_addr,
            http_addr,
            initial_admin_password,
            stop,
            tasks,
            store,
            sqlite,
        })
    }
}
