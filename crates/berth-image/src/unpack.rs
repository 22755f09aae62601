//! Extracts a layer tar into its directory.
//!
//! Every path is resolved beneath the layer root with `openat2(RESOLVE_BENEATH)`, so no
//! entry, whiteout or symlink in the layer can reach outside it. Regular files (nearly all
//! of a layer's bytes) are written here in large writes through the descriptor of their
//! directory, which is kept while a tar lists that directory's files. Links, devices and
//! directories go through the tar crate, which checks their paths itself. Tar whiteouts
//! become overlayfs whiteouts, and directory times are set last, once nothing more is
//! written into them.

use crate::error::{ImageError, Result};
use nix::errno::Errno;
use nix::fcntl::{openat, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{mkdirat, mknodat, utimensat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{unlinkat, UnlinkatFlags};
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
/// Writes of up to this size; one layer holds one such buffer.
const WRITE_BUF: usize = 256 * 1024;

/// Extracts a tar stream into `dst`, turning `.wh.` entries into overlay whiteouts.
pub fn unpack(r: impl Read, dst: &Path) -> Result<()> {
    unpack_with(r, dst, UnpackOptions::default())
}

/// How a tar stream is unpacked.
pub struct UnpackOptions<'a> {
    /// A layer: `.wh.` entries are whiteouts. A build context: they are plain files.
    pub whiteouts: bool,
    /// Entries for which this says false are skipped (read past, never written).
    pub keep: Option<&'a mut dyn FnMut(&Path) -> bool>,
    /// Called with each entry's path once it is written.
    pub written: Option<&'a mut dyn FnMut(&Path)>,
}

impl Default for UnpackOptions<'_> {
    fn default() -> Self {
        Self {
            whiteouts: true,
            keep: None,
            written: None,
        }
    }
}

/// `unpack`, with the options.
pub fn unpack_with(r: impl Read, dst: &Path, mut opts: UnpackOptions) -> Result<()> {
    let mut ar = tar::Archive::new(r);
    ar.set_preserve_permissions(true);
    ar.set_preserve_ownerships(true);
    ar.set_preserve_mtime(true);
    ar.set_unpack_xattrs(true);
    ar.set_overwrite(true);
    let mut root = Beneath::open(dst).map_err(|e| ImageError::io("opening layer dir", e))?;
    let mut buf = vec![0u8; WRITE_BUF];
    let mut dir_times = Vec::new();
    let bad = |e: io::Error| ImageError::InvalidArchive(format!("invalid layer tar: {e}"));
    for entry in ar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let path = clean_relative(&entry.path().map_err(bad)?)?;
        let Some(name) = path.file_name().map(|n| n.to_os_string()) else {
            continue; // the root itself
        };
        let parent = path.parent().unwrap_or(Path::new(""));
        let fail = |e: io::Error| refused(&path, e);
        let kind = entry.header().entry_type();
        if let Some(keep) = opts.keep.as_mut() {
            if !keep(&path) {
                continue;
            }
        }
        if opts.whiteouts && name.as_bytes() == OPAQUE_WHITEOUT.as_bytes() {
            root.set_opaque(parent).map_err(fail)?;
        } else if let Some(hidden) = name
            .as_bytes()
            .strip_prefix(WHITEOUT_PREFIX.as_bytes())
            .filter(|_| opts.whiteouts)
        {
            root.whiteout(parent, OsStr::from_bytes(hidden))
                .map_err(fail)?;
        } else if kind == tar::EntryType::Regular || kind == tar::EntryType::Continuous {
            root.write_file(parent, &name, &mut entry, &mut buf)
                .map_err(fail)?;
        } else if matches!(
            kind,
            tar::EntryType::Fifo | tar::EntryType::Char | tar::EntryType::Block
        ) {
            // tar's own unpacking makes these empty regular files.
            root.special_file(parent, &name, &entry).map_err(fail)?;
        } else {
            if kind.is_dir() {
                if let Ok(mtime) = entry.header().mtime() {
                    dir_times.push((path.clone(), mtime));
                }
            }
            // The tar crate may replace what the cached descriptor points at.
            root.forget();
            entry.unpack_in(dst).map_err(|e| unpack_error(&path, e))?;
        }
        if let Some(written) = opts.written.as_mut() {
            root.forget();
            written(&path);
        }
    }
    // Creating files changed their directories' times: set the recorded ones now.
    root.forget();
    for (dir, mtime) in dir_times {
        root.set_time(&dir, mtime).map_err(|e| refused(&dir, e))?;
    }
    Ok(())
}

/// A path inside the layer: relative, no `..`, no root.
pub(crate) fn clean_relative(p: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(ImageError::InvalidArchive(format!(
                    "layer entry {} escapes the layer",
                    p.display()
                )))
            }
        }
    }
    Ok(out)
}

fn refused(path: &Path, e: io::Error) -> ImageError {
    if e.raw_os_error() == Some(libc::EXDEV) || e.raw_os_error() == Some(libc::ELOOP) {
        return ImageError::InvalidArchive(format!(
            "cannot unpack {}: its path leads out of the layer through a symlink",
            path.display()
        ));
    }
    ImageError::InvalidArchive(format!("cannot unpack {}: {e}", path.display()))
}

/// tar nests the cause (a refused path, a decompression bomb): show the whole chain.
fn unpack_error(path: &Path, e: io::Error) -> ImageError {
    let mut msg = format!("cannot unpack {}: {e}", path.display());
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        msg.push_str(&format!(": {c}"));
        cause = c.source();
    }
    ImageError::InvalidArchive(msg)
}

/// The layer root, and the directory beneath it used last (a tar lists a directory's
/// files together, so most lookups hit).
struct Beneath {
    root: OwnedFd,
    last: Option<(PathBuf, OwnedFd)>,
}

impl Beneath {
    fn open(dst: &Path) -> io::Result<Self> {
        let fd = nix::fcntl::open(
            dst,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self {
            root: owned(fd),
            last: None,
        })
    }

    fn forget(&mut self) {
        self.last = None;
    }

    /// The descriptor of directory `rel` beneath the root, created (0755) if missing.
    fn dir(&mut self, rel: &Path) -> io::Result<RawFd> {
        if let Some((p, fd)) = &self.last {
            if p == rel {
                return Ok(fd.as_raw_fd());
            }
        }
        let fd = match resolve(&self.root, rel, OFlag::O_PATH) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                self.create_dirs(rel)?;
                resolve(&self.root, rel, OFlag::O_PATH)?
            }
            r => r?,
        };
        let raw = fd.as_raw_fd();
        self.last = Some((rel.to_path_buf(), fd));
        Ok(raw)
    }

    fn create_dirs(&self, rel: &Path) -> io::Result<()> {
        let mut prefix = PathBuf::new();
        for c in rel.components() {
            let parent = resolve(&self.root, &prefix, OFlag::O_PATH)?;
            match mkdirat(
                Some(parent.as_raw_fd()),
                c.as_os_str(),
                Mode::from_bits_truncate(0o755),
            ) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e.into()),
            }
            prefix.push(c);
        }
        Ok(())
    }

    /// Creates `dir/name` afresh (replacing a file a lower entry put there) and copies the
    /// entry's data, owner, mode, extended attributes and time into it.
    fn write_file<R: Read>(
        &mut self,
        dir: &Path,
        name: &OsStr,
        entry: &mut tar::Entry<R>,
        buf: &mut [u8],
    ) -> io::Result<()> {
        let dirfd = self.dir(dir)?;
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let mode = Mode::from_bits_truncate(0o600);
        let fd = match openat(Some(dirfd), name, flags, mode) {
            Err(Errno::EEXIST) => {
                unlinkat(Some(dirfd), name, UnlinkatFlags::NoRemoveDir)?;
                openat(Some(dirfd), name, flags, mode)?
            }
            r => r?,
        };
        let mut file = File::from(owned(fd));
        let expected = entry.size();
        let mut written = 0u64;
        loop {
            let n = match entry.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            file.write_all(&buf[..n])?;
            written += n as u64;
        }
        if written != expected {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the tar ends inside this file ({written} of {expected} bytes)"),
            ));
        }
        let header = entry.header();
        let id = |v: u64| {
            u32::try_from(v).map_err(|_| io::Error::other(format!("owner id {v} is too large")))
        };
        let fd = file.as_raw_fd();
        // Owner before mode: chown clears the set-id bits.
        nix::unistd::fchown(
            fd,
            Some(id(header.uid()?)?.into()),
            Some(id(header.gid()?)?.into()),
        )?;
        nix::sys::stat::fchmod(fd, Mode::from_bits_truncate(header.mode()? & 0o7777))?;
        if let Some(exts) = entry.pax_extensions()? {
            for ext in exts {
                let ext = ext?;
                if let Some(key) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
                    set_xattr(fd, key, ext.value_bytes())?;
                }
            }
        }
        let mtime = TimeSpec::new(entry.header().mtime()? as libc::time_t, 0);
        nix::sys::stat::futimens(fd, &mtime, &mtime)?;
        Ok(())
    }

    /// A FIFO or device node `dir/name` with the entry's owner, mode and time.
    fn special_file<R: Read>(
        &mut self,
        dir: &Path,
        name: &OsStr,
        entry: &tar::Entry<R>,
    ) -> io::Result<()> {
        let header = entry.header();
        let (kind, dev) = match header.entry_type() {
            tar::EntryType::Fifo => (SFlag::S_IFIFO, 0),
            t => {
                let major = header.device_major()?.unwrap_or(0);
                let minor = header.device_minor()?.unwrap_or(0);
                let kind = if t == tar::EntryType::Char {
                    SFlag::S_IFCHR
                } else {
                    SFlag::S_IFBLK
                };
                (kind, nix::sys::stat::makedev(major.into(), minor.into()))
            }
        };
        let dirfd = self.dir(dir)?;
        let _ = unlinkat(Some(dirfd), name, UnlinkatFlags::NoRemoveDir);
        let mode = Mode::from_bits_truncate(header.mode()? & 0o7777);
        mknodat(Some(dirfd), name, kind, mode, dev)?;
        let id = |v: u64| {
            u32::try_from(v).map_err(|_| io::Error::other(format!("owner id {v} is too large")))
        };
        nix::unistd::fchownat(
            Some(dirfd),
            name,
            Some(id(header.uid()?)?.into()),
            Some(id(header.gid()?)?.into()),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )?;
        // mknod's mode went through the umask; chown cleared set-id bits: set it again.
        nix::sys::stat::fchmodat(
            Some(dirfd),
            name,
            mode,
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )?;
        let t = TimeSpec::new(header.mtime()? as libc::time_t, 0);
        utimensat(Some(dirfd), name, &t, &t, UtimensatFlags::NoFollowSymlink)?;
        Ok(())
    }

    /// `dir/.wh.name`: `name` from lower layers is hidden by a 0:0 character device.
    fn whiteout(&mut self, dir: &Path, name: &OsStr) -> io::Result<()> {
        let dirfd = self.dir(dir)?;
        let _ = unlinkat(Some(dirfd), name, UnlinkatFlags::NoRemoveDir);
        mknodat(Some(dirfd), name, SFlag::S_IFCHR, Mode::empty(), 0)?;
        Ok(())
    }

    /// `dir/.wh..wh..opq`: nothing of `dir` from lower layers shows through.
    fn set_opaque(&mut self, dir: &Path) -> io::Result<()> {
        self.dir(dir)?; // creates it if missing
        let fd = resolve(&self.root, dir, OFlag::O_RDONLY)?;
        set_xattr(fd.as_raw_fd(), b"trusted.overlay.opaque", b"y")
    }

    fn set_time(&mut self, path: &Path, mtime: u64) -> io::Result<()> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Ok(());
        };
        let dirfd = self.dir(parent)?;
        let t = TimeSpec::new(mtime as libc::time_t, 0);
        match utimensat(Some(dirfd), name, &t, &t, UtimensatFlags::NoFollowSymlink) {
            // A later entry may have replaced or whited out the directory.
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Opens `rel` beneath `root`; a symlink or `..` leading out fails with EXDEV.
fn resolve(root: &OwnedFd, rel: &Path, access: OFlag) -> io::Result<OwnedFd> {
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let how = OpenHow::new()
        .flags(access | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    Ok(owned(crate::stack::openat2_retrying(
        root.as_raw_fd(),
        rel,
        how,
    )?))
}

fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful open and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn set_xattr(fd: RawFd, key: &[u8], value: &[u8]) -> io::Result<()> {
    let key =
        CString::new(key).map_err(|_| io::Error::other("extended attribute name with NUL"))?;
    // SAFETY: `key` is NUL-terminated, `value` is valid for `value.len()` bytes.
    let rc = unsafe { libc::fsetxattr(fd, key.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod special_file_tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    #[test]
    fn fifos_and_devices_are_made_as_such() {
        let mut b = tar::Builder::new(Vec::new());
        for (path, kind, mode, dev) in [
            ("fifo", tar::EntryType::Fifo, 0o640, (0, 0)),
            ("null", tar::EntryType::Char, 0o666, (1, 3)),
            ("loop", tar::EntryType::Block, 0o660, (7, 0)),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(mode);
            h.set_uid(12);
            h.set_gid(34);
            h.set_mtime(1_000_000);
            h.set_size(0);
            h.set_device_major(dev.0).unwrap();
            h.set_device_minor(dev.1).unwrap();
            b.append_data(&mut h, path, std::io::empty()).unwrap();
        }
        let data = b.into_inner().unwrap();
        let t = tempfile::tempdir().unwrap();
        unpack(&data[..], t.path()).unwrap();
        let m = |p: &str| std::fs::symlink_metadata(t.path().join(p)).unwrap();
        assert!(m("fifo").file_type().is_fifo());
        assert_eq!(m("fifo").mode() & 0o7777, 0o640);
        assert!(m("null").file_type().is_char_device());
        assert_eq!(m("null").rdev(), nix::sys::stat::makedev(1, 3));
        assert!(m("loop").file_type().is_block_device());
        assert_eq!(
            (m("null").uid(), m("null").gid(), m("null").mtime()),
            (12, 34, 1_000_000)
        );
    }
}
