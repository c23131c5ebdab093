//! An oxmon server with parts of its own, as a downstream crate writes
//! them against the public API of the `oxmon` crates:
//!
//! - [`feishu`]: `type = "feishu"` notification channel, the Feishu/Lark
//!   custom bot with its signed requests;
//! - [`sockets`]: a collector of TCP connections by state and the number of
//!   processes, read from `/proc`;
//! - [`jump`]: `type = "jump"` rule, fires when a value rises by more than
//!   `max_increase` between two collections.
//!
//! [`with_parts`] adds them to a server builder; `src/main.rs` is the
//! program.

pub mod feishu;
pub mod jump;
pub mod sockets;

use std::sync::Arc;

use oxmon::server::ServerBuilder;

/// Adds this crate's channel, rule type and collector (reading `/proc`) to
/// a server.
pub fn with_parts(server: ServerBuilder) -> ServerBuilder {
    with_parts_from(server, "/proc")
}

/// As [`with_parts`], with the collector reading `proc_root` instead of
/// `/proc` (tests).
pub fn with_parts_from(
    server: ServerBuilder,
    proc_root: impl Into<std::path::PathBuf>,
) -> ServerBuilder {
    server
        .channel_plugin(Arc::new(feishu::FeishuPlugin::new()))
        .rule_plugin(Arc::new(jump::JumpPlugin))
        .collector(Box::new(sockets::SocketCollector::new(proc_root)))
}
