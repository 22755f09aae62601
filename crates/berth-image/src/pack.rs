//! A directory of overlay changes (a container's writable layer) packed as a layer tar,
//! the way Docker writes one: overlay whiteouts become `.wh.<name>` entries and opaque
//! directories a `.wh..wh..opq` entry; entries are sorted; hardlinks inside the layer,
//! symlinks, FIFOs, devices, owners, modes, times and extended attributes (file
//! capabilities among them) are kept; overlay's own `trusted.overlay.*` attributes are
//! not.
//!
//! The directory is the container's: every open is made beneath it without following a
//! symlink (`stack::open_beneath`).

use crate::stack::{is_opaque, open_beneath};
use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, FileStat, SFlag};
use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

fn kind_of(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

/// Packs `dir` into `out` as a layer tar; the tar is finished but `out` not flushed.
pub fn pack_dir<W: Write>(dir: &Path, out: W) -> io::Result<W> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    walk(&mut tar, dir, Path::new(""), &mut links)?;
    tar.into_inner()
}

fn walk<W: Write>(
    tar: &mut tar::Builder<W>,
    dir: &Path,
    rel: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> io::Result<()> {
    let fd = open_beneath(
        dir,
        rel,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
    )?;
    let mut names: Vec<OsString> = std::fs::read_dir(format!("/proc/self/fd/{}", fd.as_raw_fd()))?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for name in names {
        let child = rel.join(&name);
        let Ok(fd) = open_beneath(dir, &child, OFlag::O_PATH | OFlag::O_NOFOLLOW) else {
            continue; // gone meanwhile
        };
        let st = fstat(fd.as_raw_fd())?;
        if kind_of(&st) == SFlag::S_IFCHR && st.st_rdev == 0 {
            // An overlay whiteout: Docker's `.wh.<name>`.
            let mut wh = OsString::from(WHITEOUT_PREFIX);
            wh.push(&name);
            append_marker(tar, &rel.join(wh), &st)?;
            continue;
        }
        append(tar, dir, &child, &fd, &st, links)?;
        if kind_of(&st) == SFlag::S_IFDIR {
            if is_opaque(&fd) {
                append_marker(tar, &child.join(OPAQUE), &st)?;
            }
            walk(tar, dir, &child, links)?;
        }
    }
    Ok(())
}

/// The header every entry starts from: owner, permission bits and time of `st`.
fn header(st: &FileStat, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

/// An empty regular entry (a whiteout or the opaque marker), owned as its directory.
fn append_marker<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &Path,
    st: &FileStat,
) -> io::Result<()> {
    let mut h = header(st, tar::EntryType::Regular);
    h.set_mode(0o644);
    tar.append_data(&mut h, path, io::empty())
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    dir: &Path,
    rel: &Path,
    fd: &OwnedFd,
    st: &FileStat,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> io::Result<()> {
    // A symlink's own attributes are not read: through /proc/self/fd the lookup could
    // go on to its target.
    let xattrs = if kind_of(st) == SFlag::S_IFLNK {
        vec![]
    } else {
        xattrs(fd)?
    };
    if !xattrs.is_empty() {
        let pax: Vec<(String, Vec<u8>)> = xattrs
            .into_iter()
            .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v))
            .collect();
        tar.append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
    }
    let kind = kind_of(st);
    // A second name of a file already in this layer is a hardlink to the first.
    if kind != SFlag::S_IFDIR && st.st_nlink > 1 {
        let key = (st.st_dev, st.st_ino);
        if let Some(first) = links.get(&key) {
            let mut h = header(st, tar::EntryType::Link);
            return tar.append_link(&mut h, rel, first);
        }
        links.insert(key, rel.to_path_buf());
    }
    match kind {
        SFlag::S_IFDIR => {
            let mut h = header(st, tar::EntryType::Directory);
            tar.append_data(&mut h, rel, io::empty())
        }
        SFlag::S_IFREG => {
            let mut h = header(st, tar::EntryType::Regular);
            h.set_size(st.st_size as u64);
            let file =
                std::fs::File::from(open_beneath(dir, rel, OFlag::O_RDONLY | OFlag::O_NOFOLLOW)?);
            // The size as stat'ed: a file that grows meanwhile is cut there.
            tar.append_data(&mut h, rel, file.take(st.st_size as u64))
        }
        SFlag::S_IFLNK => {
            let target = nix::fcntl::readlinkat(Some(fd.as_raw_fd()), "")?;
            let mut h = header(st, tar::EntryType::Symlink);
            // The target byte for byte (tar's path handling would tidy `/` into `//`
            // and drop `./`); a long one goes through the GNU extension.
            if target.as_bytes().len() <= 100 {
                h.set_link_name_literal(target.as_bytes())?;
                tar.append_data(&mut h, rel, io::empty())
            } else {
                tar.append_link(&mut h, rel, target)
            }
        }
        SFlag::S_IFCHR | SFlag::S_IFBLK => {
            let kind = if kind == SFlag::S_IFCHR {
                tar::EntryType::Char
            } else {
                tar::EntryType::Block
            };
            let mut h = header(st, kind);
            h.set_device_major(nix::sys::stat::major(st.st_rdev) as u32)?;
            h.set_device_minor(nix::sys::stat::minor(st.st_rdev) as u32)?;
            tar.append_data(&mut h, rel, io::empty())
        }
        SFlag::S_IFIFO => {
            let mut h = header(st, tar::EntryType::Fifo);
            tar.append_data(&mut h, rel, io::empty())
        }
        // Sockets do not go into layers, as with Docker.
        _ => Ok(()),
    }
}

/// The extended attributes worth keeping: all but overlay's own.
fn xattrs(fd: &OwnedFd) -> io::Result<Vec<(String, Vec<u8>)>> {
    let path = CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut names = vec![0u8; 4096];
    // SAFETY: valid C string; the buffer is writable for its length. The magic link leads
    // to the file the descriptor holds (never a symlink: see the caller).
    let n = unsafe { libc::listxattr(path.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if n < 0 {
        let e = io::Error::last_os_error();
        // O_PATH descriptors of symlinks, and filesystems without xattrs.
        return match e.raw_os_error() {
            Some(libc::ENOTSUP) | Some(libc::EPERM) | Some(libc::ENOENT) => Ok(vec![]),
            _ => Err(e),
        };
    }
    let mut out = vec![];
    for name in names[..n as usize]
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
    {
        let key = OsStr::from_bytes(name).to_string_lossy().into_owned();
        if key.starts_with("trusted.overlay.") {
            continue;
        }
        let cname =
            CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut value = vec![0u8; 65536];
        // SAFETY: as above.
        let len = unsafe {
            libc::getxattr(
                path.as_ptr(),
                cname.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        if len >= 0 {
            value.truncate(len as usize);
            out.push((key, value));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn every_entry_type_as_docker_writes_it() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::create_dir_all(d.join("etc/sub")).unwrap();
        std::fs::write(d.join("etc/file"), "data").unwrap();
        std::fs::hard_link(d.join("etc/file"), d.join("etc/link")).unwrap();
        symlink("/proc/mounts", d.join("etc/mtab")).unwrap();
        symlink("/", d.join("escape")).unwrap();
        nix::unistd::mkfifo(
            &d.join("fifo"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        let mknod = |p: &str, kind, dev| {
            nix::sys::stat::mknod(
                &d.join(p),
                kind,
                nix::sys::stat::Mode::from_bits_truncate(0o666),
                dev,
            )
            .unwrap()
        };
        mknod("null", SFlag::S_IFCHR, nix::sys::stat::makedev(1, 3));
        mknod("gone", SFlag::S_IFCHR, 0); // a whiteout
                                          // An opaque dir (trusted.* needs root, which the tests have).
        let opq = CString::new(d.join("etc/sub").as_os_str().as_bytes()).unwrap();
        // SAFETY: valid C strings and value.
        let r = unsafe {
            libc::setxattr(
                opq.as_ptr(),
                c"trusted.overlay.opaque".as_ptr(),
                b"y".as_ptr().cast(),
                1,
                0,
            )
        };
        assert_eq!(r, 0);
        let file = CString::new(d.join("etc/file").as_os_str().as_bytes()).unwrap();
        // SAFETY: as above.
        let r = unsafe {
            libc::setxattr(
                file.as_ptr(),
                c"user.note".as_ptr(),
                b"kept".as_ptr().cast(),
                4,
                0,
            )
        };
        assert_eq!(r, 0);

        let bytes = pack_dir(d, Vec::new()).unwrap();
        let mut ar = tar::Archive::new(&bytes[..]);
        let mut seen = vec![];
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().display().to_string();
            let kind = e.header().entry_type();
            let link = e.link_name().unwrap().map(|l| l.display().to_string());
            let mut xattr = None;
            if let Some(exts) = e.pax_extensions().unwrap() {
                for x in exts {
                    let x = x.unwrap();
                    if x.key().unwrap() == "SCHILY.xattr.user.note" {
                        xattr = Some(x.value_bytes().to_vec());
                    }
                }
            }
            let dev = (
                e.header().device_major().ok().flatten(),
                e.header().device_minor().ok().flatten(),
            );
            seen.push((path, kind, link, xattr, dev));
        }
        let find = |p: &str| {
            seen.iter()
                .find(|s| s.0 == p)
                .unwrap_or_else(|| panic!("{p}: {seen:?}"))
        };
        assert_eq!(find(".wh.gone").1, tar::EntryType::Regular);
        assert_eq!(find("etc/sub/.wh..wh..opq").1, tar::EntryType::Regular);
        assert_eq!(find("etc/file").3.as_deref(), Some(&b"kept"[..]));
        assert_eq!(find("etc/link").1, tar::EntryType::Link);
        assert_eq!(find("etc/link").2.as_deref(), Some("etc/file"));
        assert_eq!(find("etc/mtab").2.as_deref(), Some("/proc/mounts"));
        assert_eq!(find("escape").2.as_deref(), Some("/"));
        assert_eq!(find("fifo").1, tar::EntryType::Fifo);
        assert_eq!(find("null").1, tar::EntryType::Char);
        assert_eq!(find("null").4, (Some(1), Some(3)));
        // Parents before their entries; nothing of the host behind the symlink.
        let names: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
        for (i, n) in names.iter().enumerate() {
            if let Some((parent, _)) = n.rsplit_once('/') {
                assert!(names[..i].contains(&parent), "{n} before {parent}");
            }
        }
        assert!(!names.iter().any(|n| n.starts_with("escape/")));
        // The same directory packs to the same bytes.
        assert_eq!(pack_dir(d, Vec::new()).unwrap(), bytes);
    }
}
