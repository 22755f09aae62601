//! What a container changed: its writable layer compared with the layers under it, as
//! `docker diff` reports it (Modified, Added, Deleted).
//!
//! The writable layer is the container's own: every lookup in it, and in the layers
//! under it, is made beneath the layer's dir without following a symlink
//! (`stack::open_beneath`), so a container cannot point the walk at the host.

use crate::stack::{is_opaque, open_beneath};
use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, FileStat, SFlag};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Docker's change kinds, in its numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(into = "u8")]
pub enum Kind {
    Modified,
    Added,
    Deleted,
}

impl From<Kind> for u8 {
    fn from(k: Kind) -> u8 {
        match k {
            Kind::Modified => 0,
            Kind::Added => 1,
            Kind::Deleted => 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    #[serde(rename = "Path")]
    pub path: String,
    #[serde(rename = "Kind")]
    pub kind: Kind,
}

fn kind_of(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

fn is_whiteout(st: &FileStat) -> bool {
    kind_of(st) == SFlag::S_IFCHR && st.st_rdev == 0
}

/// `rel` as the merged view of `layers` (top first) shows it, not following symlinks:
/// None when no layer has it, a whiteout hides it, or a parent is not a directory.
pub fn lookup(layers: &[PathBuf], rel: &Path) -> Option<FileStat> {
    let mut merged: Vec<&PathBuf> = layers.iter().collect();
    let mut at = PathBuf::new();
    let mut components = rel.components().peekable();
    while let Some(c) = components.next() {
        at.push(c);
        let (top, fd, st) = merged.iter().enumerate().find_map(|(i, layer)| {
            let fd = open_beneath(layer, &at, OFlag::O_PATH | OFlag::O_NOFOLLOW).ok()?;
            let st = fstat(fd.as_raw_fd()).ok()?;
            Some((i, fd, st))
        })?;
        if is_whiteout(&st) {
            return None;
        }
        if components.peek().is_none() {
            return Some(st);
        }
        if kind_of(&st) != SFlag::S_IFDIR {
            return None;
        }
        // The dirs of that name below the top one take part, down to an opaque one or to
        // anything that is not a dir.
        let mut next = vec![merged[top]];
        if !is_opaque(&fd) {
            for layer in &merged[top + 1..] {
                let Ok(fd) = open_beneath(layer, &at, OFlag::O_PATH | OFlag::O_NOFOLLOW) else {
                    continue;
                };
                match fstat(fd.as_raw_fd()) {
                    Ok(st) if kind_of(&st) == SFlag::S_IFDIR => {
                        next.push(layer);
                        if is_opaque(&fd) {
                            break;
                        }
                    }
                    _ => break,
                }
            }
        }
        merged = next;
    }
    None
}

/// A directory copied up only because something inside it changed: same type, owner,
/// mode and mtime as below. Docker does not list it.
fn same_dir(a: &FileStat, b: &FileStat) -> bool {
    kind_of(a) == SFlag::S_IFDIR
        && kind_of(b) == SFlag::S_IFDIR
        && a.st_mode == b.st_mode
        && a.st_uid == b.st_uid
        && a.st_gid == b.st_gid
        && a.st_mtime == b.st_mtime
        && a.st_mtime_nsec == b.st_mtime_nsec
}

/// The changes of `upper` over `lower` (top first), sorted by path.
pub fn changes(upper: &Path, lower: &[PathBuf]) -> std::io::Result<Vec<Change>> {
    let mut out = vec![];
    walk(upper, lower, Path::new(""), true, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn walk(
    upper: &Path,
    lower: &[PathBuf],
    rel: &Path,
    lower_visible: bool,
    out: &mut Vec<Change>,
) -> std::io::Result<()> {
    let dir = open_beneath(
        upper,
        rel,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
    )?;
    // Listed through the open descriptor, never through the path.
    let mut names: Vec<std::ffi::OsString> =
        std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))?
            .flatten()
            .map(|e| e.file_name())
            .collect();
    names.sort();
    for name in names {
        let child = rel.join(&name);
        let Ok(fd) = open_beneath(upper, &child, OFlag::O_PATH | OFlag::O_NOFOLLOW) else {
            continue; // gone meanwhile
        };
        let st = fstat(fd.as_raw_fd())?;
        let path = format!("/{}", child.display());
        if is_whiteout(&st) {
            out.push(Change {
                path,
                kind: Kind::Deleted,
            });
            continue;
        }
        let below = if lower_visible {
            lookup(lower, &child)
        } else {
            None
        };
        match &below {
            None => out.push(Change {
                path,
                kind: Kind::Added,
            }),
            Some(b) if same_dir(&st, b) && !is_opaque(&fd) => {}
            Some(_) => out.push(Change {
                path,
                kind: Kind::Modified,
            }),
        }
        if kind_of(&st) == SFlag::S_IFDIR {
            // Under an opaque dir, nothing below shows through: all of it is new.
            let below_is_dir = below.is_some_and(|b| kind_of(&b) == SFlag::S_IFDIR);
            walk(upper, lower, &child, below_is_dir && !is_opaque(&fd), out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn kinds(v: &[Change]) -> Vec<(String, u8)> {
        v.iter()
            .map(|c| (c.path.clone(), u8::from(c.kind)))
            .collect()
    }

    #[test]
    fn added_modified_deleted_and_never_the_host() {
        let upper = tempfile::tempdir().unwrap();
        let base = tempfile::tempdir().unwrap();
        let (u, b) = (upper.path(), base.path());
        for d in ["etc", "usr/lib", "var"] {
            std::fs::create_dir_all(b.join(d)).unwrap();
        }
        std::fs::write(b.join("etc/passwd"), "root").unwrap();
        std::fs::write(b.join("etc/group"), "root").unwrap();
        std::fs::write(b.join("usr/lib/x"), "x").unwrap();
        // A dir copied up unchanged (same mode and mtime) is not listed.
        std::fs::create_dir_all(u.join("usr/lib")).unwrap();
        std::fs::write(u.join("usr/lib/new"), "n").unwrap();
        for d in ["usr", "usr/lib"] {
            let m = std::fs::metadata(b.join(d)).unwrap();
            std::fs::set_permissions(u.join(d), m.permissions()).unwrap();
            let t = nix::sys::time::TimeSpec::from(
                m.modified()
                    .unwrap()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap(),
            );
            nix::sys::stat::utimensat(
                None,
                &u.join(d),
                &t,
                &t,
                nix::sys::stat::UtimensatFlags::NoFollowSymlink,
            )
            .unwrap();
        }
        // A modified file, a deleted one (whiteout), a new dir with a file.
        std::fs::create_dir_all(u.join("etc")).unwrap();
        std::fs::write(u.join("etc/passwd"), "changed").unwrap();
        nix::sys::stat::mknod(
            &u.join("etc/group"),
            SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .unwrap();
        std::fs::create_dir_all(u.join("data/sub")).unwrap();
        // A symlink in the writable layer pointing at the host is listed, not followed.
        std::fs::create_dir_all(u.join("var")).unwrap();
        symlink("/", u.join("var/escape")).unwrap();
        // Dirs whose content changed have a new mtime.
        let t = nix::sys::time::TimeSpec::new(1000, 0);
        for d in ["etc", "var"] {
            nix::sys::stat::utimensat(
                None,
                &u.join(d),
                &t,
                &t,
                nix::sys::stat::UtimensatFlags::NoFollowSymlink,
            )
            .unwrap();
        }
        let got = kinds(&changes(u, &[b.to_path_buf()]).unwrap());
        let want: Vec<(String, u8)> = [
            ("/data", 1),
            ("/data/sub", 1),
            ("/etc", 0),
            ("/etc/group", 2),
            ("/etc/passwd", 0),
            ("/usr/lib/new", 1),
            ("/var", 0),
            ("/var/escape", 1),
        ]
        .iter()
        .map(|(p, k)| (p.to_string(), *k))
        .collect();
        assert_eq!(got, want);
    }
}
