//! What the collectors report and where they read it from.

use std::path::PathBuf;

use glob::{MatchOptions, Pattern};
use oxmon_core::Error;
use oxmon_core::config::CollectorsConfig;

/// File system types that hold no user data (kernel interfaces, memory,
/// container layers, read-only images): never reported by default.
pub const PSEUDO_FS_TYPES: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fuse.lxcfs",
    "fuse.portal",
    "fusectl",
    "hugetlbfs",
    "iso9660",
    "mqueue",
    "nsfs",
    "overlay",
    "proc",
    "pstore",
    "ramfs",
    "rootfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "sysfs",
    "tmpfs",
    "tracefs",
];

/// Network file systems: not reported by default, because `statvfs` on a
/// hard-mounted share whose server is gone blocks for as long as the server
/// stays gone (and so would the agent's collection). Remove them from
/// [`CollectorOptions::disk_fs_types_exclude`] to report them.
pub const REMOTE_FS_TYPES: &[&str] = &[
    "9p",
    "afs",
    "ceph",
    "cifs",
    "fuse.sshfs",
    "glusterfs",
    "lustre",
    "ncpfs",
    "nfs",
    "nfs4",
    "smb3",
    "smbfs",
];

/// Where the collectors read the system's figures: `[collectors] backend`
/// of `agent.toml`.
pub use oxmon_core::config::Backend;

/// Options of the built-in collectors. Defaults report every real disk and
/// every non-loopback interface.
///
/// Patterns are shell globs (`*`, `?`, `[abc]`); `*` also matches `/`, so
/// `/snap/*` matches every mount below `/snap`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CollectorOptions {
    /// Where to read from. Default [`Backend::Auto`].
    pub backend: Backend,
    /// The proc file system. Default `/proc`.
    pub proc_root: PathBuf,
    /// Mount points to report; empty (the default) means every mount that
    /// passes the other filters.
    pub disk_mounts_include: Vec<String>,
    /// Mount points never to report. Default: none.
    pub disk_mounts_exclude: Vec<String>,
    /// File system types never to report (exact names as in
    /// `/proc/self/mountinfo`). Default: [`PSEUDO_FS_TYPES`] and
    /// [`REMOTE_FS_TYPES`].
    pub disk_fs_types_exclude: Vec<String>,
    /// Interfaces to report; empty (the default) means every interface that
    /// passes the other filters.
    pub interfaces_include: Vec<String>,
    /// Interfaces never to report. Default: none.
    pub interfaces_exclude: Vec<String>,
    /// Report the loopback interface (`lo`). Default `false`. Applies before
    /// the include list: `interfaces_include = ["lo"]` alone reports nothing.
    pub include_loopback: bool,
}

impl CollectorOptions {
    /// The options `agent.toml`'s `[collectors]` section asks for; what it
    /// leaves out keeps its default.
    pub fn from_config(config: &CollectorsConfig) -> Self {
        let defaults = Self::default();
        Self {
            backend: config.backend,
            proc_root: config.proc_root.clone(),
            disk_mounts_include: config.disk_mounts_include.clone(),
            disk_mounts_exclude: config.disk_mounts_exclude.clone(),
            disk_fs_types_exclude: config
                .disk_fs_types_exclude
                .clone()
                .unwrap_or(defaults.disk_fs_types_exclude),
            interfaces_include: config.interfaces_include.clone(),
            interfaces_exclude: config.interfaces_exclude.clone(),
            include_loopback: config.include_loopback,
        }
    }
}

impl Default for CollectorOptions {
    fn default() -> Self {
        Self {
            backend: Backend::Auto,
            proc_root: PathBuf::from("/proc"),
            disk_mounts_include: Vec::new(),
            disk_mounts_exclude: Vec::new(),
            disk_fs_types_exclude: PSEUDO_FS_TYPES
                .iter()
                .chain(REMOTE_FS_TYPES)
                .map(|s| (*s).to_owned())
                .collect(),
            interfaces_include: Vec::new(),
            interfaces_exclude: Vec::new(),
            include_loopback: false,
        }
    }
}

impl CollectorOptions {
    /// Checks that every pattern is a valid glob.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the option and the pattern.
    pub fn validate(&self) -> Result<(), Error> {
        let lists = [
            ("disk_mounts_include", &self.disk_mounts_include),
            ("disk_mounts_exclude", &self.disk_mounts_exclude),
            ("interfaces_include", &self.interfaces_include),
            ("interfaces_exclude", &self.interfaces_exclude),
        ];
        for (name, list) in lists {
            for p in list {
                Pattern::new(p).map_err(|e| {
                    Error::InvalidInput(format!("collector option `{name}`: pattern `{p}`: {e}"))
                })?;
            }
        }
        Ok(())
    }

    /// Whether the procfs backend applies: chosen explicitly, or `Auto` on a
    /// system whose `proc_root/stat` is readable.
    pub(crate) fn use_procfs(&self) -> bool {
        match self.backend {
            Backend::Procfs => true,
            Backend::Sysinfo => false,
            Backend::Auto => {
                cfg!(target_os = "linux") && std::fs::metadata(self.proc_root.join("stat")).is_ok()
            }
        }
    }

    pub(crate) fn mount_filter(&self) -> NameFilter {
        NameFilter::new(&self.disk_mounts_include, &self.disk_mounts_exclude)
    }

    pub(crate) fn interface_filter(&self) -> NameFilter {
        NameFilter::new(&self.interfaces_include, &self.interfaces_exclude)
    }
}

/// Include and exclude globs compiled once. An invalid pattern (which
/// [`CollectorOptions::validate`] reports) matches itself literally.
#[derive(Debug, Clone, Default)]
pub(crate) struct NameFilter {
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
}

impl NameFilter {
    pub(crate) fn new(include: &[String], exclude: &[String]) -> Self {
        let compile = |list: &[String]| -> Vec<Pattern> {
            list.iter()
                .map(|p| {
                    Pattern::new(p).unwrap_or_else(|e| {
                        tracing::warn!(pattern = %p, error = %e, "invalid glob, matching it literally");
                        Pattern::new(&Pattern::escape(p)).unwrap_or_default()
                    })
                })
                .collect()
        };
        Self {
            include: compile(include),
            exclude: compile(exclude),
        }
    }

    /// Whether `name` is reported: in the include list (or no include list),
    /// and not in the exclude list.
    pub(crate) fn allows(&self, name: &str) -> bool {
        let opts = MatchOptions {
            case_sensitive: true,
            require_literal_separator: false,
            require_literal_leading_dot: false,
        };
        let hit = |ps: &[Pattern]| ps.iter().any(|p| p.matches_with(name, opts));
        (self.include.is_empty() || hit(&self.include)) && !hit(&self.exclude)
    }
}

/// Whether an interface name is a loopback: `lo` on Linux, `lo0` and the
/// like on BSDs and macOS.
pub(crate) fn is_loopback(name: &str) -> bool {
    name.strip_prefix("lo")
        .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn defaults_exclude_pseudo_and_remote_file_systems() {
        let o = CollectorOptions::default();
        for t in ["proc", "sysfs", "tmpfs", "overlay", "cgroup2", "nfs4"] {
            assert!(o.disk_fs_types_exclude.iter().any(|x| x == t), "{t}");
        }
        assert!(!o.disk_fs_types_exclude.iter().any(|x| x == "ext4"));
        assert!(!o.include_loopback);
        o.validate().unwrap();
    }

    #[test]
    fn filters_apply_include_then_exclude() {
        let f = NameFilter::new(&[], &strings(&["/snap/*", "/boot"]));
        assert!(f.allows("/"));
        assert!(f.allows("/data"));
        assert!(!f.allows("/boot"));
        assert!(!f.allows("/snap/core/123"));
        let f = NameFilter::new(&strings(&["eth*", "en?0"]), &strings(&["eth9"]));
        assert!(f.allows("eth0") && f.allows("ens0"));
        assert!(!f.allows("eth9") && !f.allows("docker0"));
    }

    #[test]
    fn invalid_patterns_are_reported_and_match_literally() {
        let o = CollectorOptions {
            interfaces_exclude: strings(&["eth[0"]),
            ..CollectorOptions::default()
        };
        let err = o.validate().unwrap_err().to_string();
        assert!(
            err.contains("interfaces_exclude") && err.contains("eth[0"),
            "{err}"
        );
        let f = o.interface_filter();
        assert!(!f.allows("eth[0"));
        assert!(f.allows("eth0"));
    }

    #[test]
    fn loopback_names() {
        assert!(is_loopback("lo") && is_loopback("lo0"));
        assert!(!is_loopback("eth0") && !is_loopback("lo-bridge") && !is_loopback("wlo1"));
    }

    #[test]
    fn the_collectors_section_reaches_the_collectors() {
        let config = oxmon_core::config::AgentConfig::from_toml(
            "[collectors]\nbackend = \"sysinfo\"\ninterfaces_exclude = [\"veth*\"]\ninclude_loopback = true\ndisk_fs_types_exclude = [\"tmpfs\"]",
            "agent.toml",
        )
        .unwrap();
        let o = CollectorOptions::from_config(&config.collectors);
        assert_eq!(o.backend, Backend::Sysinfo);
        assert_eq!(o.interfaces_exclude, ["veth*"]);
        assert!(o.include_loopback);
        assert_eq!(o.disk_fs_types_exclude, ["tmpfs"]);
        let d =
            CollectorOptions::from_config(&oxmon_core::config::AgentConfig::default().collectors);
        assert_eq!(
            d.disk_fs_types_exclude,
            CollectorOptions::default().disk_fs_types_exclude
        );
    }
}
