//! Reading a file out of a stack of layer dirs as the container will see it (the overlay's
//! merged view), without mounting it.
//!
//! An image's `/etc` may be a symlink to `/host/etc`: joining a layer dir and `etc/passwd`
//! would follow it onto the host. Here each component is looked up layer by layer, top
//! first, as overlayfs does (whiteouts hide, opaque dirs stop the merge, a non-dir hides
//! what is below); a symlink is resolved against the stack's own root, with `..` stopping
//! there; and every open inside a layer refuses symlinks and leaving the layer
//! (`openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`).

use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstat, Mode, SFlag};
use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Component, Path, PathBuf};

/// Symlinks followed before giving up, as the kernel's limit.
const MAX_LINKS: usize = 40;
/// Files read this way are small (passwd, group); a bigger one is not read whole.
const MAX_FILE: u64 = 16 << 20;

pub(crate) fn open_beneath(layer: &Path, rel: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
    let root = nix::fcntl::open(
        layer,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: `open` returned a new descriptor that we own.
    let root = unsafe { OwnedFd::from_raw_fd(root) };
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let how = OpenHow::new().flags(flags | OFlag::O_CLOEXEC).resolve(
        ResolveFlag::RESOLVE_BENEATH
            | ResolveFlag::RESOLVE_NO_SYMLINKS
            | ResolveFlag::RESOLVE_NO_MAGICLINKS,
    );
    let fd = openat2_retrying(root.as_raw_fd(), rel, how)?;
    // SAFETY: as above.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// openat2, tried again (up to 64 times) on EAGAIN: with RESOLVE_BENEATH the kernel gives
/// EAGAIN for a path with `..` when any rename or mount happened on the system during the
/// lookup (openat2(2)), which is often on a busy host.
pub(crate) fn openat2_retrying(dirfd: RawFd, rel: &Path, how: OpenHow) -> nix::Result<RawFd> {
    let mut tries = 1;
    loop {
        match openat2(dirfd, rel, how) {
            Err(nix::errno::Errno::EAGAIN) if tries < 64 => tries += 1,
            r => return r,
        }
    }
}

enum Entry {
    Dir { opaque: bool },
    Symlink(PathBuf),
    File(OwnedFd),
    Whiteout,
    Other,
}

/// What `rel` (free of symlinks in this layer up to its parent) is in one layer.
fn entry(layer: &Path, rel: &Path) -> Option<Entry> {
    let fd = open_beneath(layer, rel, OFlag::O_PATH | OFlag::O_NOFOLLOW).ok()?;
    let st = fstat(fd.as_raw_fd()).ok()?;
    let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    Some(match kind {
        SFlag::S_IFDIR => Entry::Dir {
            opaque: is_opaque(&fd),
        },
        SFlag::S_IFLNK => {
            let target = nix::fcntl::readlinkat(Some(fd.as_raw_fd()), "").ok()?;
            Entry::Symlink(PathBuf::from(target))
        }
        SFlag::S_IFCHR if st.st_rdev == 0 => Entry::Whiteout,
        SFlag::S_IFREG => Entry::File(fd),
        _ => Entry::Other,
    })
}

pub(crate) fn is_opaque(fd: &OwnedFd) -> bool {
    let path =
        std::ffi::CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap_or_default();
    let mut v = [0u8; 2];
    // SAFETY: valid C strings; the buffer is writable for its length.
    let n = unsafe {
        libc::getxattr(
            path.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            v.as_mut_ptr().cast(),
            v.len(),
        )
    };
    n == 1 && v[0] == b'y'
}

/// The normal components of `path`, with `..` applied and stopped at the root.
fn push_clean(out: &mut Vec<OsString>, path: &Path) {
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
}

/// Reads `path` from the merged view of `layers` (top first). None if it is missing,
/// whited out, not a regular file, or only reachable by leaving the stack.
pub fn read_file(layers: &[PathBuf], path: &str) -> Option<Vec<u8>> {
    let mut todo: Vec<OsString> = vec![];
    push_clean(&mut todo, Path::new(path));
    todo.reverse(); // a stack: the next component last
    let mut done: Vec<OsString> = vec![];
    // The layers whose dir at `done` takes part in the merge.
    let mut merged: Vec<&PathBuf> = layers.iter().collect();
    let mut links = 0;
    while let Some(name) = todo.pop() {
        let rel: PathBuf = done.iter().chain(std::iter::once(&name)).collect();
        let (top, found) = merged
            .iter()
            .enumerate()
            .find_map(|(i, layer)| entry(layer, &rel).map(|e| (i, e)))?;
        match found {
            Entry::Whiteout | Entry::Other => return None,
            Entry::Symlink(target) => {
                links += 1;
                if links > MAX_LINKS {
                    return None;
                }
                // Resolved against the stack's root: the target's components, then the
                // rest of the path, looked up again from the root.
                let mut next = if target.is_absolute() {
                    vec![]
                } else {
                    done.clone()
                };
                push_clean(&mut next, &target);
                todo.extend(next.into_iter().rev());
                done.clear();
                merged = layers.iter().collect();
            }
            Entry::Dir { opaque } => {
                // The top dir merges with the dirs of the same name below it, down to one
                // that is opaque, or to anything that is not a dir.
                let mut next = vec![merged[top]];
                if !opaque {
                    for layer in &merged[top + 1..] {
                        match entry(layer, &rel) {
                            Some(Entry::Dir { opaque }) => {
                                next.push(layer);
                                if opaque {
                                    break;
                                }
                            }
                            None => continue,
                            Some(_) => break,
                        }
                    }
                }
                merged = next;
                done.push(name);
            }
            Entry::File(fd) => {
                if !todo.is_empty() {
                    return None; // a file used as a directory
                }
                // Reopened for reading through its own descriptor, not its path.
                let f = std::fs::File::open(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
                let mut data = vec![];
                f.take(MAX_FILE).read_to_end(&mut data).ok()?;
                return Some(data);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn reads_the_merged_view_and_never_leaves_the_stack() {
        let host = tempfile::tempdir().unwrap();
        std::fs::write(host.path().join("passwd"), "host-secret\n").unwrap();
        let top = tempfile::tempdir().unwrap();
        let base = tempfile::tempdir().unwrap();
        let layers = vec![top.path().to_path_buf(), base.path().to_path_buf()];
        // /etc -> <host dir>: resolved inside the stack, where it does not exist.
        symlink(host.path(), base.path().join("etc")).unwrap();
        assert_eq!(read_file(&layers, "/etc/passwd"), None);
        // Once the stack holds that path, that file is what is read.
        let inside = base.path().join(host.path().strip_prefix("/").unwrap());
        std::fs::create_dir_all(&inside).unwrap();
        std::fs::write(inside.join("passwd"), "root:x:0:0::/:/bin/sh\n").unwrap();
        assert_eq!(
            read_file(&layers, "/etc/passwd").as_deref(),
            Some(&b"root:x:0:0::/:/bin/sh\n"[..])
        );
        // .. stops at the root; relative links resolve from their dir.
        std::fs::create_dir_all(top.path().join("a")).unwrap();
        symlink("../../../../../x", top.path().join("a/up")).unwrap();
        std::fs::write(base.path().join("x"), "x").unwrap();
        assert_eq!(read_file(&layers, "/a/up").as_deref(), Some(&b"x"[..]));
        // A whiteout in the top layer hides the file below.
        nix::sys::stat::mknod(&top.path().join("x"), SFlag::S_IFCHR, Mode::empty(), 0).unwrap();
        assert_eq!(read_file(&layers, "/a/up"), None);
        // A symlink loop ends.
        symlink("/loop", top.path().join("loop")).unwrap();
        assert_eq!(read_file(&layers, "/loop"), None);
    }
}
