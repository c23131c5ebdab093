//! A collector of sockets and processes, from `/proc`:
//!
//! - `tcp.connections{state=...}`: TCP sockets (IPv4 and IPv6) in each
//!   state (`established`, `syn_sent`, `syn_recv`, `fin_wait1`, `fin_wait2`,
//!   `time_wait`, `close`, `close_wait`, `last_ack`, `listen`, `closing`),
//!   every state every time so that each series is continuous;
//! - `process.count`: the processes running.
//!
//! It reads `net/tcp`, `net/tcp6` (when IPv6 is on) and the directory
//! itself under its proc root, line by line, holding no more than one line.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use oxmon::core::{CollectContext, Collector, Error, Labels, Sample};

/// TCP states in the kernel's numbering (`include/net/tcp_states.h`), from 1.
const STATES: [&str; 11] = [
    "established",
    "syn_sent",
    "syn_recv",
    "fin_wait1",
    "fin_wait2",
    "time_wait",
    "close",
    "close_wait",
    "last_ack",
    "listen",
    "closing",
];

/// The collector; see the module docs.
#[derive(Debug, Clone)]
pub struct SocketCollector {
    proc_root: PathBuf,
}

impl SocketCollector {
    /// A collector reading `proc_root` (`/proc` on a real host).
    pub fn new(proc_root: impl Into<PathBuf>) -> Self {
        Self {
            proc_root: proc_root.into(),
        }
    }

    /// Adds the sockets of one `net/tcp*` table to `counts`. A missing
    /// `tcp6` (IPv6 off) counts nothing.
    fn count_table(&self, name: &str, counts: &mut [u64; 11]) -> Result<(), Error> {
        let path = self.proc_root.join("net").join(name);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if name == "tcp6" && e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::Collect(format!("{}: {e}", path.display()))),
        };
        let mut reader = BufReader::new(file);
        let mut line = String::new();
        let mut first = true;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(Error::Collect(format!("{}: {e}", path.display()))),
            }
            if std::mem::take(&mut first) {
                continue; // the header
            }
            // `sl local_address rem_address st ...`: the state is the fourth field, in hex.
            let state = line
                .split_ascii_whitespace()
                .nth(3)
                .and_then(|s| usize::from_str_radix(s, 16).ok())
                .filter(|s| (1..=STATES.len()).contains(s));
            if let Some(s) = state {
                counts[s - 1] += 1;
            }
        }
    }

    fn processes(&self) -> Result<u64, Error> {
        let dir = std::fs::read_dir(&self.proc_root)
            .map_err(|e| Error::Collect(format!("{}: {e}", self.proc_root.display())))?;
        Ok(dir
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
            })
            .count() as u64)
    }
}

impl Collector for SocketCollector {
    fn name(&self) -> &str {
        "sockets"
    }

    /// `/proc/net/tcp*` are generated from memory: never a long wait.
    fn may_block(&self) -> bool {
        false
    }

    fn collect(
        &mut self,
        ctx: &CollectContext<'_>,
        out: &mut Vec<Sample>,
    ) -> oxmon::core::Result<()> {
        let mut counts = [0u64; 11];
        self.count_table("tcp", &mut counts)?;
        self.count_table("tcp6", &mut counts)?;
        for (state, n) in STATES.iter().zip(counts) {
            out.push(Sample::new(
                "tcp.connections",
                Labels::new().with("state", *state),
                ctx.timestamp_ms,
                n as f64,
            ));
        }
        out.push(Sample::new(
            "process.count",
            Labels::new(),
            ctx.timestamp_ms,
            self.processes()? as f64,
        ));
        Ok(())
    }
}

/// Writes a `net/tcp` table with `established` connections and two
/// listening sockets under `proc_root`, as the kernel formats it (tests).
pub fn write_fake_tcp_table(
    proc_root: &std::path::Path,
    established: usize,
) -> std::io::Result<()> {
    use std::fmt::Write as _;
    let mut text = String::from(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n",
    );
    let mut row = |i: usize, state: &str| {
        let _ = writeln!(
            text,
            "{i:4}: 0100007F:1F90 0100007F:{:04X} {state} 00000000:00000000 00:00000000 00000000  1000        0 {} 1 0000000000000000 20 4 30 10 -1",
            40000 + i,
            10_000 + i
        );
    };
    row(0, "0A");
    row(1, "0A");
    for i in 0..established {
        row(i + 2, "01");
    }
    std::fs::create_dir_all(proc_root.join("net"))?;
    // Written whole and renamed, so a collection never reads half a table.
    let tmp = proc_root.join("net/.tcp.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, proc_root.join("net/tcp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sockets_by_state_and_processes() {
        let dir = tempfile::tempdir().unwrap();
        write_fake_tcp_table(dir.path(), 3).unwrap();
        for pid in ["1", "42", "self", "cpuinfo"] {
            std::fs::create_dir_all(dir.path().join(pid)).unwrap();
        }
        let mut c = SocketCollector::new(dir.path());
        let mut out = Vec::new();
        let ctx = CollectContext {
            agent_id: "a",
            timestamp_ms: 7,
        };
        c.collect(&ctx, &mut out).unwrap();
        let value = |metric: &str, state: Option<&str>| {
            out.iter()
                .find(|s| s.metric == metric && s.labels.get("state") == state)
                .map(|s| s.value)
        };
        assert_eq!(value("tcp.connections", Some("established")), Some(3.0));
        assert_eq!(value("tcp.connections", Some("listen")), Some(2.0));
        assert_eq!(value("tcp.connections", Some("time_wait")), Some(0.0));
        assert_eq!(value("process.count", None), Some(2.0));
        assert_eq!(out.len(), 12);
        assert!(out.iter().all(|s| s.timestamp_ms == 7));
        // No table at all: the collector fails, naming the file.
        let empty = tempfile::tempdir().unwrap();
        let err = SocketCollector::new(empty.path())
            .collect(&ctx, &mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("net/tcp"), "{err}");
    }

    #[test]
    fn reads_the_real_proc() {
        let mut out = Vec::new();
        let ctx = CollectContext {
            agent_id: "a",
            timestamp_ms: 7,
        };
        SocketCollector::new("/proc")
            .collect(&ctx, &mut out)
            .unwrap();
        let processes = out.iter().find(|s| s.metric == "process.count").unwrap();
        assert!(processes.value >= 1.0, "this test is a process");
    }
}
