//! `RuleRegistry`: which rule `type`s the engine can run, built-in and
//! registered by downstream crates.

use std::collections::BTreeMap;
use std::sync::Arc;

use oxmon_core::RulePlugin;
use oxmon_core::config::{BUILTIN_RULE_TYPES, RuleConfig, RuleKind};

use crate::engine::{AlertEngine, EngineOptions};
use crate::error::{Error, Result};
use crate::rule::Rule;

/// The rule types an engine runs: the built-in ones (`threshold`,
/// `rate_of_change`, `trend_prediction`, `cert_expiration`) and every
/// [`RulePlugin`] registered here. Compiling a configuration through the
/// registry is what `--check-config`, start-up and the API all do, so each
/// refuses the same rules with the same messages.
#[derive(Debug, Clone, Default)]
pub struct RuleRegistry {
    plugins: BTreeMap<String, Arc<dyn RulePlugin>>,
}

impl RuleRegistry {
    /// The built-in rule types only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a plugin, returning the one it replaces for the same `type`.
    ///
    /// # Errors
    /// [`Error::BuiltinType`] when its `type` is a built-in one.
    pub fn register(&mut self, plugin: Arc<dyn RulePlugin>) -> Result<Option<Arc<dyn RulePlugin>>> {
        let name = plugin.type_name().to_owned();
        if BUILTIN_RULE_TYPES.contains(&name.as_str()) {
            return Err(Error::BuiltinType(name));
        }
        Ok(self.plugins.insert(name, plugin))
    }

    /// Every `type` this registry accepts: the built-in ones, then the
    /// registered ones sorted.
    pub fn types(&self) -> Vec<&str> {
        BUILTIN_RULE_TYPES
            .iter()
            .copied()
            .chain(self.plugins.keys().map(String::as_str))
            .collect()
    }

    /// Compiles one rule, enabled or not.
    ///
    /// # Errors
    /// [`Error::Config`] for a `type` nobody registered or a custom rule its
    /// plugin refuses (naming the file and `alert.rules[i].field`);
    /// [`Error::InvalidRule`] for a built-in rule that cannot compile.
    pub fn compile_rule(&self, config: &RuleConfig) -> Result<Rule> {
        let RuleKind::Custom(custom) = &config.kind else {
            return Rule::from_config(config);
        };
        let plugin = self.plugins.get(&custom.type_name).ok_or_else(|| {
            custom.error(
                "type",
                format!(
                    "unknown rule type `{}`, expected one of: {}",
                    custom.type_name,
                    self.types().join(", ")
                ),
            )
        })?;
        let evaluator = plugin.build(config, custom)?;
        Rule::from_plugin(config, evaluator)
    }

    /// Compiles every rule (so a disabled one is checked too) and returns
    /// the enabled ones, in order.
    ///
    /// # Errors
    /// As [`RuleRegistry::compile_rule`], for the first rule that fails.
    pub fn compile(&self, rules: &[RuleConfig]) -> Result<Vec<Rule>> {
        let mut out = Vec::with_capacity(rules.len());
        for config in rules {
            let rule = self.compile_rule(config)?;
            if config.enabled {
                out.push(rule);
            }
        }
        Ok(out)
    }

    /// An engine over the enabled rules of `rules`.
    ///
    /// # Errors
    /// As [`RuleRegistry::compile`] and [`AlertEngine::new`].
    pub fn engine(&self, rules: &[RuleConfig], options: EngineOptions) -> Result<AlertEngine> {
        AlertEngine::new(self.compile(rules)?, options)
    }
}
