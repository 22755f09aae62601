//! clone3(2) used like fork: the child gets a copy of the caller and no new stack.

use crate::error::{Result, RuntimeError};
use std::os::fd::{AsRawFd, OwnedFd};

/// A fork-style clone3 with `flags` (no new stack): 0 in the child, its pid in the
/// parent. The caller must be single-threaded.
pub(crate) fn fork(flags: u64, cgroup: Option<&OwnedFd>) -> Result<i32> {
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    let mut args = CloneArgs {
        flags,
        // With CLONE_PARENT, clone3 wants none: the child gets the caller's own.
        exit_signal: if flags & libc::CLONE_PARENT as u64 != 0 {
            0
        } else {
            libc::SIGCHLD as u64
        },
        ..Default::default()
    };
    if let Some(dir) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = dir.as_raw_fd() as u64;
    }
    // SAFETY: `args` is a valid clone_args of the size passed; without CLONE_VM the child
    // gets a copy of this single-threaded process, as with fork.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if rc < 0 {
        return Err(RuntimeError::sys("clone3", std::io::Error::last_os_error()));
    }
    Ok(rc as i32)
}
