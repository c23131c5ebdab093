//! Run with: cargo run --example agent -- [CONFIG] [--once]
//!
//! The reference agent: reads `agent.toml` (or runs on built-in defaults),
//! collects every system metric on a fixed schedule and reports over gRPC,
//! buffering while the server is unreachable. SIGINT or SIGTERM stops it
//! after a short flush. `--once` prints one collection as JSON lines.
//! Exit codes: 0 done, 1 runtime failure, 2 bad arguments or configuration.
//!
//! Everything but the command line is `oxmon::agent::Agent::builder`; a
//! program of your own adds its collectors there.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use oxmon::AgentConfig;
use oxmon::agent::{Agent, resolve_agent_id};
use oxmon::collector::once::{collect_once, write_json_lines};
use oxmon::collector::{CollectorOptions, default_collectors};
use oxmon::core::SystemClock;

/// How to call the agent program.
const USAGE: &str = "usage: agent [CONFIG] [--once]

  CONFIG   agent.toml (default: built-in defaults: agent id = host name,
           server 127.0.0.1:9090)
  --once   print one collection as JSON lines on stdout and exit, without
           contacting a server
  Logs go to stderr as [log] in agent.toml says (level, format);
  RUST_LOG overrides the level (default: info)";

/// The agent program's command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Args {
    /// The configuration file, if given.
    config: Option<PathBuf>,
    /// `--once`: print one collection and exit.
    once: bool,
    /// `--help`: print [`USAGE`] and exit.
    help: bool,
}

impl Args {
    /// Parses the arguments (without the program name).
    fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Self, String> {
        let mut out = Args::default();
        for arg in args {
            match arg.to_str() {
                Some("--once") => out.once = true,
                Some("-h" | "--help") => out.help = true,
                Some(s) if s.starts_with('-') => return Err(format!("unknown option `{s}`")),
                _ if out.config.is_some() => {
                    return Err(format!(
                        "more than one configuration file (`{}`)",
                        arg.to_string_lossy()
                    ));
                }
                _ => out.config = Some(PathBuf::from(arg)),
            }
        }
        Ok(out)
    }
}

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args_os().skip(1)) {
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
    let config = match &args.config {
        Some(path) => AgentConfig::load(path),
        None => Ok(AgentConfig::default()),
    };
    let config = match config {
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
    if args.once {
        return print_once(&config);
    }
    // One thread is plenty: collections that may block (a network file
    // system's statvfs) run on the blocking pool, the others inline.
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
    let code = runtime.block_on(async {
        // Before the agent is built: a stop request meanwhile is clean.
        let stop = oxmon::shutdown_signal();
        match Agent::builder(config).build() {
            Ok(agent) => {
                agent.run(stop).await;
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("agent: {e}");
                ExitCode::from(2)
            }
        }
    });
    // A collection stuck in a blocking read (a dead network mount) must not
    // keep the process alive.
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

/// `--once`: one complete collection (two readings a second apart, for the
/// rates and CPU usage), printed as JSON lines. Collector failures are
/// logged; the other collectors' samples are still printed.
fn print_once(config: &AgentConfig) -> ExitCode {
    let agent_id = match resolve_agent_id(config) {
        Ok(id) => id,
        Err(e) => {
            eprintln!("agent: {e}");
            return ExitCode::from(2);
        }
    };
    let mut collectors = default_collectors(&CollectorOptions::from_config(&config.collectors));
    let (batch, failures) = collect_once(
        &mut collectors,
        &agent_id,
        &SystemClock,
        Duration::from_secs(1),
    );
    for f in failures {
        tracing::warn!(collector = %f.collector, error = %f.message, "collector failed");
    }
    match write_json_lines(&batch, &mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("agent: writing to stdout: {e}");
            ExitCode::from(1)
        }
    }
}
