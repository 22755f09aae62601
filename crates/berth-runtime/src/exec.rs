//! `berth nsexec <json>`: runs one process inside a running container (docker exec).
//! The shim starts it with its `ExecArgs` as the one argument.
//!
//! A fresh single-threaded process joins the container's cgroup and namespaces, then
//! forks (a pid namespace applies to children only); the child becomes the user's
//! program and this process waits and passes its exit code on.

use crate::cgroups::Cgroup;
use crate::error::{Result, RuntimeError};
use crate::process;
use nix::sched::{setns, CloneFlags};
use oci_spec::runtime::Process;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct ExecArgs {
    pub pid: i32,
    pub cgroup: String,
    pub process: PathBuf,
    pub error_file: PathBuf,
    /// With a terminal: the socket to send the pty master back on.
    pub console_socket: Option<i32>,
    /// The container's bundle: its seccomp filter applies to exec'd processes too.
    pub bundle: Option<PathBuf>,
}

impl ExecArgs {
    /// The helper's command line: this executable, `nsexec`, and these arguments.
    pub(crate) fn command(&self) -> std::io::Result<std::process::Command> {
        let mut cmd = std::process::Command::new("/proc/self/exe");
        cmd.arg("nsexec").arg(serde_json::to_string(self)?);
        Ok(cmd)
    }
}

/// `berth nsexec`'s main: `args` are the arguments after `nsexec`.
pub fn main(args: &[String]) -> i32 {
    match args {
        [json] => match serde_json::from_str(json) {
            Ok(a) => nsexec(a),
            Err(e) => {
                eprintln!("berth nsexec: bad arguments: {e}");
                2
            }
        },
        _ => {
            eprintln!("usage: berth nsexec <json> (started by a shim)");
            2
        }
    }
}

/// Runs the exec; returns the exit code for this process.
fn nsexec(args: ExecArgs) -> i32 {
    // Whatever the shim left open stays out of the container.
    crate::hygiene::close_fds_except(args.console_socket.as_slice());
    crate::hygiene::make_undumpable();
    // Opened before joining the mount namespace, where the host path is out of reach.
    let mut errf = File::create(&args.error_file).ok();
    match run(&args, errf.as_mut()) {
        Ok(code) => code,
        Err(e) => {
            if let Some(f) = errf.as_mut() {
                let _ = write!(f, "{}", describe(&e));
            }
            e.exit_code()
        }
    }
}

/// Docker's wording for a failed exec.
fn describe(e: &RuntimeError) -> String {
    format!("OCI runtime exec failed: exec failed: unable to start container process: {e}: unknown")
}

fn run(args: &ExecArgs, errf: Option<&mut File>) -> Result<i32> {
    let data =
        std::fs::read(&args.process).map_err(|e| RuntimeError::sys("reading exec process", e))?;
    let process: Process =
        serde_json::from_slice(&data).map_err(|e| RuntimeError::InvalidSpec(e.to_string()))?;
    // Read before joining the mount namespace, where the bundle is out of reach.
    let seccomp = match &args.bundle {
        Some(b) => {
            let spec = oci_spec::runtime::Spec::load(b.join("config.json"))
                .map_err(|e| RuntimeError::InvalidSpec(e.to_string()))?;
            crate::seccomp::for_bundle(b, &spec)
        }
        None => None,
    };
    Cgroup::new(&args.cgroup).join_self()?;
    let order = [
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("net", CloneFlags::CLONE_NEWNET),
        ("pid", CloneFlags::CLONE_NEWPID),
        ("cgroup", CloneFlags::CLONE_NEWCGROUP),
        ("mnt", CloneFlags::CLONE_NEWNS),
    ];
    let mut fds = vec![];
    // A container in a user namespace: that one first, as the others are owned by it
    // (and the process then is its root, never the host's, until it becomes the user).
    let own_user = std::fs::metadata("/proc/self/ns/user").map(|m| m.ino());
    let their_user = std::fs::metadata(format!("/proc/{}/ns/user", args.pid)).map(|m| m.ino());
    if let (Ok(own), Ok(theirs)) = (own_user, their_user) {
        if own != theirs {
            let f = File::open(format!("/proc/{}/ns/user", args.pid))
                .map_err(|e| RuntimeError::sys("opening user namespace", e))?;
            fds.push((f, CloneFlags::CLONE_NEWUSER, "user"));
        }
    }
    for (name, flag) in order {
        let f = File::open(format!("/proc/{}/ns/{name}", args.pid))
            .map_err(|e| RuntimeError::sys(format!("opening {name} namespace"), e))?;
        fds.push((f, flag, name));
    }
    for (f, flag, name) in &fds {
        setns(f, *flag).map_err(|e| RuntimeError::sys(format!("joining {name} namespace"), e))?;
        if *flag == CloneFlags::CLONE_NEWUSER {
            crate::userns::become_root()?;
        }
    }
    drop(fds);
    let tty = process.terminal() == Some(true);
    // Inside the container's mount namespace now: /dev/ptmx is the container's.
    let slave = match (tty, args.console_socket) {
        (true, Some(sock)) => {
            let root = crate::root::Root::open(std::path::Path::new("/"))?;
            let (master, slave, _) =
                crate::console::open_pty(&root, std::path::Path::new("/dev/ptmx"))?;
            crate::console::send_fd(sock, std::os::fd::AsRawFd::as_raw_fd(&master))?;
            // SAFETY: fd 3 was given to this process for this purpose and nothing else uses it.
            unsafe { libc::close(sock) };
            Some(slave)
        }
        _ => None,
    };
    // The child reports a failure on a pipe, never through a host file of its own.
    let (err_read, err_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| RuntimeError::sys("pipe", e))?;
    // SAFETY: this process is single-threaded, so the child may do anything.
    match unsafe { nix::unistd::fork() }.map_err(|e| RuntimeError::sys("fork", e))? {
        nix::unistd::ForkResult::Child => {
            drop(err_read);
            let e = child(&process, slave.as_ref(), seccomp.as_ref(), &err_write);
            let _ = File::from(err_write).write_all(describe(&e).as_bytes());
            // SAFETY: _exit is always safe to call.
            unsafe { libc::_exit(e.exit_code()) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            use nix::sys::wait::{waitpid, WaitStatus};
            use std::io::Read;
            drop(err_write);
            drop(slave);
            let mut message = Vec::new();
            let _ = File::from(err_read).read_to_end(&mut message);
            if let (false, Some(f)) = (message.is_empty(), errf) {
                let _ = f.write_all(&message);
            }
            loop {
                match waitpid(child, None) {
                    Ok(WaitStatus::Exited(_, c)) => return Ok(c),
                    Ok(WaitStatus::Signaled(_, s, _)) => return Ok(128 + s as i32),
                    Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(RuntimeError::sys("waitpid", e)),
                }
            }
        }
    }
}

fn child(
    process: &Process,
    slave: Option<&std::os::fd::OwnedFd>,
    seccomp: Option<&crate::seccomp::Filter>,
    report: &std::os::fd::OwnedFd,
) -> RuntimeError {
    let session = match slave {
        Some(s) => crate::console::become_terminal_session(s),
        None => nix::unistd::setsid()
            .map(|_| ())
            .map_err(|e| RuntimeError::sys("setsid", e)),
    };
    if let Err(e) = session {
        return e;
    }
    // Every descriptor but stdio and the error pipe is closed in here; the slave is
    // stdio by now. (Closed descriptors are never dropped: this process ends in execve
    // or _exit.)
    let prepared = match process::prepare(process, &[report.as_raw_fd()]) {
        Ok(p) => p,
        Err(e) => return e,
    };
    if let Err(e) = process::drop_privileges(process, seccomp) {
        return e;
    }
    let err = nix::unistd::execve(&prepared.program, &prepared.argv, &prepared.envp).unwrap_err();
    RuntimeError::sys("exec", err)
}
