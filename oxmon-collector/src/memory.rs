//! `memory.*`: RAM and swap, in bytes.

use oxmon_core::{CollectContext, Collector, Error, Labels, Sample};

use crate::options::CollectorOptions;
use crate::procfs::{ProcFile, malformed, percent, push};

/// The figures of `/proc/meminfo` the memory metrics need, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemInfo {
    /// `MemTotal`.
    pub total: u64,
    /// `MemAvailable`: what can be allocated without swapping (page cache
    /// and reclaimable slabs included). On kernels older than 3.14, which
    /// lack it, `MemFree + Buffers + Cached`.
    pub available: u64,
    /// `SwapTotal`.
    pub swap_total: u64,
    /// `SwapFree`.
    pub swap_free: u64,
}

impl MemInfo {
    /// `total - available`, the memory in use the way `free` counts it.
    pub fn used(&self) -> u64 {
        self.total.saturating_sub(self.available)
    }

    /// `swap_total - swap_free`.
    pub fn swap_used(&self) -> u64 {
        self.swap_total.saturating_sub(self.swap_free)
    }
}

/// Parses `/proc/meminfo` (values in kB, converted to bytes).
///
/// # Errors
/// A message when `MemTotal` is missing or a needed value is not a number.
pub fn parse_meminfo(text: &str) -> Result<MemInfo, String> {
    let mut total = None;
    let (mut available, mut free, mut buffers, mut cached) = (None, 0, 0, 0);
    let (mut swap_total, mut swap_free) = (0, 0);
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        if !matches!(
            key,
            "MemTotal"
                | "MemAvailable"
                | "MemFree"
                | "Buffers"
                | "Cached"
                | "SwapTotal"
                | "SwapFree"
        ) {
            continue;
        }
        let number = rest.trim().trim_end_matches("kB").trim();
        let kb: u64 = number
            .parse()
            .map_err(|_| format!("bad value `{}` for {key}", rest.trim()))?;
        let bytes = kb.saturating_mul(1024);
        match key {
            "MemTotal" => total = Some(bytes),
            "MemAvailable" => available = Some(bytes),
            "MemFree" => free = bytes,
            "Buffers" => buffers = bytes,
            "Cached" => cached = bytes,
            "SwapTotal" => swap_total = bytes,
            _ => swap_free = bytes,
        }
    }
    let total = total.ok_or("no MemTotal line")?;
    let available = available
        .unwrap_or_else(|| free.saturating_add(buffers).saturating_add(cached))
        .min(total);
    Ok(MemInfo {
        total,
        available,
        swap_total,
        swap_free: swap_free.min(swap_total),
    })
}

/// Reports `memory.total`, `memory.used`, `memory.available` (bytes),
/// `memory.used_percent` (%), `memory.swap_total` and `memory.swap_used`
/// (bytes).
///
/// `used + available = total` holds exactly. In a container, the figures
/// are the host's unless the container runtime virtualizes
/// `/proc/meminfo` (lxcfs).
#[derive(Debug)]
pub struct MemoryCollector {
    source: Source,
}

#[derive(Debug)]
enum Source {
    Procfs(ProcFile),
    Sysinfo(Result<Box<sysinfo::System>, String>),
}

impl MemoryCollector {
    /// A memory collector reading where `options` say.
    pub fn new(options: &CollectorOptions) -> Self {
        let source = if options.use_procfs() {
            Source::Procfs(ProcFile::new(options.proc_root.join("meminfo")))
        } else {
            Source::Sysinfo(
                sysinfo::System::new()
                    .map(Box::new)
                    .map_err(|e| e.to_string()),
            )
        };
        Self { source }
    }

    fn read(&mut self) -> Result<MemInfo, Error> {
        match &mut self.source {
            Source::Procfs(file) => {
                let text = file.read()?;
                parse_meminfo(text).map_err(|e| malformed(file.path(), &e))
            }
            Source::Sysinfo(sys) => {
                let sys = sys
                    .as_mut()
                    .map_err(|e| Error::Collect(format!("memory: {e}")))?;
                sys.refresh_memory_specifics(
                    sysinfo::MemoryRefreshKind::nothing().with_ram().with_swap(),
                );
                if sys.total_memory() == 0 {
                    return Err(Error::Collect(
                        "memory: total memory unknown on this system".into(),
                    ));
                }
                Ok(MemInfo {
                    total: sys.total_memory(),
                    available: sys.available_memory().min(sys.total_memory()),
                    swap_total: sys.total_swap(),
                    swap_free: sys.free_swap().min(sys.total_swap()),
                })
            }
        }
    }
}

impl Collector for MemoryCollector {
    fn name(&self) -> &str {
        "memory"
    }

    /// Reads kernel counters held in memory (procfs, or sysinfo's calls).
    fn may_block(&self) -> bool {
        false
    }

    fn collect(&mut self, ctx: &CollectContext<'_>, out: &mut Vec<Sample>) -> Result<(), Error> {
        let m = self.read()?;
        let mut put = |metric: &str, value: f64| push(out, ctx, metric, Labels::new(), value);
        put("memory.total", m.total as f64);
        put("memory.used", m.used() as f64);
        put("memory.available", m.available as f64);
        if let Some(p) = percent(m.used() as f64, m.total as f64) {
            put("memory.used_percent", p);
        }
        put("memory.swap_total", m.swap_total as f64);
        put("memory.swap_used", m.swap_used() as f64);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str = "MemTotal:        8000000 kB
MemFree:         1000000 kB
MemAvailable:    6000000 kB
Buffers:          100000 kB
Cached:          3000000 kB
SwapCached:            0 kB
SwapTotal:       2000000 kB
SwapFree:        1500000 kB
HugePages_Total:       0
";

    #[test]
    fn parses_kilobytes_into_bytes() {
        let m = parse_meminfo(MEMINFO).unwrap();
        assert_eq!(m.total, 8_000_000 * 1024);
        assert_eq!(m.available, 6_000_000 * 1024);
        assert_eq!(m.used(), 2_000_000 * 1024);
        assert_eq!(
            (m.swap_total, m.swap_used()),
            (2_000_000 * 1024, 500_000 * 1024)
        );
    }

    #[test]
    fn old_kernels_without_memavailable_estimate_it() {
        let text = MEMINFO.replace("MemAvailable:    6000000 kB\n", "");
        let m = parse_meminfo(&text).unwrap();
        assert_eq!(m.available, 4_100_000 * 1024);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse_meminfo("").is_err());
        assert!(parse_meminfo("MemTotal: lots kB\n").is_err());
        let m = parse_meminfo("MemTotal: 10 kB\nMemAvailable: 99 kB\n").unwrap();
        assert_eq!(m.used(), 0, "available is capped at total");
        let huge = parse_meminfo("MemTotal: 18446744073709551615 kB\n").unwrap();
        assert_eq!(huge.total, u64::MAX);
    }

    #[test]
    fn the_collector_reports_every_metric_consistently() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("meminfo"), MEMINFO).unwrap();
        let options = CollectorOptions {
            backend: crate::Backend::Procfs,
            proc_root: dir.path().to_owned(),
            ..CollectorOptions::default()
        };
        let mut c = MemoryCollector::new(&options);
        let mut out = Vec::new();
        let ctx = CollectContext {
            agent_id: "a",
            timestamp_ms: 5,
        };
        c.collect(&ctx, &mut out).unwrap();
        let names: Vec<&str> = out.iter().map(|s| s.metric.as_str()).collect();
        assert_eq!(
            names,
            [
                "memory.total",
                "memory.used",
                "memory.available",
                "memory.used_percent",
                "memory.swap_total",
                "memory.swap_used"
            ]
        );
        assert_eq!(out[3].value, 25.0);
    }
}
