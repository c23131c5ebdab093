//! The settings of `server.toml` that can change while the server runs,
//! and applying changes to them: each checked by the file's own code, so a
//! refusal names the field as the file's check would.

use super::{ConfigError, ServerConfig};

/// The settings a running server can change (REST `PUT /v1/settings`), by
/// their place in `server.toml`. Everything else (listen addresses, TLS,
/// storage paths, `[auth]`, `[ingest]`, `[limits]`, `[log]`) needs a
/// restart.
pub const RUNTIME_SETTINGS: &[&str] = &[
    "retention_days",
    "require_agent_auth",
    "notification.aggregation_window_secs",
    "notification.timezone",
    "cert_check.enabled",
    "cert_check.default_interval_secs",
    "cert_check.tick_secs",
    "cert_check.connect_timeout_secs",
    "cert_check.max_concurrent",
];

impl ServerConfig {
    /// The value of runtime setting `key` ([`RUNTIME_SETTINGS`]) in this
    /// configuration, as TOML; `None` for another key or an unset optional
    /// one (`notification.timezone`: the host's zone).
    pub fn runtime_setting(&self, key: &str) -> Option<toml::Value> {
        let int = |v: u64| toml::Value::Integer(i64::try_from(v).unwrap_or(i64::MAX));
        Some(match key {
            "retention_days" => toml::Value::Integer(i64::from(self.retention_days)),
            "require_agent_auth" => toml::Value::Boolean(self.require_agent_auth),
            "notification.aggregation_window_secs" => {
                int(self.notification.aggregation_window_secs)
            }
            "notification.timezone" => toml::Value::String(self.notification.timezone.clone()?),
            "cert_check.enabled" => toml::Value::Boolean(self.cert_check.enabled),
            "cert_check.default_interval_secs" => int(self.cert_check.default_interval_secs),
            "cert_check.tick_secs" => int(self.cert_check.tick_secs),
            "cert_check.connect_timeout_secs" => int(self.cert_check.connect_timeout_secs),
            "cert_check.max_concurrent" => int(self.cert_check.max_concurrent as u64),
            _ => return None,
        })
    }

    /// This configuration with `overrides` (runtime setting key to value)
    /// in place of the file's values. Each value is checked as the same key
    /// in a `server.toml` would be (`origin` names where they came from),
    /// so an error names the field as the file's check does.
    ///
    /// # Errors
    /// A key that is not a runtime setting, or a value the file would
    /// refuse.
    pub fn with_overrides<'a>(
        &self,
        overrides: impl IntoIterator<Item = (&'a str, &'a toml::Value)>,
        origin: &str,
    ) -> Result<ServerConfig, ConfigError> {
        let mut text = toml::Table::new();
        for (key, value) in overrides {
            if !RUNTIME_SETTINGS.contains(&key) {
                return Err(ConfigError::field(
                    origin,
                    key,
                    format!(
                        "is not a setting a running server can change; these are: {}",
                        RUNTIME_SETTINGS.join(", ")
                    ),
                ));
            }
            let mut at = &mut text;
            let mut parts = key.split('.').peekable();
            while let Some(part) = parts.next() {
                if parts.peek().is_none() {
                    at.insert(part.to_owned(), value.clone());
                } else {
                    at = match at
                        .entry(part.to_owned())
                        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                    {
                        toml::Value::Table(t) => t,
                        _ => unreachable!("only tables are inserted for inner parts"),
                    };
                }
            }
        }
        // The overrides alone, as a file: checked by the file's code.
        let checked = ServerConfig::from_toml(&text.to_string(), origin)?;
        let mut out = self.clone();
        let present = |k: &str| {
            let mut t = &text;
            let mut parts = k.split('.').peekable();
            while let Some(part) = parts.next() {
                match t.get(part) {
                    Some(toml::Value::Table(inner)) if parts.peek().is_some() => t = inner,
                    Some(_) if parts.peek().is_none() => return true,
                    _ => return false,
                }
            }
            false
        };
        if present("retention_days") {
            out.retention_days = checked.retention_days;
        }
        if present("require_agent_auth") {
            out.require_agent_auth = checked.require_agent_auth;
        }
        if present("notification.aggregation_window_secs") {
            out.notification.aggregation_window_secs = checked.notification.aggregation_window_secs;
        }
        if present("notification.timezone") {
            out.notification.timezone = checked.notification.timezone.clone();
        }
        let (c, from) = (&mut out.cert_check, &checked.cert_check);
        if present("cert_check.enabled") {
            c.enabled = from.enabled;
        }
        if present("cert_check.default_interval_secs") {
            c.default_interval_secs = from.default_interval_secs;
        }
        if present("cert_check.tick_secs") {
            c.tick_secs = from.tick_secs;
        }
        if present("cert_check.connect_timeout_secs") {
            c.connect_timeout_secs = from.connect_timeout_secs;
        }
        if present("cert_check.max_concurrent") {
            c.max_concurrent = from.max_concurrent;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> ServerConfig {
        ServerConfig::from_toml(
            "retention_days = 7\n[cert_check]\ntick_secs = 60\n",
            "server.toml",
        )
        .unwrap()
    }

    #[test]
    fn overrides_replace_only_their_keys_and_are_checked_like_the_file() {
        let one = toml::Value::Integer(30);
        let zone = toml::Value::String("Asia/Shanghai".into());
        let out = base()
            .with_overrides(
                [("retention_days", &one), ("notification.timezone", &zone)],
                "api",
            )
            .unwrap();
        assert_eq!(out.retention_days, 30);
        assert_eq!(out.notification.timezone.as_deref(), Some("Asia/Shanghai"));
        assert_eq!(out.cert_check.tick_secs, 60, "untouched");
        for key in RUNTIME_SETTINGS {
            if *key != "notification.timezone" {
                assert!(out.runtime_setting(key).is_some(), "{key}");
            }
        }
        assert_eq!(out.runtime_setting("retention_days"), Some(one.clone()));

        let bad = toml::Value::String("Mars/Olympus".into());
        let err = base()
            .with_overrides([("notification.timezone", &bad)], "api")
            .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("notification.timezone"), "{err}");
        let err = base()
            .with_overrides([("grpc_port", &one)], "api")
            .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("grpc_port"));
        assert!(err.to_string().contains("retention_days"), "{err}");
        let negative = toml::Value::Integer(-1);
        let err = base()
            .with_overrides([("cert_check.tick_secs", &negative)], "api")
            .unwrap_err();
        assert!(
            err.field
                .as_deref()
                .unwrap_or_default()
                .contains("tick_secs"),
            "{err}"
        );
    }
}
