#![doc = include_str!("../README.md")]

#[cfg(feature = "cert")]
pub mod cert;
mod cpu;
mod disk;
mod load;
mod memory;
mod network;
pub mod once;
mod options;
mod procfs;
pub mod rate;
mod run;
#[cfg(feature = "schedule")]
pub mod schedule;
#[cfg(feature = "schedule")]
mod ticks;

#[cfg(feature = "cert")]
pub use cert::{
    CertChecker, CertCheckerError, CertProber, ProbeError, ProbeOptions, ProbeReport,
    non_global_kind,
};
pub use cpu::{CpuCollector, CpuTimes, parse_proc_stat};
pub use disk::{DiskCollector, MountEntry, Space, parse_mountinfo};
pub use load::{LoadCollector, parse_loadavg, parse_uptime};
pub use memory::{MemInfo, MemoryCollector, parse_meminfo};
pub use network::{
    CounterSource, InterfaceCounters, NetworkCollector, ProcNetDev, SysinfoNetworks, parse_net_dev,
};
pub use options::{Backend, CollectorOptions, PSEUDO_FS_TYPES, REMOTE_FS_TYPES};
pub use run::{CollectFailure, run_collectors};

/// `oxmon-core`, the types and traits this crate is built on: the way to
/// everything of it not re-exported below, without a separate dependency.
pub use oxmon_core as core;
/// The `oxmon-core` items a collector takes and returns, so that
/// `oxmon-collector` alone is enough to run the collectors or to write one
/// (`Collector::collect` returns `Result`, failing with `Error::Collect`).
#[doc(no_inline)]
pub use oxmon_core::{CollectContext, Collector, Error, Labels, Result, Sample};

/// The collectors of every system metric (cpu, memory, disk, network, load),
/// in that order, configured by `options`.
pub fn default_collectors(options: &CollectorOptions) -> Vec<Box<dyn Collector>> {
    vec![
        Box::new(CpuCollector::new(options)),
        Box::new(MemoryCollector::new(options)),
        Box::new(DiskCollector::new(options)),
        Box::new(NetworkCollector::new(options)),
        Box::new(LoadCollector::new(options)),
    ]
}

/// This machine's host name (the agent's default id), if it can be read.
pub fn host_name() -> Option<String> {
    sysinfo::System::host_name()
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}
