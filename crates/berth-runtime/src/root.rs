//! Paths inside a container's root, resolved by the kernel beneath that root.
//!
//! An image may hold symlinks meant to lead out (`/dev -> /etc/cron.d`, `/etc -> /host`).
//! Joining `rootfs` and a path and handing the result to `mount`, `mknod` or `open` follows
//! them onto the host. Here every lookup is `openat2(RESOLVE_IN_ROOT)` on a descriptor of
//! the root, so absolute symlinks and `..` stay inside it, and every change is made
//! relative to a descriptor (`mkdirat`, `mknodat`, `symlinkat`, a mount on
//! `/proc/self/fd/N`), never through a joined path.

use crate::error::{Result, RuntimeError};
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

/// A directory that paths are resolved beneath.
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

/// What `ensure` makes when the path does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// Only the path's own components, without `/`, `.` and with `..` left to the kernel.
fn relative(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| matches!(c, Component::Normal(_) | Component::ParentDir))
        .collect()
}

fn owned(fd: std::os::fd::RawFd) -> OwnedFd {
    // SAFETY: called only with a descriptor a syscall just returned to us.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

impl Root {
    pub fn open(path: &Path) -> Result<Self> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| RuntimeError::sys(format!("opening {}", path.display()), e))?;
        Ok(Self {
            fd: owned(fd),
            path: path.to_path_buf(),
        })
    }

    /// A root from a descriptor already open on it; `path` is only for messages.
    pub fn from_fd(fd: OwnedFd, path: PathBuf) -> Self {
        Self { fd, path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `rel` opened beneath the root with `flags` (`O_CLOEXEC` is always added).
    pub fn open_at(&self, rel: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
        self.open_with(rel, flags, Mode::empty(), ResolveFlag::empty())
    }

    fn open_with(
        &self,
        rel: &Path,
        flags: OFlag,
        mode: Mode,
        extra: ResolveFlag,
    ) -> nix::Result<OwnedFd> {
        let rel = relative(rel);
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel.as_path()
        };
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .mode(mode)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS | extra);
        openat2_retrying(self.fd.as_raw_fd(), rel, how).map(owned)
    }

    /// `rel` created (or truncated) for writing with `mode`; a symlink in its place is an
    /// error rather than followed.
    pub fn create_file(&self, rel: &Path, mode: u32) -> Result<std::fs::File> {
        self.open_with(
            rel,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_NOFOLLOW,
            Mode::from_bits_truncate(mode),
            ResolveFlag::empty(),
        )
        .map(std::fs::File::from)
        .map_err(|e| self.err(rel, e))
    }

    /// An `O_PATH` descriptor of `rel`; with `no_symlink`, a symlink anywhere on the way is
    /// an error (for /proc and /sys, which must be the real thing).
    pub fn lookup(&self, rel: &Path, no_symlink: bool) -> Result<OwnedFd> {
        let extra = if no_symlink {
            ResolveFlag::RESOLVE_NO_SYMLINKS
        } else {
            ResolveFlag::empty()
        };
        self.open_with(rel, OFlag::O_PATH, Mode::empty(), extra)
            .map_err(|e| self.err(rel, e))
    }

    fn err(&self, rel: &Path, e: nix::errno::Errno) -> RuntimeError {
        let what = match e {
            nix::errno::Errno::ELOOP => "is a symlink where none may be".to_string(),
            nix::errno::Errno::EXDEV => "leads out of the container's root".to_string(),
            e => e.desc().to_string(),
        };
        RuntimeError::sys(
            format!(
                "{} in the container's root",
                Path::new("/").join(rel).display()
            ),
            std::io::Error::other(what),
        )
    }

    /// Makes every missing directory of `rel` (mode 0755) and returns an `O_PATH`
    /// descriptor of the last one. A dangling symlink on the way is followed inside the
    /// root, and its target made.
    pub fn mkdir_all(&self, rel: &Path) -> Result<OwnedFd> {
        self.mkdir_all_bounded(rel, 40)
    }

    fn mkdir_all_bounded(&self, rel: &Path, links_left: u32) -> Result<OwnedFd> {
        let rel = relative(rel);
        let mut done = PathBuf::new();
        let mut dir = self.lookup(Path::new("."), false)?;
        let mut rest = rel.components();
        while let Some(c) = rest.next() {
            let parent = done.clone();
            done.push(c);
            match self.open_with(
                &done,
                OFlag::O_PATH | OFlag::O_DIRECTORY,
                Mode::empty(),
                ResolveFlag::empty(),
            ) {
                Ok(fd) => dir = fd,
                Err(nix::errno::Errno::ENOENT) => {
                    let name = c.as_os_str();
                    match nix::sys::stat::mkdirat(
                        Some(dir.as_raw_fd()),
                        name,
                        Mode::from_bits_truncate(0o755),
                    ) {
                        Ok(()) => {}
                        Err(nix::errno::Errno::EEXIST) => {
                            // A dangling symlink: make its target, beneath the root.
                            let target = nix::fcntl::readlinkat(Some(dir.as_raw_fd()), name)
                                .map_err(|e| self.err(&done, e))?;
                            if links_left == 0 {
                                return Err(self.err(&done, nix::errno::Errno::ELOOP));
                            }
                            let mut next = parent.join(target);
                            next.extend(rest);
                            return self.mkdir_all_bounded(&next, links_left - 1);
                        }
                        Err(e) => return Err(self.err(&done, e)),
                    }
                    dir = self.lookup(&done, false)?;
                }
                Err(e) => return Err(self.err(&done, e)),
            }
        }
        Ok(dir)
    }

    /// The parent's descriptor and the last component's name (made if `create`).
    fn parent_of<'a>(&self, rel: &'a Path) -> Result<(OwnedFd, &'a std::ffi::OsStr)> {
        let name = rel
            .file_name()
            .ok_or_else(|| RuntimeError::InvalidSpec(format!("no file name in {rel:?}")))?;
        let parent = rel.parent().unwrap_or(Path::new(""));
        Ok((self.mkdir_all(parent)?, name))
    }

    /// An `O_PATH` descriptor of `rel`, made (with its parents) as `kind` if missing.
    pub fn ensure(&self, rel: &Path, kind: Kind) -> Result<OwnedFd> {
        match self.open_with(rel, OFlag::O_PATH, Mode::empty(), ResolveFlag::empty()) {
            Ok(fd) => return Ok(fd),
            Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => return Err(self.err(rel, e)),
        }
        match kind {
            Kind::Dir => self.mkdir_all(rel),
            Kind::File => {
                let (parent, name) = self.parent_of(rel)?;
                let fd = nix::fcntl::openat(
                    Some(parent.as_raw_fd()),
                    name,
                    OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o644),
                );
                match fd {
                    Ok(fd) => drop(owned(fd)),
                    Err(nix::errno::Errno::EEXIST) => {}
                    Err(e) => return Err(self.err(rel, e)),
                }
                self.lookup(rel, false)
            }
        }
    }

    /// A device node at `rel` (replacing what is there), owned by `uid:gid`.
    pub fn mknod(
        &self,
        rel: &Path,
        kind: nix::sys::stat::SFlag,
        mode: u32,
        dev: u64,
        owner: (u32, u32),
    ) -> Result<()> {
        let rel = relative(rel);
        let (parent, name) = self.parent_of(&rel)?;
        let dirfd = Some(parent.as_raw_fd());
        let _ = nix::unistd::unlinkat(dirfd, name, nix::unistd::UnlinkatFlags::NoRemoveDir);
        nix::sys::stat::mknodat(dirfd, name, kind, Mode::from_bits_truncate(mode), dev)
            .map_err(|e| self.err(&rel, e))?;
        // Through the new node itself, never its path: chmod past the umask, then chown.
        let node = nix::fcntl::openat(
            dirfd,
            name,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map(owned)
        .map_err(|e| self.err(&rel, e))?;
        let magic = fd_path(&node);
        std::fs::set_permissions(&magic, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .map_err(|e| RuntimeError::sys("chmod device", e))?;
        nix::unistd::fchownat(
            Some(node.as_raw_fd()),
            "",
            Some(owner.0.into()),
            Some(owner.1.into()),
            nix::fcntl::AtFlags::AT_EMPTY_PATH,
        )
        .map_err(|e| RuntimeError::sys("chown device", e))?;
        Ok(())
    }

    /// A symlink `rel -> target`; an existing entry is left alone.
    pub fn symlink(&self, target: &str, rel: &Path) -> Result<()> {
        let rel = relative(rel);
        let (parent, name) = self.parent_of(&rel)?;
        match nix::unistd::symlinkat(target, Some(parent.as_raw_fd()), name) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => Ok(()),
            Err(e) => Err(self.err(&rel, e)),
        }
    }
}

impl AsRawFd for Root {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

/// `/proc/self/fd/N`: where a mount onto an already resolved descriptor goes.
pub fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// How often a lookup is tried again when the kernel could not prove that a `..` stayed
/// beneath the root.
const OPENAT2_TRIES: usize = 64;

/// openat2, tried again on EAGAIN: with RESOLVE_IN_ROOT or RESOLVE_BENEATH the kernel
/// gives EAGAIN for a path with `..` when any rename or mount happened on the system
/// during the lookup (openat2(2)), which is often on a busy host.
fn openat2_retrying(
    dirfd: std::os::fd::RawFd,
    rel: &Path,
    how: OpenHow,
) -> nix::Result<std::os::fd::RawFd> {
    let mut tries = 1;
    loop {
        match openat2(dirfd, rel, how) {
            Err(nix::errno::Errno::EAGAIN) if tries < OPENAT2_TRIES => tries += 1,
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        symlink(outside.path(), root.join("dev")).unwrap();
        symlink("../../../..", root.join("up")).unwrap();
        let r = Root::open(root).unwrap();
        // /dev -> /tmp/xyz is taken as <root>/tmp/xyz.
        r.symlink("/proc/self/fd", Path::new("/dev/fd")).unwrap();
        r.ensure(Path::new("/up/etc/hosts"), Kind::File).unwrap();
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
        let inside = root.join(outside.path().strip_prefix("/").unwrap());
        assert!(inside.join("fd").symlink_metadata().is_ok());
        assert!(root.join("etc/hosts").is_file());
        // /proc and /sys must not be symlinks at all.
        assert!(r.lookup(Path::new("/dev"), true).is_err());
    }

    #[test]
    fn climbing_lookups_hold_while_the_host_renames() {
        // Any rename on the system during a lookup through `..` makes openat2 give EAGAIN;
        // a lookup must try again rather than fail (as an image's climbing symlink once did).
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("root/a/b")).unwrap();
        symlink("../../../../..", dir.path().join("root/a/b/up")).unwrap();
        let root = Root::open(&dir.path().join("root")).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let renamer = {
            let stop = stop.clone();
            let (x, y) = (dir.path().join("x"), dir.path().join("y"));
            std::fs::write(&x, b"").unwrap();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = std::fs::rename(&x, &y);
                    let _ = std::fs::rename(&y, &x);
                }
            })
        };
        let failed = (0..20_000)
            .filter(|_| {
                root.lookup(Path::new("a/b/up/a/../a/b/up/a"), false)
                    .is_err()
            })
            .count();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = renamer.join();
        assert_eq!(failed, 0, "lookups that failed of 20000");
    }
}
