//! A new volume takes what the image has at its mount point, as with Docker: the image's
//! layers are mounted read-only beside the daemon, the path is resolved beneath that root
//! (an image's symlinks must not lead out), and the tree is copied without following a
//! link.

use crate::error::{DaemonError, Result};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Copies `path` of the image whose layers are `lower` (top first) into `data`, if it is
/// a directory there.
pub fn fill(lower: &[PathBuf], path: &str, scratch: &Path, data: &Path) -> Result<()> {
    if lower.is_empty() {
        return Ok(());
    }
    // Explicit modes whatever the umask: the image is mounted here for a moment.
    if let Some(parent) = scratch.parent() {
        crate::dirs::ensure(parent, crate::dirs::PRIVATE_MODE)?;
    }
    crate::dirs::ensure(scratch, crate::dirs::PRIVATE_MODE)?;
    let mounted = mount_layers(lower, scratch);
    let result = mounted.and_then(|()| copy_from(scratch, path, data));
    let _ = nix::mount::umount2(scratch, nix::mount::MntFlags::MNT_DETACH);
    let _ = std::fs::remove_dir(scratch);
    result
}

fn mount_layers(lower: &[PathBuf], at: &Path) -> Result<()> {
    use nix::mount::{mount, MsFlags};
    let fail =
        |e: nix::Error| DaemonError::System(format!("mounting the image to fill a volume: {e}"));
    if let [only] = lower {
        mount(
            Some(only.as_path()),
            at,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(fail)?;
        return mount(
            None::<&str>,
            at,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(fail);
    }
    let dirs: Vec<String> = lower.iter().map(|p| p.display().to_string()).collect();
    let opts = format!("lowerdir={}", dirs.join(":"));
    mount(
        Some("overlay"),
        at,
        Some("overlay"),
        MsFlags::MS_RDONLY,
        Some(opts.as_str()),
    )
    .map_err(fail)
}

fn copy_from(root: &Path, path: &str, data: &Path) -> Result<()> {
    let root = berth_runtime::root::Root::open(root).map_err(DaemonError::from)?;
    let rel = Path::new(path.trim_start_matches('/'));
    let Ok(fd) = root.lookup(rel, false) else {
        return Ok(()); // nothing at that path in the image
    };
    let src = berth_runtime::root::fd_path(&fd);
    let meta = std::fs::metadata(&src)?;
    if !meta.is_dir() {
        return Ok(());
    }
    // The volume's root takes the image directory's owner and mode.
    std::os::unix::fs::lchown(data, Some(meta.uid()), Some(meta.gid()))?;
    std::fs::set_permissions(data, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    copy_tree(&src, data)
}

fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let from = src.join(entry.file_name());
        let to = dst.join(entry.file_name());
        let meta = std::fs::symlink_metadata(&from)?;
        let ft = meta.file_type();
        let owner = |p: &Path| std::os::unix::fs::lchown(p, Some(meta.uid()), Some(meta.gid()));
        // Owner before mode: a chown clears setuid and setgid bits.
        let mode = |p: &Path| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
        };
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
            owner(&to)?;
        } else if ft.is_dir() {
            std::fs::create_dir(&to)?;
            copy_tree(&from, &to)?;
            owner(&to)?;
            mode(&to)?;
        } else if ft.is_file() {
            std::fs::copy(&from, &to)?;
            owner(&to)?;
            mode(&to)?;
        }
        // Devices, sockets and fifos are not copied.
    }
    Ok(())
}
