//! A container's filesystem on the host: its writable layer and overlay's work dir, its
//! init layer, and the image's layers under them; and that filesystem mounted read-only
//! for `export`.
//!
//! The init layer holds what dockerd's does: the mount points berth binds over
//! (/etc/hosts, /etc/hostname, /etc/resolv.conf, /dev/console, /proc, /sys, /dev/pts,
//! /dev/shm), `/.dockerenv` and `/etc/mtab -> /proc/mounts`. With them there, nothing
//! the runtime mounts lands in the container's own layer, so `diff` shows only what the
//! container changed.

use super::Engine;
use crate::error::{DaemonError, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// What dockerd's init layer holds: (path, None for a directory, Some("") for an empty
/// file, Some(target) for a symlink).
const INIT_LAYER: &[(&str, Option<&str>)] = &[
    ("dev", None),
    ("dev/pts", None),
    ("dev/shm", None),
    ("proc", None),
    ("sys", None),
    ("etc", None),
    (".dockerenv", Some("")),
    ("etc/resolv.conf", Some("")),
    ("etc/hosts", Some("")),
    ("etc/hostname", Some("")),
    ("dev/console", Some("")),
    ("etc/mtab", Some("/proc/mounts")),
];

pub struct ContainerFs {
    pub upper: PathBuf,
    pub work: PathBuf,
    pub init: PathBuf,
    /// The image's layer dirs, top first.
    pub image_layers: Vec<PathBuf>,
}

impl ContainerFs {
    /// Overlay's lower dirs, top first: the init layer over the image's.
    pub fn lower(&self) -> Vec<PathBuf> {
        let mut l = vec![self.init.clone()];
        l.extend(self.image_layers.iter().cloned());
        l
    }

    /// Every layer top first, the writable one included: where a path is looked up as
    /// the container sees it.
    pub fn stack(&self) -> Vec<PathBuf> {
        let mut l = vec![self.upper.clone()];
        l.extend(self.lower());
        l
    }
}

/// Writes the init layer at `dir` if it is not there: made aside and renamed into place,
/// so a half-made one is never used. Modes are explicit (dockerd's 0755), whatever the
/// umask.
fn ensure_init_layer(dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let tmp = dir.with_extension("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir(&tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    for (path, kind) in INIT_LAYER {
        let p = tmp.join(path);
        match kind {
            None => {
                std::fs::create_dir(&p)?;
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))?;
            }
            Some("") => {
                std::fs::File::create(&p)?;
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))?;
            }
            Some(target) => std::os::unix::fs::symlink(target, &p)?,
        }
    }
    std::fs::rename(&tmp, dir)
}

/// The container's filesystem mounted read-only (its layer, the init layer and the
/// image's, all as lower dirs: no work dir, nothing written), unmounted when dropped.
/// Its mounts (volumes, binds) are not in it, as in dockerd's export.
pub struct ReadOnlyMount {
    pub root: berth_runtime::root::Root,
    at: PathBuf,
}

impl ReadOnlyMount {
    pub fn path(&self) -> &Path {
        &self.at
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.at, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.at);
    }
}

impl Engine {
    /// An empty dir that stands in as an image mount's second lower layer when the image
    /// has only one (a read-only overlay needs two).
    pub(crate) fn empty_lower_dir(&self) -> Result<PathBuf> {
        let dir = self.cfg.exec_root.join("empty");
        crate::dirs::ensure(&dir, crate::dirs::PRIVATE_MODE)?;
        Ok(dir)
    }

    /// The layers of container `id`, made from image `image_id`; its writable layer, work
    /// dir and init layer are created if missing (a container made by an older berth has
    /// no init layer yet).
    pub(crate) async fn container_fs(&self, id: &str, image_id: &str) -> Result<ContainerFs> {
        let images = self.images.clone();
        let image_id = image_id.to_string();
        let image_layers = tokio::task::spawn_blocking(move || -> Result<_> {
            let img = images.get(&image_id.parse().map_err(DaemonError::from)?)?;
            Ok(images.layer_dirs(&img))
        })
        .await
        .map_err(DaemonError::system)??;
        let dir = self.cfg.container_dir(id);
        let fs = ContainerFs {
            upper: dir.join("fs/upper"),
            work: dir.join("fs/work"),
            init: dir.join("fs/init"),
            image_layers,
        };
        for d in [&fs.upper, &fs.work] {
            std::fs::create_dir_all(d)?;
        }
        ensure_init_layer(&fs.init)?;
        Ok(fs)
    }

    /// Mounts `fs` read-only under the exec root (a private 0700 dir).
    pub(crate) fn mount_read_only(&self, id: &str, fs: &ContainerFs) -> Result<ReadOnlyMount> {
        self.mount_layers_read_only(id, &fs.stack())
    }

    /// Mounts `layers` (top first) read-only as one filesystem.
    pub(crate) fn mount_layers_read_only(
        &self,
        id: &str,
        layers: &[PathBuf],
    ) -> Result<ReadOnlyMount> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let parent = self.cfg.exec_root.join("export");
        crate::dirs::ensure(&parent, crate::dirs::PRIVATE_MODE)?;
        let at = parent.join(format!("{}-{n}", &id[..12.min(id.len())]));
        crate::dirs::ensure(&at, crate::dirs::PRIVATE_MODE)?;
        let mut lower: Vec<String> = layers.iter().map(|p| p.display().to_string()).collect();
        if lower.len() < 2 {
            // overlay wants two lower dirs when it has no upper: an empty one goes below.
            let empty = self.cfg.exec_root.join("export-empty");
            crate::dirs::ensure(&empty, crate::dirs::PRIVATE_MODE)?;
            lower.push(empty.display().to_string());
        }
        let opts = format!("lowerdir={}", lower.join(":"));
        if let Err(e) = nix::mount::mount(
            Some("overlay"),
            &at,
            Some("overlay"),
            nix::mount::MsFlags::MS_RDONLY,
            Some(opts.as_str()),
        ) {
            let _ = std::fs::remove_dir(&at);
            return Err(DaemonError::System(format!(
                "mounting the container's filesystem: {e}"
            )));
        }
        match berth_runtime::root::Root::open(&at) {
            Ok(root) => Ok(ReadOnlyMount { root, at }),
            Err(e) => {
                let _ = nix::mount::umount2(&at, nix::mount::MntFlags::MNT_DETACH);
                let _ = std::fs::remove_dir(&at);
                Err(e.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn init_layer_is_dockerds() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("init");
        ensure_init_layer(&dir).unwrap();
        assert_eq!(
            std::fs::read_link(dir.join("etc/mtab")).unwrap(),
            Path::new("/proc/mounts")
        );
        for f in [".dockerenv", "etc/hosts", "dev/console"] {
            let m = std::fs::metadata(dir.join(f)).unwrap();
            assert!(
                m.is_file() && m.len() == 0 && m.mode() & 0o777 == 0o755,
                "{f}"
            );
        }
        assert!(dir.join("dev/shm").is_dir() && dir.join("proc").is_dir());
        // A second call leaves it be.
        std::fs::write(dir.join("etc/hosts"), "x").unwrap();
        ensure_init_layer(&dir).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("etc/hosts")).unwrap(), "x");
    }
}
