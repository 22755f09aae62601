//! A pod's user namespace, and the network, IPC and UTS namespaces it owns (Kubernetes'
//! `hostUsers: false`). The pod's containers join them all (see `userns`), so their root
//! holds its capabilities over the pod's network and not over the host's.
//!
//! A user namespace can only be made by a single-threaded process, and its ids mapped by
//! a process outside it. `spawn` runs `<berth> pod-userns`, which forks a child that
//! unshares the user namespace; the helper maps the child's ids, and the child, now the
//! namespace's root, unshares the rest, names the UTS namespace and sets the pod's
//! sysctls. The daemon binds the child's namespaces on files and then lets it go.

use crate::error::{Result, RuntimeError};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

/// One range of ids: `size` ids from `container` inside are `host` on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMap {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

impl IdMap {
    /// The line for /proc/PID/uid_map or gid_map.
    fn line(&self) -> String {
        format!("{} {} {}\n", self.container, self.host, self.size)
    }
}

/// The pod's own network, IPC and UTS namespaces: which it has, its name, its sysctls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodNamespaces {
    pub net: bool,
    pub ipc: bool,
    pub uts: bool,
    pub hostname: String,
    /// `/proc/sys/...` paths (checked by the caller to be namespaced) and their values.
    pub sysctls: Vec<(PathBuf, String)>,
}

/// What the pod's user namespace and the namespaces it owns are made with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub uids: IdMap,
    pub gids: IdMap,
    pub namespaces: PodNamespaces,
}

/// The running helper: its child holds the namespaces until `release`.
pub struct Holder {
    helper: Child,
    stdin: Option<ChildStdin>,
    pid: i32,
}

impl Holder {
    /// The host pid of the process in the namespaces (`/proc/PID/ns/...`).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Lets the process go (its namespaces live on in what holds them) and waits for it.
    pub fn release(mut self) {
        drop(self.stdin.take());
        let _ = self.helper.wait();
    }
}

/// Starts the helper and waits until the namespaces are ready.
pub fn spawn(berth: &Path, req: &Request) -> Result<Holder> {
    let mut helper = Command::new(berth)
        .arg("pod-userns")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| RuntimeError::sys("starting the pod's user namespace helper", e))?;
    let fail = |helper: &mut Child, e: RuntimeError| {
        let _ = helper.kill();
        let _ = helper.wait();
        e
    };
    let mut stdin = helper.stdin.take();
    let line = serde_json::to_string(req).map_err(|e| RuntimeError::Shim(e.to_string()))?;
    let sent = stdin
        .as_mut()
        .map(|s| s.write_all(format!("{line}\n").as_bytes()))
        .unwrap_or(Err(std::io::ErrorKind::BrokenPipe.into()));
    if let Err(e) = sent {
        return Err(fail(
            &mut helper,
            RuntimeError::sys("talking to the pod's user namespace helper", e),
        ));
    }
    let mut answer = String::new();
    if let Some(out) = helper.stdout.take() {
        let _ = BufReader::new(out).take(4096).read_line(&mut answer);
    }
    match answer.trim().parse::<i32>() {
        Ok(pid) => Ok(Holder { helper, stdin, pid }),
        Err(_) => {
            let msg = answer.trim().trim_start_matches("error: ").to_string();
            Err(fail(
                &mut helper,
                RuntimeError::Init(format!(
                    "making the pod's user namespace: {}",
                    if msg.is_empty() {
                        "the helper died"
                    } else {
                        &msg
                    }
                )),
            ))
        }
    }
}

/// `berth pod-userns`: the helper `spawn` starts (single-threaded, as the host's root).
pub fn main() -> i32 {
    let mut line = String::new();
    if std::io::stdin()
        .lock()
        .take(1 << 20)
        .read_line(&mut line)
        .is_err()
    {
        return 1;
    }
    let req: Request = match serde_json::from_str(&line) {
        Ok(r) => r,
        Err(e) => {
            println!("error: invalid request: {e}");
            return 1;
        }
    };
    match run(&req) {
        Ok(code) => code,
        Err(e) => {
            println!("error: {e}");
            1
        }
    }
}

fn pipe() -> Result<(std::fs::File, std::fs::File)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| RuntimeError::sys("pipe", e))?;
    Ok((r.into(), w.into()))
}

fn run(req: &Request) -> Result<i32> {
    let (to_child_r, mut to_child_w) = pipe()?;
    let (mut from_child_r, from_child_w) = pipe()?;
    // SAFETY: this process is single-threaded, so the child may run any code.
    match unsafe { nix::unistd::fork() }.map_err(|e| RuntimeError::sys("fork", e))? {
        nix::unistd::ForkResult::Child => {
            drop(to_child_w);
            drop(from_child_r);
            let code = match child(req, to_child_r, &from_child_w) {
                Ok(()) => 0,
                Err(e) => {
                    let _ = (&from_child_w).write_all(format!("E{e}").as_bytes());
                    1
                }
            };
            // SAFETY: _exit ends the child without running the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(from_child_w);
            let pid = child.as_raw();
            let mut b = [0u8; 1];
            // The child has unshared its user namespace: map its ids.
            let mapped = match from_child_r.read(&mut b) {
                Ok(1) if b[0] == b'U' => map_ids(pid, req),
                _ => Err(read_child_error(&mut from_child_r)),
            };
            if let Err(e) = mapped {
                let _ = nix::sys::signal::kill(child, nix::sys::signal::SIGKILL);
                let _ = nix::sys::wait::waitpid(child, None);
                return Err(e);
            }
            let _ = to_child_w.write_all(b"M");
            match from_child_r.read(&mut b) {
                Ok(1) if b[0] == b'R' => {}
                _ => {
                    let e = read_child_error(&mut from_child_r);
                    let _ = nix::sys::wait::waitpid(child, None);
                    return Err(e);
                }
            }
            println!("{pid}");
            let _ = std::io::stdout().flush();
            // The child stays until the daemon closes stdin (it read it to the end).
            let _ = nix::sys::wait::waitpid(child, None);
            Ok(0)
        }
    }
}

fn read_child_error(r: &mut std::fs::File) -> RuntimeError {
    let mut msg = String::new();
    let _ = r.read_to_string(&mut msg);
    RuntimeError::Init(
        msg.strip_prefix('E')
            .unwrap_or("the namespace process died")
            .to_string(),
    )
}

fn map_ids(pid: i32, req: &Request) -> Result<()> {
    for (file, map) in [("uid_map", req.uids), ("gid_map", req.gids)] {
        std::fs::write(format!("/proc/{pid}/{file}"), map.line())
            .map_err(|e| RuntimeError::sys(format!("writing {file}"), e))?;
    }
    Ok(())
}

/// The pod's network, IPC and UTS namespaces as `req` says, unshared by the calling
/// thread (the daemon's own namespace thread, or the user namespace's root): the UTS one
/// named, the pod's sysctls set (/proc/sys shows the namespaces of whoever opens it).
pub fn unshare_pod_namespaces(req: &PodNamespaces) -> Result<()> {
    use nix::sched::{unshare, CloneFlags};
    let mut flags = CloneFlags::empty();
    for (want, flag) in [
        (req.net, CloneFlags::CLONE_NEWNET),
        (req.ipc, CloneFlags::CLONE_NEWIPC),
        (req.uts, CloneFlags::CLONE_NEWUTS),
    ] {
        if want {
            flags |= flag;
        }
    }
    unshare(flags).map_err(|e| RuntimeError::sys("unsharing the pod's namespaces", e))?;
    if req.uts && !req.hostname.is_empty() {
        nix::unistd::sethostname(&req.hostname).map_err(|e| {
            RuntimeError::sys(format!("setting the pod's hostname {:?}", req.hostname), e)
        })?;
    }
    for (path, value) in &req.sysctls {
        std::fs::write(path, value)
            .map_err(|e| RuntimeError::sys(format!("setting {}", path.display()), e))?;
    }
    Ok(())
}

/// In the child: the user namespace, then (as its root) the namespaces it owns.
fn child(req: &Request, from_parent: std::fs::File, to_parent: &std::fs::File) -> Result<()> {
    use nix::sched::{unshare, CloneFlags};
    let mut to_parent = to_parent;
    unshare(CloneFlags::CLONE_NEWUSER)
        .map_err(|e| RuntimeError::sys("unsharing the user namespace", e))?;
    to_parent
        .write_all(b"U")
        .map_err(|e| RuntimeError::sys("sync", e))?;
    let mut b = [0u8; 1];
    match (&from_parent).read(&mut b) {
        Ok(1) => {}
        _ => return Err(RuntimeError::Init("the helper went away".into())),
    }
    crate::userns::become_root()?;
    unshare_pod_namespaces(&req.namespaces)?;
    to_parent
        .write_all(b"R")
        .map_err(|e| RuntimeError::sys("sync", e))?;
    // Held until the daemon has bound the namespaces and closes its end of stdin.
    let mut sink = [0u8; 64];
    let stdin = std::io::stdin();
    // SAFETY: read(2) on stdin into a buffer of the given length.
    while unsafe { libc::read(stdin.as_raw_fd(), sink.as_mut_ptr().cast(), sink.len()) } > 0 {}
    Ok(())
}
