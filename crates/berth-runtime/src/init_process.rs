//! `--init`: a small pid 1 in the container (tini's job). It runs the user's program as
//! its child, forwards every signal it gets to it, reaps every zombie that is reparented
//! to it, and exits with the program's status. The daemon binds berth's own sealed copy
//! read-only at `/sbin/docker-init`, where Docker puts its init.

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use std::ffi::CString;

/// Where the daemon binds the init in the container.
pub const PATH: &str = "/sbin/docker-init";

/// `docker-init -- program args...`; returns the exit code for this process.
pub fn run(args: &[String]) -> i32 {
    let argv: Vec<&String> = match args.first().map(String::as_str) {
        Some("--") => args[1..].iter().collect(),
        _ => args.iter().collect(),
    };
    if argv.is_empty() {
        eprintln!("docker-init: no program to run");
        return 127;
    }
    let Ok(cargs) = argv
        .iter()
        .map(|a| CString::new(a.as_str()))
        .collect::<Result<Vec<_>, _>>()
    else {
        eprintln!("docker-init: NUL byte in an argument");
        return 127;
    };
    // Orphans come to this process even when it is not pid 1.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    // Every signal is taken by sigwait below, none by a handler.
    let all = SigSet::all();
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&all), None);
    // SAFETY: this process is single-threaded; the child only resets and execs.
    let child = match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let _ = crate::hygiene::reset_signals();
            let err = nix::unistd::execvp(&cargs[0], &cargs).unwrap_err();
            eprintln!("docker-init: exec {}: {err}", argv[0]);
            // SAFETY: ends the forked child.
            unsafe {
                libc::_exit(if err == nix::errno::Errno::ENOENT {
                    127
                } else {
                    126
                })
            }
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => {
            eprintln!("docker-init: fork: {e}");
            return 1;
        }
    };
    loop {
        let Ok(sig) = all.wait() else { continue };
        if sig != Signal::SIGCHLD {
            let _ = nix::sys::signal::kill(child, sig);
            continue;
        }
        if let Some(code) = reap(child) {
            return code;
        }
    }
}

/// Reaps every exited child; the program's exit code once it is among them.
fn reap(program: Pid) -> Option<i32> {
    let mut result = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == program => result = Some(code),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == program => {
                result = Some(128 + sig as i32)
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return result,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the init in a child process (it blocks signals and waits); its exit status.
    fn init_in_child(args: &[&str], signal_after: Option<std::time::Duration>) -> WaitStatus {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        // SAFETY: the child only runs the init and exits.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                let code = run(&args);
                // SAFETY: ends the forked child.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => {
                if let Some(after) = signal_after {
                    std::thread::sleep(after);
                    nix::sys::signal::kill(child, Signal::SIGTERM).unwrap();
                }
                waitpid(child, None).unwrap()
            }
        }
    }

    #[test]
    fn passes_the_exit_code_and_forwards_signals() {
        let st = init_in_child(&["--", "/bin/sh", "-c", "(sleep 0.2 &); exit 3"], None);
        assert!(matches!(st, WaitStatus::Exited(_, 3)), "{st:?}");
        let t = std::time::Instant::now();
        let st = init_in_child(
            &["--", "/bin/sh", "-c", "exec sleep 30"],
            Some(std::time::Duration::from_millis(300)),
        );
        assert!(matches!(st, WaitStatus::Exited(_, 143)), "{st:?}");
        assert!(t.elapsed() < std::time::Duration::from_secs(10));
        let st = init_in_child(&["--", "/no/such/program"], None);
        assert!(matches!(st, WaitStatus::Exited(_, 127)), "{st:?}");
    }
}
