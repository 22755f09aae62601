//! A pod's namespaces without a pause process: a thread of the daemon unshares them,
//! names the UTS one, sets the pod's sysctls, and bind-mounts each namespace onto a file;
//! the mount keeps the namespace alive after the thread ends, and containers join it by
//! that path. A pod so costs no process and no image.

use crate::error::{CriError, Result};
use berth_runtime::pod_userns::IdMap;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Which namespaces the pod makes (the others are the host's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    pub net: bool,
    pub ipc: bool,
    pub uts: bool,
    /// A PID namespace the pod's containers share (with its own init: see
    /// `berth_runtime::pod_init`).
    pub pid: bool,
    /// A user namespace with these uid and gid ranges, owning the others (see
    /// `berth_runtime::pod_userns`).
    pub user: Option<(IdMap, IdMap)>,
}

/// The files that hold the pod's namespaces, and its /dev/shm.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Held {
    pub net: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    pub uts: Option<PathBuf>,
    pub shm: Option<PathBuf>,
    pub pid: Option<PathBuf>,
    /// The host pid of the shared PID namespace's init.
    #[serde(default)]
    pub pid_init: Option<i32>,
    /// The pod's user namespace, which owns its other namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<PathBuf>,
    /// Its uid and gid ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_maps: Option<(IdMap, IdMap)>,
}

/// A sysctl the pod sets, checked to name a namespaced setting of a namespace the pod
/// has: `net.*` needs its own network, the IPC ones its own IPC namespace.
pub fn sysctl_path(key: &str, wanted: Wanted) -> Result<PathBuf> {
    let valid = !key.is_empty()
        && key.split(['.', '/']).all(|p| {
            !p.is_empty()
                && p != ".."
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
        });
    if !valid {
        return Err(CriError::InvalidArgument(format!(
            "sysctl {key:?} is not a sysctl name"
        )));
    }
    let ipc = matches!(
        key,
        "kernel.msgmax"
            | "kernel.msgmnb"
            | "kernel.msgmni"
            | "kernel.sem"
            | "kernel.shmall"
            | "kernel.shmmax"
            | "kernel.shmmni"
            | "kernel.shm_rmid_forced"
    ) || key.starts_with("fs.mqueue.");
    let net = key.starts_with("net.");
    if (ipc && !wanted.ipc) || (net && !wanted.net) || (!ipc && !net) {
        return Err(CriError::InvalidArgument(format!(
            "sysctl {key:?} is not allowed: it is not namespaced to the pod"
        )));
    }
    Ok(Path::new("/proc/sys").join(key.replace('.', "/")))
}

/// Makes the namespaces under `dir` (mode 0700): `dir/net`, `dir/ipc`, `dir/uts`, and
/// `dir/shm` (a tmpfs) with the IPC namespace.
pub fn hold(
    berth: &Path,
    dir: &Path,
    wanted: Wanted,
    hostname: &str,
    sysctls: &[(String, String)],
    shm_size: u64,
) -> Result<Held> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| CriError::io(format!("creating {}", dir.display()), e))?;
    let mut checked = vec![];
    for (k, v) in sysctls {
        checked.push((sysctl_path(k, wanted)?, v.clone()));
    }
    let held = match wanted.user {
        Some(maps) => hold_in_userns(berth, dir, wanted, maps, hostname, checked),
        None => {
            let dir_owned = dir.to_path_buf();
            let hostname = hostname.to_string();
            // A thread of its own: unshare changes only the calling thread's namespaces,
            // and this thread ends when it is done, so no other work ever runs in them.
            std::thread::spawn(move || hold_in_thread(&dir_owned, wanted, &hostname, &checked))
                .join()
                .map_err(|_| CriError::Internal("the namespace thread panicked".into()))?
        }
    };
    let mut held = match held {
        Ok(h) => h,
        Err(e) => {
            release(dir, &Held::default());
            return Err(e);
        }
    };
    if wanted.ipc {
        let shm = dir.join("shm");
        let made = std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&shm)
            .map_err(|e| CriError::io("creating the pod's shm dir", e))
            .and_then(|()| {
                mount(
                    Some("shm"),
                    &shm,
                    Some("tmpfs"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                    Some(format!("mode=1777,size={shm_size}").as_str()),
                )
                .map_err(|e| CriError::io("mounting the pod's /dev/shm", e))
            });
        if let Err(e) = made {
            release(dir, &held);
            return Err(e);
        }
        held.shm = Some(shm);
    }
    if wanted.pid {
        if let Err(e) = hold_pid(berth, dir, &mut held) {
            release(dir, &held);
            return Err(e);
        }
    }
    Ok(held)
}

/// The shared PID namespace: its init started, and its namespace held by `dir/pid`.
fn hold_pid(berth: &Path, dir: &Path, held: &mut Held) -> Result<()> {
    let pid = berth_runtime::pod_init::spawn(berth, held.user.as_deref())
        .map_err(|e| CriError::Internal(e.to_string()))?;
    held.pid_init = Some(pid);
    held.pid = Some(bind_namespace(&format!("/proc/{pid}/ns/pid"), dir, "pid")?);
    Ok(())
}

/// Holds the namespace at `source` by bind-mounting it on `dir/name` (made 0400).
fn bind_namespace(source: &str, dir: &Path, name: &str) -> Result<PathBuf> {
    let file = dir.join(name);
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o400)
        .open(&file)
        .map_err(|e| CriError::io(format!("creating {}", file.display()), e))?;
    mount(
        Some(source),
        &file,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| CriError::io(format!("holding the pod's {name} namespace"), e))?;
    Ok(file)
}

/// Ends the PID namespace's init (and with it every process left in the namespace), if
/// the pid is still that init: its namespace must be the one `file` holds.
fn end_pid_init(pid: i32, file: &Path) {
    use std::os::unix::fs::MetadataExt;
    let same = match (
        std::fs::metadata(format!("/proc/{pid}/ns/pid")),
        std::fs::metadata(file),
    ) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    };
    if same {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
    }
}

fn pod_namespaces(
    wanted: Wanted,
    hostname: &str,
    sysctls: Vec<(PathBuf, String)>,
) -> berth_runtime::pod_userns::PodNamespaces {
    berth_runtime::pod_userns::PodNamespaces {
        net: wanted.net,
        ipc: wanted.ipc,
        uts: wanted.uts,
        hostname: hostname.to_string(),
        sysctls,
    }
}

/// The pod's user namespace and the namespaces it owns, made by a helper process (a user
/// namespace cannot be made by a thread of the daemon) and held by files.
fn hold_in_userns(
    berth: &Path,
    dir: &Path,
    wanted: Wanted,
    maps: (IdMap, IdMap),
    hostname: &str,
    sysctls: Vec<(PathBuf, String)>,
) -> Result<Held> {
    let req = berth_runtime::pod_userns::Request {
        uids: maps.0,
        gids: maps.1,
        namespaces: pod_namespaces(wanted, hostname, sysctls),
    };
    let holder = berth_runtime::pod_userns::spawn(berth, &req)
        .map_err(|e| CriError::Internal(e.to_string()))?;
    let pid = holder.pid();
    let mut held = Held {
        id_maps: Some(maps),
        ..Held::default()
    };
    let bound = (|| {
        for (want, name, slot) in [
            (true, "user", &mut held.user),
            (wanted.net, "net", &mut held.net),
            (wanted.ipc, "ipc", &mut held.ipc),
            (wanted.uts, "uts", &mut held.uts),
        ] {
            if want {
                *slot = Some(bind_namespace(
                    &format!("/proc/{pid}/ns/{name}"),
                    dir,
                    name,
                )?);
            }
        }
        Ok(())
    })();
    holder.release();
    match bound {
        Ok(()) => Ok(held),
        Err(e) => {
            release(dir, &held);
            Err(e)
        }
    }
}

fn hold_in_thread(
    dir: &Path,
    wanted: Wanted,
    hostname: &str,
    sysctls: &[(PathBuf, String)],
) -> Result<Held> {
    berth_runtime::pod_userns::unshare_pod_namespaces(&pod_namespaces(
        wanted,
        hostname,
        sysctls.to_vec(),
    ))
    .map_err(|e| CriError::Internal(e.to_string()))?;
    let mut held = Held::default();
    for (want, name, slot) in [
        (wanted.net, "net", &mut held.net),
        (wanted.ipc, "ipc", &mut held.ipc),
        (wanted.uts, "uts", &mut held.uts),
    ] {
        if !want {
            continue;
        }
        *slot = Some(bind_namespace(
            &format!("/proc/thread-self/ns/{name}"),
            dir,
            name,
        )?);
    }
    Ok(held)
}

/// Ends the pod's PID namespace init, if it has one (the pod stopped: nothing may run in
/// it any more).
pub fn end_init(dir: &Path, held: &Held) {
    if let Some(pid) = held.pid_init {
        end_pid_init(pid, &dir.join("pid"));
    }
}

/// Lets the pod's namespaces go (they end with their last process) and removes `dir`.
pub fn release(dir: &Path, held: &Held) {
    end_init(dir, held);
    for name in ["shm", "net", "ipc", "uts", "pid", "user"] {
        let p = dir.join(name);
        let _ = umount2(&p, MntFlags::MNT_DETACH);
        let _ = std::fs::remove_file(&p).or_else(|_| std::fs::remove_dir(&p));
    }
    let _ = std::fs::remove_dir(dir);
}

/// Whether every file of the pod still holds its namespace (not after a reboot wiped the
/// exec root's mounts).
pub fn all_held(held: &Held) -> bool {
    [&held.net, &held.ipc, &held.uts, &held.pid, &held.user]
        .into_iter()
        .flatten()
        .all(|f| is_held(f))
}

fn is_held(file: &Path) -> bool {
    const NSFS_MAGIC: i64 = 0x6e73_6673;
    nix::sys::statfs::statfs(file).is_ok_and(|s| s.filesystem_type().0 == NSFS_MAGIC)
}

/// Runs `f` on a thread of its own that has entered the network namespace held at `ns`
/// (the daemon's when None): setns moves only that thread, so no other work runs there.
pub async fn in_network_namespace<T: Send + 'static>(
    ns: Option<PathBuf>,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let result = (|| {
            if let Some(ns) = &ns {
                let file = std::fs::File::open(ns)?;
                nix::sched::setns(
                    std::os::fd::AsFd::as_fd(&file),
                    nix::sched::CloneFlags::CLONE_NEWNET,
                )
                .map_err(std::io::Error::from)?;
            }
            f()
        })();
        let _ = tx.send(result);
    });
    rx.await
        .map_err(|_| std::io::Error::other("the namespace thread went away"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Wanted = Wanted {
        net: true,
        ipc: true,
        uts: true,
        pid: false,
        user: None,
    };

    #[test]
    fn sysctls_must_be_namespaced_to_what_the_pod_has() {
        assert_eq!(
            sysctl_path("net.ipv4.ip_unprivileged_port_start", ALL).unwrap(),
            Path::new("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        );
        assert!(sysctl_path("kernel.shm_rmid_forced", ALL).is_ok());
        let host_net = Wanted { net: false, ..ALL };
        assert!(sysctl_path("net.ipv4.ip_forward", host_net).is_err());
        assert!(sysctl_path("kernel.panic", ALL).is_err());
        assert!(sysctl_path("net/../../etc", ALL).is_err());
        assert!(sysctl_path("net..x", ALL).is_err());
    }
}
