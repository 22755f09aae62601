//! `--ipc shareable`: a container's /dev/shm as a tmpfs the daemon mounts under the
//! container's dir, so that containers started with `--ipc container:<it>` can bind the
//! same one (POSIX shared memory lives there; SysV IPC comes with the namespace). Only
//! shareable containers add a mount to the daemon's mount table; it goes when they stop.

use super::Engine;
use crate::error::{DaemonError, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::path::PathBuf;

impl Engine {
    pub(crate) fn shm_dir(&self, id: &str) -> PathBuf {
        self.cfg.container_dir(id).join("shm")
    }

    /// Mounts the shareable /dev/shm of container `id` (if it is not mounted yet).
    pub(crate) fn mount_shm(&self, id: &str, size: i64) -> Result<PathBuf> {
        let dir = self.shm_dir(id);
        crate::dirs::ensure(&dir, crate::dirs::PRIVATE_MODE)?;
        // Mounted already (a start after a daemon restart): unmounted first, so a stop
        // always leaves nothing behind.
        let _ = umount2(&dir, MntFlags::MNT_DETACH);
        mount(
            Some("shm"),
            &dir,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some(format!("mode=1777,size={size}").as_str()),
        )
        .map_err(|e| DaemonError::System(format!("mounting the shareable /dev/shm: {e}")))?;
        Ok(dir)
    }

    /// Unmounts it (containers that share it keep their own binds of it).
    pub(crate) fn unmount_shm(&self, id: &str) {
        let _ = umount2(&self.shm_dir(id), MntFlags::MNT_DETACH);
    }
}
