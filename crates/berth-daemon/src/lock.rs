//! One daemon per data root: an exclusive flock held for the daemon's life.

use crate::error::{DaemonError, Result};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

pub struct RootLock {
    _file: File,
}

pub fn lock_root(data_root: &Path) -> Result<RootLock> {
    crate::dirs::ensure(data_root, crate::dirs::DATA_ROOT_MODE)?;
    let path = data_root.join("berthd.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    // SAFETY: flock on a valid, owned descriptor.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(DaemonError::Conflict(format!(
            "another berth daemon is already running on {} (lock {} is held)",
            data_root.display(),
            path.display()
        )));
    }
    Ok(RootLock { _file: file })
}
