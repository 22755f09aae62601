//! What a process must shed before it becomes a container's program: descriptors it
//! inherited, signal dispositions and masks set by berth's own (Rust) code, and a working
//! directory outside the container's root. Each one was a way out of the box.

use crate::error::{Result, RuntimeError};
use std::os::fd::RawFd;

/// Closes every descriptor from 3 up except `keep` (CVE-2024-21626: a host directory fd
/// reached the container's working directory through /proc/self/fd).
pub fn close_fds_except(keep: &[RawFd]) {
    let mut keep: Vec<u32> = keep.iter().filter(|f| **f > 2).map(|f| *f as u32).collect();
    keep.sort_unstable();
    keep.dedup();
    let mut from = 3u32;
    for k in keep.iter().chain(std::iter::once(&u32::MAX)) {
        if *k > from {
            close_range(from, k.saturating_sub(1));
        }
        from = k.saturating_add(1);
    }
}

fn close_range(first: u32, last: u32) {
    // SAFETY: close_range only closes descriptors; callers keep what they still use.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
    if rc == 0 {
        return;
    }
    // Kernels before 5.9: close what /proc says is open.
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let open: Vec<u32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| (first..=last).contains(fd))
        .collect();
    for fd in open {
        // SAFETY: as above.
        unsafe { libc::close(fd as i32) };
    }
}

/// Every signal back to its default action and none blocked: berth's binary ignores
/// SIGPIPE (Rust's start-up does), and `execve` keeps ignored signals ignored.
pub fn reset_signals() -> Result<()> {
    // The kernel's struct sigaction (x86_64 and aarch64 layout): glibc's own wrapper
    // refuses the two real-time signals it reserves, which may arrive ignored too.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let dfl = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: a valid sigaction of the size passed; SIG_DFL needs no handler.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &dfl as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            )
        };
    }
    nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    )
    .map_err(|e| RuntimeError::sys("clearing the signal mask", e))
}

/// Nothing in the container may open this process's /proc entries (its `exe` is berth,
/// its fds are berth's) while berth code runs in the container's namespaces. `execve` of
/// the user's program makes it dumpable again.
pub fn make_undumpable() {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
}

/// After changing into the working directory: it must lie inside this process's root
/// (runc's check). The kernel reports a directory outside the root as "(unreachable)...".
pub fn check_cwd_inside_root() -> Result<()> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: the buffer is writable for its full length.
    let rc = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    if rc < 0 {
        return Err(RuntimeError::sys(
            "checking the working directory",
            std::io::Error::last_os_error(),
        ));
    }
    if buf.first() != Some(&b'/') {
        return Err(RuntimeError::PermissionDenied(
            "current working directory is outside of container mount namespace root -- possible container breakout detected".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn closes_all_but_what_is_kept() {
        // In a child, so the test harness's own descriptors are left alone.
        let a = std::fs::File::open("/").unwrap();
        let b = std::fs::File::open("/").unwrap();
        let (ka, kb) = (a.as_raw_fd(), b.as_raw_fd());
        // SAFETY: the child only makes syscalls and exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                close_fds_except(&[kb]);
                // SAFETY: fcntl F_GETFD on a plain integer.
                let open = |fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0;
                let ok = !open(ka) && open(kb) && open(2);
                // SAFETY: ends the forked child.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                let st = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(st, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }
}
