//! The dispatch pipeline: routing, silence windows, aggregation, rate limits,
//! retries and history.

mod limit;
mod retry;
mod silence;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use oxmon_core::config::{ChannelConfig, ConfigError, GroupBy, NotificationConfig, SilenceWindow};
use oxmon_core::manage::SilenceStore;
use oxmon_core::notify_history::{DeliveryRecord, DeliveryStatus, NotificationHistory};
use oxmon_core::sync::{LockExt, RwLockExt};
use oxmon_core::{AlertEvent, AlertStatus, Channel, Clock, Notification, SendErrorKind, Severity};

pub use limit::RateLimit;
pub use retry::RetryPolicy;
pub use silence::{SilencePolicy, silence_matches};

use crate::{ChannelRegistry, Error};

/// One channel and the events it takes.
#[derive(Debug, Clone)]
pub struct Route {
    /// The channel.
    pub channel: Arc<dyn Channel>,
    /// Events below this severity skip the channel.
    pub min_severity: Severity,
    /// Whether resolved events reach the channel.
    pub send_resolved: bool,
    /// At most this many messages; the excess is folded into a digest.
    pub rate_limit: Option<RateLimit>,
}

impl Route {
    /// A route taking every event, without rate limit.
    pub fn new(channel: Arc<dyn Channel>) -> Self {
        Self {
            channel,
            min_severity: Severity::Info,
            send_resolved: true,
            rate_limit: None,
        }
    }

    /// A route with the configuration's `min_severity` and `send_resolved`,
    /// and the default rate limit of its `type` ([`RateLimit::default_for`]).
    pub fn from_config(config: &ChannelConfig, channel: Arc<dyn Channel>) -> Self {
        Self {
            channel,
            min_severity: config.min_severity,
            send_resolved: config.send_resolved,
            rate_limit: RateLimit::default_for(&config.kind),
        }
    }

    /// The same channel (the same built instance) with the same settings.
    fn same_as(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.channel, &other.channel)
            && self.min_severity == other.min_severity
            && self.send_resolved == other.send_resolved
            && self.rate_limit == other.rate_limit
    }

    fn takes(&self, e: &AlertEvent) -> bool {
        e.severity >= self.min_severity && (e.status == AlertStatus::Firing || self.send_resolved)
    }
}

/// How the notifier behaves, apart from its routes.
#[derive(Debug, Clone, Default)]
pub struct NotifierOptions {
    /// Events of one rule (and status) within this window go out as one
    /// notification when it ends. Zero sends each event at once.
    pub aggregation_window: Duration,
    /// When nothing is sent.
    pub silence: SilencePolicy,
    /// How failed sends are retried.
    pub retry: RetryPolicy,
    /// Ad-hoc silences (made through the API): an event one of them
    /// matches while active is not sent (recorded as `silenced`).
    pub silences: Option<Arc<dyn SilenceStore>>,
    /// What one notification of the aggregation window holds: the events
    /// of one rule (default) or of one agent.
    pub group_by: GroupBy,
}

impl NotifierOptions {
    /// Options from `[notification]`: aggregation window, silence windows in
    /// the configured zone, default retries.
    ///
    /// # Errors
    /// An unknown time zone.
    pub fn from_config(config: &NotificationConfig) -> Result<Self, ConfigError> {
        let silence =
            SilencePolicy::in_zone(config.silence_windows.clone(), config.timezone.as_deref())
                .map_err(|p| ConfigError::field("<config>", "notification.timezone", p))?;
        Ok(Self {
            aggregation_window: Duration::from_secs(config.aggregation_window_secs),
            silence,
            group_by: config.group_by,
            retry: RetryPolicy::default(),
            silences: None,
        })
    }
}

/// Channel name, rule or agent (`group_by`), status.
type GroupKey = (String, String, AlertStatus);
/// Events waiting for their aggregation window, with the route they go to.
type Group = (Arc<RouteState>, Vec<AlertEvent>);

#[derive(Debug)]
struct RouteState {
    route: Route,
    window: Option<Mutex<limit::Window>>,
    /// Events held back by the rate limit, sent as one digest when a slot frees.
    backlog: Mutex<Option<Vec<AlertEvent>>>,
}

#[derive(Debug)]
struct Inner {
    /// Replaced as a whole by [`Notifier::set_routes`]; a delivery under
    /// way keeps the route it started with.
    routes: RwLock<Vec<Arc<RouteState>>>,
    /// The recurring windows now: `options.silence` until
    /// [`Notifier::set_silence_windows`] replaces them.
    silence: RwLock<SilencePolicy>,
    /// The aggregation window now: `options.aggregation_window` until
    /// [`Notifier::set_aggregation_window`] changes it.
    aggregation_window: RwLock<Duration>,
    options: NotifierOptions,
    clock: Arc<dyn Clock>,
    history: Arc<dyn NotificationHistory>,
    groups: Mutex<HashMap<GroupKey, Group>>,
}

impl RouteState {
    fn new(route: Route) -> Arc<Self> {
        Arc::new(Self {
            window: route.rate_limit.map(|l| Mutex::new(limit::Window::new(l))),
            route,
            backlog: Mutex::new(None),
        })
    }
}

impl Inner {
    /// The routes now.
    fn routes(&self) -> Vec<Arc<RouteState>> {
        self.routes.read_locked().clone()
    }

    /// Whether an active ad-hoc silence matches `event` at `now`. A store
    /// that cannot answer silences nothing (and says so in the log): a
    /// notification too many beats one lost.
    async fn silenced_by_hand(&self, event: &AlertEvent, now: i64) -> bool {
        let Some(store) = &self.options.silences else {
            return false;
        };
        match store.active_silences(now).await {
            Ok(active) => active.iter().any(|s| silence::silence_matches(s, event)),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the silences; notifying");
                false
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.locked()
}

/// Sends alert events to channels: routes by severity, suppresses inside
/// silence windows, merges events of one rule within the aggregation window,
/// keeps within rate limits, retries, and records every attempt.
///
/// Needs a tokio runtime: timers and sends run in spawned tasks. Cloning
/// shares the notifier.
#[derive(Debug, Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

impl Notifier {
    /// A notifier over explicit routes.
    pub fn new(
        routes: Vec<Route>,
        options: NotifierOptions,
        clock: Arc<dyn Clock>,
        history: Arc<dyn NotificationHistory>,
    ) -> Self {
        let routes = routes.into_iter().map(RouteState::new).collect();
        Self {
            inner: Arc::new(Inner {
                routes: RwLock::new(routes),
                silence: RwLock::new(options.silence.clone()),
                aggregation_window: RwLock::new(options.aggregation_window),
                options,
                clock,
                history,
                groups: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// A notifier for `[notification]`: every channel built by `registry`.
    ///
    /// # Errors
    /// A channel the registry refuses, or an unknown time zone.
    pub fn from_config(
        registry: &ChannelRegistry,
        config: &NotificationConfig,
        clock: Arc<dyn Clock>,
        history: Arc<dyn NotificationHistory>,
    ) -> Result<Self, ConfigError> {
        Ok(Self::new(
            Self::routes_from_config(registry, config)?,
            NotifierOptions::from_config(config)?,
            clock,
            history,
        ))
    }

    /// The routes of `[notification]`: every channel built by `registry`,
    /// for [`Notifier::new`] with options of one's own.
    ///
    /// # Errors
    /// A channel the registry refuses.
    pub fn routes_from_config(
        registry: &ChannelRegistry,
        config: &NotificationConfig,
    ) -> Result<Vec<Route>, ConfigError> {
        config
            .channels
            .iter()
            .map(|c| Ok(Route::from_config(c, registry.build(c)?)))
            .collect()
    }

    /// The channels' names, in route order.
    pub fn channels(&self) -> Vec<String> {
        self.inner
            .routes()
            .iter()
            .map(|r| r.route.channel.name().to_owned())
            .collect()
    }

    /// Changes the aggregation window for events from now on (groups
    /// already waiting keep their timer).
    pub fn set_aggregation_window(&self, window: Duration) {
        *self.inner.aggregation_window.write_locked() = window;
    }

    /// Evaluates the recurring silence windows in the zone named by
    /// `timezone` (IANA), or the host's zone when `None`, from now on.
    ///
    /// # Errors
    /// The name when it is not a known zone; nothing changes.
    pub fn set_silence_zone(&self, timezone: Option<&str>) -> Result<(), String> {
        let mut policy = self.inner.silence.write_locked();
        *policy = policy.in_other_zone(timezone)?;
        Ok(())
    }

    /// Replaces the recurring silence windows (kept in the options' time
    /// zone) for every event from now on.
    pub fn set_silence_windows(&self, windows: Vec<SilenceWindow>) {
        let mut policy = self.inner.silence.write_locked();
        *policy = policy.with_windows(windows);
    }

    /// Switches to `routes` for every event from now on. A route the same
    /// as one of now (the same channel instance, severity, `send_resolved`
    /// and rate limit) keeps its rate-limit window and backlog; events
    /// already waiting for their aggregation window or a retry still go to
    /// the channel they were queued for.
    pub fn set_routes(&self, routes: Vec<Route>) {
        let mut now = self.inner.routes.write_locked();
        let next = routes
            .into_iter()
            .map(|route| {
                now.iter()
                    .find(|rs| rs.route.same_as(&route))
                    .cloned()
                    .unwrap_or_else(|| RouteState::new(route))
            })
            .collect();
        *now = next;
    }

    /// Takes one event: suppressed inside a silence window (recorded as
    /// `silenced`), otherwise queued for every channel whose route takes it.
    /// Returns at once; delivery happens in background tasks.
    pub async fn notify(&self, event: AlertEvent) {
        let inner = &self.inner;
        let now = inner.clock.now_ms();
        let silenced = inner.silence.read_locked().is_silenced(now)
            || inner.silenced_by_hand(&event, now).await;
        for rs in inner.routes() {
            if !rs.route.takes(&event) {
                continue;
            }
            if silenced {
                inner
                    .record(
                        &rs,
                        std::slice::from_ref(&event),
                        DeliveryStatus::Silenced,
                        None,
                        0,
                        0,
                    )
                    .await;
                continue;
            }
            let window = *inner.aggregation_window.read_locked();
            if window.is_zero() {
                self.spawn_deliver(rs, vec![event.clone()]);
                continue;
            }
            let group = match inner.options.group_by {
                GroupBy::Rule => event.rule.clone(),
                GroupBy::Agent => event.series.agent_id.clone(),
            };
            let key = (rs.route.channel.name().to_owned(), group, event.status);
            let first = {
                let mut groups = lock(&inner.groups);
                let (_, group) = groups
                    .entry(key.clone())
                    .or_insert_with(|| (rs.clone(), Vec::new()));
                group.push(event.clone());
                group.len() == 1
            };
            if first {
                let this = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(window).await;
                    let group = lock(&this.inner.groups).remove(&key);
                    if let Some((rs, events)) = group {
                        this.deliver(rs, events).await;
                    }
                });
            }
        }
    }

    /// Sends every event still waiting for its aggregation window now.
    pub async fn flush(&self) {
        let pending: Vec<Group> = lock(&self.inner.groups).drain().map(|(_, g)| g).collect();
        for (rs, events) in pending {
            self.deliver(rs, events).await;
        }
    }

    /// Sends a test notification to the channel named `channel` now, in one
    /// attempt (someone is waiting for the answer), bypassing silence
    /// windows, aggregation and rate limits. The attempt is recorded.
    ///
    /// # Errors
    /// [`Error::UnknownChannel`], or [`Error::Send`] with the failure.
    pub async fn send_test(&self, channel: &str) -> Result<(), Error> {
        let rs = self
            .inner
            .routes()
            .into_iter()
            .find(|r| r.route.channel.name() == channel)
            .ok_or_else(|| Error::UnknownChannel(channel.to_owned()))?;
        let now = self.inner.clock.now_ms();
        let event = AlertEvent {
            id: format!("test-{now}"),
            rule: "oxmon-test-notification".to_owned(),
            series: oxmon_core::SeriesKey::new("oxmon", "oxmon.test", oxmon_core::Labels::new()),
            severity: Severity::Info,
            status: AlertStatus::Firing,
            value: 0.0,
            threshold: None,
            timestamp_ms: now,
            fired_at_ms: now,
            prediction: None,
            message: format!("Test notification from oxmon to channel {channel}: delivery works."),
        };
        self.inner
            .send_with_retry(&rs, &Notification::single(event), RetryPolicy::once())
            .await
    }

    fn spawn_deliver(&self, rs: Arc<RouteState>, events: Vec<AlertEvent>) {
        let this = self.clone();
        tokio::spawn(async move { this.deliver(rs, events).await });
    }

    /// Sends now if the route's rate limit allows, else adds the events to the
    /// route's backlog, which goes out as one digest when a slot frees.
    async fn deliver(&self, rs: Arc<RouteState>, events: Vec<AlertEvent>) {
        let inner = &self.inner;
        if let Some(window) = &rs.window {
            let verdict = lock(window).try_take(tokio::time::Instant::now());
            if let Err(free_at) = verdict {
                inner
                    .record(&rs, &events, DeliveryStatus::Deferred, None, 0, 0)
                    .await;
                let schedule = {
                    let mut backlog = lock(&rs.backlog);
                    let schedule = backlog.is_none();
                    backlog.get_or_insert_with(Vec::new).extend(events);
                    schedule
                };
                if schedule {
                    let this = self.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep_until(free_at).await;
                        let digest = lock(&rs.backlog).take();
                        if let Some(digest) = digest {
                            this.spawn_deliver(rs, digest);
                        }
                    });
                }
                return;
            }
        }
        let _ = inner
            .send_with_retry(&rs, &Notification { events }, &inner.options.retry)
            .await;
    }
}

impl Inner {
    async fn record(
        &self,
        rs: &RouteState,
        events: &[AlertEvent],
        status: DeliveryStatus,
        error: Option<String>,
        attempt: u32,
        duration_ms: u64,
    ) {
        let record = DeliveryRecord {
            channel: rs.route.channel.name().to_owned(),
            event_ids: events.iter().map(|e| e.id.clone()).collect(),
            status,
            error,
            attempt,
            duration_ms,
            attempted_at_ms: self.clock.now_ms(),
        };
        if let Err(e) = self.history.record(record).await {
            tracing::warn!(channel = rs.route.channel.name(), error = %e, "cannot record notification history");
        }
    }

    /// Sends, retrying retryable failures with backoff; records every attempt.
    async fn send_with_retry(
        &self,
        rs: &RouteState,
        n: &Notification,
        retry: &RetryPolicy,
    ) -> Result<(), Error> {
        let name = rs.route.channel.name();
        let mut delays = retry.delays();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let started = tokio::time::Instant::now();
            let result = rs.route.channel.send(n).await;
            let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let err = match result {
                Ok(()) => {
                    self.record(rs, &n.events, DeliveryStatus::Sent, None, attempt, took)
                        .await;
                    tracing::info!(
                        channel = name,
                        attempt,
                        events = n.events.len(),
                        "notification sent"
                    );
                    return Ok(());
                }
                Err(e) => e,
            };
            let next = match err.kind {
                SendErrorKind::Retryable { retry_after } => {
                    delays.next().map(|d| retry.wait(d, retry_after))
                }
                SendErrorKind::Permanent => None,
            };
            let Some(wait) = next else {
                self.record(
                    rs,
                    &n.events,
                    DeliveryStatus::Failed,
                    Some(err.message.clone()),
                    attempt,
                    took,
                )
                .await;
                tracing::error!(channel = name, attempt, error = %err, "notification failed");
                return Err(Error::Send(err));
            };
            self.record(
                rs,
                &n.events,
                DeliveryStatus::Retrying,
                Some(err.message.clone()),
                attempt,
                took,
            )
            .await;
            tracing::warn!(channel = name, attempt, error = %err, retry_in_ms = wait.as_millis(), "notification attempt failed, retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests;
