//! The daemon's directories and their modes, set explicitly whatever the umask, also on
//! roots that exist already (CVE-2021-41091: a walkable data root let any local user run
//! the setuid binaries of layers and of containers' upper dirs as root).

use crate::config::DaemonConfig;
use crate::error::Result;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The data root: root and its group may enter, nobody else (Docker's 0710).
pub const DATA_ROOT_MODE: u32 = 0o710;
/// Containers' dirs: the same, so the group can reach what it is given by path.
pub const CONTAINERS_MODE: u32 = 0o710;
/// Everything else under the data root, each container's own dir and runtime state.
pub const PRIVATE_MODE: u32 = 0o700;
/// The exec root holds the default socket: others may pass through to it, not list.
pub const EXEC_ROOT_MODE: u32 = 0o711;

/// Creates `dir` (and missing parents) and sets its mode.
pub fn ensure(dir: &Path, mode: u32) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// Sets the modes of the data root, its top-level dirs, every container dir, and the
/// exec root's dirs.
pub fn secure_roots(cfg: &DaemonConfig) -> Result<()> {
    ensure(&cfg.data_root, DATA_ROOT_MODE)?;
    ensure(&cfg.containers_dir(), CONTAINERS_MODE)?;
    for entry in std::fs::read_dir(&cfg.data_root)?.flatten() {
        let path = entry.path();
        if path != cfg.containers_dir() && entry.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(PRIVATE_MODE))?;
        }
    }
    for entry in std::fs::read_dir(cfg.containers_dir())?.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(PRIVATE_MODE))?;
        }
    }
    ensure(&cfg.exec_root, EXEC_ROOT_MODE)?;
    ensure(&cfg.exec_root.join("containers"), PRIVATE_MODE)?;
    ensure(&cfg.exec_root.join("s"), PRIVATE_MODE)?;
    Ok(())
}
