//! The init of a pod's shared PID namespace (`shareProcessNamespace`): PID 1 of the
//! namespace, which only reaps. A PID namespace ends when its first process does, so the
//! pod's containers cannot take that role; this process is what a pod whose containers
//! share PIDs costs, and the only process any pod costs.
//!
//! `spawn` runs `<berth> pod-init`, which unshares the PID namespace, forks the init into
//! it, prints the init's host pid and exits; the init lives on in its own session.

use crate::error::{Result, RuntimeError};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::{fork, ForkResult, Pid};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Starts a pod's PID namespace init; returns its host pid. With `userns` (a file holding
/// the pod's user namespace) the PID namespace is made in there, owned by it.
pub fn spawn(berth: &Path, userns: Option<&Path>) -> Result<i32> {
    let mut cmd = Command::new(berth);
    cmd.arg("pod-init");
    if let Some(u) = userns {
        cmd.arg("--userns").arg(u);
    }
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| RuntimeError::sys("starting the pod's PID namespace init", e))?;
    if !out.status.success() {
        return Err(RuntimeError::Shim(format!(
            "the pod's PID namespace init failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| RuntimeError::Shim("the pod's PID namespace init gave no pid".into()))
}

extern "C" fn on_child(_: libc::c_int) {}

/// `berth pod-init [--userns FILE]`: the process `spawn` starts.
pub fn main(args: &[String]) -> i32 {
    if let Err(e) = nix::unistd::setsid() {
        eprintln!("pod-init: setsid: {e}");
        return 1;
    }
    match args {
        [] => {}
        [flag, file] if flag == "--userns" => {
            let entered = std::fs::File::open(file)
                .map_err(|e| RuntimeError::sys(format!("opening {file}"), e))
                .and_then(|f| crate::userns::enter(&f));
            if let Err(e) = entered {
                eprintln!("pod-init: {e}");
                return 1;
            }
        }
        _ => {
            eprintln!("usage: berth pod-init [--userns FILE] (started by berthd)");
            return 2;
        }
    }
    if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWPID) {
        eprintln!("pod-init: unshare: {e}");
        return 1;
    }
    // SAFETY: this process is single-threaded (it has just started and made no threads),
    // so the child may run any code.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { child }) => {
            let mut out = std::io::stdout();
            let _ = writeln!(out, "{child}");
            0
        }
        Ok(ForkResult::Child) => reap_forever(),
        Err(e) => {
            eprintln!("pod-init: fork: {e}");
            1
        }
    }
}

fn reap_forever() -> ! {
    // Nothing of the daemon's: stdio to /dev/null, out of the daemon's working dir.
    if let Ok(null) = std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        use std::os::fd::AsRawFd;
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors of this single-threaded process.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
    let _ = std::env::set_current_dir("/");
    let handler = SigAction::new(
        SigHandler::Handler(on_child),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler does nothing; it only ends sigsuspend on SIGCHLD.
    let _ = unsafe { sigaction(Signal::SIGCHLD, &handler) };
    // SIGCHLD is blocked except while waiting, so none is lost between a reap and the wait.
    let mut chld = SigSet::empty();
    chld.add(Signal::SIGCHLD);
    let _ = chld.thread_block();
    let unblocked = SigSet::empty();
    loop {
        while let Ok(status) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            if status == nix::sys::wait::WaitStatus::StillAlive {
                break;
            }
        }
        // SAFETY: sigsuspend reads a valid signal set and returns after a handled signal.
        unsafe { libc::sigsuspend(unblocked.as_ref()) };
    }
}
