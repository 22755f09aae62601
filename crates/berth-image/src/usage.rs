//! The size of a directory a container can write (its layer, a volume) or a layer holds:
//! blocks on disk (`disk_usage`) or the bytes of its files (`content_size`, what dockerd
//! reports as a layer's size); hardlinks counted once, every open made beneath the
//! directory without following a symlink (`stack::open_beneath`).

use crate::stack::open_beneath;
use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, SFlag};
use std::collections::HashSet;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Bytes on disk under `dir` (its own entry aside); 0 if it cannot be read.
pub fn disk_usage(dir: &Path) -> u64 {
    let mut seen = HashSet::new();
    walk(dir, Path::new(""), &mut seen, Measure::Blocks)
}

/// Bytes of the files, links and devices under `dir` (directories count nothing), as
/// dockerd sizes a layer's diff; 0 if it cannot be read.
pub fn content_size(dir: &Path) -> u64 {
    let mut seen = HashSet::new();
    walk(dir, Path::new(""), &mut seen, Measure::Content)
}

#[derive(Clone, Copy)]
enum Measure {
    Blocks,
    Content,
}

fn walk(dir: &Path, rel: &Path, seen: &mut HashSet<(u64, u64)>, measure: Measure) -> u64 {
    let Ok(fd) = open_beneath(
        dir,
        rel,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
    ) else {
        return 0;
    };
    let names: Vec<std::ffi::OsString> =
        match std::fs::read_dir(format!("/proc/self/fd/{}", fd.as_raw_fd())) {
            Ok(d) => d.flatten().map(|e| e.file_name()).collect(),
            Err(_) => return 0,
        };
    let mut total = 0;
    for n in names {
        let child = rel.join(&n);
        let Ok(cfd) = open_beneath(dir, &child, OFlag::O_PATH | OFlag::O_NOFOLLOW) else {
            continue;
        };
        let Ok(st) = fstat(cfd.as_raw_fd()) else {
            continue;
        };
        let is_dir = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR;
        if seen.insert((st.st_dev, st.st_ino)) {
            total += match measure {
                Measure::Blocks => (st.st_blocks as u64) * 512,
                Measure::Content if is_dir => 0,
                Measure::Content => st.st_size as u64,
            };
        }
        if is_dir {
            total += walk(dir, &child, seen, measure);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_blocks_once_and_stays_inside() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        std::fs::write(t.path().join("d/f"), vec![1u8; 100_000]).unwrap();
        std::fs::hard_link(t.path().join("d/f"), t.path().join("h")).unwrap();
        std::os::unix::fs::symlink("/usr", t.path().join("escape")).unwrap();
        let used = disk_usage(t.path());
        assert!((100_000..200_000).contains(&used), "{used}");
        // The file once, the symlink's target name ("/usr"), no directory.
        assert_eq!(content_size(t.path()), 100_004);
    }
}
