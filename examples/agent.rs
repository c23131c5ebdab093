//! Run with: cargo run --example agent -- [CONFIG] [--once]
//!
//! The reference agent: reads `agent.toml` (or runs on built-in defaults),
//! collects every system metric on a fixed schedule and reports over gRPC,
//! buffering while the server is unreachable. SIGINT or SIGTERM stops it
//! after a short flush. `--once` prints one collection as JSON lines.
//! Exit codes: 0 done, 1 runtime failure, 2 bad arguments or configuration.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use oxmon::agent::cli::{self, AgentArgs, USAGE};
use oxmon::agent::{Agent, shutdown_signal};
use oxmon::collector::default_collectors;
use oxmon::core::SystemClock;

fn main() -> ExitCode {
    let args = match AgentArgs::parse(std::env::args_os().skip(1)) {
        Ok(a) if a.help => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(a) => a,
        Err(e) => {
            eprintln!("agent: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match cli::load_config(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = oxmon::logging::init(&config.log) {
        eprintln!("agent: {e}");
        return ExitCode::from(2);
    }
    let agent_id = match cli::agent_id(&config) {
        Ok(id) => id,
        Err(e) => {
            eprintln!("agent: {e}");
            return ExitCode::from(2);
        }
    };
    if args.once {
        return match cli::print_once(
            &agent_id,
            &cli::collector_options(&config.collectors),
            Duration::from_secs(1),
            &mut std::io::stdout().lock(),
        ) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("agent: writing to stdout: {e}");
                ExitCode::from(1)
            }
        };
    }
    // One thread is plenty: collections run on the blocking pool.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(2)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("agent: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(run(config, agent_id));
    // A collection stuck in a blocking read (a dead network mount) must not
    // keep the process alive.
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

#[cfg(feature = "grpc")]
async fn run(config: oxmon::AgentConfig, agent_id: String) -> ExitCode {
    let transport = match oxmon::transport::grpc::GrpcTransport::connect(&config, &agent_id) {
        Ok(t) => Arc::new(t),
        Err(e) => {
            eprintln!("agent: {e}");
            return ExitCode::from(2);
        }
    };
    let collectors = default_collectors(&cli::collector_options(&config.collectors));
    Agent::new(&config, collectors, transport, Arc::new(SystemClock))
        .run(shutdown_signal())
        .await;
    ExitCode::SUCCESS
}

#[cfg(not(feature = "grpc"))]
async fn run(_config: oxmon::AgentConfig, _agent_id: String) -> ExitCode {
    eprintln!("agent: gRPC transport not available: built without the `grpc` feature");
    ExitCode::from(1)
}
