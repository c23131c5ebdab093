//! The fleet of the alert engine's bench, shared with the steady-state
//! example: 100 rules of mixed types, 10,000 series shaped like the
//! collectors' output for 100 agents and 100 certificate domains (200
//! series: days and validity), and
//! deterministic random walks for their values.

use oxmon_alert::{Labels, SeriesKey};

pub(crate) const T0: i64 = 1_767_225_600_000;
pub(crate) const STEP_MS: i64 = 10_000;

pub(crate) fn rules_toml() -> String {
    let metrics = [
        ("cpu.usage", 90.0),
        ("cpu.core_usage", 95.0),
        ("memory.used_percent", 90.0),
        ("memory.swap_used", 1e9),
        ("disk.used_percent", 90.0),
        ("disk.available", 1e9),
        ("network.bytes_recv", 1e8),
        ("network.bytes_sent", 1e8),
        ("load.load_1", 8.0),
        ("load.load_5", 6.0),
    ];
    let mut out = String::new();
    for i in 0..96 {
        let (metric, v) = metrics[i % metrics.len()];
        let pattern = ["*", "agent-*", "agent-?[0-9]*", "*"][i % 4];
        let body = match (i / metrics.len()) % 4 {
            0 => format!(
                "type = \"threshold\"\noperator = \"gt\"\nvalue = {v:.1}\nduration_secs = {}",
                (i % 3) * 60
            ),
            1 => "type = \"rate_of_change\"\nrate_threshold = 30.0\nwindow_secs = 300".to_owned(),
            2 => format!(
                "type = \"trend_prediction\"\npredict_threshold = {v:.1}\nhorizon_secs = 86400\nwindow_secs = 3600\nmin_data_points = 30"
            ),
            _ => format!(
                "type = \"threshold\"\noperator = \"lt\"\nvalue = {:.1}\nduration_secs = 120",
                v / 100.0
            ),
        };
        out.push_str(&format!("[[alert.rules]]\nname = \"r{i}\"\nmetric = \"{metric}\"\nagent_pattern = \"{pattern}\"\n{body}\n\n"));
    }
    for i in 0..4 {
        out.push_str(&format!(
            "[[alert.rules]]\nname = \"cert{i}\"\ntype = \"cert_expiration\"\nagent_pattern = \"cert-checker\"\nwarning_days = {}\ncritical_days = 7\n\n",
            30 + i
        ));
    }
    out
}

/// 10,000 series: 100 agents x 98 series + 200 certificate domains.
pub(crate) fn series() -> Vec<SeriesKey> {
    let out = series_of(100);
    assert_eq!(out.len(), 10_000);
    out
}

/// `agents` agents x 98 series + 200 certificate domains.
pub(crate) fn series_of(agents: usize) -> Vec<SeriesKey> {
    let mut out = Vec::new();
    for a in 0..agents {
        let agent = format!("agent-{a:02}");
        let mut push =
            |metric: &str, labels: Labels| out.push(SeriesKey::new(agent.clone(), metric, labels));
        push("cpu.usage", Labels::new());
        for c in 0..28 {
            push("cpu.core_usage", Labels::new().with("core", c.to_string()));
        }
        for m in [
            "memory.total",
            "memory.used",
            "memory.available",
            "memory.used_percent",
            "memory.swap_total",
            "memory.swap_used",
        ] {
            push(m, Labels::new());
        }
        for mount in [
            "/", "/boot", "/data", "/var", "/home", "/srv", "/tmp", "/opt",
        ] {
            for m in [
                "disk.total",
                "disk.used",
                "disk.available",
                "disk.used_percent",
            ] {
                push(m, Labels::new().with("mount", mount));
            }
        }
        for iface in ["eth0", "eth1", "eth2", "eth3", "docker0", "wg0"] {
            for m in [
                "network.bytes_sent",
                "network.bytes_recv",
                "network.packets_sent",
                "network.packets_recv",
            ] {
                push(m, Labels::new().with("interface", iface));
            }
        }
        for m in ["load.load_1", "load.load_5", "load.load_15", "load.uptime"] {
            push(m, Labels::new());
        }
        for m in ["memory.cached", "memory.buffers", "process.count"] {
            push(m, Labels::new());
        }
    }
    for d in 0..100 {
        let l = Labels::new().with("domain", format!("site-{d}.example"));
        out.push(SeriesKey::new(
            "cert-checker",
            "certificate.days_until_expiry",
            l.clone(),
        ));
        out.push(SeriesKey::new("cert-checker", "certificate.is_valid", l));
    }
    out
}

/// Deterministic random walks: `scrapes` rows of one value per series.
pub(crate) fn values(n_series: usize, scrapes: usize) -> Vec<Vec<f64>> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut level: Vec<f64> = (0..n_series).map(|_| 20.0 + 60.0 * next()).collect();
    (0..scrapes)
        .map(|_| {
            level
                .iter_mut()
                .for_each(|v| *v = (*v + (next() - 0.5) * 4.0).clamp(0.0, 100.0));
            level.clone()
        })
        .collect()
}
