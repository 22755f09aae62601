//! The container's first process, between `clone` and `execve`.
//!
//! It runs in the new namespaces. It waits for the shim to place it in its cgroup, builds
//! the root filesystem, pivots into it, drops privileges and reports "ready"; then it
//! waits for "go" and becomes the user's program. Errors are reported on the sync pipe.

use crate::error::{Result, RuntimeError};
use crate::mounts::{self, DeviceNode};
use crate::process;
use crate::root::{fd_path, Kind, Root};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use oci_spec::runtime::{LinuxDeviceType, LinuxNamespaceType, Spec};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// Sync message: the child is ready and waits for "go".
pub const MSG_READY: u8 = b'R';
/// Sync message: an error follows (one exit-code byte, then the text).
pub const MSG_ERROR: u8 = b'E';
/// Sync message, from the first step of a container in a user namespace: the pid of the
/// init it cloned follows (4 bytes, little-endian).
pub const MSG_PID: u8 = b'P';

/// What the child gets from the shim.
pub struct InitContext<'a> {
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    /// Read end: one byte "you are in your cgroup", then one byte "go".
    pub from_parent: OwnedFd,
    /// Write end (close-on-exec): ready / error messages.
    pub to_parent: OwnedFd,
    pub stdin: RawFd,
    pub stdout: RawFd,
    pub stderr: RawFd,
    /// With a terminal: the socket on which to send the pty master to the shim.
    pub console_socket: Option<RawFd>,
    /// cgroup v1 `tasks` files to join by writing `0` (see `Cgroup::self_join_files`).
    pub join_tasks: Vec<PathBuf>,
}

/// Runs the init sequence; returns only on failure, with the exit code to use.
pub fn container_init(ctx: InitContext) -> isize {
    let mut report = File::from(
        ctx.to_parent
            .try_clone()
            .unwrap_or_else(|_| std::process::abort()),
    );
    let err = match run(&ctx, &mut report) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let code = err.exit_code();
    let mut msg = vec![MSG_ERROR, code as u8];
    msg.extend_from_slice(err.to_string().as_bytes());
    let _ = report.write_all(&msg);
    code as isize
}

fn wait_byte(f: &mut File) -> Result<()> {
    let mut b = [0u8; 1];
    match f.read(&mut b) {
        Ok(1) => Ok(()),
        _ => Err(RuntimeError::Shim(
            "the shim went away before the container started".into(),
        )),
    }
}

/// Pipes (or /dev/null) as stdio; a terminal is set up later, inside the rootfs.
fn setup_pipe_stdio(ctx: &InitContext) -> Result<()> {
    nix::unistd::setsid().map_err(|e| RuntimeError::sys("setsid", e))?;
    for (from, to) in [(ctx.stdin, 0), (ctx.stdout, 1), (ctx.stderr, 2)] {
        if from != to {
            nix::unistd::dup2(from, to).map_err(|e| RuntimeError::sys("dup2 stdio", e))?;
        }
    }
    Ok(())
}

/// The container's terminal: made in its own devpts, master sent to the shim, slave
/// made stdio and /dev/console. Every path is resolved beneath the rootfs.
fn setup_terminal(root: &Root, sock: RawFd) -> Result<()> {
    let (master, slave, _) = crate::console::open_pty(root, Path::new("dev/pts/ptmx"))?;
    crate::console::send_fd(sock, master.as_raw_fd())?;
    drop(master);
    crate::console::become_terminal_session(&slave)?;
    let console = root.ensure(Path::new("dev/console"), Kind::File)?;
    mount(
        Some(&fd_path(&slave)),
        &fd_path(&console),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| RuntimeError::sys("binding /dev/console", e))
}

fn set_domainname(name: &str) -> Result<()> {
    // SAFETY: a valid buffer of the given length.
    if unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) } != 0 {
        return Err(RuntimeError::sys(
            "setdomainname",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// `net.ipv4.ip_forward = 1` as a write to /proc/sys/net/ipv4/ip_forward, resolved
/// beneath the container's root (the daemon checked that the key is namespaced).
fn write_sysctl(root: &Root, key: &str, value: &str) -> Result<()> {
    // Dotted names only (the daemon checked them): no empty part, so no `..` either.
    if key.contains('/') || key.split('.').any(str::is_empty) {
        return Err(RuntimeError::InvalidSpec(format!("invalid sysctl {key:?}")));
    }
    let rel = PathBuf::from("proc/sys").join(key.replace('.', "/"));
    let fd = root
        .open_at(
            &rel,
            nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_TRUNC,
        )
        .map_err(|e| RuntimeError::sys(format!("sysctl {key}"), e))?;
    std::fs::File::from(fd)
        .write_all(value.as_bytes())
        .map_err(|e| RuntimeError::sys(format!("sysctl {key}={value}"), e))
}

/// Brings up `lo` in a new network namespace.
pub fn loopback_up() -> Result<()> {
    // SAFETY: plain socket/ioctl calls on a zeroed, correctly sized ifreq.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(RuntimeError::sys("socket", std::io::Error::last_os_error()));
        }
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo\0".iter().enumerate() {
            ifr.ifr_name[i] = *b as libc::c_char;
        }
        let mut rc = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut ifr);
        if rc == 0 {
            ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            rc = libc::ioctl(fd, libc::SIOCSIFFLAGS, &ifr);
        }
        let err = std::io::Error::last_os_error();
        libc::close(fd);
        if rc != 0 {
            return Err(RuntimeError::sys("bringing up lo", err));
        }
    }
    Ok(())
}

pub(crate) fn set_oom_score_adj(process: &oci_spec::runtime::Process) -> Result<()> {
    if let Some(adj) = process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .map_err(|e| RuntimeError::sys("setting oom_score_adj", e))?;
    }
    Ok(())
}

pub(crate) fn has_namespace(spec: &Spec, t: LinuxNamespaceType) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == t && n.path().is_none()))
}

/// The propagation of the container's copy of the host's mounts: `rootfsPropagation`,
/// or slave by default (as runc), so binds marked rslave or rshared keep receiving the
/// host's mounts while nothing made in the container reaches the host.
pub(crate) fn root_propagation(spec: &Spec) -> Result<MsFlags> {
    let wanted = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().clone())
        .unwrap_or_default();
    match mounts::parse_options(std::slice::from_ref(&wanted)).propagation {
        Some(flags) => Ok(flags),
        None if wanted.is_empty() => Ok(MsFlags::MS_SLAVE | MsFlags::MS_REC),
        None => Err(RuntimeError::InvalidSpec(format!(
            "unknown rootfsPropagation {wanted:?}"
        ))),
    }
}

/// How the rootfs is built: by the host's root, or inside a user namespace from what the
/// first step prepared (see `userns`): there device nodes cannot be made (the host's are
/// bound) and cgroup v1 cannot be mounted (the container's own dirs are bound).
#[derive(Clone, Copy)]
enum Builder<'a> {
    Host,
    UserNamespace {
        prepared: &'a crate::userns::Prepared,
        /// `/proc/self/cgroup` as read before the cgroup namespace was made.
        own_cgroups: &'a str,
    },
}

/// The rootfs dir on the host.
pub(crate) fn rootfs_path(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| RuntimeError::InvalidSpec("no root".into()))?;
    Ok(bundle.join(root.path()))
}

/// The mount holding the rootfs is made private, so the rootfs and what is mounted in
/// it never propagate to the host (with a shared root) and pivot_root accepts it.
pub(crate) fn make_parent_private(rootfs: &Path) -> Result<()> {
    let parent = mounts::mount_point_of(rootfs)?;
    mount(
        None::<&str>,
        &parent,
        None::<&str>,
        MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| RuntimeError::sys(format!("making {} private", parent.display()), e))
}

pub(crate) fn set_root_propagation(spec: &Spec) -> Result<()> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        root_propagation(spec)?,
        None::<&str>,
    )
    .map_err(|e| RuntimeError::sys("setting the propagation of /", e))
}

/// berth's bundles carry the rootfs overlay as a mount on "/": done here, inside the
/// container's own mount namespace, so the host's mount table never grows. Without one,
/// the rootfs dir is bound on itself (pivot_root needs a mount point).
fn mount_root(root_mount: Option<&oci_spec::runtime::Mount>, rootfs: &Path) -> Result<()> {
    match root_mount {
        Some(m) => {
            let opts = mounts::parse_options(m.options().as_deref().unwrap_or(&[]));
            let kind = m.typ().clone().unwrap_or_else(|| "overlay".into());
            let src = m.source().clone().unwrap_or_else(|| PathBuf::from(&kind));
            mount(
                Some(&src),
                rootfs,
                Some(kind.as_str()),
                opts.flags,
                Some(opts.data.as_str()),
            )
            .map_err(|e| RuntimeError::sys(format!("mounting the root filesystem ({kind})"), e))
        }
        None => mount(
            Some(rootfs),
            rootfs,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| RuntimeError::sys("binding the root filesystem", e)),
    }
}

fn build_rootfs(spec: &Spec, bundle: &Path, builder: Builder) -> Result<Root> {
    set_root_propagation(spec)?;
    let all_mounts = spec.mounts().clone().unwrap_or_default();
    let is_root = |m: &oci_spec::runtime::Mount| m.destination() == Path::new("/");
    let root = match builder {
        Builder::Host => {
            let rootfs = rootfs_path(spec, bundle)?;
            make_parent_private(&rootfs)?;
            mount_root(all_mounts.iter().find(|m| is_root(m)), &rootfs)?;
            Root::open(&rootfs)?
        }
        Builder::UserNamespace { prepared, .. } => prepared.attach_rootfs()?,
    };
    for (i, m) in all_mounts.iter().enumerate() {
        if is_root(m) {
            continue;
        }
        let kind = m.typ().clone().unwrap_or_else(|| "bind".into());
        let src = m.source().clone().unwrap_or_else(|| PathBuf::from(&kind));
        let prepared = match builder {
            Builder::Host => None,
            Builder::UserNamespace { own_cgroups, .. } if kind == "cgroup" || kind == "cgroup2" => {
                Some(mounts::PreparedSource::OwnCgroups(own_cgroups))
            }
            Builder::UserNamespace { prepared, .. } => {
                prepared.bind_source(i).map(mounts::PreparedSource::Tree)
            }
        };
        mounts::mount_entry(
            &root,
            m.destination(),
            &kind,
            &src,
            m.options().as_deref().unwrap_or(&[]),
            prepared,
        )?;
    }
    if let Some(devs) = spec.linux().as_ref().and_then(|l| l.devices().as_ref()) {
        for d in devs {
            let node = DeviceNode {
                path: d.path(),
                char_device: !matches!(d.typ(), LinuxDeviceType::B),
                major: d.major() as u64,
                minor: d.minor() as u64,
                mode: d.file_mode().unwrap_or(0o666),
                uid: d.uid().unwrap_or(0),
                gid: d.gid().unwrap_or(0),
            };
            match builder {
                Builder::Host => mounts::create_device(&root, &node)?,
                Builder::UserNamespace { .. } => mounts::bind_host_device(&root, &node)?,
            }
        }
    }
    mounts::dev_symlinks(&root)?;
    Ok(root)
}

/// Makes `root` the process's `/`. The root is entered by its descriptor: in a user
/// namespace the path to it is not searchable.
fn pivot(root: &Root) -> Result<()> {
    // Opened close-on-exec: the fd does not reach the container's process.
    let old_root = File::open("/").map_err(|e| RuntimeError::sys("opening /", e))?;
    nix::unistd::fchdir(root.as_raw_fd()).map_err(|e| RuntimeError::sys("chdir rootfs", e))?;
    nix::unistd::pivot_root(".", ".").map_err(|e| RuntimeError::sys("pivot_root", e))?;
    // The old root is stacked on the new one. Step onto it by its fd (what "." names
    // after pivot_root is not promised), make it a slave so its unmount does not reach
    // the host, and detach it. Made on "." the new root, that would also turn the
    // container's rshared binds into slaves.
    nix::unistd::fchdir(old_root.as_raw_fd())
        .map_err(|e| RuntimeError::sys("chdir old root", e))?;
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| RuntimeError::sys("making old root slave", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| RuntimeError::sys("detaching old root", e))?;
    nix::unistd::chdir("/").map_err(|e| RuntimeError::sys("chdir /", e))?;
    Ok(())
}

fn run(ctx: &InitContext, report: &mut File) -> Result<std::convert::Infallible> {
    crate::hygiene::make_undumpable();
    let spec = ctx.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| RuntimeError::InvalidSpec("no process".into()))?;
    if ctx.console_socket.is_none() {
        setup_pipe_stdio(ctx)?;
    }
    // Into the container's cgroups first, before anything is charged or limited.
    for t in &ctx.join_tasks {
        std::fs::write(t, "0")
            .map_err(|e| RuntimeError::sys(format!("joining cgroup {}", t.display()), e))?;
    }
    let mut from_parent = File::from(
        ctx.from_parent
            .try_clone()
            .map_err(|e| RuntimeError::sys("dup", e))?,
    );
    // The shim says when the child is placed (it may have had to move it itself).
    wait_byte(&mut from_parent)?;
    // Read while the bundle is still reachable (before pivot_root, and before a user
    // namespace makes it unreadable).
    let seccomp = crate::seccomp::for_bundle(ctx.bundle, spec);
    // In a user namespace, this process is the first step: it prepares, as the host's
    // root, what the init cannot, and clones it; only the init returns here.
    let prepared = match crate::userns::joined(spec)? {
        Some(j) => Some(crate::userns::first_step(ctx, spec, &j, report)?),
        None => None,
    };
    // Namespaces shared with another container (`--ipc/--net container:`) are joined
    // before anything is set up in them.
    match &prepared {
        Some(p) => p.join_namespaces()?,
        None => {
            for (t, flag) in [
                (LinuxNamespaceType::Ipc, CloneFlags::CLONE_NEWIPC),
                (LinuxNamespaceType::Uts, CloneFlags::CLONE_NEWUTS),
                (LinuxNamespaceType::Network, CloneFlags::CLONE_NEWNET),
            ] {
                if let Some(path) = crate::shim::namespace_path(spec, t) {
                    crate::shim::join_namespace(&path, flag)?;
                }
            }
        }
    }
    // /proc/self/cgroup names the host's paths only until the cgroup namespace exists
    // (read only in a user namespace, where cgroup v1 dirs are bound from those paths).
    let own_cgroups = match &prepared {
        Some(_) => std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default(),
        None => String::new(),
    };
    // Only now, inside the container's cgroup, does a new cgroup namespace root there.
    if has_namespace(spec, LinuxNamespaceType::Cgroup) {
        unshare(CloneFlags::CLONE_NEWCGROUP)
            .map_err(|e| RuntimeError::sys("unshare cgroup namespace", e))?;
    }
    if has_namespace(spec, LinuxNamespaceType::Uts) {
        if let Some(h) = spec.hostname() {
            nix::unistd::sethostname(h).map_err(|e| RuntimeError::sys("sethostname", e))?;
        }
        if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
            set_domainname(d)?;
        }
    }
    if has_namespace(spec, LinuxNamespaceType::Network) {
        loopback_up()?;
    }
    {
        let builder = match &prepared {
            Some(prepared) => Builder::UserNamespace {
                prepared,
                own_cgroups: &own_cgroups,
            },
            None => Builder::Host,
        };
        let root = build_rootfs(spec, ctx.bundle, builder)?;
        if let Some(sock) = ctx.console_socket {
            setup_terminal(&root, sock)?;
        }
        pivot(&root)?;
    }
    drop(prepared);
    {
        let root = Root::open(Path::new("/"))?;
        // Sysctls first: /proc/sys is made read-only next.
        if let Some(sysctls) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) {
            for (key, value) in sysctls {
                write_sysctl(&root, key, value)?;
            }
        }
        // (In a user namespace the first step set it: lowering it takes the host's root.)
        if !crate::userns::joins(spec) {
            set_oom_score_adj(process)?;
        }
        if let Some(l) = spec.linux() {
            for p in l.masked_paths().iter().flatten() {
                mounts::mask_path(&root, Path::new(p))?;
            }
            for p in l.readonly_paths().iter().flatten() {
                mounts::readonly_path(&root, Path::new(p))?;
            }
        }
    }
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(|e| RuntimeError::sys("making the root filesystem read-only", e))?;
    }
    // Only the sync pipes survive besides stdio: the shim's descriptors (its cgroup
    // directory on v2, its logs) are closed before the working directory is entered.
    let keep = [
        ctx.from_parent.as_raw_fd(),
        ctx.to_parent.as_raw_fd(),
        report.as_raw_fd(),
        from_parent.as_raw_fd(),
    ];
    let prepared = process::prepare(process, &keep)?;
    process::drop_privileges(process, seccomp.as_ref())?;
    report
        .write_all(&[MSG_READY])
        .map_err(|e| RuntimeError::sys("reporting ready", e))?;
    wait_byte(&mut from_parent)?;
    drop(from_parent);
    let _ = ctx.from_parent.as_raw_fd();
    let err = nix::unistd::execve(&prepared.program, &prepared.argv, &prepared.envp).unwrap_err();
    Err(match err {
        nix::errno::Errno::EACCES => {
            RuntimeError::PermissionDenied(format!("{:?}: permission denied", prepared.argv[0]))
        }
        nix::errno::Errno::ENOENT => {
            RuntimeError::NotFound(format!("{:?}: no such file or directory", prepared.argv[0]))
        }
        e => RuntimeError::sys("exec", e),
    })
}
