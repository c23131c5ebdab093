//! `load.*`: load averages and uptime.

use oxmon_core::{CollectContext, Collector, Error, Labels, Sample};

use crate::options::CollectorOptions;
use crate::procfs::{ProcFile, malformed, push};

/// Parses the first three fields of `/proc/loadavg`.
///
/// # Errors
/// A message when a field is missing, not a number or negative.
pub fn parse_loadavg(text: &str) -> Result<[f64; 3], String> {
    let mut fields = text.split_ascii_whitespace();
    let mut out = [0.0; 3];
    for slot in &mut out {
        let field = fields.next().ok_or("fewer than 3 fields")?;
        *slot = field
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| format!("bad load average `{field}`"))?;
    }
    Ok(out)
}

/// Parses the first field of `/proc/uptime` (seconds since boot).
///
/// # Errors
/// A message when it is missing, not a number or negative.
pub fn parse_uptime(text: &str) -> Result<f64, String> {
    let field = text.split_ascii_whitespace().next().ok_or("empty")?;
    field
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("bad uptime `{field}`"))
}

/// Reports `load.load_1`, `load.load_5`, `load.load_15` and `load.uptime`
/// (seconds since boot).
#[derive(Debug)]
pub struct LoadCollector {
    source: Source,
}

#[derive(Debug)]
enum Source {
    Procfs { loadavg: ProcFile, uptime: ProcFile },
    Sysinfo,
}

impl LoadCollector {
    /// A load collector reading where `options` say.
    pub fn new(options: &CollectorOptions) -> Self {
        let source = if options.use_procfs() {
            Source::Procfs {
                loadavg: ProcFile::new(options.proc_root.join("loadavg")),
                uptime: ProcFile::new(options.proc_root.join("uptime")),
            }
        } else {
            Source::Sysinfo
        };
        Self { source }
    }
}

impl Collector for LoadCollector {
    fn name(&self) -> &str {
        "load"
    }

    /// Reads kernel counters held in memory (procfs, or sysinfo's calls).
    fn may_block(&self) -> bool {
        false
    }

    fn collect(&mut self, ctx: &CollectContext<'_>, out: &mut Vec<Sample>) -> Result<(), Error> {
        let (load, uptime) = match &mut self.source {
            Source::Procfs { loadavg, uptime } => {
                let load =
                    parse_loadavg(loadavg.read()?).map_err(|e| malformed(loadavg.path(), &e))?;
                // Uptime is worth little next to the load: report the load
                // even when uptime cannot be read.
                let up = uptime.read().ok().and_then(|t| parse_uptime(t).ok());
                (load, up)
            }
            Source::Sysinfo => {
                let l = sysinfo::System::load_average()
                    .map_err(|e| Error::Collect(format!("load average: {e}")))?;
                let up = sysinfo::System::uptime().ok().map(|s| s as f64);
                ([l.one, l.five, l.fifteen], up)
            }
        };
        for (metric, v) in ["load.load_1", "load.load_5", "load.load_15"]
            .into_iter()
            .zip(load)
        {
            push(out, ctx, metric, Labels::new(), v);
        }
        if let Some(up) = uptime {
            push(out, ctx, "load.uptime", Labels::new(), up);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_loadavg_and_uptime() {
        assert_eq!(
            parse_loadavg("0.61 1.21 1.20 1/81 20615\n").unwrap(),
            [0.61, 1.21, 1.20]
        );
        assert_eq!(parse_uptime("3683.16 4975.06\n").unwrap(), 3683.16);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_loadavg("0.5 0.4").is_err());
        assert!(parse_loadavg("0.5 nan 0.1").is_err());
        assert!(parse_loadavg("-1 0 0").is_err());
        assert!(parse_uptime("").is_err());
        assert!(parse_uptime("abc").is_err());
    }

    #[test]
    fn the_collector_reports_the_load_even_without_uptime() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("loadavg"), "1.5 1.0 0.5 2/100 42\n").unwrap();
        let options = CollectorOptions {
            backend: crate::Backend::Procfs,
            proc_root: dir.path().to_owned(),
            ..CollectorOptions::default()
        };
        let mut c = LoadCollector::new(&options);
        let ctx = CollectContext {
            agent_id: "a",
            timestamp_ms: 1,
        };
        let mut out = Vec::new();
        c.collect(&ctx, &mut out).unwrap();
        let got: Vec<(&str, f64)> = out.iter().map(|s| (s.metric.as_str(), s.value)).collect();
        assert_eq!(
            got,
            [
                ("load.load_1", 1.5),
                ("load.load_5", 1.0),
                ("load.load_15", 0.5)
            ]
        );
        std::fs::write(dir.path().join("uptime"), "100.5 50.0\n").unwrap();
        out.clear();
        c.collect(&ctx, &mut out).unwrap();
        assert_eq!(
            out.last().map(|s| (s.metric.as_str(), s.value)),
            Some(("load.uptime", 100.5))
        );
    }
}
