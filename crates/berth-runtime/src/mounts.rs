//! Turning OCI mount entries into mount(2) calls inside the container's mount namespace.

use crate::error::{Result, RuntimeError};
use crate::root::{fd_path, Kind, Root};
use nix::mount::{mount, MsFlags};
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Mount flags and the leftover data string for one entry's options.
#[derive(Debug, PartialEq, Eq)]
pub struct ParsedOptions {
    pub flags: MsFlags,
    pub propagation: Option<MsFlags>,
    pub data: String,
    pub bind: bool,
    pub recursive: bool,
    /// `rro`: read-only through every mount beneath too (mount_setattr, Linux 5.12).
    pub recursive_readonly: bool,
    /// `x-berth.subpath=DIR`: only that dir of the mounted filesystem stays mounted.
    pub subpath: Option<std::path::PathBuf>,
    /// `idmap` / `ridmap` (recursive): a bind ID-mapped with the container's user
    /// namespace (OCI runtime spec 1.2; done by `userns`).
    pub idmap: Option<bool>,
}

/// The mount option naming a part of a filesystem to mount (an image's sub-path); an
/// OCI mount has no field for it, and the `x-` prefix marks it as no kernel option.
pub const SUBPATH_OPTION: &str = "x-berth.subpath=";

pub fn parse_options(options: &[String]) -> ParsedOptions {
    let mut p = ParsedOptions {
        flags: MsFlags::empty(),
        propagation: None,
        data: String::new(),
        bind: false,
        recursive: false,
        recursive_readonly: false,
        subpath: None,
        idmap: None,
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
            "rro" => p.recursive_readonly = true,
            "idmap" => p.idmap = Some(false),
            "ridmap" => p.idmap = Some(true),
            o if o.starts_with(SUBPATH_OPTION) => {
                p.subpath = Some(o[SUBPATH_OPTION.len()..].into());
            }
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

/// What a mount made inside a user namespace takes instead of its source's path (which
/// the namespace's root may not be allowed to reach; see `userns`).
#[derive(Clone, Copy)]
pub enum PreparedSource<'a> {
    /// A detached copy of a bind's source, made by the host's root.
    Tree(&'a OwnedFd),
    /// `/proc/self/cgroup` as read before the cgroup namespace was made: cgroup v1
    /// cannot be mounted in a user namespace, so the container's own dirs are bound.
    OwnCgroups(&'a str),
}

/// Performs one OCI mount entry at `dest` beneath `root`. The target is resolved by the
/// kernel inside the root and mounted on through its descriptor.
pub fn mount_entry(
    root: &Root,
    dest: &Path,
    kind: &str,
    source: &Path,
    options: &[String],
    prepared: Option<PreparedSource>,
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
        let tree = match prepared {
            Some(PreparedSource::Tree(t)) => Some(t),
            _ => None,
        };
        if opts.idmap.is_some() && tree.is_none() {
            return Err(RuntimeError::InvalidSpec(format!(
                "the ID-mapped mount on {} needs the container in a user namespace",
                dest.display()
            )));
        }
        let metadata = match tree {
            Some(t) => fs::metadata(fd_path(t)),
            None => fs::metadata(source),
        };
        let src_is_file = !metadata
            .map_err(|e| RuntimeError::sys(format!("bind source {}", source.display()), e))?
            .is_dir();
        let kind = if src_is_file { Kind::File } else { Kind::Dir };
        let fd = root.ensure(dest, kind)?;
        match tree {
            Some(t) => attach(t, &fd, dest)?,
            None => {
                let mut flags = MsFlags::MS_BIND;
                if opts.recursive {
                    flags |= MsFlags::MS_REC;
                }
                sys_mount(Some(source), &fd_path(&fd), None, flags, None)?;
            }
        }
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
        let own_in_userns = match prepared {
            Some(PreparedSource::OwnCgroups(own)) => Some(own),
            _ => None,
        };
        mount_cgroups(root, dest, opts.flags, own_in_userns)?;
        root.lookup(dest, false)?
    } else {
        let fd = root.ensure(dest, Kind::Dir)?;
        let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
        sys_mount(Some(source), &fd_path(&fd), Some(kind), opts.flags, data)?;
        if let Some(sub) = &opts.subpath {
            keep_only_subpath(root, dest, sub)?;
        }
        root.lookup(dest, no_symlink)?
    };
    if let Some(p) = opts.propagation {
        sys_mount(None, &fd_path(&target), None, p, None)?;
    }
    if opts.recursive_readonly {
        set_readonly_recursive(&target, dest)?;
    }
    Ok(())
}

/// Attaches the detached mount `tree` on the target `fd` (resolved beneath the root).
fn attach(tree: &OwnedFd, fd: &OwnedFd, dest: &Path) -> Result<()> {
    use rustix::mount::{move_mount, MoveMountFlags};
    move_mount(
        tree,
        "",
        fd,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .map_err(|e| {
        RuntimeError::sys(
            format!("bind mount on {}", dest.display()),
            std::io::Error::from(e),
        )
    })
}

/// Whether `sub` is a directory in the read-only overlay of `lower` (top layer first),
/// resolved beneath the overlay's root. The overlay is mounted on `scratch` (an empty
/// dir; `empty`, another, stands in for a second layer) in the mount namespace of a
/// thread of its own, so the host never sees it and it goes with the thread.
pub fn overlay_has_dir(
    lower: &[PathBuf],
    empty: &Path,
    scratch: &Path,
    sub: &Path,
) -> Result<bool> {
    let mut dirs: Vec<String> = lower.iter().map(|p| p.display().to_string()).collect();
    if dirs.len() < 2 {
        dirs.push(empty.display().to_string());
    }
    let data = format!("lowerdir={}", dirs.join(":"));
    let (scratch, sub) = (scratch.to_path_buf(), sub.to_path_buf());
    std::thread::spawn(move || -> Result<bool> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
            .map_err(|e| RuntimeError::sys("a mount namespace for the sub-path check", e))?;
        sys_mount(
            None,
            Path::new("/"),
            None,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None,
        )?;
        sys_mount(
            Some(Path::new("overlay")),
            &scratch,
            Some("overlay"),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(&data),
        )?;
        let found = Root::open(&scratch)?
            .lookup(&sub, false)
            .ok()
            .and_then(|fd| fs::metadata(fd_path(&fd)).ok())
            .is_some_and(|m| m.is_dir());
        Ok(found)
    })
    .join()
    .map_err(|_| RuntimeError::Init("the sub-path check panicked".into()))?
}

/// Leaves only `sub` of the filesystem just mounted at `dest`: the dir, resolved beneath
/// that filesystem's root (an image's symlink cannot lead out), is cloned as a detached
/// mount, the whole filesystem unmounted, and the clone moved onto `dest`.
fn keep_only_subpath(root: &Root, dest: &Path, sub: &Path) -> Result<()> {
    use rustix::mount::{move_mount, open_tree, MoveMountFlags, OpenTreeFlags};
    let what = |e: std::io::Error| {
        RuntimeError::sys(
            format!(
                "sub-path {} of the mount on {}",
                sub.display(),
                dest.display()
            ),
            e,
        )
    };
    let mounted = root.lookup(dest, false)?;
    let part = Root::open(&fd_path(&mounted))?
        .lookup(sub, false)
        .map_err(|e| what(std::io::Error::other(e.to_string())))?;
    if !fs::metadata(fd_path(&part)).map_err(what)?.is_dir() {
        return Err(what(std::io::Error::other("not a directory")));
    }
    let clone = open_tree(
        &part,
        "",
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_EMPTY_PATH,
    )
    .map_err(|e| what(e.into()))?;
    drop(part);
    nix::mount::umount2(&fd_path(&mounted), nix::mount::MntFlags::MNT_DETACH)
        .map_err(|e| what(e.into()))?;
    drop(mounted);
    let target = root.lookup(dest, false)?;
    move_mount(
        &clone,
        "",
        &target,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .map_err(|e| what(e.into()))
}

/// Whether this kernel can make a mount tree read-only in one call (mount_setattr,
/// Linux 5.12), which read-only binds use unless asked not to, as Docker does.
pub fn recursive_readonly_supported() -> bool {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| kernel_at_least_now((5, 12)))
}

/// Whether the running kernel is (major, minor) or newer.
pub(crate) fn kernel_at_least_now(want: (u32, u32)) -> bool {
    nix::sys::utsname::uname()
        .ok()
        .and_then(|u| kernel_at_least(&u.release().to_string_lossy(), want))
        .unwrap_or(false)
}

/// `6.18.0-1-amd64` against (major, minor); None when the release does not parse.
fn kernel_at_least(release: &str, want: (u32, u32)) -> Option<bool> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    Some((major, minor) >= want)
}

/// Makes the mount at `fd` and every mount beneath it read-only, in one call that no
/// mount can slip past (mount_setattr with AT_RECURSIVE).
fn set_readonly_recursive(fd: &OwnedFd, dest: &Path) -> Result<()> {
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    mount_setattr(fd, true, MOUNT_ATTR_RDONLY, None).map_err(|e| {
        RuntimeError::sys(
            format!("making {} recursively read-only", dest.display()),
            e,
        )
    })
}

/// `struct mount_attr` of linux/mount.h.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

pub(crate) const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// mount_setattr(2) on the mount at `fd` (AT_RECURSIVE when `recursive`).
pub(crate) fn mount_setattr(
    fd: &OwnedFd,
    recursive: bool,
    attr_set: u64,
    userns: Option<&std::fs::File>,
) -> std::io::Result<()> {
    let attr = MountAttr {
        attr_set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.map_or(0, |f| f.as_raw_fd() as u64),
    };
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    // SAFETY: the path is a valid empty C string, the fds are open for the call's
    // length, and the struct matches the kernel's layout and is passed with its size.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// /sys/fs/cgroup inside the container: the container's own cgroups (the cgroup namespace
/// makes them the root), one mount per v1 hierarchy or a single cgroup2 mount.
/// In a user namespace (`own_in_userns`: /proc/self/cgroup read before the cgroup
/// namespace) cgroup v1 cannot be mounted: each hierarchy's dir of the container's own
/// cgroup is bound instead.
fn mount_cgroups(
    root: &Root,
    dest: &Path,
    flags: MsFlags,
    own_in_userns: Option<&str>,
) -> Result<()> {
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
    let own = match own_in_userns {
        Some(own) => own.to_string(),
        None => fs::read_to_string("/proc/self/cgroup").unwrap_or_default(),
    };
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls) = (parts.next(), parts.next().unwrap_or(""));
        let path = parts.next().unwrap_or("/");
        if ctrls.is_empty() {
            continue; // the v2 entry of a hybrid host
        }
        let dir_name = ctrls.trim_start_matches("name=");
        let dir = root.ensure(&dest.join(dir_name), Kind::Dir)?;
        if own_in_userns.is_some() {
            let host = Path::new("/sys/fs/cgroup")
                .join(dir_name)
                .join(path.trim_start_matches('/'));
            sys_mount(Some(&host), &fd_path(&dir), None, MsFlags::MS_BIND, None)?;
            let dir = root.lookup(&dest.join(dir_name), false)?;
            sys_mount(
                None,
                &fd_path(&dir),
                None,
                MsFlags::MS_REMOUNT | MsFlags::MS_BIND | base | flags,
                None,
            )?;
        } else {
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
        }
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

/// A device node in a user namespace, where none can be made: the host's node at the
/// same path is bound, if it is that device.
pub fn bind_host_device(root: &Root, d: &DeviceNode) -> Result<()> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let host = Path::new("/").join(d.path);
    let same = fs::metadata(&host).is_ok_and(|m| {
        let kind_ok = if d.char_device {
            m.file_type().is_char_device()
        } else {
            m.file_type().is_block_device()
        };
        kind_ok && m.rdev() == nix::sys::stat::makedev(d.major, d.minor)
    });
    if !same {
        return Err(RuntimeError::InvalidSpec(format!(
            "device {} ({}:{}) cannot be made in a user namespace, and the host has no such node to bind",
            d.path.display(),
            d.major,
            d.minor
        )));
    }
    let fd = root.ensure(d.path, Kind::File)?;
    sys_mount(Some(&host), &fd_path(&fd), None, MsFlags::MS_BIND, None)
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
    fn kernel_releases_compare_by_major_and_minor() {
        assert_eq!(kernel_at_least("6.18.0-1-amd64", (5, 12)), Some(true));
        assert_eq!(kernel_at_least("5.12.0", (5, 12)), Some(true));
        assert_eq!(kernel_at_least("5.10.209-1", (5, 12)), Some(false));
        assert_eq!(kernel_at_least("4.19", (5, 12)), Some(false));
        assert_eq!(kernel_at_least("weird", (5, 12)), None);
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
