//! `disk.*`: space per mounted file system, the way `df` reports it.

use std::cell::Cell;
use std::collections::HashMap;
use std::path::PathBuf;

use oxmon_core::{CollectContext, Collector, Error, Labels, Sample};

use crate::options::{CollectorOptions, NameFilter};
use crate::procfs::{ProcFile, malformed, percent, push};

/// One line of `/proc/self/mountinfo` (or one `sysinfo` disk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// What identifies the file system: `major:minor` from mountinfo, the
    /// device name from sysinfo. Two entries with the same device are the
    /// same file system mounted twice (bind mounts, btrfs subvolumes).
    pub device: String,
    /// The directory of the file system mounted here: `/` for a whole file
    /// system, a subdirectory for a bind mount.
    pub root: String,
    /// Where it is mounted.
    pub mount_point: String,
    /// The file system type (`ext4`, `xfs`, `tmpfs`).
    pub fs_type: String,
}

/// Space figures of a file system, in bytes, as `statvfs` gives them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Space {
    /// Size of the file system (`f_blocks * f_frsize`).
    pub total: u64,
    /// Free blocks, including those reserved for root (`f_bfree`).
    pub free: u64,
    /// Free blocks an unprivileged user may use (`f_bavail`).
    pub available: u64,
}

impl Space {
    /// `total - free`, as `df` counts "Used".
    pub fn used(&self) -> u64 {
        self.total.saturating_sub(self.free)
    }

    /// `used / (used + available)`, as `df` computes "Use%" (blocks
    /// reserved for root count neither as used nor as available, so a full
    /// disk reads 100% when unprivileged users can no longer write).
    pub fn used_percent(&self) -> Option<f64> {
        let used = self.used() as f64;
        percent(used, used + self.available as f64)
    }
}

/// Decodes the octal escapes (`\040` for a space) of mountinfo paths.
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                let v = u32::from(d[0] - b'0') * 64
                    + u32::from(d[1] - b'0') * 8
                    + u32::from(d[2] - b'0');
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `/proc/self/mountinfo`, calling `f` for each mount. Lines that do
/// not have the documented shape are skipped.
pub fn parse_mountinfo(text: &str, mut f: impl FnMut(MountEntry)) {
    for line in text.lines() {
        // id parent major:minor root mount_point options [optional...] - fstype source superopts
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut l = left.split(' ');
        let (Some(_id), Some(_parent), Some(device), Some(root), Some(mount_point)) =
            (l.next(), l.next(), l.next(), l.next(), l.next())
        else {
            continue;
        };
        let Some(fs_type) = right.split(' ').next().filter(|t| !t.is_empty()) else {
            continue;
        };
        f(MountEntry {
            device: device.to_owned(),
            root: unescape(root),
            mount_point: unescape(mount_point),
            fs_type: unescape(fs_type),
        });
    }
}

/// Chooses the mounts to report, sorted by mount point:
/// - drops excluded file system types and mount points the filter refuses;
/// - of a mount point mounted over (stacked), keeps the last, the visible one;
/// - of a file system mounted several times, keeps one: a mount of its root
///   over a bind mount of a subdirectory, then the shortest mount point.
pub(crate) fn select_mounts(
    entries: Vec<MountEntry>,
    fs_types_exclude: &[String],
    filter: &NameFilter,
) -> Vec<MountEntry> {
    let mut by_point: HashMap<String, (usize, MountEntry)> = HashMap::new();
    for (i, e) in entries.into_iter().enumerate() {
        by_point.insert(e.mount_point.clone(), (i, e));
    }
    let mut by_device: HashMap<String, (usize, MountEntry)> = HashMap::new();
    for (i, e) in by_point.into_values() {
        if fs_types_exclude.contains(&e.fs_type) || !filter.allows(&e.mount_point) {
            continue;
        }
        let rank = |e: &MountEntry, i: usize| (e.root != "/", e.mount_point.len(), i);
        match by_device.get(&e.device) {
            Some((j, kept)) if rank(kept, *j) <= rank(&e, i) => {}
            _ => {
                by_device.insert(e.device.clone(), (i, e));
            }
        }
    }
    let mut out: Vec<MountEntry> = by_device.into_values().map(|(_, e)| e).collect();
    out.sort_by(|a, b| a.mount_point.cmp(&b.mount_point));
    out
}

#[cfg(target_os = "linux")]
fn statvfs(path: &str) -> Result<Space, String> {
    let s = rustix::fs::statvfs(path).map_err(|e| e.to_string())?;
    let size = s.f_frsize.max(1);
    Ok(Space {
        total: s.f_blocks.saturating_mul(size),
        free: s.f_bfree.saturating_mul(size),
        available: s.f_bavail.saturating_mul(size),
    })
}

#[cfg(not(target_os = "linux"))]
fn statvfs(_path: &str) -> Result<Space, String> {
    Err("the procfs disk source runs on Linux only".to_owned())
}

/// Reports `disk.total`, `disk.used`, `disk.available` (bytes) and
/// `disk.used_percent` (%) `{mount}` for every real file system.
///
/// Figures are `df`'s: `used + available <= total`, the difference being the
/// blocks reserved for root. Pseudo and network file systems are skipped by
/// default (see [`CollectorOptions::disk_fs_types_exclude`]), a file system
/// mounted twice is reported once, and a file system of size 0 is skipped.
#[derive(Debug)]
pub struct DiskCollector {
    source: Source,
    fs_types_exclude: Vec<String>,
    filter: NameFilter,
}

#[derive(Debug)]
enum Source {
    Procfs(MountTable),
    Sysinfo(Result<sysinfo::Disks, String>),
}

/// The mounts chosen from `/proc/self/mountinfo`, read and chosen again
/// only when the mount table changed. The kernel generates the file at
/// every read, about a microsecond a mount (a container host has hundreds),
/// and tells a reader of the open file that the table changed since: `poll`
/// reports `POLLPRI` (fs/proc_namespace.c, `mounts_poll`). A file that is
/// not procfs (a copy under another `proc_root`) is read at every
/// collection.
#[derive(Debug)]
struct MountTable {
    file: ProcFile,
    chosen: Vec<MountEntry>,
    /// Whether `chosen` is from the table as it is now, unless the kernel
    /// reports a change. A `Cell`: asking whether the table changed
    /// consumes the kernel's report, so [`Collector::may_block`] (which
    /// has `&self`) must remember what it learnt.
    fresh: Cell<bool>,
    /// `may_block` just found the table unchanged: the next read uses
    /// `chosen` without asking again, so a mount that appears in between
    /// is not `statvfs`ed on a thread that was promised no blocking (the
    /// kernel's report waits for the next collection).
    checked: Cell<bool>,
    /// How many times the file was read (for the tests).
    reads: u64,
}

impl MountTable {
    fn new(path: PathBuf) -> Self {
        Self {
            file: ProcFile::new(path),
            chosen: Vec::new(),
            fresh: Cell::new(false),
            checked: Cell::new(false),
            reads: 0,
        }
    }

    /// The mounts to report, chosen by `choose` from the current table.
    fn mounts(
        &mut self,
        choose: impl FnOnce(Vec<MountEntry>) -> Vec<MountEntry>,
    ) -> Result<&[MountEntry], Error> {
        // The file stays open only on procfs; the kernel remembers, per open
        // file, the table it last reported, from the open on: a change
        // before the read below is reported too (one read too many, never
        // one too few).
        if self.checked.take() || self.unchanged() {
            return Ok(&self.chosen);
        }
        let mut entries = Vec::new();
        self.reads += 1;
        parse_mountinfo(self.file.read()?, |e| entries.push(e));
        if entries.is_empty() {
            return Err(malformed(self.file.path(), "no mounts listed"));
        }
        self.chosen = choose(entries);
        self.fresh.set(true);
        Ok(&self.chosen)
    }

    /// Whether `chosen` is still the table as it is now; if so, the next
    /// read keeps it without asking again (what `may_block` promised).
    fn promise_unchanged(&self) -> bool {
        let unchanged = self.unchanged();
        self.checked.set(unchanged);
        unchanged
    }

    /// Whether `chosen` is still the table as it is now.
    fn unchanged(&self) -> bool {
        let unchanged = self.fresh.get() && self.file.kept_open().is_some_and(|f| !changed(f));
        self.fresh.set(unchanged);
        unchanged
    }
}

/// Whether the mount table changed since `file` last reported (an error
/// counts as a change: the table is read again).
#[cfg(target_os = "linux")]
fn changed(file: &std::fs::File) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let mut fds = [PollFd::new(file, PollFlags::PRI)];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    match poll(&mut fds, Some(&now)) {
        Ok(_) => fds[0]
            .revents()
            .intersects(PollFlags::PRI | PollFlags::ERR | PollFlags::NVAL),
        Err(_) => true,
    }
}

#[cfg(not(target_os = "linux"))]
fn changed(_file: &std::fs::File) -> bool {
    true
}

/// File system types whose `statvfs` answers from this machine's memory and
/// disks. Any other type (network, FUSE, virtiofs, cluster file systems, a
/// type this list does not know) may wait on something else.
const LOCAL_FS_TYPES: &[&str] = &[
    "bcachefs", "btrfs", "devtmpfs", "erofs", "exfat", "ext2", "ext3", "ext4", "f2fs", "hfs",
    "hfsplus", "iso9660", "jfs", "msdos", "nilfs2", "ntfs3", "overlay", "ramfs", "reiserfs",
    "squashfs", "tmpfs", "udf", "vfat", "xfs", "zfs",
];

/// Whether `statvfs` on a file system of this type may wait on something
/// other than this machine's memory and disks.
fn may_hang(fs_type: &str) -> bool {
    !LOCAL_FS_TYPES.contains(&fs_type)
}

impl DiskCollector {
    /// A disk collector reading where `options` say.
    pub fn new(options: &CollectorOptions) -> Self {
        let source = if options.use_procfs() {
            Source::Procfs(MountTable::new(
                options.proc_root.join("self").join("mountinfo"),
            ))
        } else {
            let kind = sysinfo::DiskRefreshKind::nothing().with_storage();
            Source::Sysinfo(
                sysinfo::Disks::new_with_refreshed_list_specifics(kind).map_err(|e| e.to_string()),
            )
        };
        Self {
            source,
            fs_types_exclude: options.disk_fs_types_exclude.clone(),
            filter: options.mount_filter(),
        }
    }

    /// The mount points to report now, with their space figures.
    fn read(&mut self) -> Result<Vec<(String, Space)>, Error> {
        match &mut self.source {
            Source::Procfs(table) => {
                let (exclude, filter) = (&self.fs_types_exclude, &self.filter);
                let chosen = table.mounts(|entries| select_mounts(entries, exclude, filter))?;
                Ok(chosen
                    .iter()
                    .filter_map(|m| match statvfs(&m.mount_point) {
                        Ok(space) => Some((m.mount_point.clone(), space)),
                        Err(e) => {
                            tracing::debug!(mount = %m.mount_point, error = %e, "statvfs failed, skipping");
                            None
                        }
                    })
                    .collect())
            }
            Source::Sysinfo(disks) => {
                let disks = disks
                    .as_mut()
                    .map_err(|e| Error::Collect(format!("disks: {e}")))?;
                disks.refresh_specifics(true, sysinfo::DiskRefreshKind::nothing().with_storage());
                let mut space = HashMap::new();
                let entries = disks
                    .iter()
                    .map(|d| {
                        let e = MountEntry {
                            device: d.name().to_string_lossy().into_owned(),
                            root: "/".to_owned(),
                            mount_point: d.mount_point().to_string_lossy().into_owned(),
                            fs_type: d.file_system().to_string_lossy().into_owned(),
                        };
                        // sysinfo has no free-block count: reserved blocks count as used.
                        let s = Space {
                            total: d.total_space(),
                            free: d.available_space(),
                            available: d.available_space(),
                        };
                        space.insert(e.mount_point.clone(), s);
                        e
                    })
                    .collect();
                let chosen = select_mounts(entries, &self.fs_types_exclude, &self.filter);
                Ok(chosen
                    .into_iter()
                    .filter_map(|m| {
                        let s = space.remove(&m.mount_point)?;
                        Some((m.mount_point, s))
                    })
                    .collect())
            }
        }
    }
}

impl Collector for DiskCollector {
    fn name(&self) -> &str {
        "disk"
    }

    /// `statvfs` of a network or FUSE file system can hang while its
    /// server is away. Blocking unless the mount table is known, unchanged
    /// and only file systems of known local types are reported;
    /// sysinfo's disks refresh every mount, so always.
    fn may_block(&self) -> bool {
        match &self.source {
            Source::Procfs(table) => {
                !table.promise_unchanged() || table.chosen.iter().any(|m| may_hang(&m.fs_type))
            }
            Source::Sysinfo(_) => true,
        }
    }

    fn collect(&mut self, ctx: &CollectContext<'_>, out: &mut Vec<Sample>) -> Result<(), Error> {
        for (m, s) in self.read()? {
            if s.total == 0 {
                continue;
            }
            let labels = Labels::new().with("mount", m);
            push(out, ctx, "disk.total", labels.clone(), s.total as f64);
            push(out, ctx, "disk.used", labels.clone(), s.used() as f64);
            push(
                out,
                ctx,
                "disk.available",
                labels.clone(),
                s.available as f64,
            );
            if let Some(p) = s.used_percent() {
                push(out, ctx, "disk.used_percent", labels, p);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = r"22 27 0:21 / /proc rw,relatime - proc proc rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334432k
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
40 27 254:0 /var/lib/docker/containers/x/hosts /etc/hosts rw master:1 - ext4 /dev/vda rw
41 27 259:2 / /data\040disk rw,relatime - xfs /dev/nvme0n1p2 rw
42 27 259:3 / /boot rw,relatime - vfat /dev/nvme0n1p1 rw
43 27 259:4 / /boot rw,relatime - ext4 /dev/nvme0n1p3 rw
44 27 0:50 / /mnt/share rw,relatime - nfs4 server:/export rw
45 27 259:2 / /srv/backup/data rw,relatime - xfs /dev/nvme0n1p2 rw
46 27 0:60 / /var/lib/docker/overlay2/abc/merged rw - overlay overlay rw
garbage line
";

    fn entries() -> Vec<MountEntry> {
        let mut v = Vec::new();
        parse_mountinfo(MOUNTINFO, |e| v.push(e));
        v
    }

    fn points(v: &[MountEntry]) -> Vec<&str> {
        v.iter().map(|e| e.mount_point.as_str()).collect()
    }

    #[test]
    fn parses_mountinfo_with_escapes_and_optional_fields() {
        let v = entries();
        assert_eq!(v.len(), 11, "the garbage line is skipped");
        assert_eq!(
            v[3],
            MountEntry {
                device: "254:0".into(),
                root: "/".into(),
                mount_point: "/".into(),
                fs_type: "ext4".into()
            }
        );
        assert_eq!(v[5].mount_point, "/data disk");
        assert_eq!(unescape(r"a\134b\011c\12"), "a\\b\tc\\12");
    }

    #[test]
    fn selection_skips_pseudo_and_remote_and_reports_each_file_system_once() {
        let o = CollectorOptions::default();
        let chosen = select_mounts(entries(), &o.disk_fs_types_exclude, &o.mount_filter());
        // /etc/hosts is a bind mount of /'s file system; /srv/backup/data mounts the
        // same xfs as "/data disk" (the shorter mount point wins); /boot is mounted over:
        // the ext4 on top is what statvfs sees.
        assert_eq!(points(&chosen), ["/", "/boot", "/data disk"]);
        let boot = chosen.iter().find(|e| e.mount_point == "/boot");
        assert_eq!(boot.map(|e| e.fs_type.as_str()), Some("ext4"));
    }

    #[test]
    fn include_and_exclude_lists_apply_to_mount_points() {
        let mut o = CollectorOptions {
            disk_mounts_exclude: vec!["/boot*".into()],
            ..CollectorOptions::default()
        };
        let pick = |o: &CollectorOptions| {
            let chosen = select_mounts(entries(), &o.disk_fs_types_exclude, &o.mount_filter());
            points(&chosen)
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(pick(&o), ["/", "/data disk"]);
        o.disk_mounts_exclude.clear();
        o.disk_mounts_include = vec!["/srv/*".into()];
        assert_eq!(
            pick(&o),
            ["/srv/backup/data"],
            "the only included mount of its device"
        );
        o.disk_mounts_include.clear();
        o.disk_fs_types_exclude.retain(|t| t != "nfs4");
        assert!(pick(&o).contains(&"/mnt/share".to_owned()));
    }

    #[test]
    fn space_follows_df() {
        // The root file system of the reference machine, as df -B1 shows it.
        let s = Space {
            total: 270_553_174_016,
            free: 270_553_174_016 - 21_601_767_424,
            available: 75_970_981_888,
        };
        assert_eq!(s.used(), 21_601_767_424);
        let p = s.used_percent().unwrap();
        assert!((p - 22.14).abs() < 0.01, "{p}");
        assert_eq!(Space::default().used_percent(), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn statvfs_of_the_root_is_consistent() {
        let s = statvfs("/").unwrap();
        assert!(s.total > 0);
        assert!(s.free <= s.total && s.available <= s.free);
        assert!(statvfs("/nonexistent/oxmon").is_err());
    }

    #[test]
    fn only_known_local_file_systems_never_block() {
        for t in [
            "nfs",
            "nfs4",
            "cifs",
            "fuse",
            "fuse.sshfs",
            "fuseblk",
            "ceph",
            "virtiofs",
            "gpfs",
            "9p",
            "unheard-of",
        ] {
            assert!(may_hang(t), "{t}");
        }
        for t in ["ext4", "xfs", "btrfs", "tmpfs", "overlay", "vfat", "zfs"] {
            assert!(!may_hang(t), "{t}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_disk_collector_blocks_until_it_knows_the_mounts_and_while_one_may_hang() {
        let ctx = CollectContext {
            agent_id: "a",
            timestamp_ms: 0,
        };
        let mut d = DiskCollector::new(&CollectorOptions::default());
        assert!(d.may_block(), "the mount table is not read yet");
        d.collect(&ctx, &mut Vec::new()).unwrap();
        let Source::Procfs(table) = &d.source else {
            panic!("procfs on Linux")
        };
        let remote = table.chosen.iter().any(|m| may_hang(&m.fs_type));
        assert_eq!(d.may_block(), remote, "{:?}", table.chosen);
        assert_eq!(d.may_block(), remote, "asking twice changes nothing");

        // A copy of the table (not procfs) cannot say it is unchanged.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("self")).unwrap();
        std::fs::write(dir.path().join("self/mountinfo"), MOUNTINFO).unwrap();
        let o = CollectorOptions {
            proc_root: dir.path().to_path_buf(),
            ..CollectorOptions::default()
        };
        let mut copy = DiskCollector::new(&o);
        copy.collect(&ctx, &mut Vec::new()).unwrap();
        assert!(copy.may_block());
    }

    #[test]
    fn a_copy_of_mountinfo_is_read_at_every_collection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mountinfo");
        let first = MOUNTINFO.lines().take(4).collect::<Vec<_>>().join("\n");
        std::fs::write(&path, &first).unwrap();
        let mut table = MountTable::new(path.clone());
        let all = |v: Vec<MountEntry>| v;
        assert_eq!(table.mounts(all).unwrap().len(), 4);
        std::fs::write(&path, MOUNTINFO).unwrap();
        assert_eq!(
            table.mounts(all).unwrap().len(),
            11,
            "not procfs: read again"
        );
        assert_eq!(table.reads, 2);
        std::fs::write(&path, "garbage\n").unwrap();
        let e = table.mounts(all).unwrap_err().to_string();
        assert!(e.contains("no mounts listed"), "{e}");
    }

    /// The kernel's mount table of a process in a mount namespace of its
    /// own (`unshare`, root only): read once while it stays the same, read
    /// again after a mount. Without the privilege the test says so and
    /// passes: nothing else here can change a mount table.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_kernel_mount_table_is_read_again_only_after_a_change() {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};

        struct Kill(std::process::Child);
        impl Drop for Kill {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let spawned = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("echo ready; exec sleep 60")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = spawned else {
            eprintln!("skipped: no unshare(1)");
            return;
        };
        let mut child = Kill(child);
        let mut line = String::new();
        let out = child.0.stdout.take().unwrap();
        if BufReader::new(out).read_line(&mut line).unwrap_or(0) == 0 {
            eprintln!("skipped: unshare --mount needs CAP_SYS_ADMIN");
            return;
        }
        let pid = child.0.id();
        let mut table = MountTable::new(PathBuf::from(format!("/proc/{pid}/mountinfo")));
        let all = |v: Vec<MountEntry>| v;
        let before = table.mounts(all).unwrap().to_vec();
        assert!(!before.is_empty());
        assert_eq!(table.mounts(all).unwrap(), &before[..]);
        assert_eq!(table.mounts(all).unwrap(), &before[..]);
        assert_eq!(table.reads, 1, "an unchanged table is not read again");
        // As may_block asks: the read that follows keeps the answer.
        assert!(table.promise_unchanged());

        let mounted = Command::new("nsenter")
            .args([
                "-t",
                &pid.to_string(),
                "-m",
                "mount",
                "-t",
                "tmpfs",
                "oxmon-test",
                "/mnt",
            ])
            .status()
            .unwrap();
        assert!(mounted.success());
        // Mounted between may_block and the read: the read keeps the table
        // it promised (no statvfs of an unknown mount inline) ...
        assert_eq!(table.mounts(all).unwrap(), &before[..]);
        assert_eq!(table.reads, 1);
        // ... and the next collection learns of it. Asking (as may_block
        // does) consumes the kernel's report; the read must still happen.
        assert!(!table.unchanged(), "the mount is reported");
        let after = table.mounts(all).unwrap().to_vec();
        assert_eq!(table.reads, 2, "a mount is seen");
        assert!(
            after
                .iter()
                .any(|m| m.mount_point == "/mnt" && m.fs_type == "tmpfs"),
            "{after:?}"
        );
        table.mounts(all).unwrap();
        assert_eq!(table.reads, 2);
    }
}
