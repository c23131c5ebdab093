//! `scripts/scale-out.sh` (docs/scaling.md) does what it says: two `server`
//! programs, each with its local agent and two `agent` processes, write to
//! one VictoriaMetrics, and the whole fleet is read back from it.
//! `OXMON_PEER_TESTS=0` skips it (scripts/test.sh installs VictoriaMetrics).

use std::process::Command;

mod support;

#[test]
fn the_scale_out_script_shows_both_shards_in_victoria_metrics() {
    if !support::peers::enabled() {
        eprintln!("OXMON_PEER_TESTS=0: skipped");
        return;
    }
    let bin = support::example("server");
    let out = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/scale-out.sh"))
        .env("OXMON_BIN_DIR", bin.parent().expect("examples dir"))
        .env("SCALE_OUT_SECS", "6")
        .output()
        .expect("bash runs the script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for line in [
        "server a: 3 hosts",
        "server b: 3 hosts",
        "oxmon_server=a  agent=node-a1",
        "oxmon_server=b  agent=server-b",
        "\n  6 hosts\n",
    ] {
        assert!(stdout.contains(line), "`{line}` missing in:\n{stdout}");
    }
}
