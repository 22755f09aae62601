//! A container's terminal, made inside the container's own devpts (so `tty` says
//! `/dev/pts/0`), with the master end handed back to the shim over a unix socket.

use crate::error::{Result, RuntimeError};
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// Opens `ptmx` (a devpts instance's, resolved beneath `root`) and makes a new pty pair
/// from it: (master, slave, N).
pub fn open_pty(root: &crate::root::Root, ptmx: &Path) -> Result<(OwnedFd, OwnedFd, u32)> {
    let master = root
        .open_at(
            ptmx,
            nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY,
        )
        .map_err(|e| RuntimeError::sys(format!("opening {}", ptmx.display()), e))?;
    let mut unlock: libc::c_int = 0;
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCSPTLCK reads an int, TIOCGPTN writes an unsigned int; both outlive the calls.
    let ok = unsafe {
        libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &mut unlock) == 0
            && libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) == 0
    };
    if !ok {
        return Err(RuntimeError::sys(
            "unlocking the pty",
            std::io::Error::last_os_error(),
        ));
    }
    // TIOCGPTPEER opens the slave through the master, whatever the mount namespace.
    // SAFETY: the ioctl takes open flags and returns a new descriptor or -1.
    let slave = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if slave < 0 {
        return Err(RuntimeError::sys(
            "opening the pty slave",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: a new descriptor we own.
    Ok((master, unsafe { OwnedFd::from_raw_fd(slave) }, n))
}

pub fn send_fd(sock: RawFd, fd: RawFd) -> Result<()> {
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(b"m")];
    sendmsg::<()>(sock, &iov, &cmsg, MsgFlags::empty(), None)
        .map_err(|e| RuntimeError::sys("sending the pty", e))?;
    Ok(())
}

/// The descriptor sent by `send_fd`, or None if the peer closed without sending one.
pub fn recv_fd(sock: RawFd) -> Result<Option<OwnedFd>> {
    let mut buf = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(|e| RuntimeError::sys("receiving the pty", e))?;
    for c in msg
        .cmsgs()
        .map_err(|e| RuntimeError::sys("receiving the pty", e))?
    {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: SCM_RIGHTS gave us a new descriptor that nothing else owns.
                return Ok(Some(unsafe { OwnedFd::from_raw_fd(*fd) }));
            }
        }
    }
    Ok(None)
}

pub fn socketpair() -> Result<(OwnedFd, OwnedFd)> {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| RuntimeError::sys("socketpair", e))
}

/// Makes `slave` the calling process's stdio and controlling terminal, in a new session.
pub fn become_terminal_session(slave: &OwnedFd) -> Result<()> {
    nix::unistd::setsid().map_err(|e| RuntimeError::sys("setsid", e))?;
    for to in 0..3 {
        nix::unistd::dup2(slave.as_raw_fd(), to).map_err(|e| RuntimeError::sys("dup2 stdio", e))?;
    }
    // SAFETY: TIOCSCTTY on fd 0 takes an integer argument.
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } != 0 {
        return Err(RuntimeError::sys(
            "setting the controlling terminal",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}
