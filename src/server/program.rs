//! The server program: arguments, configuration, logging, start, and stop
//! on SIGINT or SIGTERM. `examples/server.rs` is this with the built-in
//! parts; a downstream program passes its own parts to [`main_with`].

use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;

use oxmon_core::config::ServerConfig;

use super::{AdminPasswordSource, Server, ServerBuilder, ServerError};

/// How to call the server program.
const USAGE: &str = "usage: server [CONFIG] [--check-config]

  CONFIG          server.toml (default: built-in quick start: data in ./data,
                  gRPC 127.0.0.1:9090, REST 127.0.0.1:8080, an agent for this
                  host inside the server)
  --check-config  check CONFIG with the parts the server would run, then exit
  Logs go to stderr as [log] says; RUST_LOG overrides the level";

/// The command line: the configuration file, if any, and whether to check
/// it only; `Err` is the exit code for `--help` (0) or a bad argument (2).
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<(Option<String>, bool), ExitCode> {
    let (mut path, mut check_only) = (None, false);
    for arg in args {
        match arg.as_str() {
            "--check-config" => check_only = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Err(ExitCode::SUCCESS);
            }
            s if s.starts_with('-') => {
                eprintln!("server: unknown option `{s}`\n{USAGE}");
                return Err(ExitCode::from(2));
            }
            _ if path.is_some() => {
                eprintln!("server: more than one configuration file (`{arg}`)\n{USAGE}");
                return Err(ExitCode::from(2));
            }
            _ => path = Some(arg),
        }
    }
    Ok((path, check_only))
}

/// Runs the server program: `PROGRAM [CONFIG] [--check-config]` (`--help`
/// prints the usage; an unknown option or a second file is refused, exit 2).
///
/// Without CONFIG: built-in defaults (data in `./data`, gRPC and REST on
/// 127.0.0.1) plus an agent for this host inside the server, so data shows
/// up at once. With CONFIG: exactly what the file says. `--check-config`
/// validates the file with the same parts the server would run (`customize`
/// included) and exits. Logs go to stderr as `[log]` says; `RUST_LOG`
/// overrides its level.
///
/// Exit codes: 0 done, 1 runtime failure, 2 invalid configuration.
///
/// ```no_run
/// # async fn demo(pager: std::sync::Arc<dyn oxmon::core::ChannelPlugin>) -> std::process::ExitCode {
/// oxmon::server::main_with(|server| server.channel_plugin(pager)).await
/// # }
/// ```
pub async fn main_with(customize: impl FnOnce(ServerBuilder) -> ServerBuilder) -> ExitCode {
    let (path, check_only) = match parse_args(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    let path = path.as_deref();
    let config = match path {
        Some(p) => match ServerConfig::load(p) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        },
        None => quick_start(),
    };
    if let Err(e) = crate::logging::init(&config.log) {
        eprintln!("oxmon server: {e}");
        return ExitCode::from(2);
    }
    // A weak first password from the file is named with the file.
    let explain = |e: &ServerError| match (e, path) {
        (
            ServerError::WeakAdminPassword {
                from: AdminPasswordSource::ConfigFile,
                ..
            },
            Some(p),
        ) => format!("{p}: {e}"),
        _ => e.to_string(),
    };
    let builder = customize(Server::builder(config.clone()));
    if check_only {
        if let Err(e) = builder.check() {
            eprintln!("{}", explain(&e));
            return ExitCode::from(2);
        }
        println!(
            "{}: configuration is valid",
            path.unwrap_or("built-in defaults")
        );
        return ExitCode::SUCCESS;
    }
    // Installed before the server starts: a stop request while it starts
    // shuts it down cleanly instead of killing it.
    let stop = crate::shutdown_signal();
    let server = match builder.start().await {
        Ok(s) => s,
        // Start-up checks first, so it reports the same configuration
        // errors as --check-config (exit 2).
        Err(
            e @ (ServerError::Config(_)
            | ServerError::Rules(_)
            | ServerError::CertCheck(_)
            | ServerError::WeakAdminPassword { .. }),
        ) => {
            eprintln!("{}", explain(&e));
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("oxmon server: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "oxmon server: REST API on http://{} (try /v1/health and /v1/openapi.json), gRPC on {}, data in {}",
        server.http_addr(),
        server.grpc_addr(),
        config.data_dir.display()
    );
    match server.initial_admin_password() {
        Some(p) => eprintln!(
            "First start: created user `{}` with the password\n    {}\nIt is shown only now. Log in with POST /v1/auth/login, change it with POST /v1/auth/password.",
            config.auth.default_username,
            p.expose()
        ),
        None => eprintln!(
            "Log in with POST /v1/auth/login as `{}`.",
            config.auth.default_username
        ),
    }
    stop.await;
    server.shutdown().await;
    ExitCode::SUCCESS
}

/// The rule of the quick start: an agent silent for two minutes alerts.
const QUICK_START_RULES: &str = "[[alert.rules]]\nname = \"agent-offline\"\n\
     type = \"agent_offline\"\nafter_secs = 120\nsilence_secs = 3600\n";

/// The configuration without a file: everything local, nothing exposed to
/// the network, the local agent on, and an alert when an agent goes silent.
fn quick_start() -> ServerConfig {
    let mut c =
        ServerConfig::from_toml(QUICK_START_RULES, "the built-in quick start").unwrap_or_default();
    c.grpc_bind = IpAddr::V4(Ipv4Addr::LOCALHOST);
    c.http_bind = IpAddr::V4(Ipv4Addr::LOCALHOST);
    c.local_agent.enabled = true;
    c
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_quick_start_alerts_when_an_agent_goes_silent() {
        let c = super::quick_start();
        assert_eq!(c.alert.rules.len(), 1);
        assert_eq!(
            c.alert.rules[0].kind,
            oxmon_core::config::RuleKind::AgentOffline { after_secs: 120 }
        );
        assert!(c.local_agent.enabled);
    }
}
