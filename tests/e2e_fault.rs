//! Fault test with real processes: the server is killed with SIGKILL while
//! a real agent keeps collecting, restarted a few intervals later, and no
//! sample collected during the outage is missing or duplicated.
//!
//! Runs the `server` and `agent` example binaries that `cargo test` builds.

use std::path::Path;
use std::time::Duration;

mod support;
use support::{example, free_port, spawn, terminate, wait_until};

/// Timestamps of `load.load_1` for the agent, from every day file.
fn timestamps(data: &Path) -> Vec<i64> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(data) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.len() != 13 || !name.ends_with(".db") {
            continue;
        }
        let Ok(conn) = rusqlite::Connection::open_with_flags(
            e.path(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        ) else {
            continue;
        };
        let Ok(mut st) = conn.prepare("SELECT timestamp FROM metrics WHERE agent_id = 'e2e-agent' AND metric_name = 'load.load_1'") else { continue };
        if let Ok(rows) = st.query_map([], |r| r.get::<_, i64>(0)) {
            out.extend(rows.flatten());
        }
    }
    out.sort_unstable();
    out
}

#[test]
fn server_killed_and_restarted_loses_no_sample() {
    let (server_bin, agent_bin) = (example("server"), example("agent"));
    if !server_bin.exists() || !agent_bin.exists() {
        panic!(
            "example binaries missing ({}); run through `cargo test`, which builds them",
            server_bin.display()
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (grpc, http) = (free_port(), free_port());
    let server_toml = dir.path().join("server.toml");
    std::fs::write(
        &server_toml,
        format!(
            "grpc_port = {grpc}\nhttp_port = {http}\ngrpc_bind = \"127.0.0.1\"\nhttp_bind = \"127.0.0.1\"\ndata_dir = \"{}\"\n",
            data.display()
        ),
    )
    .expect("server.toml");
    let agent_toml = dir.path().join("agent.toml");
    std::fs::write(
        &agent_toml,
        format!("agent_id = \"e2e-agent\"\nserver_endpoint = \"127.0.0.1:{grpc}\"\ncollection_interval_secs = 1\nbuffer_max_size = 1000\n"),
    )
    .expect("agent.toml");

    let mut server = spawn(&server_bin, &server_toml, &dir.path().join("server1.log"));
    let mut agent = spawn(&agent_bin, &agent_toml, &dir.path().join("agent.log"));
    wait_until("the first samples", Duration::from_secs(30), || {
        timestamps(&data).len() >= 3
    });

    server.kill().expect("SIGKILL"); // SIGKILL: no shutdown, no flush
    server.wait().expect("reap");
    let killed_at = timestamps(&data).last().copied().unwrap_or_default();
    // Several collection intervals without a server: the agent buffers.
    std::thread::sleep(Duration::from_secs(4));

    let mut server = spawn(&server_bin, &server_toml, &dir.path().join("server2.log"));
    wait_until("the buffered samples", Duration::from_secs(30), || {
        timestamps(&data)
            .last()
            .is_some_and(|&t| t > killed_at + 5_000)
    });
    terminate(&mut agent); // flushes what is left
    terminate(&mut server);

    let ts = timestamps(&data);
    let mut distinct = ts.clone();
    distinct.dedup();
    assert_eq!(ts.len(), distinct.len(), "no sample stored twice");
    let during_outage = ts
        .iter()
        .filter(|&&t| t > killed_at && t <= killed_at + 4_000)
        .count();
    assert!(
        during_outage >= 3,
        "samples collected during the outage are stored ({during_outage})"
    );
    for w in ts.windows(2) {
        assert!(
            w[1] - w[0] < 1_900,
            "a collection is missing between {} and {} ({:?})",
            w[0],
            w[1],
            ts
        );
    }
    let log = std::fs::read_to_string(dir.path().join("agent.log")).unwrap_or_default();
    assert!(
        log.contains("agent stopped"),
        "the agent logged its counters at shutdown:\n{log}"
    );
}
