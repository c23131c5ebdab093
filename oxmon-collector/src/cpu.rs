//! `cpu.usage` and `cpu.core_usage`: the share of CPU time spent busy over
//! the last interval (not since boot).

use oxmon_core::{CollectContext, Collector, Error, Labels, Sample};

use crate::options::CollectorOptions;
use crate::procfs::{ProcFile, malformed, percent, push};

/// Cumulative CPU time of one CPU (or all), in clock ticks, as `/proc/stat`
/// reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// user + nice + system + irq + softirq + steal (guest time is already
    /// inside user and nice).
    pub busy: u64,
    /// idle + iowait.
    pub idle: u64,
}

impl CpuTimes {
    /// Busy share, in percent, of the time between `prev` and `self`.
    ///
    /// `None` when no time passed (two readings within one clock tick).
    /// A counter that went backwards (iowait does on some kernels) counts as
    /// no time, so the result always lies in 0..=100.
    pub fn usage_since(&self, prev: &CpuTimes) -> Option<f64> {
        let busy = self.busy.saturating_sub(prev.busy);
        let idle = self.idle.saturating_sub(prev.idle);
        let total = busy.saturating_add(idle);
        if total == 0 {
            return None;
        }
        percent(busy as f64, total as f64)
    }
}

/// Parses the `cpu` lines of `/proc/stat`, calling `f(None, times)` for the
/// aggregate line and `f(Some(n), times)` for `cpuN`.
///
/// # Errors
/// A message when a `cpu` line has fewer than the 4 fields every kernel has.
pub fn parse_proc_stat(text: &str, mut f: impl FnMut(Option<u32>, CpuTimes)) -> Result<(), String> {
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("cpu") else {
            continue;
        };
        let (id, fields) = match rest.split_once(|c: char| c.is_ascii_whitespace()) {
            Some(("", fields)) => (None, fields),
            Some((digits, fields)) => match digits.parse::<u32>() {
                Ok(n) => (Some(n), fields),
                Err(_) => continue,
            },
            None => continue,
        };
        let fields = fields.split_ascii_whitespace();
        // user nice system idle iowait irq softirq steal guest guest_nice
        let mut v = [0u64; 8];
        let mut n = 0;
        for (slot, field) in v.iter_mut().zip(fields) {
            *slot = field
                .parse()
                .map_err(|_| format!("bad number `{field}` in `{line}`"))?;
            n += 1;
        }
        if n < 4 {
            return Err(format!("short cpu line `{line}`"));
        }
        let [user, nice, system, idle, iowait, irq, softirq, steal] = v;
        f(
            id,
            CpuTimes {
                busy: [user, nice, system, irq, softirq, steal]
                    .into_iter()
                    .fold(0u64, u64::saturating_add),
                idle: idle.saturating_add(iowait),
            },
        );
    }
    Ok(())
}

/// Core numbers at or above this are ignored (Linux supports at most 8192).
const MAX_CORES: u32 = 65_536;

/// Reports `cpu.usage` (all CPUs) and `cpu.core_usage` `{core}` in percent.
///
/// Usage is measured between two collections, so the first collection
/// reports nothing; so does a core seen for the first time (hot-plugged).
#[derive(Debug)]
pub struct CpuCollector {
    source: Source,
}

#[derive(Debug)]
enum Source {
    Procfs {
        file: ProcFile,
        total: Option<CpuTimes>,
        cores: Vec<Option<CpuTimes>>,
        seen: Vec<(Option<u32>, CpuTimes)>,
    },
    Sysinfo {
        sys: Result<Box<sysinfo::System>, String>,
        primed: bool,
    },
}

impl CpuCollector {
    /// A CPU collector reading where `options` say.
    pub fn new(options: &CollectorOptions) -> Self {
        let source = if options.use_procfs() {
            Source::Procfs {
                file: ProcFile::new(options.proc_root.join("stat")),
                total: None,
                cores: Vec::new(),
                seen: Vec::new(),
            }
        } else {
            Source::Sysinfo {
                sys: sysinfo::System::new()
                    .map(Box::new)
                    .map_err(|e| e.to_string()),
                primed: false,
            }
        };
        Self { source }
    }
}

impl Collector for CpuCollector {
    fn name(&self) -> &str {
        "cpu"
    }

    /// Reads kernel counters held in memory (procfs, or sysinfo's calls).
    fn may_block(&self) -> bool {
        false
    }

    fn collect(&mut self, ctx: &CollectContext<'_>, out: &mut Vec<Sample>) -> Result<(), Error> {
        match &mut self.source {
            Source::Procfs {
                file,
                total,
                cores,
                seen,
            } => {
                seen.clear();
                let text = file.read()?;
                parse_proc_stat(text, |id, t| seen.push((id, t)))
                    .map_err(|e| malformed(file.path(), &e))?;
                for &(id, now) in seen.iter() {
                    let prev = match id {
                        None => &mut *total,
                        Some(n) if n >= MAX_CORES => continue,
                        Some(n) => {
                            let i = n as usize;
                            if cores.len() <= i {
                                cores.resize(i + 1, None);
                            }
                            &mut cores[i]
                        }
                    };
                    if let Some(usage) = prev.as_ref().and_then(|p| now.usage_since(p)) {
                        match id {
                            None => push(out, ctx, "cpu.usage", Labels::new(), usage),
                            Some(n) => push(
                                out,
                                ctx,
                                "cpu.core_usage",
                                Labels::new().with("core", n.to_string()),
                                usage,
                            ),
                        }
                    }
                    *prev = Some(now);
                }
                Ok(())
            }
            Source::Sysinfo { sys, primed } => {
                let sys = sys
                    .as_mut()
                    .map_err(|e| Error::Collect(format!("cpu: {e}")))?;
                sys.refresh_cpu_usage();
                if !std::mem::replace(primed, true) {
                    return Ok(());
                }
                let clamp = |v: f32| f64::from(v).clamp(0.0, 100.0);
                push(
                    out,
                    ctx,
                    "cpu.usage",
                    Labels::new(),
                    clamp(sys.global_cpu_usage()),
                );
                for (i, cpu) in sys.cpus().iter().enumerate() {
                    push(
                        out,
                        ctx,
                        "cpu.core_usage",
                        Labels::new().with("core", i.to_string()),
                        clamp(cpu.usage()),
                    );
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT_1: &str = "cpu  100 10 50 800 40 0 0 0 5 0
cpu0 60 5 25 400 10 0 0 0 5 0
cpu1 40 5 25 400 30 0 0 0 0 0
intr 12345 0 0
ctxt 999
";
    const STAT_2: &str = "cpu  250 10 100 1400 40 0 0 0 5 0
cpu0 160 5 50 700 10 0 0 0 5 0
cpu1 90 5 50 700 30 0 0 0 0 0
intr 22345 0 0
";

    fn parse(text: &str) -> Vec<(Option<u32>, CpuTimes)> {
        let mut v = Vec::new();
        parse_proc_stat(text, |id, t| v.push((id, t))).unwrap();
        v
    }

    #[test]
    fn parses_aggregate_and_cores_without_double_counting_guest() {
        let v = parse(STAT_1);
        assert_eq!(v.len(), 3);
        assert_eq!(
            v[0],
            (
                None,
                CpuTimes {
                    busy: 160,
                    idle: 840
                }
            )
        );
        assert_eq!(
            v[1],
            (
                Some(0),
                CpuTimes {
                    busy: 90,
                    idle: 410
                }
            )
        );
        assert_eq!(v[2].0, Some(1));
    }

    #[test]
    fn old_kernels_with_four_fields_parse_and_garbage_does_not() {
        assert_eq!(
            parse("cpu 1 2 3 4\n"),
            vec![(None, CpuTimes { busy: 6, idle: 4 })]
        );
        assert!(parse_proc_stat("cpu 1 2\n", |_, _| {}).is_err());
        assert!(parse_proc_stat("cpu 1 x 3 4\n", |_, _| {}).is_err());
        assert!(
            parse_proc_stat("cpuX 1 2 3 4\n", |_, _| {}).is_ok(),
            "not a core line"
        );
    }

    #[test]
    fn usage_is_over_the_interval_and_bounded() {
        let a = CpuTimes {
            busy: 100,
            idle: 900,
        };
        let b = CpuTimes {
            busy: 175,
            idle: 925,
        };
        assert_eq!(b.usage_since(&a), Some(75.0));
        assert_eq!(a.usage_since(&a), None, "no time passed");
        let backwards = CpuTimes {
            busy: 150,
            idle: 800,
        };
        assert_eq!(backwards.usage_since(&a), Some(100.0));
    }

    #[test]
    fn the_collector_reports_nothing_first_then_the_interval_usage() {
        let dir = tempfile::tempdir().unwrap();
        let options = CollectorOptions {
            backend: crate::Backend::Procfs,
            proc_root: dir.path().to_owned(),
            ..CollectorOptions::default()
        };
        let mut c = CpuCollector::new(&options);
        let ctx = CollectContext {
            agent_id: "a",
            timestamp_ms: 1,
        };
        std::fs::write(dir.path().join("stat"), STAT_1).unwrap();
        let mut out = Vec::new();
        c.collect(&ctx, &mut out).unwrap();
        assert!(out.is_empty(), "{out:?}");
        std::fs::write(dir.path().join("stat"), STAT_2).unwrap();
        c.collect(&ctx, &mut out).unwrap();
        let got: Vec<(&str, Option<&str>, f64)> = out
            .iter()
            .map(|s| (s.metric.as_str(), s.labels.get("core"), s.value))
            .collect();
        // total: busy +200, idle +600; cpu0: +125/+300; cpu1: +75/+300.
        assert_eq!(
            got,
            vec![
                ("cpu.usage", None, 25.0),
                ("cpu.core_usage", Some("0"), 125.0 / 425.0 * 100.0),
                ("cpu.core_usage", Some("1"), 20.0),
            ]
        );
        assert!(out.iter().all(|s| s.timestamp_ms == 1));
    }

    #[test]
    fn an_unreadable_source_is_a_collect_error() {
        let options = CollectorOptions {
            backend: crate::Backend::Procfs,
            proc_root: "/nonexistent/oxmon".into(),
            ..CollectorOptions::default()
        };
        let mut c = CpuCollector::new(&options);
        let ctx = CollectContext {
            agent_id: "a",
            timestamp_ms: 1,
        };
        let err = c.collect(&ctx, &mut Vec::new()).unwrap_err();
        assert!(matches!(err, Error::Collect(_)), "{err}");
    }
}
