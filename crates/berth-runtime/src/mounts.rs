//! Turning OCI mount entries into mount(2) calls inside the container's mount namespace.

use crate::error::{Result, RuntimeError};
use crate::root::{fd_path, Kind, Root};
use nix::mount::{mount, MsFlags};
use std::fs;
use std::path::Path;

/// Mount flags and the leftover data string for one entry's options.
#[derive(Debug, PartialEq, Eq)]
pub struct ParsedOptions {
    pub flags: MsFlags,
    pub propagation: Option<MsFlags>,
    pub data: String,
    pub bind: bool,
    pub recursive: bool,
}

pub fn parse_options(options: &[String]) -> ParsedOptions {
    let mut p = ParsedOptions {
        flags: MsFlags::empty(),
        propagation: None,
        data: String::new(),
        bind: false,
        recursive: false,
    };
    let mut data: Vec<&str> = vec![];
    for o in options {
        match o.as_str() {
            "ro" => p.flags |= MsFlags::MS_RDONLY,
            "rw" => p.flags &= !MsFlags::MS_RDONLY,
            "nosuid" => p.flags |= MsFlags::MS_NOSUID,
            "nodev" => p.flags |= MsFlags::MS_NODEV,
            "noexec" => p.flags |= MsFlags::MS_NOEXEC,
            "exec" => p.flags &= !MsFlags::MS_NOEXEC,
            "suid" => p.flags &= !MsFlags::MS_NOSUID,
            "dev" => p.flags &= !MsFlags::MS_NODEV,
            "sync" => p.flags |= MsFlags::MS_SYNCHRONOUS,
            "async" => p.flags &= !MsFlags::MS_SYNCHRONOUS,
            "nodiratime" => p.flags |= MsFlags::MS_NODIRATIME,
            "relatime" => p.flags |= MsFlags::MS_RELATIME,
            "strictatime" => p.flags |= MsFlags::MS_STRICTATIME,
            "noatime" => p.flags |= MsFlags::MS_NOATIME,
            "bind" => p.bind = true,
            "rbind" => {
                p.bind = true;
                p.recursive = true
            }
            "private" => p.propagation = Some(MsFlags::MS_PRIVATE),
            "rprivate" => p.propagation = Some(MsFlags::MS_PRIVATE | MsFlags::MS_REC),
            "slave" => p.propagation = Some(MsFlags::MS_SLAVE),
            "rslave" => p.propagation = Some(MsFlags::MS_SLAVE | MsFlags::MS_REC),
            "shared" => p.propagation = Some(MsFlags::MS_SHARED),
            "rshared" => p.propagation = Some(MsFlags::MS_SHARED | MsFlags::MS_REC),
            "z" | "Z" | "defaults" => {}
            other => data.push(other),
        }
    }
    p.data = data.join(",");
    p
}

fn sys_mount(
    src: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    mount(src, target, fstype, flags, data).map_err(|e| {
        RuntimeError::sys(
            format!(
                "mount {} on {} ({})",
                src.map(|s| s.display().to_string()).unwrap_or_default(),
                target.display(),
                fstype.unwrap_or("bind")
            ),
            e,
        )
    })
}

/// Performs one OCI mount entry at `dest` beneath `root`. The target is resolved by the
/// kernel inside the root and mounted on through its descriptor.
pub fn mount_entry(
    root: &Root,
    dest: &Path,
    kind: &str,
    source: &Path,
    options: &[String],
) -> Result<()> {
    let opts = parse_options(options);
    // proc and sysfs on a symlink would let an image move them where masking misses
    // (CVE-2019-19921): they must be the real path.
    let no_symlink = matches!(kind, "proc" | "sysfs");
    if no_symlink {
        match root.lookup(dest, true) {
            Ok(_) => {}
            Err(_) if root.lookup(dest, false).is_err() => {}
            Err(e) => return Err(e),
        }
    }
    let target = if opts.bind || kind == "bind" {
        // Files, devices and sockets are bound onto a file; only dirs onto a dir.
        let src_is_file = !fs::metadata(source)
            .map_err(|e| RuntimeError::sys(format!("bind source {}", source.display()), e))?
            .is_dir();
        let kind = if src_is_file { Kind::File } else { Kind::Dir };
        let fd = root.ensure(dest, kind)?;
        let target = fd_path(&fd);
        let mut flags = MsFlags::MS_BIND;
        if opts.recursive {
            flags |= MsFlags::MS_REC;
        }
        sys_mount(Some(source), &target, None, flags, None)?;
        // Bind mounts ignore other flags until remounted; the new mount is reached by
        // resolving the destination again (the old descriptor is under it).
        let extra = opts.flags & !MsFlags::MS_REC;
        let fd = root.lookup(dest, false)?;
        if !extra.is_empty() {
            sys_mount(
                None,
                &fd_path(&fd),
                None,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra,
                None,
            )?;
        }
        fd
    } else if kind == "cgroup" || kind == "cgroup2" {
        mount_cgroups(root, dest, opts.flags)?;
        root.lookup(dest, false)?
    } else {
        let fd = root.ensure(dest, Kind::Dir)?;
        let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
        sys_mount(Some(source), &fd_path(&fd), Some(kind), opts.flags, data)?;
        root.lookup(dest, no_symlink)?
    };
    if let Some(p) = opts.propagation {
        sys_mount(None, &fd_path(&target), None, p, None)?;
    }
    Ok(())
}

/// /sys/fs/cgroup inside the container: the container's own cgroups (the cgroup namespace
/// makes them the root), one mount per v1 hierarchy or a single cgroup2 mount.
fn mount_cgroups(root: &Root, dest: &Path, flags: MsFlags) -> Result<()> {
    let fd = root.ensure(dest, Kind::Dir)?;
    let base = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME;
    if crate::cgroups::detect() == crate::cgroups::Version::V2 {
        return sys_mount(
            Some(Path::new("cgroup2")),
            &fd_path(&fd),
            Some("cgroup2"),
            base | flags,
            None,
        );
    }
    sys_mount(
        Some(Path::new("tmpfs")),
        &fd_path(&fd),
        Some("tmpfs"),
        base,
        Some("mode=755"),
    )?;
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls) = (parts.next(), parts.next().unwrap_or(""));
        if ctrls.is_empty() {
            continue; // the v2 entry of a hybrid host
        }
        let dir_name = ctrls.trim_start_matches("name=");
        let dir = root.ensure(&dest.join(dir_name), Kind::Dir)?;
        let data = if ctrls.starts_with("name=") {
            format!("none,{ctrls}")
        } else {
            ctrls.to_string()
        };
        sys_mount(
            Some(Path::new("cgroup")),
            &fd_path(&dir),
            Some("cgroup"),
            base | flags,
            Some(&data),
        )?;
        // cpu,cpuacct style hierarchies are also reachable by each controller's name.
        if ctrls.contains(',') {
            for c in ctrls.split(',') {
                root.symlink(dir_name, &dest.join(c))?;
            }
        }
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        let fd = root.lookup(dest, false)?;
        sys_mount(
            None,
            &fd_path(&fd),
            None,
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | base,
            None,
        )?;
    }
    Ok(())
}

/// One device node in the container's /dev.
pub struct DeviceNode<'a> {
    pub path: &'a Path,
    pub char_device: bool,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

pub fn create_device(root: &Root, d: &DeviceNode) -> Result<()> {
    use nix::sys::stat::{makedev, SFlag};
    let kind = if d.char_device {
        SFlag::S_IFCHR
    } else {
        SFlag::S_IFBLK
    };
    root.mknod(
        d.path,
        kind,
        d.mode,
        makedev(d.major, d.minor),
        (d.uid, d.gid),
    )
}

/// The standard /dev symlinks.
pub fn dev_symlinks(root: &Root) -> Result<()> {
    for (link, target) in [
        ("dev/fd", "/proc/self/fd"),
        ("dev/stdin", "/proc/self/fd/0"),
        ("dev/stdout", "/proc/self/fd/1"),
        ("dev/stderr", "/proc/self/fd/2"),
        ("dev/ptmx", "pts/ptmx"),
        ("dev/core", "/proc/kcore"),
    ] {
        root.symlink(target, Path::new(link))?;
    }
    Ok(())
}

/// Hides a path (after pivot_root, beneath the new `/`): /dev/null over a file, an empty
/// read-only tmpfs over a dir.
/// The mount point under which `path` lives, from /proc/self/mountinfo (the deepest
/// mount point that is `path` or one of its ancestors).
pub fn mount_point_of(path: &Path) -> Result<std::path::PathBuf> {
    let path = fs::canonicalize(path)
        .map_err(|e| RuntimeError::sys(format!("resolving {}", path.display()), e))?;
    let table = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| RuntimeError::sys("reading /proc/self/mountinfo", e))?;
    Ok(deepest_mount_point(&table, &path))
}

fn deepest_mount_point(mountinfo: &str, path: &Path) -> std::path::PathBuf {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| std::path::PathBuf::from(unescape_mountinfo(p)))
        .filter(|mp| path.starts_with(mp))
        .max_by_key(|mp| mp.components().count())
        .unwrap_or_else(|| "/".into())
}

/// mountinfo writes space, tab, newline and backslash as `\ooo` octal.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
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

pub fn mask_path(root: &Root, path: &Path) -> Result<()> {
    let Ok(fd) = root.lookup(path, false) else {
        return Ok(());
    };
    let target = fd_path(&fd);
    match fs::metadata(&target) {
        Err(_) => Ok(()),
        Ok(m) if m.is_dir() => sys_mount(
            Some(Path::new("tmpfs")),
            &target,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None,
        ),
        Ok(_) => sys_mount(
            Some(Path::new("/dev/null")),
            &target,
            None,
            MsFlags::MS_BIND,
            None,
        ),
    }
}

pub fn readonly_path(root: &Root, path: &Path) -> Result<()> {
    let Ok(fd) = root.lookup(path, false) else {
        return Ok(());
    };
    let target = fd_path(&fd);
    sys_mount(
        Some(&target),
        &target,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    let fd = root.lookup(path, false)?;
    sys_mount(
        None,
        &fd_path(&fd),
        None,
        MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_REC
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC,
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_and_data() {
        let o: Vec<String> = [
            "nosuid",
            "noexec",
            "mode=1777",
            "size=65536k",
            "ro",
            "rprivate",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let p = parse_options(&o);
        assert!(p
            .flags
            .contains(MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY));
        assert_eq!(p.data, "mode=1777,size=65536k");
        assert_eq!(p.propagation, Some(MsFlags::MS_PRIVATE | MsFlags::MS_REC));
        assert!(!p.bind);
    }

    #[test]
    fn deepest_mount_point_matches_whole_components() {
        let info = "22 1 8:1 / / rw shared:1 - ext4 /dev/sda1 rw\n\
                    30 22 0:5 / /run rw shared:2 - tmpfs tmpfs rw\n\
                    31 30 0:6 / /run/berth\\040x rw - tmpfs tmpfs rw\n\
                    32 30 0:7 / /run/ber rw - tmpfs tmpfs rw\n";
        assert_eq!(
            deepest_mount_point(info, Path::new("/run/berth x/c/rootfs")),
            Path::new("/run/berth x")
        );
        assert_eq!(
            deepest_mount_point(info, Path::new("/run/berthy")),
            Path::new("/run")
        );
        assert_eq!(deepest_mount_point(info, Path::new("/var")), Path::new("/"));
    }
}
