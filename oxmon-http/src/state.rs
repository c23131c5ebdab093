//! What every handler shares.

use std::sync::Arc;
use std::time::Duration;

use oxmon_core::config::RuleConfig;
use oxmon_core::config::SilenceWindow;
use oxmon_core::manage::{
    AuditLog, AuditRecord, CertStore, SilenceStore, UserStore, WhitelistStore,
};
use oxmon_core::notify_history::NotificationHistory;
use oxmon_core::{Clock, MetricStore, Secret};

use crate::auth::{Argon2Hasher, AuthError, AuthUser, JwtKeys, LoginLimiter, PasswordPool};
use crate::error::ApiError;
use crate::sources::{ActiveAlerts, Activity, DEFAULT_MAX_QUERY_SPAN_SECS, RuleAdmin, StaticRules};
use oxmon_core::time::secs_to_ms;

/// The ad-hoc silences and the recurring windows.
pub(crate) type Silences = (Arc<dyn SilenceStore>, Arc<dyn crate::WindowAdmin>);

/// Largest accepted request body by default, in bytes.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// The shared state of the router: stores, clock, token keys, password
/// hasher, the pool it runs on and the login limiter. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub(crate) users: Arc<dyn UserStore>,
    pub(crate) whitelist: Arc<dyn WhitelistStore>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) jwt: Arc<JwtKeys>,
    pub(crate) hasher: Argon2Hasher,
    pub(crate) passwords: PasswordPool,
    pub(crate) limiter: Arc<LoginLimiter>,
    pub(crate) started_at_ms: i64,
    pub(crate) body_limit: usize,
    /// Origins allowed by CORS; empty: no CORS headers (browsers on other
    /// origins are refused).
    pub(crate) cors_origins: Vec<String>,
    pub(crate) metrics: Option<Arc<dyn MetricStore>>,
    pub(crate) rules: Option<Arc<dyn RuleAdmin>>,
    pub(crate) channels: Option<Arc<dyn crate::ChannelAdmin>>,
    pub(crate) settings: Option<Arc<dyn crate::SettingsAdmin>>,
    pub(crate) active_alerts: Option<Arc<dyn ActiveAlerts>>,
    pub(crate) notifications: Option<Arc<dyn NotificationHistory>>,
    pub(crate) audit: Option<Arc<dyn AuditLog>>,
    pub(crate) silences: Option<Silences>,
    pub(crate) status: Option<Arc<dyn crate::ServerStatus>>,
    pub(crate) activity: Activity,
    pub(crate) max_query_span_ms: i64,
    pub(crate) certs: Option<Arc<dyn CertStore>>,
    pub(crate) cert_checks: Option<Arc<dyn crate::CertChecks>>,
    /// The Prometheus API's catalog of series, rebuilt every few seconds.
    #[cfg(feature = "prometheus")]
    pub(crate) prom_catalog: crate::prom::CatalogCache,
}

impl AppState {
    /// State over these stores and clock, signing tokens with `jwt_secret`
    /// (at least [`crate::auth::MIN_JWT_SECRET_LEN`] bytes) valid for
    /// `token_lifetime`. Defaults: argon2id with the recommended costs,
    /// [`PasswordPool::default`], [`LoginLimiter::default`],
    /// [`DEFAULT_BODY_LIMIT`]. Uptime counts from now on `clock`.
    ///
    /// # Errors
    /// [`AuthError::Secret`] for a short secret or a zero lifetime.
    pub fn new(
        users: Arc<dyn UserStore>,
        whitelist: Arc<dyn WhitelistStore>,
        clock: Arc<dyn Clock>,
        jwt_secret: &Secret,
        token_lifetime: Duration,
    ) -> Result<Self, AuthError> {
        let jwt = JwtKeys::new(jwt_secret, token_lifetime)?;
        Ok(Self {
            users,
            whitelist,
            started_at_ms: clock.now_ms(),
            clock,
            jwt: Arc::new(jwt),
            hasher: Argon2Hasher::new(),
            passwords: PasswordPool::default(),
            limiter: Arc::new(LoginLimiter::default()),
            body_limit: DEFAULT_BODY_LIMIT,
            cors_origins: Vec::new(),
            metrics: None,
            rules: None,
            channels: None,
            settings: None,
            active_alerts: None,
            notifications: None,
            audit: None,
            silences: None,
            status: None,
            activity: Activity::default(),
            max_query_span_ms: secs_to_ms(DEFAULT_MAX_QUERY_SPAN_SECS),
            certs: None,
            cert_checks: None,
            #[cfg(feature = "prometheus")]
            prom_catalog: crate::prom::CatalogCache::default(),
        })
    }

    /// Replaces the password hasher (for example cheaper costs in tests).
    pub fn with_password_hasher(mut self, hasher: Argon2Hasher) -> Self {
        self.hasher = hasher;
        self
    }

    /// Replaces the pool password checks and hashing run on (how many at
    /// once, how many may wait).
    #[must_use]
    pub fn with_password_pool(mut self, pool: PasswordPool) -> Self {
        self.passwords = pool;
        self
    }

    /// Replaces the login limiter.
    pub fn with_login_limiter(mut self, limiter: LoginLimiter) -> Self {
        self.limiter = Arc::new(limiter);
        self
    }

    /// Sets the largest accepted request body, in bytes.
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Serves `/v1/agents`, `/v1/agents/{id}/latest`, `/v1/metrics` and
    /// `/v1/alerts/history` from this store, and fills the whitelist's
    /// `last_seen`/`status`. Without it those routes answer 503.
    pub fn with_metrics(mut self, metrics: Arc<dyn MetricStore>) -> Self {
        self.metrics = Some(metrics);
        #[cfg(feature = "prometheus")]
        {
            self.prom_catalog = crate::prom::CatalogCache::default();
        }
        self
    }

    /// Serves `/v1/alerts/rules` from these rules, read-only (changes
    /// answer 409). Without rules the rule routes answer 503.
    pub fn with_rules(mut self, rules: Vec<RuleConfig>) -> Self {
        self.rules = Some(Arc::new(StaticRules(rules)));
        self
    }

    /// Serves the rule routes (`/v1/alerts/rules[/{id}[/enable|disable]]`)
    /// from this admin, which applies changes to the running server.
    pub fn with_rule_admin(mut self, admin: Arc<dyn RuleAdmin>) -> Self {
        self.rules = Some(admin);
        self
    }

    /// Serves the channel routes (`/v1/notifications/channels[/{id}[/test]]`)
    /// from this admin, which applies changes to the running notifier.
    /// Without it they answer 503.
    pub fn with_channel_admin(mut self, admin: Arc<dyn crate::ChannelAdmin>) -> Self {
        self.channels = Some(admin);
        self
    }

    /// Serves `/v1/settings` from this admin, which applies changes to the
    /// running server. Without it the route answers 503.
    pub fn with_settings_admin(mut self, admin: Arc<dyn crate::SettingsAdmin>) -> Self {
        self.settings = Some(admin);
        self
    }

    /// Records every change made through the API in this log and serves it
    /// at `/v1/audit`. Without it changes are not recorded and the route
    /// answers 503.
    pub fn with_audit_log(mut self, audit: Arc<dyn AuditLog>) -> Self {
        self.audit = Some(audit);
        self
    }

    /// Serves `/v1/silences`: ad-hoc silences in `store` (which the
    /// server's notifier must read, see `NotifierOptions::silences`), and
    /// the configuration's recurring `windows`, read-only. Without it the
    /// routes answer 503.
    pub fn with_silences(
        mut self,
        store: Arc<dyn SilenceStore>,
        windows: Vec<SilenceWindow>,
    ) -> Self {
        self.silences = Some((store, Arc::new(crate::sources::StaticWindows(windows))));
        self
    }

    /// Serves `/v1/silences` with ad-hoc silences in `store` and recurring
    /// windows from `windows`, which applies changes to the running
    /// notifier (`POST /v1/silences/windows`,
    /// `DELETE /v1/silences/windows/{id}`).
    pub fn with_window_admin(
        mut self,
        store: Arc<dyn SilenceStore>,
        windows: Arc<dyn crate::WindowAdmin>,
    ) -> Self {
        self.silences = Some((store, windows));
        self
    }

    /// Serves `/v1/notifications/log` from this history. Without it the
    /// route answers 503.
    pub fn with_notification_log(mut self, history: Arc<dyn NotificationHistory>) -> Self {
        self.notifications = Some(history);
        self
    }

    /// Serves `/v1/alerts/active` from this source. Without it the route
    /// answers 503.
    pub fn with_active_alerts(mut self, active: Arc<dyn ActiveAlerts>) -> Self {
        self.active_alerts = Some(active);
        self
    }

    /// Allows cross-origin requests from these origins (`https://ops.example.com`;
    /// `*` for any). Off by default.
    #[must_use]
    pub fn with_cors(mut self, origins: Vec<String>) -> Self {
        self.cors_origins = origins;
        self
    }

    /// The server's own state: storage health for `/v1/health`, and the
    /// counters of `GET /metrics` (without it, only uptime is exported).
    #[must_use]
    pub fn with_status(mut self, status: Arc<dyn crate::ServerStatus>) -> Self {
        self.status = Some(status);
        self
    }

    /// An agent is active when it reported within `interval_secs x multiple`
    /// of now (default 10 s x 3).
    pub fn with_activity(mut self, interval_secs: u64, multiple: u32) -> Self {
        self.activity = Activity {
            interval_secs,
            multiple,
        };
        self
    }

    /// The largest span (`to - from`) of a `/v1/metrics` query (default 31 days).
    pub fn with_max_query_span(mut self, span: Duration) -> Self {
        self.max_query_span_ms = i64::try_from(span.as_millis()).unwrap_or(i64::MAX);
        self
    }

    /// Serves `/v1/certificates...`, `/v1/certs/domains...` and
    /// `/v1/certs/status...` from this store and, when `checks` is given,
    /// runs `POST .../check` through it. Without a store those routes
    /// answer 503; without `checks` only the check routes do.
    #[must_use]
    pub fn with_certs(
        mut self,
        store: Arc<dyn CertStore>,
        checks: Option<Arc<dyn crate::CertChecks>>,
    ) -> Self {
        self.certs = Some(store);
        self.cert_checks = checks;
        self
    }

    /// The password hasher, for creating users outside the API (first admin).
    pub fn password_hasher(&self) -> &Argon2Hasher {
        &self.hasher
    }

    /// Verifies a bearer token: an API token (`oxm_...`) against the store,
    /// a JWT against the keys and the user's current token version.
    ///
    /// # Errors
    /// 401 for an invalid, expired or revoked token; the store's error
    /// otherwise.
    pub async fn verify_token(&self, token: &str) -> Result<AuthUser, ApiError> {
        if token.starts_with(crate::auth::API_TOKEN_PREFIX) {
            return Ok(crate::auth::verify_api_token(
                token,
                self.users.as_ref(),
                self.clock.as_ref(),
            )
            .await?);
        }
        Ok(self
            .jwt
            .verify(token, self.users.as_ref(), self.clock.as_ref())
            .await?)
    }

    /// Runs argon2 verification in the password pool.
    ///
    /// # Errors
    /// 503 with `Retry-After` when the pool and its queue are full.
    pub(crate) async fn verify_password(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, ApiError> {
        let hasher = self.hasher.clone();
        self.passwords
            .run(move || hasher.verify(&password, stored.as_deref()))
            .await
            .map_err(ApiError::busy)
    }

    /// Runs argon2 hashing in the password pool.
    ///
    /// # Errors
    /// 503 when the pool and its queue are full, 500 when hashing fails.
    pub(crate) async fn hash_password(&self, password: String) -> Result<String, ApiError> {
        let hasher = self.hasher.clone();
        self.passwords
            .run(move || hasher.hash(&password))
            .await
            .map_err(ApiError::busy)?
            .map_err(ApiError::internal)
    }
}

impl AppState {
    /// Records a change `who` made: `action` (`rule.create`, ...) on
    /// `target`, with the record before and after as the API shows them
    /// (never a secret). A failure to record is logged, not returned: the
    /// change itself is already made.
    pub(crate) async fn audit(
        &self,
        who: &AuthUser,
        action: &str,
        target: &str,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) {
        let Some(log) = &self.audit else { return };
        let record = AuditRecord {
            at_ms: self.clock.now_ms(),
            actor: who.username.clone(),
            action: action.to_owned(),
            target: target.to_owned(),
            before,
            after,
        };
        if let Err(e) = log.record(&record).await {
            tracing::error!(error = %e, action, "could not record a change in the audit log");
        }
    }
}

/// A response view as the audit log keeps it.
pub(crate) fn audited<T: serde::Serialize>(view: &T) -> Option<serde_json::Value> {
    serde_json::to_value(view).ok()
}

/// The "source not configured" error: 503.
pub(crate) fn unavailable(what: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        format!("{what} is not available on this server"),
    )
}

impl AppState {
    /// The metric store, or 503.
    pub(crate) fn metrics(&self) -> Result<&Arc<dyn MetricStore>, ApiError> {
        self.metrics
            .as_ref()
            .ok_or_else(|| unavailable("the metric store"))
    }
}
