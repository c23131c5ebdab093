//! Reading small kernel files into a reused buffer, and the helpers the
//! parsers share.

use std::fs::File;
use std::path::{Path, PathBuf};

use oxmon_core::{Error, Labels, Sample};

/// A kernel file read again at every collection into the same buffer, so a
/// steady-state collection allocates nothing for it. A procfs file stays
/// open and is read again from offset 0 (the kernel generates its text at
/// every read from the start), which saves opening it and looking its path
/// up; any other file (a copy under another `proc_root`) is opened anew
/// each time.
#[derive(Debug)]
pub(crate) struct ProcFile {
    path: PathBuf,
    /// Grown as the file needs, never shrunk or cleared: the text is
    /// `buf[..len]`, the rest is room for the next read.
    buf: Vec<u8>,
    len: usize,
    open: Option<File>,
}

impl ProcFile {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            buf: Vec::new(),
            len: 0,
            open: None,
        }
    }

    /// Reads the whole file again and returns its text.
    ///
    /// # Errors
    /// [`Error::Collect`] naming the file.
    pub(crate) fn read(&mut self) -> Result<&str, Error> {
        let again = self.open.as_ref().map(|f| read_at_start(f, &mut self.buf));
        self.len = match again {
            Some(Ok(len)) => len,
            // Not kept open, or reading it again failed: opened anew, and an
            // error of that reported.
            _ => {
                self.open = None;
                let f = File::open(&self.path).map_err(|e| self.error(&e))?;
                let len = read_at_start(&f, &mut self.buf).map_err(|e| self.error(&e))?;
                if on_procfs(&f) {
                    self.open = Some(f);
                }
                len
            }
        };
        std::str::from_utf8(&self.buf[..self.len]).map_err(|e| self.error(&e))
    }

    fn error(&self, e: &dyn std::fmt::Display) -> Error {
        Error::Collect(format!("{}: {e}", self.path.display()))
    }

    /// The file, when it stays open between reads (procfs).
    pub(crate) fn kept_open(&self) -> Option<&File> {
        self.open.as_ref()
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads `file` from offset 0 to its end into `buf` and returns the length
/// read. Positioned reads (`pread`: procfs's generated files support them):
/// no seek and no size lookup, so a steady file takes two calls. `buf`
/// grows by doubling and keeps its size, so a read writes no zeros.
fn read_at_start(file: &File, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize((2 * len).max(4096), 0);
        }
        match read_at(file, &mut buf[len..], len as u64) {
            Ok(0) => return Ok(len),
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(not(unix))]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = file;
    f.seek(SeekFrom::Start(offset))?;
    f.read(buf)
}

/// Whether `file` is on procfs, whose files the kernel generates at each
/// read (and whose mount tables report changes through `poll`).
#[cfg(target_os = "linux")]
fn on_procfs(file: &File) -> bool {
    rustix::fs::fstatfs(file).is_ok_and(|fs| {
        u64::try_from(fs.f_type).ok() == u64::try_from(rustix::fs::PROC_SUPER_MAGIC).ok()
    })
}

#[cfg(not(target_os = "linux"))]
fn on_procfs(_file: &File) -> bool {
    false
}

/// A parse failure of a file we expected to understand.
pub(crate) fn malformed(path: &Path, what: &str) -> Error {
    Error::Collect(format!("{}: {what}", path.display()))
}

/// Pushes a sample of the collection described by `ctx`.
pub(crate) fn push(
    out: &mut Vec<Sample>,
    ctx: &oxmon_core::CollectContext<'_>,
    metric: &str,
    labels: Labels,
    value: f64,
) {
    if value.is_finite() {
        out.push(Sample::new(metric, labels, ctx.timestamp_ms, value));
    }
}

/// `part / whole` in percent, clamped to 0..=100; `None` for an empty whole.
pub(crate) fn percent(part: f64, whole: f64) -> Option<f64> {
    if whole > 0.0 && part.is_finite() && whole.is_finite() {
        Some((part / whole * 100.0).clamp(0.0, 100.0))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_is_clamped_and_refuses_an_empty_whole() {
        assert_eq!(percent(1.0, 4.0), Some(25.0));
        assert_eq!(percent(5.0, 4.0), Some(100.0));
        assert_eq!(percent(-1.0, 4.0), Some(0.0));
        assert_eq!(percent(1.0, 0.0), None);
        assert_eq!(percent(f64::NAN, 1.0), None);
    }

    #[test]
    fn a_copy_is_opened_anew_and_procfs_kept_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stat");
        std::fs::write(&path, "one").unwrap();
        let mut f = ProcFile::new(path.clone());
        assert_eq!(f.read().unwrap(), "one");
        // Replaced, as a test fixture or a copy is: the new file is read.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "two").unwrap();
        assert_eq!(f.read().unwrap(), "two");
        assert!(f.open.is_none());

        if cfg!(target_os = "linux") {
            let mut up = ProcFile::new(PathBuf::from("/proc/self/stat"));
            let first: u64 = field(up.read().unwrap(), 9); // minflt
            assert!(up.open.is_some(), "procfs stays open");
            // The text is generated again: this process's counters move.
            let big = vec![1u8; 8 << 20];
            assert_eq!(big.iter().map(|&b| u64::from(b)).sum::<u64>(), 8 << 20);
            let second: u64 = field(up.read().unwrap(), 9);
            assert!(second > first, "{first} -> {second}");
        }
    }

    /// Positioned reads go on to the end of a file longer than the first
    /// read's buffer, and a kept-open file reads the same text as a fresh
    /// open.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_long_procfs_file_is_read_whole_again_and_again() {
        let mut mounts = ProcFile::new(PathBuf::from("/proc/self/mountinfo"));
        let first = mounts.read().unwrap().to_owned();
        assert!(mounts.open.is_some());
        for _ in 0..3 {
            assert_eq!(mounts.read().unwrap(), first);
        }
        // smaps: one header line and one VmFlags line per mapping, tens of
        // KiB: many reads of the growing buffer, records never cut.
        let smaps = File::open("/proc/self/smaps").unwrap();
        let mut bytes = Vec::new();
        let len = read_at_start(&smaps, &mut bytes).unwrap();
        let text = std::str::from_utf8(&bytes[..len]).unwrap();
        assert!(text.len() > 4096, "{} bytes", text.len());
        let headers = text
            .lines()
            .filter(|l| {
                l.split(' ')
                    .next()
                    .is_some_and(|a| a.contains('-') && !a.contains(':'))
            })
            .count();
        let flags = text.lines().filter(|l| l.starts_with("VmFlags:")).count();
        assert!(
            headers > 1 && headers == flags,
            "{headers} mappings, {flags} VmFlags"
        );
        assert!(text.ends_with('\n'));
    }

    /// Field `n` of `/proc/PID/stat`, counted from 0 (the pid) as `proc(5)`
    /// counts from 1; the command name may hold spaces, so the fields are
    /// split after its closing parenthesis.
    fn field(stat: &str, n: usize) -> u64 {
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        rest.split(' ').nth(n - 2).unwrap().parse().unwrap()
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let mut f = ProcFile::new(PathBuf::from("/nonexistent/oxmon/stat"));
        let err = f.read().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/oxmon/stat"), "{err}");
    }
}
