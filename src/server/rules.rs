//! The alert rules of a running server: the configuration file's, read-only,
//! and those made through the REST API, kept in the management store and
//! applied to the running engine (`oxmon_http::RuleAdmin`).

use std::sync::Arc;

use oxmon_alert::{Rule, RuleRegistry};
use oxmon_core::config::{ConfigError, RuleConfig, parse_rule};
use oxmon_core::manage::{DefinitionKind, ManagementStore, StoredDefinition};
use oxmon_core::toml;
use oxmon_core::{Clock, Error, MetricBatch, Result};
use oxmon_http::{DefinitionSource, ManagedRule};
use tokio::sync::{Mutex, mpsc, oneshot};

/// What the alert task takes in: stored batches to evaluate, and rule sets
/// to switch to (answered once the engine runs them).
#[derive(Debug)]
pub(super) enum AlertInput {
    /// A stored batch.
    Batch(MetricBatch),
    /// The complete new rule set.
    Rules {
        rules: Vec<Rule>,
        applied: oneshot::Sender<()>,
    },
    /// Resolve the firing alert `id` by hand for `by`; answers whether it
    /// fired.
    Resolve {
        id: String,
        by: String,
        done: oneshot::Sender<bool>,
    },
}

const RULE: DefinitionKind = DefinitionKind::Rule;

/// Where a stored rule's errors point: the management database and the
/// rule's id.
fn origin(id: &str) -> String {
    format!("cert.db rule {id}")
}

/// A stored rule as its configuration.
fn parse_stored(rule: &StoredDefinition) -> std::result::Result<RuleConfig, ConfigError> {
    parse_rule(rule.definition.clone(), &origin(&rule.id))
}

/// The rules of the file, then the valid stored ones. A stored rule that no
/// longer validates (its rule type's plugin is gone) is refused by name.
///
/// # Errors
/// The first stored rule that fails, naming it.
pub(super) async fn all_rules(
    file: &[RuleConfig],
    store: &dyn ManagementStore,
) -> std::result::Result<Vec<RuleConfig>, ConfigError> {
    let stored = store
        .list_definitions(RULE)
        .await
        .map_err(|e| ConfigError {
            file: "cert.db".into(),
            field: None,
            problem: format!("cannot read the stored alert rules: {e}"),
        })?;
    combine(file, &stored)
}

/// The rules of the file, then the stored ones, each checked like a file
/// entry and against the file's names.
///
/// # Errors
/// The first stored rule that fails, naming it.
pub(super) fn combine(
    file: &[RuleConfig],
    stored: &[StoredDefinition],
) -> std::result::Result<Vec<RuleConfig>, ConfigError> {
    let mut rules = file.to_vec();
    for s in stored {
        if file.iter().any(|r| r.name == s.name) {
            return Err(ConfigError {
                file: origin(&s.id),
                field: Some("name".into()),
                problem: format!(
                    "`{}` is also the name of a rule of the configuration file; rename the \
                     file's rule or delete this one (DELETE /v1/alerts/rules/{})",
                    s.name.escape_debug(),
                    s.id
                ),
            });
        }
        rules.push(parse_stored(s)?);
    }
    Ok(rules)
}

/// A compile error of one rule checked on its own, as the API reports it.
fn refused(e: oxmon_alert::Error) -> Error {
    match e {
        oxmon_alert::Error::Config(c) => Error::Config(c.within_rule()),
        other => Error::InvalidInput(other.to_string()),
    }
}

/// The server's [`oxmon_http::RuleAdmin`].
#[derive(Debug)]
pub(super) struct RuleManager {
    file: Vec<RuleConfig>,
    store: Arc<dyn ManagementStore>,
    registry: RuleRegistry,
    alerts: mpsc::Sender<AlertInput>,
    clock: Arc<dyn Clock>,
    /// One change at a time, from validation to the engine.
    changes: Mutex<()>,
}

impl RuleManager {
    pub(super) fn new(
        file: Vec<RuleConfig>,
        store: Arc<dyn ManagementStore>,
        registry: RuleRegistry,
        alerts: mpsc::Sender<AlertInput>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            file,
            store,
            registry,
            alerts,
            clock,
            changes: Mutex::new(()),
        }
    }

    fn api_rule(stored: &StoredDefinition, rule: RuleConfig) -> ManagedRule {
        ManagedRule {
            id: stored.id.clone(),
            source: DefinitionSource::Api,
            rule,
            created_at_ms: Some(stored.created_at_ms),
            updated_at_ms: Some(stored.updated_at_ms),
        }
    }

    /// Refuses a change to a rule of the file.
    fn refuse_file_rule(&self, id: &str) -> Result<()> {
        super::managed::refuse_file_entry(id, "rule", self.file.iter().map(|x| x.name.as_str()))
    }

    /// Checks a definition as the file's entry would be, and against the
    /// file's rule names.
    fn check(&self, definition: &toml::Table) -> Result<RuleConfig> {
        let rule = parse_rule(definition.clone(), "request body").map_err(Error::Config)?;
        super::managed::refuse_file_name(
            &rule.name,
            "rule",
            self.file.iter().map(|x| x.name.as_str()),
        )?;
        self.registry.compile_rule(&rule).map_err(refused)?;
        Ok(rule)
    }

    /// Compiles every rule and has the alert task switch to them; returns
    /// once the engine runs them.
    async fn apply(&self) -> Result<()> {
        let configs = all_rules(&self.file, self.store.as_ref())
            .await
            .map_err(Error::Config)?;
        let rules = self
            .registry
            .compile(&configs)
            .map_err(|e| Error::InvalidInput(e.to_string()))?;
        let (applied, done) = oneshot::channel();
        self.alerts
            .send(AlertInput::Rules { rules, applied })
            .await
            .map_err(|_| Error::unavailable("the alert engine has stopped"))?;
        done.await
            .map_err(|_| Error::unavailable("the alert engine has stopped"))
    }

    async fn replace(&self, id: &str, definition: toml::Table) -> Result<ManagedRule> {
        self.refuse_file_rule(id)?;
        let rule = self.check(&definition)?;
        let stored = self
            .store
            .update_definition(RULE, id, &rule.name, &definition, self.clock.now_ms())
            .await?;
        self.apply().await?;
        Ok(Self::api_rule(&stored, rule))
    }
}

#[async_trait::async_trait]
impl oxmon_http::RuleAdmin for RuleManager {
    async fn rules(&self) -> Result<Vec<ManagedRule>> {
        let mut out: Vec<ManagedRule> = self.file.iter().map(ManagedRule::from_file).collect();
        for s in self.store.list_definitions(RULE).await? {
            let rule = parse_stored(&s).map_err(Error::Config)?;
            out.push(Self::api_rule(&s, rule));
        }
        Ok(out)
    }

    async fn create(&self, definition: toml::Table) -> Result<ManagedRule> {
        let _one = self.changes.lock().await;
        let rule = self.check(&definition)?;
        let stored = self
            .store
            .create_definition(RULE, &rule.name, &definition, self.clock.now_ms())
            .await?;
        self.apply().await?;
        Ok(Self::api_rule(&stored, rule))
    }

    async fn update(&self, id: &str, definition: toml::Table) -> Result<ManagedRule> {
        let _one = self.changes.lock().await;
        self.replace(id, definition).await
    }

    async fn delete(&self, id: &str) -> Result<()> {
        let _one = self.changes.lock().await;
        self.refuse_file_rule(id)?;
        self.store.delete_definition(RULE, id).await?;
        self.apply().await
    }

    async fn set_enabled(&self, id: &str, enabled: bool) -> Result<ManagedRule> {
        let _one = self.changes.lock().await;
        self.refuse_file_rule(id)?;
        let mut definition = self.store.get_definition(RULE, id).await?.definition;
        definition.insert("enabled".into(), toml::Value::Boolean(enabled));
        self.replace(id, definition).await
    }
}
