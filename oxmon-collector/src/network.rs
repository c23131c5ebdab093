//! `network.*`: per-interface traffic, as per-second rates.

use std::time::Instant;

use oxmon_core::{CollectContext, Collector, Error, Labels, Sample};

use crate::options::{CollectorOptions, NameFilter, is_loopback};
use crate::procfs::{ProcFile, malformed, push};
use crate::rate::{CounterWidth, RateTracker};

/// The cumulative counters of one interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceCounters {
    /// The interface name (`eth0`).
    pub name: String,
    /// Bytes received since the counter started.
    pub bytes_recv: u64,
    /// Packets received.
    pub packets_recv: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Packets sent.
    pub packets_sent: u64,
}

/// Where a [`NetworkCollector`] reads interface counters: `/proc/net/dev`,
/// `sysinfo`, or a fake in tests.
pub trait CounterSource: Send + std::fmt::Debug {
    /// Replaces the contents of `out` with every interface's counters and
    /// returns when they were read (a monotonic instant).
    ///
    /// # Errors
    /// [`Error::Collect`] when the counters cannot be read at all.
    fn read(&mut self, out: &mut Vec<InterfaceCounters>) -> Result<Instant, Error>;

    /// How wide the counters are, which decides how a decrease is read.
    fn width(&self) -> CounterWidth {
        CounterWidth::native()
    }
}

/// Parses `/proc/net/dev`, calling `f` for each interface.
///
/// # Errors
/// A message for an interface line with too few or non-numeric fields.
pub fn parse_net_dev(text: &str, mut f: impl FnMut(InterfaceCounters)) -> Result<(), String> {
    // Two header lines, then `  name: rx_bytes rx_packets errs drop fifo
    // frame compressed multicast tx_bytes tx_packets ...`.
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let mut v = [0u64; 10];
        let mut n = 0;
        for (slot, field) in v.iter_mut().zip(rest.split_ascii_whitespace()) {
            *slot = field
                .parse()
                .map_err(|_| format!("bad number `{field}` in `{}`", line.trim()))?;
            n += 1;
        }
        if n < 10 {
            return Err(format!("short line `{}`", line.trim()));
        }
        f(InterfaceCounters {
            name: name.trim().to_owned(),
            bytes_recv: v[0],
            packets_recv: v[1],
            bytes_sent: v[8],
            packets_sent: v[9],
        });
    }
    Ok(())
}

/// [`CounterSource`] over `/proc/net/dev`.
#[derive(Debug)]
pub struct ProcNetDev {
    file: ProcFile,
}

impl ProcNetDev {
    /// Reads `proc_root/net/dev`.
    pub fn new(proc_root: &std::path::Path) -> Self {
        Self {
            file: ProcFile::new(proc_root.join("net").join("dev")),
        }
    }
}

impl CounterSource for ProcNetDev {
    fn read(&mut self, out: &mut Vec<InterfaceCounters>) -> Result<Instant, Error> {
        out.clear();
        let text = self.file.read()?;
        let at = Instant::now();
        parse_net_dev(text, |c| out.push(c)).map_err(|e| malformed(self.file.path(), &e))?;
        Ok(at)
    }
}

/// [`CounterSource`] over `sysinfo::Networks` (portable, costlier).
#[derive(Debug)]
pub struct SysinfoNetworks {
    networks: Result<sysinfo::Networks, String>,
}

impl SysinfoNetworks {
    /// Lists the interfaces.
    pub fn new() -> Self {
        Self {
            networks: sysinfo::Networks::new_with_refreshed_list().map_err(|e| e.to_string()),
        }
    }
}

impl Default for SysinfoNetworks {
    fn default() -> Self {
        Self::new()
    }
}

impl CounterSource for SysinfoNetworks {
    fn read(&mut self, out: &mut Vec<InterfaceCounters>) -> Result<Instant, Error> {
        out.clear();
        let networks = self
            .networks
            .as_mut()
            .map_err(|e| Error::Collect(format!("network: {e}")))?;
        networks.refresh(true);
        let at = Instant::now();
        for (name, data) in networks.iter() {
            out.push(InterfaceCounters {
                name: name.to_string_lossy().into_owned(),
                bytes_recv: data.total_received(),
                packets_recv: data.total_packets_received(),
                bytes_sent: data.total_transmitted(),
                packets_sent: data.total_packets_transmitted(),
            });
        }
        Ok(at)
    }
}

/// Reports `network.bytes_sent`, `network.bytes_recv`,
/// `network.packets_sent` and `network.packets_recv` `{interface}`, in units
/// per second over the last interval.
///
/// The first collection (and the first of a new interface) reports no rate
/// rather than a fake 0; a counter that was reset reports no rate for that
/// interval; a wrapped counter reports the true rate across the wrap.
#[derive(Debug)]
pub struct NetworkCollector {
    source: Box<dyn CounterSource>,
    tracker: RateTracker<String, 4>,
    filter: NameFilter,
    include_loopback: bool,
    buf: Vec<InterfaceCounters>,
    /// A source of this crate's (kernel counters in memory), not one given
    /// to [`NetworkCollector::with_source`].
    builtin: bool,
}

impl NetworkCollector {
    /// A network collector reading where `options` say.
    pub fn new(options: &CollectorOptions) -> Self {
        let source: Box<dyn CounterSource> = if options.use_procfs() {
            Box::new(ProcNetDev::new(&options.proc_root))
        } else {
            Box::new(SysinfoNetworks::new())
        };
        Self {
            builtin: true,
            ..Self::with_source(source, options)
        }
    }

    /// A network collector over any counter source, filtering interfaces as
    /// `options` say.
    pub fn with_source(source: Box<dyn CounterSource>, options: &CollectorOptions) -> Self {
        Self {
            tracker: RateTracker::new(source.width()),
            source,
            filter: options.interface_filter(),
            include_loopback: options.include_loopback,
            buf: Vec::new(),
            builtin: false,
        }
    }

    fn wanted(&self, name: &str) -> bool {
        (self.include_loopback || !is_loopback(name)) && self.filter.allows(name)
    }
}

impl Collector for NetworkCollector {
    fn name(&self) -> &str {
        "network"
    }

    /// The built-in sources read kernel counters held in memory; a source
    /// given to [`NetworkCollector::with_source`] may block.
    fn may_block(&self) -> bool {
        !self.builtin
    }

    fn collect(&mut self, ctx: &CollectContext<'_>, out: &mut Vec<Sample>) -> Result<(), Error> {
        let mut buf = std::mem::take(&mut self.buf);
        let at = self.source.read(&mut buf);
        let at = match at {
            Ok(at) => at,
            Err(e) => {
                self.buf = buf;
                return Err(e);
            }
        };
        buf.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        self.tracker.begin_round();
        for c in &buf {
            if !self.wanted(&c.name) {
                continue;
            }
            let values = [c.bytes_sent, c.bytes_recv, c.packets_sent, c.packets_recv];
            let Some(rates) = self.tracker.observe(c.name.clone(), values, at) else {
                continue;
            };
            let metrics = [
                "network.bytes_sent",
                "network.bytes_recv",
                "network.packets_sent",
                "network.packets_recv",
            ];
            for (metric, rate) in metrics.into_iter().zip(rates) {
                if let Some(rate) = rate {
                    push(
                        out,
                        ctx,
                        metric,
                        Labels::new().with("interface", c.name.as_str()),
                        rate,
                    );
                }
            }
        }
        self.tracker.retain_seen();
        self.buf = buf;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::time::Duration;

    use super::*;

    const NET_DEV: &str = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    6574      89    0    0    0     0          0         0     6574      89    0    0    0     0       0          0
  eth0: 254452410   14121    0    0    0     0          0         0   687188    7007    0    0    0     0       0          0
";

    #[test]
    fn parses_net_dev() {
        let mut v = Vec::new();
        parse_net_dev(NET_DEV, |c| v.push(c)).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(
            v[1],
            InterfaceCounters {
                name: "eth0".into(),
                bytes_recv: 254_452_410,
                packets_recv: 14_121,
                bytes_sent: 687_188,
                packets_sent: 7_007,
            }
        );
        assert!(parse_net_dev("h\nh\neth0: 1 2 3\n", |_| {}).is_err());
        assert!(parse_net_dev("h\nh\neth0: 1 2 3 4 5 6 7 8 x 10\n", |_| {}).is_err());
    }

    /// A scripted counter source: each read pops one round of readings,
    /// taken 10 s after the previous one.
    #[derive(Debug)]
    struct Fake {
        rounds: VecDeque<Vec<(&'static str, u64)>>,
        t0: Instant,
        n: u32,
        width: CounterWidth,
    }

    impl CounterSource for Fake {
        fn read(&mut self, out: &mut Vec<InterfaceCounters>) -> Result<Instant, Error> {
            out.clear();
            let round = self
                .rounds
                .pop_front()
                .ok_or_else(|| Error::Collect("script exhausted".into()))?;
            for (name, v) in round {
                out.push(InterfaceCounters {
                    name: name.into(),
                    bytes_recv: v,
                    packets_recv: v / 100,
                    bytes_sent: v * 2,
                    packets_sent: 7,
                });
            }
            self.n += 1;
            Ok(self.t0 + Duration::from_secs(10) * self.n)
        }

        fn width(&self) -> CounterWidth {
            self.width
        }
    }

    fn collector(
        rounds: Vec<Vec<(&'static str, u64)>>,
        options: &CollectorOptions,
    ) -> NetworkCollector {
        let fake = Fake {
            rounds: rounds.into(),
            t0: Instant::now(),
            n: 0,
            width: CounterWidth::Bits64,
        };
        NetworkCollector::with_source(Box::new(fake), options)
    }

    fn collect(c: &mut NetworkCollector) -> Vec<(String, String, f64)> {
        let ctx = CollectContext {
            agent_id: "a",
            timestamp_ms: 1,
        };
        let mut out = Vec::new();
        c.collect(&ctx, &mut out).unwrap();
        out.into_iter()
            .map(|s| {
                let iface = s.labels.get("interface").unwrap_or_default().to_owned();
                (iface, s.metric, s.value)
            })
            .collect()
    }

    #[test]
    fn first_collection_has_no_rate_then_per_second_rates() {
        let mut c = collector(
            vec![vec![("eth0", 1_000)], vec![("eth0", 11_000)]],
            &CollectorOptions::default(),
        );
        assert!(
            collect(&mut c).is_empty(),
            "no fake 0 on the first collection"
        );
        let got = collect(&mut c);
        let want = [
            ("network.bytes_sent", 2_000.0),
            ("network.bytes_recv", 1_000.0),
            ("network.packets_sent", 0.0),
            ("network.packets_recv", 10.0),
        ];
        assert_eq!(got.len(), 4);
        for ((iface, metric, v), (wm, wv)) in got.iter().zip(want) {
            assert_eq!((iface.as_str(), metric.as_str(), *v), ("eth0", wm, wv));
        }
    }

    #[test]
    fn a_reset_interface_skips_one_interval_and_others_are_unaffected() {
        let mut c = collector(
            vec![
                vec![("eth0", 50_000), ("eth1", 0)],
                vec![("eth0", 100), ("eth1", 1_000)],
                vec![("eth0", 10_100), ("eth1", 2_000)],
            ],
            &CollectorOptions::default(),
        );
        collect(&mut c);
        let got = collect(&mut c);
        let bytes_recv: Vec<_> = got
            .iter()
            .filter(|(_, m, _)| m == "network.bytes_recv")
            .map(|(i, _, v)| (i.as_str(), *v))
            .collect();
        assert_eq!(
            bytes_recv,
            [("eth1", 100.0)],
            "eth0 went backwards: no rate"
        );
        assert!(got.iter().all(|(_, _, v)| *v >= 0.0 && v.is_finite()));
        let got = collect(&mut c);
        assert!(got.contains(&("eth0".into(), "network.bytes_recv".into(), 1_000.0)));
    }

    #[test]
    fn loopback_is_excluded_by_default_and_filters_apply() {
        let rounds = || {
            vec![
                vec![("lo", 0), ("eth0", 0), ("veth9", 0)],
                vec![("lo", 10), ("eth0", 10), ("veth9", 10)],
            ]
        };
        let ifaces = |c: &mut NetworkCollector| {
            collect(c);
            let mut v: Vec<String> = collect(c).into_iter().map(|(i, _, _)| i).collect();
            v.dedup();
            v
        };
        let mut c = collector(rounds(), &CollectorOptions::default());
        assert_eq!(ifaces(&mut c), ["eth0", "veth9"]);
        let options = CollectorOptions {
            include_loopback: true,
            interfaces_exclude: vec!["veth*".into()],
            ..CollectorOptions::default()
        };
        let mut c = collector(rounds(), &options);
        assert_eq!(ifaces(&mut c), ["eth0", "lo"]);
        let options = CollectorOptions {
            interfaces_include: vec!["veth*".into()],
            ..CollectorOptions::default()
        };
        let mut c = collector(rounds(), &options);
        assert_eq!(ifaces(&mut c), ["veth9"]);
    }

    #[test]
    fn a_source_error_is_reported_and_the_next_read_works() {
        let mut c = collector(vec![vec![("eth0", 0)]], &CollectorOptions::default());
        collect(&mut c);
        let ctx = CollectContext {
            agent_id: "a",
            timestamp_ms: 1,
        };
        assert!(c.collect(&ctx, &mut Vec::new()).is_err());
    }
}
