//! Run with: cargo run --release --example server [-- CONFIG] [--check-config]
//!
//! Without CONFIG: built-in defaults (data in ./data, gRPC on 127.0.0.1:9090)
//! plus an agent for this host inside the server, so data shows up at once.
//! With CONFIG: exactly what the file says. `--check-config` validates the
//! file and exits (0 valid, 2 invalid). Logs go to stderr as `[log]` says;
//! `RUST_LOG` overrides its level.

use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::sync::Arc;

use oxmon::ServerConfig;
use oxmon::core::SystemClock;
use oxmon::server::{AdminPasswordSource, Server, ServerError};

/// mimalloc: with a thousand agents' connections spread over the runtime's
/// threads, glibc's per-thread arenas kept about a fifth more memory
/// resident (docs/benchmarks.md, server under load).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check_only = args.iter().any(|a| a == "--check-config");
    let path = args.iter().find(|a| !a.starts_with("--"));
    let config = match path {
        Some(p) => match ServerConfig::load(p) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        },
        None => {
            // Quick start: everything local, nothing exposed to the network.
            let mut c = ServerConfig::default();
            c.grpc_bind = IpAddr::V4(Ipv4Addr::LOCALHOST);
            c.http_bind = IpAddr::V4(Ipv4Addr::LOCALHOST);
            c.local_agent.enabled = true;
            c
        }
    };
    if let Err(e) = oxmon::logging::init(&config.log) {
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
    if check_only {
        if let Err(e) = oxmon::server::check(&config) {
            eprintln!("{}", explain(&e));
            return ExitCode::from(2);
        }
        println!(
            "{}: configuration is valid",
            path.map_or("built-in defaults", String::as_str)
        );
        return ExitCode::SUCCESS;
    }
    let server = match Server::start(config.clone(), Arc::new(SystemClock)).await {
        Ok(s) => s,
        // Start-up builds every channel and rule, so it reports the same
        // configuration errors as --check-config (exit 2).
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
    oxmon::agent::shutdown_signal().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}
