//! `docker cp` through the archive API: a path of a container, running or stopped, as a
//! tar stream (GET), its stat (HEAD), and a tar extracted into it (PUT).
//!
//! Every path is opened beneath the container's root (`RESOLVE_IN_ROOT`), one entry at a
//! time: a container that swaps a directory for a symlink while the copy runs
//! (CVE-2018-15664) only ever redirects the copy inside itself. Streams go through in
//! fixed buffers, whatever the size of the files.

use super::container::Container;
use super::Engine;
use crate::error::{DaemonError, Result};
use berth_runtime::root::{fd_path, Root};
use nix::fcntl::OFlag;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// Docker's `X-Docker-Container-Path-Stat` (Go's os.FileMode bits in `mode`).
#[derive(Debug, serde::Serialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// The query of a PUT.
#[derive(Debug, Clone, Copy, Default)]
pub struct PutOptions {
    /// `noOverwriteDirNonDir`: a directory is not replaced by a file, nor the reverse.
    pub no_overwrite_dir_non_dir: bool,
    /// `copyUIDGID`: keep the archive's owners instead of the container's root.
    pub copy_uid_gid: bool,
}

/// Go's FileMode: the permission bits and one bit per file type.
fn go_mode(m: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::FileTypeExt;
    let ft = m.file_type();
    let mut mode = m.mode() & 0o777;
    let bits = m.mode();
    if bits & 0o4000 != 0 {
        mode |= 1 << 23;
    }
    if bits & 0o2000 != 0 {
        mode |= 1 << 22;
    }
    if bits & 0o1000 != 0 {
        mode |= 1 << 20;
    }
    if ft.is_dir() {
        mode |= 1 << 31;
    } else if ft.is_symlink() {
        mode |= 1 << 27;
    } else if ft.is_fifo() {
        mode |= 1 << 25;
    } else if ft.is_socket() {
        mode |= 1 << 24;
    } else if ft.is_char_device() {
        mode |= (1 << 26) | (1 << 21);
    } else if ft.is_block_device() {
        mode |= 1 << 26;
    }
    mode
}

/// The container's root as the daemon reaches it: the running container's own (its
/// volumes included), or its filesystem mounted for the copy while it is stopped.
pub(crate) struct RootAccess {
    pub root: Root,
    mounted: Option<PathBuf>,
}

impl Drop for RootAccess {
    fn drop(&mut self) {
        if let Some(m) = &self.mounted {
            let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
            let _ = std::fs::remove_dir(m);
        }
    }
}

fn not_found(c: &Container, path: &str) -> DaemonError {
    DaemonError::NotFound(format!(
        "Could not find the file {path} in container {}",
        c.record().name.trim_start_matches('/')
    ))
}

/// `a/b/../c` → `a/c` without looking at the filesystem, as Docker cleans paths.
fn clean(path: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

impl Engine {
    /// Opens the container's root; the caller holds the container's operation lock, so a
    /// stopped container does not start while its filesystem is mounted here.
    pub(crate) async fn root_access(&self, c: &Arc<Container>) -> Result<RootAccess> {
        let rec = c.snapshot();
        if rec.state.running && rec.state.pid > 0 {
            return Ok(RootAccess {
                root: Root::open(Path::new(&format!("/proc/{}/root", rec.state.pid)))?,
                mounted: None,
            });
        }
        let fs = self.container_fs(&c.id, &rec.image_id).await?;
        let lowers: Vec<String> = fs.lower().iter().map(|p| p.display().to_string()).collect();
        let at = self.cfg.exec_root.join("archive").join(&c.id[..12]);
        // Explicit modes whatever the umask: the container's filesystem is mounted here.
        if let Some(parent) = at.parent() {
            crate::dirs::ensure(parent, crate::dirs::PRIVATE_MODE)?;
        }
        crate::dirs::ensure(&at, crate::dirs::PRIVATE_MODE)?;
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            lowers.join(":"),
            fs.upper.display(),
            fs.work.display()
        );
        nix::mount::mount(
            Some("overlay"),
            &at,
            Some("overlay"),
            nix::mount::MsFlags::empty(),
            Some(opts.as_str()),
        )
        .map_err(|e| DaemonError::System(format!("mounting the container's filesystem: {e}")))?;
        let access = RootAccess {
            root: Root::open(&at).map_err(DaemonError::from)?,
            mounted: Some(at),
        };
        Ok(access)
    }

    /// HEAD: what is at `path` in the container.
    pub async fn archive_stat(self: &Arc<Self>, name: &str, path: &str) -> Result<PathStat> {
        let c = self.get(name)?;
        let _op = c.op_lock.lock().await;
        let access = self.root_access(&c).await?;
        stat(&access.root, path).ok_or_else(|| not_found(&c, path))
    }

    /// GET: `path` as a tar stream into `out` (blocking; run off the runtime).
    pub async fn archive_get(
        self: &Arc<Self>,
        name: &str,
        path: &str,
        out: impl Write + Send + 'static,
    ) -> Result<(PathStat, tokio::task::JoinHandle<()>)> {
        let c = self.get(name)?;
        let op = c.op_lock.clone().lock_owned().await;
        let access = self.root_access(&c).await?;
        let st = stat(&access.root, path).ok_or_else(|| not_found(&c, path))?;
        let rel = clean(path);
        // The entries are named after the last component, as Docker's are.
        let base = rel
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        self.container_event(&c, "archive-path", &[("path", path.to_string())]);
        let task = tokio::task::spawn_blocking(move || {
            let mut tar = tar::Builder::new(out);
            tar.follow_symlinks(false);
            let _ = add_tree(&mut tar, &access.root, &rel, &base);
            let _ = tar.finish();
            drop(access);
            drop(op);
        });
        Ok((st, task))
    }

    /// PUT: the tar in `input` extracted into the directory `path` (blocking reader).
    pub async fn archive_put(
        self: &Arc<Self>,
        name: &str,
        path: &str,
        opts: PutOptions,
        input: impl Read + Send + 'static,
    ) -> Result<()> {
        let c = self.get(name)?;
        let _op = c.op_lock.lock().await;
        let access = self.root_access(&c).await?;
        let dest = clean(path);
        match stat(&access.root, path) {
            Some(st) if st.mode & (1 << 31) != 0 => {}
            Some(_) => {
                return Err(DaemonError::InvalidParameter(format!(
                    "extraction point is not a directory: {path}"
                )))
            }
            None => return Err(not_found(&c, path)),
        }
        if c.record().host_config.readonly_rootfs && c.is_running() {
            return Err(DaemonError::Forbidden(
                "container rootfs is marked read-only".into(),
            ));
        }
        tokio::task::spawn_blocking(move || extract(&access.root, &dest, input, opts))
            .await
            .map_err(DaemonError::system)??;
        self.container_event(&c, "extract-to-dir", &[("path", path.to_string())]);
        Ok(())
    }
}

fn stat(root: &Root, path: &str) -> Option<PathStat> {
    let rel = clean(path);
    let fd = std::fs::File::from(root.open_at(&rel, OFlag::O_PATH | OFlag::O_NOFOLLOW).ok()?);
    // fstat of the descriptor itself: O_PATH|O_NOFOLLOW on a symlink gives the link,
    // whose target is read through the descriptor.
    let meta = fd.metadata().ok()?;
    let link_target = if meta.file_type().is_symlink() {
        nix::fcntl::readlinkat(Some(fd.as_raw_fd()), "")
            .ok()
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        String::new()
    };
    let mtime = chrono::DateTime::from_timestamp(meta.mtime(), meta.mtime_nsec() as u32)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
        .unwrap_or_default();
    Some(PathStat {
        name: rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "/".into()),
        size: meta.len() as i64,
        mode: go_mode(&meta),
        mtime,
        link_target,
    })
}

/// Adds `rel` (named `name` in the archive) and, for a directory, everything in it.
pub(crate) fn add_tree<W: Write>(
    tar: &mut tar::Builder<W>,
    root: &Root,
    rel: &Path,
    name: &Path,
) -> std::io::Result<()> {
    let fd = std::fs::File::from(
        root.open_at(rel, OFlag::O_PATH | OFlag::O_NOFOLLOW)
            .map_err(std::io::Error::from)?,
    );
    let meta = fd.metadata()?;
    let ft = meta.file_type();
    let mut header = tar::Header::new_gnu();
    header.set_metadata(&meta);
    if ft.is_symlink() {
        let target =
            nix::fcntl::readlinkat(Some(fd.as_raw_fd()), "").map_err(std::io::Error::from)?;
        header.set_size(0);
        return tar.append_link(&mut header, name, target);
    }
    if ft.is_file() {
        let file = root
            .open_at(rel, OFlag::O_RDONLY | OFlag::O_NOFOLLOW)
            .map_err(std::io::Error::from)?;
        let mut file = std::fs::File::from(file);
        // The size as read now: a file that grows meanwhile is cut at this length.
        return tar.append_data(&mut header, name, (&mut file).take(meta.len()));
    }
    if !ft.is_dir() {
        header.set_size(0);
        return tar.append_data(&mut header, name, std::io::empty());
    }
    header.set_size(0);
    tar.append_data(&mut header, name, std::io::empty())?;
    let dir = root
        .open_at(
            rel,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
        )
        .map_err(std::io::Error::from)?;
    let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(fd_path(&dir))?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for n in names {
        // Each entry is opened again from the root: never through this listing's path.
        let _ = add_tree(tar, root, &rel.join(&n), &name.join(&n));
    }
    Ok(())
}

fn extract(root: &Root, dest: &Path, input: impl Read, opts: PutOptions) -> Result<()> {
    let bad = |m: String| DaemonError::InvalidParameter(m);
    let mut archive = tar::Archive::new(input);
    for entry in archive
        .entries()
        .map_err(|e| bad(format!("invalid tar: {e}")))?
    {
        let mut entry = entry.map_err(|e| bad(format!("invalid tar: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| bad(format!("invalid tar entry name: {e}")))?
            .into_owned();
        let target = dest.join(clean(&path.to_string_lossy()));
        let header = entry.header().clone();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        // Owned by the container's root unless the client asked to keep the archive's
        // owners (`docker cp -a`), as dockerd does.
        let (uid, gid) = if opts.copy_uid_gid {
            (header.uid().unwrap_or(0), header.gid().unwrap_or(0))
        } else {
            (0, 0)
        };
        let existing = root
            .open_at(&target, OFlag::O_PATH | OFlag::O_NOFOLLOW)
            .ok()
            .and_then(|fd| std::fs::File::from(fd).metadata().ok());
        let kind = header.entry_type();
        if opts.no_overwrite_dir_non_dir {
            if let Some(m) = &existing {
                if m.is_dir() != kind.is_dir() {
                    return Err(bad(format!(
                        "cannot overwrite {} with {}",
                        if m.is_dir() {
                            "directory"
                        } else {
                            "non-directory"
                        },
                        target.display()
                    )));
                }
            }
        }
        if let Some(parent) = target.parent() {
            root.mkdir_all(parent)?;
        }
        match kind {
            tar::EntryType::Directory => {
                let fd = root.mkdir_all(&target)?;
                // The descriptor's /proc path is the directory itself, never a link.
                let _ = std::os::unix::fs::chown(
                    fd_path(&fd),
                    Some(uid.try_into().unwrap_or(0)),
                    Some(gid.try_into().unwrap_or(0)),
                );
                let _ = std::fs::set_permissions(
                    fd_path(&fd),
                    std::os::unix::fs::PermissionsExt::from_mode(mode),
                );
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut f = root.create_file(&target, mode)?;
                std::io::copy(&mut entry, &mut f)?;
                let _ = std::os::unix::fs::fchown(
                    &f,
                    Some(uid.try_into().unwrap_or(0)),
                    Some(gid.try_into().unwrap_or(0)),
                );
                f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
            }
            tar::EntryType::Symlink => {
                let link = header
                    .link_name()
                    .ok()
                    .flatten()
                    .ok_or_else(|| bad(format!("symlink {} has no target", path.display())))?;
                root.symlink(&link.to_string_lossy(), &target)?;
            }
            other => {
                return Err(bad(format!(
                    "{}: tar entries of type {other:?} cannot be copied into a container yet",
                    path.display()
                )))
            }
        }
    }
    Ok(())
}
