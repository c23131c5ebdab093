//! The alert engine's bench fleet in steady state, for counting tools:
//! warms the engine up past its longest window (400 scrapes), then feeds
//! `SCRAPES` more (default 20) through `measured`, which a tool can select
//! (`valgrind --tool=callgrind --toggle-collect='*measured*'`, with
//! `--cache-sim=yes` for cache misses). Instruction and miss counts are
//! repeatable whatever the machine is doing, which the bench's timings are
//! not. `AGENTS` (default 100) sets the fleet's size.
//!
//! ```sh
//! cargo build --release -p oxmon-alert --example alert_steady_state
//! valgrind --tool=callgrind --cache-sim=yes --D1=49152,12,64 --LL=2097152,16,64 \
//!     --toggle-collect='*measured*' target/release/examples/alert_steady_state
//! ```

use oxmon_alert::{AlertEngine, AlertEvent, EngineOptions, SeriesHandle, ServerConfig};

#[path = "../benches/support/fleet.rs"]
mod fleet;
use fleet::{STEP_MS, T0, rules_toml, series, series_of, values};

/// One scrape of every series by handle (the bench's `observe_by_handle`).
fn scrape(
    engine: &mut AlertEngine,
    handles: &[Option<SeriesHandle>],
    row: &[f64],
    ts: i64,
    out: &mut Vec<AlertEvent>,
) {
    for (h, &v) in handles.iter().zip(row) {
        if let Some(h) = *h {
            engine.observe_handle(h, ts, v, out);
        }
    }
    out.clear();
}

/// A steady-state scrape: what the counting tools select.
#[inline(never)]
fn measured(
    engine: &mut AlertEngine,
    handles: &[Option<SeriesHandle>],
    row: &[f64],
    ts: i64,
    out: &mut Vec<AlertEvent>,
) {
    scrape(engine, handles, row, ts, out);
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let agents = env("AGENTS", 100);
    let scrapes = env("SCRAPES", 20);
    let config = ServerConfig::from_toml(&rules_toml(), "bench.toml").expect("rules");
    let keys = if agents == 100 {
        series()
    } else {
        series_of(agents)
    };
    let table = values(keys.len(), 64);
    let mut engine =
        AlertEngine::from_config(&config.alert.rules, EngineOptions::default()).expect("engine");
    let handles: Vec<Option<SeriesHandle>> = keys.iter().map(|k| engine.resolve(k)).collect();
    let mut out = Vec::new();
    let mut ts = T0;
    for i in 0..400 {
        ts += STEP_MS;
        scrape(&mut engine, &handles, &table[i % table.len()], ts, &mut out);
    }
    let started = std::time::Instant::now();
    for i in 400..400 + scrapes {
        ts += STEP_MS;
        measured(&mut engine, &handles, &table[i % table.len()], ts, &mut out);
    }
    let watched = handles.iter().filter(|h| h.is_some()).count();
    eprintln!(
        "{scrapes} steady-state scrapes of {watched} watched series ({} samples each): {:.3} ms a scrape",
        keys.len(),
        started.elapsed().as_secs_f64() * 1000.0 / scrapes.max(1) as f64
    );
}
