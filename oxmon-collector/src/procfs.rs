//! Reading small kernel files into a reused buffer, and the helpers the
//! parsers share.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use oxmon_core::{Error, Labels, Sample};

/// A kernel file read again at every collection into the same buffer, so a
/// steady-state collection allocates nothing for it.
#[derive(Debug)]
pub(crate) struct ProcFile {
    path: PathBuf,
    buf: String,
}

impl ProcFile {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            buf: String::new(),
        }
    }

    /// Reads the whole file again and returns its text.
    ///
    /// # Errors
    /// [`Error::Collect`] naming the file.
    pub(crate) fn read(&mut self) -> Result<&str, Error> {
        self.buf.clear();
        File::open(&self.path)
            .and_then(|mut f| f.read_to_string(&mut self.buf))
            .map_err(|e| Error::Collect(format!("{}: {e}", self.path.display())))?;
        Ok(&self.buf)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
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
    fn a_missing_file_names_its_path() {
        let mut f = ProcFile::new(PathBuf::from("/nonexistent/oxmon/stat"));
        let err = f.read().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/oxmon/stat"), "{err}");
    }
}
