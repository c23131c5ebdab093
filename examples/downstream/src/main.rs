//! The oxmon server with this crate's parts: the same arguments as
//! `examples/server.rs` (`[CONFIG] [--check-config]`), and `type = "feishu"`
//! channels and `type = "jump"` rules in the configuration.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    oxmon::server::main_with(oxmon_example_downstream::with_parts).await
}
