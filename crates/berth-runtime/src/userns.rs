//! Containers in a user namespace they join: a Kubernetes pod's (`hostUsers: false`),
//! made by `pod_userns` and held by a file. Root in the container is an unprivileged id
//! on the host.
//!
//! The container's namespaces must be owned by that user namespace, or its root could
//! not mount /proc or bring up its network. So the init is made in two steps (as runc's
//! nsexec does): the first process, still the host's root, mounts the rootfs with its
//! layers ID-mapped (files owned by the host's 0 show as the container's 0), enters the
//! user namespace and clones the real init, made the shim's child with `CLONE_PARENT`, in
//! new mount and PID namespaces that the user namespace owns.

use crate::error::{Result, RuntimeError};
use crate::init::{InitContext, MSG_PID};
use crate::root::Root;
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Mount, Spec};
use rustix::mount::{move_mount, open_tree, MoveMountFlags, OpenTreeFlags};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The user namespace a container joins, and the host ids of its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub path: PathBuf,
    pub root_uid: u32,
    pub root_gid: u32,
}

/// The host id that container id 0 maps to.
fn host_root(maps: Option<&Vec<LinuxIdMapping>>, what: &str) -> Result<u32> {
    maps.into_iter()
        .flatten()
        .find(|m| m.container_id() == 0 && m.size() > 0)
        .map(|m| m.host_id())
        .ok_or_else(|| {
            RuntimeError::InvalidSpec(format!(
                "the user namespace's {what} mappings do not map the container's 0"
            ))
        })
}

/// The user namespace the spec joins, if any. Making a new one is refused: berth's
/// containers join their pod's, whose ids the daemon allotted.
pub fn joined(spec: &Spec) -> Result<Option<Joined>> {
    let Some(linux) = spec.linux().as_ref() else {
        return Ok(None);
    };
    let Some(ns) = linux
        .namespaces()
        .iter()
        .flatten()
        .find(|n| n.typ() == LinuxNamespaceType::User)
    else {
        return Ok(None);
    };
    let path = ns.path().clone().ok_or_else(|| {
        RuntimeError::InvalidSpec(
            "a new user namespace per container is not supported: join one by its path".into(),
        )
    })?;
    Ok(Some(Joined {
        path,
        root_uid: host_root(linux.uid_mappings().as_ref(), "uid")?,
        root_gid: host_root(linux.gid_mappings().as_ref(), "gid")?,
    }))
}

/// Whether the spec joins a user namespace (its init is then made in two steps).
pub fn joins(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::User))
}

pub fn open(j: &Joined) -> Result<File> {
    File::open(&j.path).map_err(|e| {
        RuntimeError::sys(
            format!("opening the user namespace {}", j.path.display()),
            e,
        )
    })
}

/// Enters the user namespace and becomes its root (the host's `root_uid`), with no
/// supplementary groups of the host's left. The process must be single-threaded.
pub fn enter(userns: &File) -> Result<()> {
    nix::sched::setns(userns.as_fd(), nix::sched::CloneFlags::CLONE_NEWUSER)
        .map_err(|e| RuntimeError::sys("joining the user namespace", e))?;
    become_root()
}

/// Becomes the root of the user namespace just joined.
pub fn become_root() -> Result<()> {
    nix::unistd::setgroups(&[]).map_err(|e| RuntimeError::sys("setgroups", e))?;
    let root_gid = nix::unistd::Gid::from_raw(0);
    let root_uid = nix::unistd::Uid::from_raw(0);
    nix::unistd::setresgid(root_gid, root_gid, root_gid)
        .map_err(|e| RuntimeError::sys("becoming the user namespace's root group", e))?;
    nix::unistd::setresuid(root_uid, root_uid, root_uid)
        .map_err(|e| RuntimeError::sys("becoming the user namespace's root", e))
}

/// Puts an ID-mapped copy of the mount at `dir` over `dir` itself (in this process's
/// private mount namespace): what the container reads through it shows the host's 0 as
/// its own 0, and what it writes lands as the host's 0.
fn idmap_over(dir: &Path, userns: &File) -> Result<()> {
    let what = |e: std::io::Error| RuntimeError::sys(format!("ID-mapping {}", dir.display()), e);
    let tree = open_tree(
        rustix::fs::CWD,
        dir,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
    .map_err(|e| what(e.into()))?;
    crate::mounts::mount_setattr(&tree, false, crate::mounts::MOUNT_ATTR_IDMAP, Some(userns))
        .map_err(what)?;
    move_mount(
        &tree,
        "",
        rustix::fs::CWD,
        dir,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| what(e.into()))
}

/// The layers an overlay's options name: lower dirs, and the dir holding the upper and
/// work dirs (overlay wants those two on one mount, so they are mapped together).
fn overlay_layers(data: &str) -> Result<Vec<PathBuf>> {
    let mut dirs = vec![];
    let mut upper_parent = None;
    let mut work_parent = None;
    for opt in data.split(',') {
        if let Some(lower) = opt.strip_prefix("lowerdir=") {
            dirs.extend(
                lower
                    .split(':')
                    .filter(|l| !l.is_empty())
                    .map(PathBuf::from),
            );
        } else if let Some(u) = opt.strip_prefix("upperdir=") {
            upper_parent = Path::new(u).parent().map(Path::to_path_buf);
        } else if let Some(w) = opt.strip_prefix("workdir=") {
            work_parent = Path::new(w).parent().map(Path::to_path_buf);
        }
    }
    match (upper_parent, work_parent) {
        (Some(u), Some(w)) if u == w => dirs.push(u),
        (None, None) => {}
        _ => {
            return Err(RuntimeError::InvalidSpec(
                "in a user namespace the overlay's upper and work dirs must share a parent".into(),
            ))
        }
    }
    Ok(dirs)
}

/// The rootfs overlay with ID-mapped layers, as a detached mount, made as the host's
/// root in this process's private mount namespace. The overlay is made with the ids of
/// the container's root, so the dirs and files it makes itself (its work dir, copies
/// up) land as the host's 0 through the mapped upper layer. It is mounted on `rootfs`
/// with mount(2) (fsconfig takes no string of 256 bytes or more, and a lowerdir list
/// is longer), cloned, and unmounted again.
fn overlay_tree(j: &Joined, userns: &File, m: &Mount, rootfs: &Path) -> Result<OwnedFd> {
    let opts = crate::mounts::parse_options(m.options().as_deref().unwrap_or(&[]));
    for dir in overlay_layers(&opts.data)? {
        idmap_over(&dir, userns)?;
    }
    as_ids(j.root_uid, j.root_gid, || {
        nix::mount::mount(
            Some("overlay"),
            rootfs,
            Some("overlay"),
            opts.flags,
            Some(opts.data.as_str()),
        )
        .map_err(|e| RuntimeError::sys("mounting the root filesystem (overlay)", e))
    })?;
    let tree = open_tree(
        rustix::fs::CWD,
        rootfs,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
    .map_err(|e| RuntimeError::sys("cloning the root filesystem", std::io::Error::from(e)));
    nix::mount::umount2(rootfs, nix::mount::MntFlags::MNT_DETACH)
        .map_err(|e| RuntimeError::sys("unmounting the root filesystem's first mount", e))?;
    tree
}

/// A bundle without a rootfs mount: its rootfs dir, ID-mapped, as a detached mount.
fn rootfs_dir_tree(rootfs: &Path, userns: &File) -> Result<OwnedFd> {
    let what = |e: std::io::Error| RuntimeError::sys(format!("ID-mapping {}", rootfs.display()), e);
    let tree = open_tree(
        rustix::fs::CWD,
        rootfs,
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_RECURSIVE,
    )
    .map_err(|e| what(e.into()))?;
    crate::mounts::mount_setattr(&tree, true, crate::mounts::MOUNT_ATTR_IDMAP, Some(userns))
        .map_err(what)?;
    Ok(tree)
}

/// Runs `f` with the filesystem ids `uid:gid` and every capability still effective
/// (changing the fsuid from 0 drops the file capabilities, which are raised again).
fn as_ids<T>(uid: u32, gid: u32, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let caps_err = |e: caps::errors::CapsError| {
        RuntimeError::sys("raising capabilities", std::io::Error::other(e.to_string()))
    };
    // SAFETY: setfsgid/setfsuid take plain integers and cannot fail in a way that matters
    // here (the ids are checked through the mount's result).
    unsafe {
        libc::setfsgid(gid);
        libc::setfsuid(uid);
    }
    let result = caps::read(None, caps::CapSet::Permitted)
        .and_then(|p| caps::set(None, caps::CapSet::Effective, &p))
        .map_err(caps_err)
        .and_then(|()| f());
    // SAFETY: as above; back to the root's ids, which raises the file capabilities again.
    unsafe {
        libc::setfsuid(0);
        libc::setfsgid(0);
    }
    result
}

/// What the first step prepared, as the host's root, for the init in the user namespace:
/// detached mounts (attachable in the init's mount namespace, which paths on the host
/// cannot reach from in there) and the namespaces to join, opened while they could be.
pub(crate) struct Prepared {
    rootfs: OwnedFd,
    rootfs_path: PathBuf,
    /// A detached copy of each bind mount's source, by the mount's index in the spec.
    binds: HashMap<usize, OwnedFd>,
    join: Vec<(File, CloneFlags)>,
}

impl Prepared {
    /// Attaches the rootfs on the init's working dir (the rootfs dir, where the first
    /// step stood) and returns it as the root to build beneath.
    pub(crate) fn attach_rootfs(&self) -> Result<Root> {
        move_mount(
            &self.rootfs,
            "",
            rustix::fs::CWD,
            ".",
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
        )
        .map_err(|e| RuntimeError::sys("attaching the root filesystem", std::io::Error::from(e)))?;
        let fd = self
            .rootfs
            .try_clone()
            .map_err(|e| RuntimeError::sys("dup", e))?;
        Ok(Root::from_fd(fd, self.rootfs_path.clone()))
    }

    pub(crate) fn bind_source(&self, index: usize) -> Option<&OwnedFd> {
        self.binds.get(&index)
    }

    pub(crate) fn join_namespaces(&self) -> Result<()> {
        for (f, flag) in &self.join {
            nix::sched::setns(f.as_fd(), *flag)
                .map_err(|e| RuntimeError::sys("joining the pod's namespaces", e))?;
        }
        Ok(())
    }
}

/// The first step of a container in a user namespace (see the module's doc). Returns
/// only in the init it clones; the step itself reports the init's pid and ends.
pub(crate) fn first_step(
    ctx: &InitContext,
    spec: &Spec,
    j: &Joined,
    report: &mut File,
) -> Result<Prepared> {
    use crate::init::{has_namespace, make_parent_private, rootfs_path, set_root_propagation};
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| RuntimeError::InvalidSpec("no process".into()))?;
    crate::init::set_oom_score_adj(process)?;
    set_root_propagation(spec)?;
    let rootfs_path = rootfs_path(spec, ctx.bundle)?;
    make_parent_private(&rootfs_path)?;
    let userns = open(j)?;
    let mounts = spec.mounts().clone().unwrap_or_default();
    let is_root = |m: &Mount| m.destination() == Path::new("/");
    let rootfs = match mounts.iter().find(|m| is_root(m)) {
        Some(m) => overlay_tree(j, &userns, m, &rootfs_path)?,
        None => rootfs_dir_tree(&rootfs_path, &userns)?,
    };
    let mut binds = HashMap::new();
    for (i, m) in mounts.iter().enumerate() {
        let opts = crate::mounts::parse_options(m.options().as_deref().unwrap_or(&[]));
        if is_root(m) || !(opts.bind || m.typ().as_deref().is_none_or(|t| t == "bind")) {
            continue;
        }
        let Some(src) = m.source() else { continue };
        let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
        if opts.recursive {
            flags |= OpenTreeFlags::AT_RECURSIVE;
        }
        let what =
            |e: std::io::Error| RuntimeError::sys(format!("bind source {}", src.display()), e);
        let tree = open_tree(rustix::fs::CWD, src, flags).map_err(|e| what(e.into()))?;
        // The pod's volumes: the host's 0 shows as the pod's 0 (the mapping is the
        // container's own; the mount's cannot differ, see `PodLink::idmapped`).
        if let Some(recursive) = opts.idmap {
            crate::mounts::mount_setattr(
                &tree,
                recursive,
                crate::mounts::MOUNT_ATTR_IDMAP,
                Some(&userns),
            )
            .map_err(what)?;
        }
        binds.insert(i, tree);
    }
    let mut join = vec![];
    let mut pid_ns = None;
    for (t, flag) in [
        (LinuxNamespaceType::Ipc, CloneFlags::CLONE_NEWIPC),
        (LinuxNamespaceType::Uts, CloneFlags::CLONE_NEWUTS),
        (LinuxNamespaceType::Network, CloneFlags::CLONE_NEWNET),
        (LinuxNamespaceType::Pid, CloneFlags::CLONE_NEWPID),
    ] {
        let Some(path) = crate::shim::namespace_path(spec, t) else {
            continue;
        };
        let f = File::open(&path)
            .map_err(|e| RuntimeError::sys(format!("opening namespace {}", path.display()), e))?;
        if t == LinuxNamespaceType::Pid {
            pid_ns = Some(f);
        } else {
            join.push((f, flag));
        }
    }
    // The init's working dir is carried into its new mount namespace: there the rootfs
    // is attached on it.
    nix::unistd::chdir(&rootfs_path).map_err(|e| RuntimeError::sys("chdir rootfs", e))?;
    enter(&userns)?;
    // A pod's PID namespace is owned by its user namespace: joined from in there.
    if let Some(f) = &pid_ns {
        nix::sched::setns(f.as_fd(), CloneFlags::CLONE_NEWPID)
            .map_err(|e| RuntimeError::sys("joining the pod's PID namespace", e))?;
    }
    let mut flags = libc::CLONE_PARENT as u64 | libc::CLONE_NEWNS as u64;
    for (t, flag) in [
        (LinuxNamespaceType::Pid, libc::CLONE_NEWPID),
        (LinuxNamespaceType::Uts, libc::CLONE_NEWUTS),
        (LinuxNamespaceType::Ipc, libc::CLONE_NEWIPC),
        (LinuxNamespaceType::Network, libc::CLONE_NEWNET),
    ] {
        if has_namespace(spec, t) {
            flags |= flag as u64;
        }
    }
    // The init waits until this step has ended, so the shim reads the pid first.
    let (gate_read, gate_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| RuntimeError::sys("pipe", e))?;
    match crate::clone3::fork(flags, None)? {
        0 => {
            drop(gate_write);
            let mut b = [0u8; 1];
            let _ = File::from(gate_read).read(&mut b);
            // Its own session, as the first step had (it is no longer the leader).
            let _ = nix::unistd::setsid();
            Ok(Prepared {
                rootfs,
                rootfs_path,
                binds,
                join,
            })
        }
        pid => {
            let mut msg = vec![MSG_PID];
            msg.extend_from_slice(&pid.to_le_bytes());
            let _ = report.write_all(&msg);
            // SAFETY: _exit ends this process without running anything of the parent's.
            unsafe { libc::_exit(0) }
        }
    }
}

/// Whether this kernel can ID-map the layers of an overlay (Linux 5.19).
pub fn supported() -> bool {
    crate::mounts::kernel_at_least_now((5, 19))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_are_the_lower_dirs_and_the_upper_parent() {
        let l = overlay_layers(
            "lowerdir=/a/diff:/b/diff,upperdir=/c/fs/upper,workdir=/c/fs/work,volatile",
        )
        .unwrap();
        assert_eq!(
            l,
            vec![
                PathBuf::from("/a/diff"),
                PathBuf::from("/b/diff"),
                PathBuf::from("/c/fs")
            ]
        );
        assert!(overlay_layers("lowerdir=/a,upperdir=/c/upper,workdir=/d/work").is_err());
        assert_eq!(overlay_layers("lowerdir=/a:/b").unwrap().len(), 2);
    }
}
