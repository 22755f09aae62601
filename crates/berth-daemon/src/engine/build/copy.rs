//! COPY and ADD: the files a step adds, laid out in a fresh layer directory, and a hash
//! of everything that decides that layer's content (the step's cache key).
//!
//! Sources are read beneath their root (the build context, or another stage's or
//! image's filesystem) with `RESOLVE_IN_ROOT`: a symlink in the context cannot reach the
//! daemon's host. Directories the destination needs that the image already has are made
//! with the image's owner, mode and time, so the new layer does not change them.

use crate::error::{DaemonError, Result};
use berth_runtime::root::{fd_path, Root};
use nix::fcntl::OFlag;
use sha2::{Digest as _, Sha256};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

pub struct CopyJob<'a> {
    /// `COPY` or `ADD`, for messages.
    pub keyword: &'a str,
    pub src_root: &'a Root,
    pub sources: &'a [String],
    /// Inline files (heredocs): name and content.
    pub inline: &'a [(String, String)],
    /// Absolute, already joined with the WORKDIR.
    pub dest: String,
    /// The destination was written with a trailing `/`.
    pub dest_is_dir: bool,
    pub owner: Option<(u32, u32)>,
    pub chmod: Option<u32>,
    /// ADD: local tar archives are unpacked at the destination.
    pub extract_archives: bool,
    /// Sources downloaded for ADD <URL>: copied as they are, never unpacked.
    pub downloaded: &'a [PathBuf],
    /// The image built so far, top layer first.
    pub image_layers: &'a [PathBuf],
}

fn failed(keyword: &str, msg: impl std::fmt::Display) -> DaemonError {
    DaemonError::InvalidParameter(format!("{keyword} failed: {msg}"))
}

/// A source as written, made relative to its root; `..` may not leave it.
fn clean_source(keyword: &str, s: &str) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(s).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir if !out.pop() => {
                return Err(failed(
                    keyword,
                    format!("forbidden path outside the build context: {s}"),
                ));
            }
            Component::ParentDir => {}
            _ => {}
        }
    }
    Ok(out)
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

fn list_dir(root: &Root, rel: &Path) -> Vec<std::ffi::OsString> {
    let Ok(fd) = root.open_at(rel, OFlag::O_RDONLY | OFlag::O_DIRECTORY) else {
        return vec![];
    };
    let mut names: Vec<_> = std::fs::read_dir(fd_path(&fd))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// The paths a source names: itself, or what its glob matches, sorted.
fn expand_source(root: &Root, pattern: &Path) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::new()];
    for c in pattern.components() {
        let part = c.as_os_str().to_string_lossy();
        let mut next = vec![];
        for base in &found {
            if has_glob(&part) {
                for n in list_dir(root, base) {
                    if berth_build::glob::matches(part.as_bytes(), n.to_string_lossy().as_bytes()) {
                        next.push(base.join(n));
                    }
                }
            } else {
                next.push(base.join(c.as_os_str()));
            }
        }
        found = next;
    }
    found
}

/// Parents of `path` inside `layer`, made as the image has them (or 0755 root).
pub(super) fn make_parents(layer: &Path, path: &Path, image_layers: &[PathBuf]) -> Result<()> {
    // Beneath the layer: a symlink an earlier source put there resolves inside it.
    let root = Root::open(layer).map_err(DaemonError::from)?;
    let mut at = PathBuf::new();
    for c in path.components() {
        let Component::Normal(n) = c else { continue };
        at.push(n);
        if root.lookup(&at, false).is_ok() {
            continue;
        }
        // The descriptor stays open while its /proc/self/fd path is used.
        let fd = root.mkdir_all(&at).map_err(DaemonError::from)?;
        let dir = fd_path(&fd);
        match berth_image::changes::lookup(image_layers, &at) {
            Some(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {
                std::os::unix::fs::chown(&dir, Some(st.st_uid), Some(st.st_gid))?;
                std::fs::set_permissions(
                    &dir,
                    std::fs::Permissions::from_mode(st.st_mode & 0o7777),
                )?;
                let t = nix::sys::time::TimeSpec::new(st.st_mtime, st.st_mtime_nsec);
                nix::sys::stat::utimensat(
                    None,
                    &dir,
                    &t,
                    &t,
                    nix::sys::stat::UtimensatFlags::FollowSymlink,
                )
                .map_err(|e| DaemonError::System(e.to_string()))?;
            }
            _ => std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?,
        }
    }
    Ok(())
}

/// `rel`'s parent made beneath `root`, and what was at `rel` (not a directory) removed:
/// the parent's descriptor and the entry's name.
fn clear_beneath(root: &Root, rel: &Path) -> Result<(std::os::fd::OwnedFd, std::ffi::OsString)> {
    let name = rel
        .file_name()
        .ok_or_else(|| DaemonError::InvalidParameter(format!("no file name in {}", rel.display())))?
        .to_os_string();
    let parent = root
        .mkdir_all(rel.parent().unwrap_or(Path::new("")))
        .map_err(DaemonError::from)?;
    let _ = nix::unistd::unlinkat(
        Some(std::os::fd::AsRawFd::as_raw_fd(&parent)),
        name.as_os_str(),
        nix::unistd::UnlinkatFlags::NoRemoveDir,
    );
    Ok((parent, name))
}

struct Writer<'a> {
    job: &'a CopyJob<'a>,
    /// The layer being made: every write is resolved beneath it.
    layer: Root,
    hash: Sha256,
}

impl Writer<'_> {
    fn owner(&self, meta_uid: u32, meta_gid: u32) -> (u32, u32) {
        // COPY makes files root's unless --chown says otherwise; the context's owners
        // are the client's, not the image's.
        let _ = (meta_uid, meta_gid);
        self.job.owner.unwrap_or((0, 0))
    }

    fn mode(&self, meta_mode: u32) -> u32 {
        self.job.chmod.unwrap_or(meta_mode & 0o7777)
    }

    fn record(&mut self, dst: &Path, kind: &str, mode: u32, owner: (u32, u32)) {
        self.hash.update(format!(
            "{kind} {} {mode:o} {}:{}\n",
            dst.display(),
            owner.0,
            owner.1
        ));
    }

    /// `src` (beneath the source root) to `dst` (inside the image, absolute).
    fn copy(&mut self, src: &Path, dst: &Path) -> Result<()> {
        let root = self.job.src_root;
        let fd = root
            .open_at(src, OFlag::O_PATH | OFlag::O_NOFOLLOW)
            .map_err(|e| failed(self.job.keyword, format!("{}: {e}", src.display())))?;
        let meta = std::fs::File::from(fd).metadata()?;
        let rel = dst.strip_prefix("/").unwrap_or(dst).to_path_buf();
        let ft = meta.file_type();
        let owner = self.owner(meta.uid(), meta.gid());
        if ft.is_dir() {
            let mode = self.mode(meta.mode());
            self.record(dst, "dir", mode, owner);
            let fd = self.layer.mkdir_all(&rel).map_err(DaemonError::from)?;
            let dir = fd_path(&fd);
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))?;
            std::os::unix::fs::chown(&dir, Some(owner.0), Some(owner.1))?;
            for n in list_dir(root, src) {
                self.copy(&src.join(&n), &dst.join(&n))?;
            }
            return Ok(());
        }
        let (parent, name) = clear_beneath(&self.layer, &rel)?;
        if ft.is_symlink() {
            let link = root
                .open_at(src, OFlag::O_PATH | OFlag::O_NOFOLLOW)
                .map_err(|e| failed(self.job.keyword, e))?;
            let to = nix::fcntl::readlinkat(Some(std::os::fd::AsRawFd::as_raw_fd(&link)), "")
                .map_err(|e| failed(self.job.keyword, e))?;
            self.hash.update(format!(
                "link {} -> {}\n",
                dst.display(),
                to.to_string_lossy()
            ));
            let dirfd = std::os::fd::AsRawFd::as_raw_fd(&parent);
            nix::unistd::symlinkat(to.as_os_str(), Some(dirfd), name.as_os_str())
                .map_err(|e| failed(self.job.keyword, e))?;
            nix::unistd::fchownat(
                Some(dirfd),
                name.as_os_str(),
                Some(owner.0.into()),
                Some(owner.1.into()),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|e| failed(self.job.keyword, e))?;
            return Ok(());
        }
        if !ft.is_file() {
            return Err(failed(
                self.job.keyword,
                format!(
                    "{} is not a regular file, directory or symlink",
                    src.display()
                ),
            ));
        }
        let mode = self.mode(meta.mode());
        self.record(dst, "file", mode, owner);
        let mut input = std::fs::File::from(
            root.open_at(src, OFlag::O_RDONLY | OFlag::O_NOFOLLOW)
                .map_err(|e| failed(self.job.keyword, e))?,
        );
        let mut out = self
            .layer
            .create_file(&rel, 0o600)
            .map_err(DaemonError::from)?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = input.read(&mut buf)?;
            if n == 0 {
                break;
            }
            self.hash.update(&buf[..n]);
            out.write_all(&buf[..n])?;
        }
        std::os::unix::fs::fchown(&out, Some(owner.0), Some(owner.1))?;
        out.set_permissions(std::fs::Permissions::from_mode(mode))?;
        let t = nix::sys::time::TimeSpec::new(meta.mtime(), meta.mtime_nsec());
        nix::sys::stat::futimens(std::os::fd::AsRawFd::as_raw_fd(&out), &t, &t)
            .map_err(|e| DaemonError::System(e.to_string()))?;
        Ok(())
    }

    /// ADD of a local archive: its entries unpacked at `dst`.
    fn extract(&mut self, src: &Path, dst: &Path) -> Result<bool> {
        let root = self.job.src_root;
        let mut f = std::fs::File::from(
            root.open_at(src, OFlag::O_RDONLY | OFlag::O_NOFOLLOW)
                .map_err(|e| failed(self.job.keyword, e))?,
        );
        let mut head = [0u8; 262];
        let n = f.read(&mut head)?;
        let compressed =
            n >= 4 && (head[..2] == [0x1f, 0x8b] || head[..4] == [0x28, 0xb5, 0x2f, 0xfd]);
        let plain_tar = n >= 262 && &head[257..262] == b"ustar";
        if !compressed && !plain_tar {
            return Ok(false);
        }
        let mut data = vec![];
        std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(0))?;
        f.read_to_end(&mut data)?;
        self.hash.update(format!("archive {} ", dst.display()));
        self.hash.update(&data);
        let dir = self
            .layer
            .mkdir_all(dst.strip_prefix("/").unwrap_or(dst))
            .map_err(DaemonError::from)?;
        // The directory's own descriptor: unpack stays beneath it.
        let target = fd_path(&dir);
        let reader = berth_image::layer::decompress(&data[..])
            .map_err(|e| failed(self.job.keyword, format!("{}: {e}", src.display())))?;
        berth_image::unpack::unpack(reader, &target)
            .map_err(|e| failed(self.job.keyword, format!("{}: {e}", src.display())))?;
        Ok(true)
    }
}

/// Lays out the step's files in `layer`; the hash of what was copied.
pub fn prepare(job: &CopyJob, layer: &Path) -> Result<String> {
    let mut w = Writer {
        job,
        layer: Root::open(layer).map_err(DaemonError::from)?,
        hash: Sha256::new(),
    };
    let mut matched: Vec<PathBuf> = vec![];
    for s in job.sources {
        if s.starts_with("http://") || s.starts_with("https://") || s.starts_with("git@") {
            return Err(failed(
                job.keyword,
                format!("{s}: only ADD takes a URL, and berth's builder no git repository"),
            ));
        }
        let clean = clean_source(job.keyword, s)?;
        let found: Vec<PathBuf> = expand_source(job.src_root, &clean)
            .into_iter()
            .filter(|p| {
                job.src_root
                    .open_at(p, OFlag::O_PATH | OFlag::O_NOFOLLOW)
                    .is_ok()
            })
            .collect();
        if found.is_empty() {
            return Err(failed(
                job.keyword,
                format!(
                    "file not found in build context or excluded by .dockerignore: stat {s}: file does not exist"
                ),
            ));
        }
        matched.extend(found);
    }
    let dest = PathBuf::from(&job.dest);
    let dest_exists_as_dir =
        berth_image::changes::lookup(job.image_layers, dest.strip_prefix("/").unwrap_or(&dest))
            .is_some_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR);
    let into_dir = job.dest_is_dir || matched.len() + job.inline.len() > 1 || dest_exists_as_dir;
    let parent_of_dest = if into_dir {
        dest.clone()
    } else {
        dest.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    make_parents(
        layer,
        parent_of_dest.strip_prefix("/").unwrap_or(&parent_of_dest),
        job.image_layers,
    )?;
    w.hash.update(format!("dest {} {}\n", job.dest, into_dir));
    for src in &matched {
        let meta = std::fs::File::from(
            job.src_root
                .open_at(src, OFlag::O_PATH)
                .map_err(|e| failed(job.keyword, e))?,
        )
        .metadata()?;
        if meta.is_dir() {
            // A directory's contents, not the directory itself.
            make_parents(
                layer,
                dest.strip_prefix("/").unwrap_or(&dest),
                job.image_layers,
            )?;
            for n in list_dir(job.src_root, src) {
                w.copy(&src.join(&n), &dest.join(&n))?;
            }
            continue;
        }
        if job.extract_archives
            && meta.is_file()
            && !job.downloaded.contains(src)
            && w.extract(src, &dest)?
        {
            continue;
        }
        let name = src.file_name().map(PathBuf::from).unwrap_or_default();
        let to = if into_dir {
            dest.join(name)
        } else {
            dest.clone()
        };
        w.copy(src, &to)?;
    }
    for (name, content) in job.inline {
        let to = if into_dir {
            dest.join(name)
        } else {
            dest.clone()
        };
        let owner = job.owner.unwrap_or((0, 0));
        let mode = job.chmod.unwrap_or(0o644);
        let rel = to.strip_prefix("/").unwrap_or(&to).to_path_buf();
        clear_beneath(&w.layer, &rel)?;
        let mut file = w.layer.create_file(&rel, mode).map_err(DaemonError::from)?;
        std::io::Write::write_all(&mut file, content.as_bytes())?;
        std::os::unix::fs::fchown(&file, Some(owner.0), Some(owner.1))?;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        w.record(&to, "inline", mode, owner);
        w.hash.update(content.as_bytes());
    }
    Ok(hex::encode(w.hash.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_stay_in_the_context() {
        assert!(clean_source("COPY", "../etc/passwd").is_err());
        assert_eq!(clean_source("COPY", "/a/../b").unwrap(), PathBuf::from("b"));
    }
}
