//! The copy of berth that shims, container inits and exec helpers run from.
//!
//! While berth code runs inside a container's namespaces, `/proc/<pid>/exe` of that
//! process is visible to the container. Were it the host's berth binary, a container could
//! open it, read it, and (but for `ETXTBSY`) overwrite it: CVE-2019-5736. So the daemon
//! copies itself once, at start, into a sealed memfd (no write, grow, shrink or new seals)
//! and starts every shim from that; inits and exec helpers inherit it as their `exe`.
//! runc copies its binary for every container; one copy per daemon costs nothing on the
//! start path.

use crate::error::{Result, RuntimeError};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

pub struct SealedBinary {
    fd: OwnedFd,
}

const MFD_EXEC: libc::c_uint = 0x10;

impl SealedBinary {
    /// A sealed copy of `binary`.
    pub fn copy_of(binary: &Path) -> Result<Self> {
        let err = |what: &str, e: std::io::Error| RuntimeError::sys(what.to_string(), e);
        let mut src = std::fs::File::open(binary)
            .map_err(|e| err(&format!("opening {}", binary.display()), e))?;
        let fd = memfd("berth")?;
        let mut dst = std::fs::File::from(fd);
        let len = src.metadata().map_err(|e| err("stat", e))?.len();
        // In the kernel where it can; a plain copy where it cannot (across file systems on
        // old kernels).
        let mut copied = 0u64;
        while copied < len {
            // SAFETY: both descriptors are open; null offsets use and move the file offsets.
            let n = unsafe {
                libc::copy_file_range(
                    src.as_raw_fd(),
                    std::ptr::null_mut(),
                    dst.as_raw_fd(),
                    std::ptr::null_mut(),
                    (len - copied) as usize,
                    0,
                )
            };
            if n <= 0 {
                break;
            }
            copied += n as u64;
        }
        if copied < len {
            let mut buf = Vec::new();
            src.read_to_end(&mut buf).map_err(|e| err("reading", e))?;
            dst.write_all(&buf).map_err(|e| err("copying", e))?;
        }
        let seals =
            libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
        // SAFETY: fcntl on our own descriptor with an integer argument.
        if unsafe { libc::fcntl(dst.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
            return Err(err("sealing", std::io::Error::last_os_error()));
        }
        Ok(Self { fd: dst.into() })
    }

    /// The path to start it by, valid in this process and in the children it spawns (the
    /// kernel resolves it before close-on-exec descriptors are closed).
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }
}

fn memfd(name: &str) -> Result<OwnedFd> {
    let cname = std::ffi::CString::new(name).unwrap_or_default();
    let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // MFD_EXEC where the kernel knows it (6.3+, which may default to non-executable).
    for flags in [base | MFD_EXEC, base] {
        // SAFETY: a valid C string and flags; returns a new descriptor or -1.
        let fd = unsafe { libc::memfd_create(cname.as_ptr(), flags) };
        if fd >= 0 {
            // SAFETY: a new descriptor that we own.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
    Err(RuntimeError::sys(
        "memfd_create",
        std::io::Error::last_os_error(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_runs_and_cannot_be_written() {
        let b = SealedBinary::copy_of(Path::new("/bin/true")).unwrap();
        let st = std::process::Command::new(b.path()).status().unwrap();
        assert!(st.success());
        let w = std::fs::OpenOptions::new().write(true).open(b.path());
        let written = w.and_then(|mut f| f.write_all(b"x"));
        assert!(written.is_err(), "a sealed copy took a write");
    }
}
