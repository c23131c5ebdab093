//! Run with: cargo run --release --example server [-- CONFIG] [--check-config]
//!
//! The server with the built-in parts ([`oxmon::server::main_with`] says
//! what the arguments do). A program with its own channels, rule types or
//! collectors passes them to the builder: see `examples/downstream/`.

use std::process::ExitCode;

/// mimalloc: with a thousand agents' connections spread over the runtime's
/// threads, glibc's per-thread arenas kept about a fifth more memory
/// resident (docs/benchmarks.md, server under load).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    oxmon::server::main_with(|server| server).await
}
