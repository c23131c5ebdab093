//! The email channel against a real SMTP server on 127.0.0.1: plain and STARTTLS.
#![cfg(feature = "email")]

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use common::smtp::{Mode, SmtpSink};
use oxmon_core::config::ChannelConfig;
use oxmon_core::testing::channel::{ChannelHarness, FarEnd, run_all};
use oxmon_core::testing::{T0, sample_event};
use oxmon_core::{ChannelPlugin, Notification, Severity};
use oxmon_notify::channels::email::EmailPlugin;

struct Harness {
    sink: SmtpSink,
}

fn settings(port: u16, extra: &str) -> String {
    format!(
        "smtp_host = '127.0.0.1'\nsmtp_port = {port}\nsmtp_username = 'alerts'\nsmtp_password = 's3cret'\n\
         from = 'oxmon <alerts@example.com>'\nrecipients = ['admin@example.com', 'ops@example.com']\n{extra}"
    )
}

#[async_trait]
impl ChannelHarness for Harness {
    fn plugin(&self) -> Arc<dyn ChannelPlugin> {
        Arc::new(EmailPlugin)
    }
    fn valid_config(&self) -> ChannelConfig {
        let s = settings(self.sink.addr.port(), "tls = 'none'\ntimeout_secs = 5");
        ChannelConfig::new("email", "mail-under-test", toml::from_str(&s).unwrap())
    }
    fn invalid_configs(&self) -> Vec<(ChannelConfig, &'static str)> {
        [
            ("from = 'a@example.com'\nrecipients = ['b@example.com']", "smtp_host"),
            ("smtp_host = 'h'\nfrom = 'a@example.com'\nrecipients = []", "recipients"),
            ("smtp_host = 'h'\nrecipients = ['b@example.com']", "from"),
            ("smtp_host = 'h'\nfrom = 'a@example.com'\nrecipients = ['b@example.com']\ntls = 'maybe'", "tls"),
        ]
        .into_iter()
        .map(|(s, f)| (ChannelConfig::new("email", "bad-mail", toml::from_str(s).unwrap()), f))
        .collect()
    }
    async fn received(&self) -> Vec<String> {
        // Unfold header lines so a folded subject reads as one line.
        self.sink
            .mails()
            .into_iter()
            .map(|m| m.data.replace("\r\n ", " "))
            .collect()
    }
    async fn set_far_end(&self, mode: FarEnd) {
        self.sink.set_mode(match mode {
            FarEnd::Accept => Mode::Accept,
            FarEnd::FailRetryable => Mode::Transient,
            FarEnd::FailPermanent => Mode::Permanent,
        });
    }
}

#[tokio::test]
async fn email_passes_the_conformance_suite_over_plain_smtp() {
    let h = Harness {
        sink: SmtpSink::start(None).await,
    };
    run_all(&h).await;
    let mail = &h.sink.mails()[0];
    assert!(!mail.tls && mail.auth);
    assert_eq!(mail.from, "<alerts@example.com>");
    assert_eq!(
        mail.to,
        ["<admin@example.com>", "<ops@example.com>"],
        "one message to all recipients"
    );
    let data = mail.data.replace("\r\n ", " ");
    assert!(
        data.contains("Subject: [CRITICAL] conformance-rule on conformance-agent-7"),
        "{data}"
    );
    assert!(
        data.contains("text/plain") && data.contains("text/html"),
        "{data}"
    );
}

fn tls_acceptor(dir: &std::path::Path) -> (tokio_rustls::TlsAcceptor, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
    )
    .unwrap();
    (tokio_rustls::TlsAcceptor::from(Arc::new(config)), ca_file)
}

#[tokio::test]
async fn email_upgrades_with_starttls_and_refuses_an_untrusted_server() {
    let dir = tempfile::tempdir().unwrap();
    let (acceptor, ca_file) = tls_acceptor(dir.path());
    let sink = SmtpSink::start(Some(acceptor)).await;
    let port = sink.addr.port();
    let n = Notification::single(sample_event("e-1", "web-1", Severity::Warning, T0));
    let trusted = settings(
        port,
        &format!("tls = 'starttls'\ntls_ca_file = '{}'", ca_file.display()),
    );
    let ch = EmailPlugin
        .build(&ChannelConfig::new(
            "email",
            "m",
            toml::from_str(&trusted).unwrap(),
        ))
        .unwrap();
    ch.send(&n).await.unwrap();
    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].tls && mails[0].auth,
        "the message and the password went over TLS"
    );
    // Without the CA the certificate is not trusted: nothing is sent (lettre
    // reports it as a connection error, so it counts as retryable).
    let untrusted = settings(port, "tls = 'starttls'");
    let ch = EmailPlugin
        .build(&ChannelConfig::new(
            "email",
            "m",
            toml::from_str(&untrusted).unwrap(),
        ))
        .unwrap();
    let err = ch.send(&n).await.unwrap_err();
    assert!(err.message.contains("certificate"), "{err}");
    assert_eq!(sink.mails().len(), 1);
    // A server that does not offer STARTTLS is refused when it is required.
    let plain = SmtpSink::start(None).await;
    let required = settings(plain.addr.port(), "");
    let ch = EmailPlugin
        .build(&ChannelConfig::new(
            "email",
            "m",
            toml::from_str(&required).unwrap(),
        ))
        .unwrap();
    assert!(ch.send(&n).await.is_err());
    assert!(
        plain.mails().is_empty(),
        "no clear-text delivery when STARTTLS is the default"
    );
}
