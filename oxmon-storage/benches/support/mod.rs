//! Shared by the benches: the series one agent reports, in the shape of the
//! shared benchmark dataset (`../shared/bench-data` from the repository root): 60 series.

use oxmon_storage::Labels;

/// (metric, labels) of the 60 series of one agent.
pub(crate) fn agent_series() -> Vec<(String, Labels)> {
    let mut out = vec![("cpu.usage".to_owned(), Labels::new())];
    for c in 0..25 {
        out.push((
            "cpu.core_usage".into(),
            Labels::new().with("core", c.to_string()),
        ));
    }
    for m in [
        "total",
        "used",
        "available",
        "used_percent",
        "swap_total",
        "swap_used",
    ] {
        out.push((format!("memory.{m}"), Labels::new()));
    }
    for mount in ["/", "/data", "/var"] {
        for m in ["total", "used", "available", "used_percent"] {
            out.push((format!("disk.{m}"), Labels::new().with("mount", mount)));
        }
    }
    for nic in ["eth0", "eth1", "bond0"] {
        for m in ["bytes_sent", "bytes_recv", "packets_sent", "packets_recv"] {
            out.push((format!("network.{m}"), Labels::new().with("interface", nic)));
        }
    }
    for m in ["load_1", "load_5", "load_15", "uptime"] {
        out.push((format!("load.{m}"), Labels::new()));
    }
    out
}
