//! Turning OCI mount entries into mount(2) calls inside the container's mount namespace.

use crate::error::{Result, RuntimeError};
use nix::mount::{mount, MsFlags};
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

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

/// `dest` resolved inside `root` without leaving it, following no symlinks out.
pub fn path_in_root(root: &Path, dest: &Path) -> Result<PathBuf> {
    let mut out = root.to_path_buf();
    for c in dest.components() {
        match c {
            Component::Normal(n) => {
                out.push(n);
                // A symlink in the rootfs is resolved relative to the rootfs, not the host.
                if let Ok(target) = fs::read_link(&out) {
                    out.pop();
                    let resolved = if target.is_absolute() {
                        path_in_root(root, &target)?
                    } else {
                        path_in_root(
                            root,
                            &out.strip_prefix(root).unwrap_or(Path::new("")).join(target),
                        )?
                    };
                    out = resolved;
                }
            }
            Component::ParentDir if out != root => {
                out.pop();
            }
            _ => {}
        }
    }
    Ok(out)
}

fn ensure_target(target: &Path, as_file: bool) -> Result<()> {
    if target.exists() {
        return Ok(());
    }
    if as_file {
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| RuntimeError::sys(format!("mkdir {}", parent.display()), e))?;
        }
        fs::File::create(target)
            .map_err(|e| RuntimeError::sys(format!("create {}", target.display()), e))?;
    } else {
        fs::create_dir_all(target)
            .map_err(|e| RuntimeError::sys(format!("mkdir {}", target.display()), e))?;
    }
    Ok(())
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

/// Performs one OCI mount entry below `rootfs`.
pub fn mount_entry(
    rootfs: &Path,
    dest: &Path,
    kind: &str,
    source: &Path,
    options: &[String],
) -> Result<()> {
    let opts = parse_options(options);
    let target = path_in_root(rootfs, dest)?;
    if opts.bind || kind == "bind" {
        // Files, devices and sockets are bound onto a file; only dirs onto a dir.
        let src_is_file = !fs::metadata(source)
            .map_err(|e| RuntimeError::sys(format!("bind source {}", source.display()), e))?
            .is_dir();
        ensure_target(&target, src_is_file)?;
        let mut flags = MsFlags::MS_BIND;
        if opts.recursive {
            flags |= MsFlags::MS_REC;
        }
        sys_mount(Some(source), &target, None, flags, None)?;
        // Bind mounts ignore other flags until remounted.
        let extra = opts.flags & !MsFlags::MS_REC;
        if !extra.is_empty() {
            sys_mount(
                None,
                &target,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra,
                None,
            )?;
        }
    } else if kind == "cgroup" || kind == "cgroup2" {
        mount_cgroups(&target, opts.flags)?;
    } else {
        ensure_target(&target, false)?;
        let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
        sys_mount(Some(source), &target, Some(kind), opts.flags, data)?;
    }
    if let Some(p) = opts.propagation {
        sys_mount(None, &target, None, p, None)?;
    }
    Ok(())
}

/// /sys/fs/cgroup inside the container: the container's own cgroups (the cgroup namespace
/// makes them the root), one mount per v1 hierarchy or a single cgroup2 mount.
fn mount_cgroups(target: &Path, flags: MsFlags) -> Result<()> {
    ensure_target(target, false)?;
    let base = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME;
    if crate::cgroups::detect() == crate::cgroups::Version::V2 {
        return sys_mount(
            Some(Path::new("cgroup2")),
            target,
            Some("cgroup2"),
            base | flags,
            None,
        );
    }
    sys_mount(
        Some(Path::new("tmpfs")),
        target,
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
        let dir = target.join(dir_name);
        ensure_target(&dir, false)?;
        let data = if ctrls.starts_with("name=") {
            format!("none,{ctrls}")
        } else {
            ctrls.to_string()
        };
        sys_mount(
            Some(Path::new("cgroup")),
            &dir,
            Some("cgroup"),
            base | flags,
            Some(&data),
        )?;
        // cpu,cpuacct style hierarchies are also reachable by each controller's name.
        if ctrls.contains(',') {
            for c in ctrls.split(',') {
                let _ = symlink(dir_name, target.join(c));
            }
        }
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        sys_mount(
            None,
            target,
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

pub fn create_device(rootfs: &Path, d: &DeviceNode) -> Result<()> {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    let target = path_in_root(rootfs, d.path)?;
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(|e| RuntimeError::sys("mkdir /dev", e))?;
    }
    let kind = if d.char_device {
        SFlag::S_IFCHR
    } else {
        SFlag::S_IFBLK
    };
    let _ = fs::remove_file(&target);
    mknod(
        &target,
        kind,
        Mode::from_bits_truncate(d.mode),
        makedev(d.major, d.minor),
    )
    .map_err(|e| RuntimeError::sys(format!("mknod {}", d.path.display()), e))?;
    fs::set_permissions(&target, fs::Permissions::from_mode(d.mode))
        .map_err(|e| RuntimeError::sys("chmod device", e))?;
    nix::unistd::chown(&target, Some(d.uid.into()), Some(d.gid.into()))
        .map_err(|e| RuntimeError::sys("chown device", e))?;
    Ok(())
}

/// The standard /dev symlinks.
pub fn dev_symlinks(rootfs: &Path) {
    for (link, target) in [
        ("dev/fd", "/proc/self/fd"),
        ("dev/stdin", "/proc/self/fd/0"),
        ("dev/stdout", "/proc/self/fd/1"),
        ("dev/stderr", "/proc/self/fd/2"),
        ("dev/ptmx", "pts/ptmx"),
        ("dev/core", "/proc/kcore"),
    ] {
        let _ = symlink(target, rootfs.join(link));
    }
}

/// Hides a path: /dev/null over a file, an empty read-only tmpfs over a dir.
pub fn mask_path(path: &Path) -> Result<()> {
    match fs::metadata(path) {
        Err(_) => Ok(()),
        Ok(m) if m.is_dir() => sys_mount(
            Some(Path::new("tmpfs")),
            path,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None,
        ),
        Ok(_) => sys_mount(
            Some(Path::new("/dev/null")),
            path,
            None,
            MsFlags::MS_BIND,
            None,
        ),
    }
}

pub fn readonly_path(path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    sys_mount(
        Some(path),
        path,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    sys_mount(
        None,
        path,
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
    fn paths_stay_inside_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("etc")).unwrap();
        symlink("/etc", root.join("link")).unwrap();
        symlink("../../../../..", root.join("etc/up")).unwrap();
        assert_eq!(
            path_in_root(root, Path::new("/a/../../b")).unwrap(),
            root.join("b")
        );
        assert_eq!(
            path_in_root(root, Path::new("/link/x")).unwrap(),
            root.join("etc/x")
        );
        assert_eq!(
            path_in_root(root, Path::new("/etc/up/y")).unwrap(),
            root.join("y")
        );
    }
}
