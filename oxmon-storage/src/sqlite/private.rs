//! Owner-only modes for the data directory and the database files, whatever
//! the process umask: samples, alert history and the password and token
//! hashes of `cert.db` are nobody else's business. Unix only; elsewhere
//! directories are created with the platform's defaults.
//!
//! - Directories oxmon creates are 0700.
//! - A database file is created 0600 before SQLite opens it (SQLite gives
//!   the `-wal` and `-shm` files the mode of the database), and an existing
//!   one, with its `-wal` and `-shm`, loses its group and other bits.
//! - An existing data directory with group or other bits loses them, with a
//!   warning, when it belongs to the user running oxmon and is not a shared
//!   (sticky) directory such as `/tmp`; otherwise a warning says what to
//!   change and nothing is touched.

use std::io;
use std::path::Path;

/// Creates `dir` and its missing parents, owner-only (0700). Existing
/// directories are left as they are.
pub(crate) fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Removes group and other access from the data directory when it is ours;
/// warns when it is not (see the module docs).
#[cfg(unix)]
pub(crate) fn tighten_dir(dir: &Path) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Ok(meta) = std::fs::metadata(dir) else {
        return;
    };
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 == 0 {
        return;
    }
    let ours = meta.uid() == rustix::process::geteuid().as_raw();
    let shared = mode & 0o1000 != 0;
    let shown = dir.display();
    if !ours || shared {
        tracing::warn!(
            "data directory {shown} is open to group or others (mode {mode:o}) and is not oxmon's own to change; restrict it (chmod 700)"
        );
        return;
    }
    let tight = mode & !0o077;
    match std::fs::set_permissions(dir, std::fs::Permissions::from_mode(tight)) {
        Ok(()) => tracing::warn!(
            "data directory {shown} was open to group or others (mode {mode:o}); changed to {tight:o}"
        ),
        Err(e) => tracing::warn!(
            "data directory {shown} is open to group or others (mode {mode:o}) and could not be changed: {e}"
        ),
    }
}

/// Does nothing off Unix.
#[cfg(not(unix))]
pub(crate) fn tighten_dir(_dir: &Path) {}

/// Creates the database file `path` owner-only (0600) when it does not
/// exist, so that SQLite opens it with that mode; removes group and other
/// access from an existing one and from its `-wal` and `-shm` files.
///
/// # Errors
/// When the file cannot be created. Failing to change an existing file's
/// mode is only logged.
pub(crate) fn prepare_file(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            let p = Path::new(&p);
            let Ok(meta) = std::fs::metadata(p) else {
                continue;
            };
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o077 == 0 || !meta.is_file() {
                continue;
            }
            if let Err(e) =
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode & !0o077))
            {
                tracing::warn!(
                    "{} is open to group or others (mode {mode:o}) and could not be changed: {e}",
                    p.display()
                );
            }
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn new_directories_and_files_are_owner_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        create_dir(&dir).unwrap();
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        let db = dir.join("x.db");
        prepare_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        assert_eq!(std::fs::metadata(&db).unwrap().len(), 0);
    }

    #[test]
    fn existing_files_and_our_directory_are_tightened() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let db = dir.join("x.db");
        for (p, m) in [("x.db", 0o644), ("x.db-wal", 0o666), ("x.db-shm", 0o400)] {
            std::fs::write(dir.join(p), b"").unwrap();
            std::fs::set_permissions(dir.join(p), std::fs::Permissions::from_mode(m)).unwrap();
        }
        prepare_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&dir.join("x.db-wal")), 0o600);
        assert_eq!(mode(&dir.join("x.db-shm")), 0o400, "owner bits are kept");
        tighten_dir(&dir);
        assert_eq!(mode(&dir), 0o700);
        // A shared directory is not ours to change.
        let shared = tmp.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        tighten_dir(&shared);
        assert_eq!(mode(&shared), 0o1777);
    }
}
