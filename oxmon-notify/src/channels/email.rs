//! `type = "email"`: SMTP through lettre (rustls, tokio), one message to all recipients.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use oxmon_core::config::{ChannelConfig, ConfigError};
use oxmon_core::{Channel, ChannelPlugin, Notification, Secret, SendError};

use crate::render;

const KEYS: &[&str] = &[
    "smtp_host",
    "smtp_port",
    "smtp_username",
    "smtp_password",
    "from",
    "recipients",
    "tls",
    "tls_ca_file",
    "timeout_secs",
];

/// SMTP timeout when the channel sets no `timeout_secs`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How the connection to the SMTP server is secured (`tls` setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte (SMTPS, usually port 465).
    Implicit,
    /// Plain connection upgraded with STARTTLS, which the server must offer
    /// (usually ports 587 and 25).
    StartTls,
    /// No encryption at all: only for a relay on a trusted network.
    None,
}

impl TlsMode {
    /// The default for a port: implicit on 465, STARTTLS on every other port
    /// (587, 25 and non-standard ones): a password never travels in clear
    /// text unless `tls = "none"` says so.
    pub fn default_for_port(port: u16) -> Self {
        if port == 465 {
            TlsMode::Implicit
        } else {
            TlsMode::StartTls
        }
    }
}

/// The plugin for `type = "email"`.
///
/// Settings: `smtp_host`, `from`, `recipients` (required); `smtp_port`
/// (default 587); `smtp_username` and `smtp_password` (together or neither);
/// `tls` = `implicit` | `starttls` | `none` (default from the port, see
/// [`TlsMode::default_for_port`]); `tls_ca_file` (PEM file of an extra CA to
/// trust, for a private relay); `timeout_secs` (default 30).
#[derive(Debug, Clone, Copy, Default)]
pub struct EmailPlugin;

/// A built email channel. `Debug` hides the password.
pub struct EmailChannel {
    name: String,
    host: String,
    port: u16,
    tls: TlsMode,
    username: Option<String>,
    password: Option<Secret>,
    from: Mailbox,
    recipients: Vec<Mailbox>,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl fmt::Debug for EmailChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailChannel")
            .field("name", &self.name)
            .field("smtp_host", &self.host)
            .field("smtp_port", &self.port)
            .field("tls", &self.tls)
            .field("smtp_username", &self.username)
            .field("smtp_password", &self.password)
            .field("from", &self.from.to_string())
            .field(
                "recipients",
                &self
                    .recipients
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn mailbox(config: &ChannelConfig, field: &str, text: &str) -> Result<Mailbox, ConfigError> {
    text.parse().map_err(|e| {
        ConfigError::channel(
            config,
            field,
            format!("`{text}` is not an email address ({e})"),
        )
    })
}

impl EmailPlugin {
    fn parse(config: &ChannelConfig) -> Result<EmailChannel, ConfigError> {
        config.deny_unknown(KEYS)?;
        let host = config.required_str("smtp_host")?.trim().to_owned();
        let port = match config.optional_int("smtp_port")? {
            None => 587,
            Some(p) => u16::try_from(p).ok().filter(|p| *p > 0).ok_or_else(|| {
                ConfigError::channel(config, "smtp_port", format!("must be 1 to 65535, got {p}"))
            })?,
        };
        let tls = match config.optional_str("tls")? {
            None => TlsMode::default_for_port(port),
            Some("implicit") => TlsMode::Implicit,
            Some("starttls") => TlsMode::StartTls,
            Some("none") => TlsMode::None,
            Some(other) => {
                return Err(ConfigError::channel(
                    config,
                    "tls",
                    format!("unknown mode `{other}`, expected implicit, starttls or none"),
                ));
            }
        };
        let username = config.optional_str("smtp_username")?.map(str::to_owned);
        let password = config.optional_str("smtp_password")?.map(Secret::new);
        match (&username, &password) {
            (Some(_), None) => {
                return Err(ConfigError::channel(
                    config,
                    "smtp_password",
                    "is required with smtp_username",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::channel(
                    config,
                    "smtp_username",
                    "is required with smtp_password",
                ));
            }
            _ => {}
        }
        let from = mailbox(config, "from", config.required_str("from")?)?;
        let recipients = config
            .required_str_list("recipients")?
            .iter()
            .enumerate()
            .map(|(i, r)| mailbox(config, &format!("recipients[{i}]"), r))
            .collect::<Result<Vec<_>, _>>()?;
        let timeout = match config.optional_int("timeout_secs")? {
            None => DEFAULT_TIMEOUT,
            Some(s @ 1..=300) => Duration::from_secs(s.unsigned_abs()),
            Some(s) => {
                return Err(ConfigError::channel(
                    config,
                    "timeout_secs",
                    format!("must be between 1 and 300, got {s}"),
                ));
            }
        };
        let mut params = TlsParameters::builder(host.clone());
        if let Some(path) = config.optional_str("tls_ca_file")? {
            let pem = std::fs::read(path).map_err(|e| {
                ConfigError::channel(config, "tls_ca_file", format!("cannot read `{path}`: {e}"))
            })?;
            let cert = Certificate::from_pem(&pem).map_err(|e| {
                ConfigError::channel(
                    config,
                    "tls_ca_file",
                    format!("`{path}` is not a PEM certificate: {e}"),
                )
            })?;
            params = params.add_root_certificate(cert);
        }
        let params = params.build_rustls().map_err(|e| {
            ConfigError::channel(config, "smtp_host", format!("TLS setup failed: {e}"))
        })?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(port)
            .timeout(Some(timeout))
            .tls(match tls {
                TlsMode::Implicit => Tls::Wrapper(params),
                TlsMode::StartTls => Tls::Required(params),
                TlsMode::None => Tls::None,
            });
        if let (Some(u), Some(p)) = (&username, &password) {
            builder = builder.credentials(Credentials::new(u.clone(), p.expose().to_owned()));
        }
        Ok(EmailChannel {
            name: config.name.clone(),
            host,
            port,
            tls,
            username,
            password,
            from,
            recipients,
            transport: builder.build(),
        })
    }
}

impl ChannelPlugin for EmailPlugin {
    fn name(&self) -> &str {
        "email"
    }

    fn secret_settings(&self) -> &[&str] {
        &["smtp_password"]
    }

    fn build(&self, config: &ChannelConfig) -> Result<Arc<dyn Channel>, ConfigError> {
        Ok(Arc::new(Self::parse(config)?))
    }
}

impl EmailChannel {
    /// The message for a notification: subject = title, a plain-text part
    /// and an HTML alternative, addressed to every recipient.
    fn message(&self, n: &Notification) -> Result<Message, SendError> {
        let mut text = String::new();
        if let Some(s) = render::summary(n) {
            text.push_str(&s);
            text.push_str("\n\n");
        }
        text.push_str(&render::text(n));
        let html = format!(
            "<html><body><h3>{}</h3><pre>{}</pre></body></html>",
            render::html_escape(&render::title(n)),
            render::html_escape(&text)
        );
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(render::title(n));
        for r in &self.recipients {
            builder = builder.to(r.clone());
        }
        builder
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| SendError::permanent(format!("cannot build the message: {e}")))
    }
}

/// Sorts an SMTP failure: 5xx replies, client-side and TLS errors are
/// permanent; 4xx replies, timeouts and connection failures retryable.
fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let message = format!("SMTP: {e}");
    if e.is_permanent() || e.is_client() || e.is_tls() {
        SendError::permanent(message)
    } else {
        SendError::retryable(message)
    }
}

#[async_trait]
impl Channel for EmailChannel {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, notification: &Notification) -> Result<(), SendError> {
        let message = self.message(notification)?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| classify(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(s: &str) -> ChannelConfig {
        ChannelConfig::new("email", "mail", toml::from_str(s).unwrap())
    }

    #[test]
    fn tls_defaults_follow_the_port() {
        assert_eq!(TlsMode::default_for_port(465), TlsMode::Implicit);
        assert_eq!(TlsMode::default_for_port(587), TlsMode::StartTls);
        assert_eq!(TlsMode::default_for_port(25), TlsMode::StartTls);
        assert_eq!(TlsMode::default_for_port(2525), TlsMode::StartTls);
        let base = "smtp_host = 'smtp.example.com'\nfrom = 'a@example.com'\nrecipients = ['b@example.com']";
        let c = EmailPlugin::parse(&config(&format!("{base}\nsmtp_port = 465"))).unwrap();
        assert_eq!(c.tls, TlsMode::Implicit);
        let c =
            EmailPlugin::parse(&config(&format!("{base}\nsmtp_port = 465\ntls = 'none'"))).unwrap();
        assert_eq!(c.tls, TlsMode::None);
    }

    #[test]
    fn password_is_hidden_and_errors_name_fields() {
        let c = EmailPlugin::parse(&config(
            "smtp_host = 'h'\nsmtp_username = 'u'\nsmtp_password = 'pa55word!'\nfrom = 'a@example.com'\nrecipients = ['b@example.com']",
        ))
        .unwrap();
        assert!(!format!("{c:?}").contains("pa55word!"));
        for (s, field) in [
            (
                "smtp_host = 'h'\nfrom = 'a@example.com'\nrecipients = []",
                "recipients",
            ),
            (
                "smtp_host = 'h'\nfrom = 'not-an-address'\nrecipients = ['b@example.com']",
                "from",
            ),
            (
                "smtp_host = 'h'\nfrom = 'a@example.com'\nrecipients = ['b@example.com', 'x']",
                "recipients[1]",
            ),
            (
                "smtp_host = 'h'\nsmtp_port = 70000\nfrom = 'a@example.com'\nrecipients = ['b@example.com']",
                "smtp_port",
            ),
            (
                "smtp_host = 'h'\ntls = 'ssl'\nfrom = 'a@example.com'\nrecipients = ['b@example.com']",
                "tls",
            ),
            (
                "smtp_host = 'h'\nsmtp_username = 'u'\nfrom = 'a@example.com'\nrecipients = ['b@example.com']",
                "smtp_password",
            ),
            (
                "smtp_host = 'h'\ntls_ca_file = '/nonexistent.pem'\nfrom = 'a@example.com'\nrecipients = ['b@example.com']",
                "tls_ca_file",
            ),
        ] {
            let err = EmailPlugin.validate(&config(s)).unwrap_err();
            assert!(err.field.as_deref().unwrap().ends_with(field), "{s}: {err}");
        }
    }
}
