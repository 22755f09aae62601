//! The build context from the request body, unpacked beneath the build's private dir.
//! Names are kept as they are (a `.wh.` file is a file, not a whiteout). Once the
//! Dockerfile has come by, the files that no COPY or ADD of it can name are read past and
//! not written: a large file the build does not use costs its reading only.

use crate::error::{DaemonError, Result};
use berth_build::glob::matches as glob_match;
use berth_build::parse::{Args, Node};
use std::io::Read;
use std::path::{Component, Path};

/// The context paths the Dockerfile's COPY and ADD may name, as components (globs
/// allowed); None when that cannot be known (`COPY . /`, a variable in a source).
fn wanted(nodes: &[Node], escape: char) -> Option<Vec<Vec<String>>> {
    let mut out = vec![];
    for n in nodes {
        if !matches!(n.keyword.as_str(), "COPY" | "ADD") {
            continue;
        }
        if n.flags.iter().any(|f| f.starts_with("--from")) {
            continue;
        }
        let mut words = match &n.args {
            Args::Json(v) => v.clone(),
            Args::Text(t) => berth_build::expand::split_raw(t, escape),
        };
        words.pop(); // the destination
        for w in words.into_iter().filter(|w| !w.starts_with("<<")) {
            if w.contains('$') || w.contains(escape) || w.contains(['"', '\'']) {
                return None;
            }
            if w.contains("://") {
                continue; // a URL, refused later
            }
            let parts: Vec<String> = Path::new(&w)
                .components()
                .filter_map(|c| match c {
                    Component::Normal(p) => Some(p.to_string_lossy().into_owned()),
                    _ => None,
                })
                .collect();
            if parts.is_empty() || w.split('/').any(|c| c == "..") {
                return None; // the whole context (or a path refused later)
            }
            out.push(parts);
        }
    }
    Some(out)
}

/// Whether `path` may be named by a pattern: a path under a match, or a directory on
/// the way to one.
fn may_be_named(path: &Path, patterns: &[Vec<String>]) -> bool {
    let parts: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    patterns.iter().any(|p| {
        let n = p.len().min(parts.len());
        (0..n).all(|i| glob_match(p[i].as_bytes(), parts[i].as_bytes()))
    })
}

/// Whether these first bytes start an archive: a tar, or gzip, zstd, bzip2 or xz.
fn is_archive(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b])
        || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || head.starts_with(b"BZh")
        || head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
        || head.len() >= 262 && &head[257..262] == b"ustar"
}

/// Unpacks the context in `body` into `dir`; `dockerfile` is its path in the context.
/// A `remote` context that is not an archive is the Dockerfile itself, as with dockerd.
pub fn unpack(mut body: impl Read, dir: &Path, dockerfile: &Path, remote: bool) -> Result<()> {
    let mut head = Vec::with_capacity(512);
    (&mut body)
        .take(512)
        .read_to_end(&mut head)
        .map_err(|e| DaemonError::InvalidParameter(format!("reading the build context: {e}")))?;
    if remote && !is_archive(&head) {
        (&mut body)
            .take(16 << 20)
            .read_to_end(&mut head)
            .map_err(|e| DaemonError::InvalidParameter(format!("reading the Dockerfile: {e}")))?;
        let target = dir.join(dockerfile);
        if let Some(parent) = target.parent() {
            crate::dirs::ensure(parent, 0o755)?;
        }
        std::fs::write(target, &head)?;
        return Ok(());
    }
    let body = std::io::Cursor::new(head).chain(body);
    let reader = berth_image::layer::decompress(body).map_err(|e| {
        DaemonError::InvalidParameter(format!("the build context is not a tar: {e}"))
    })?;
    // What the Dockerfile's COPY and ADD may name, once it has been written: None
    // before, Some(None) when that is everything.
    let found: std::cell::RefCell<Option<Option<Vec<Vec<String>>>>> = std::cell::RefCell::new(None);
    let mut keep = |p: &Path| -> bool {
        match &*found.borrow() {
            Some(Some(list)) => p == dockerfile || may_be_named(p, list),
            _ => true,
        }
    };
    let mut written = |p: &Path| {
        if p != dockerfile {
            return;
        }
        let mut text = String::new();
        let read = berth_runtime::root::Root::open(dir)
            .ok()
            .and_then(|root| root.open_at(dockerfile, nix::fcntl::OFlag::O_RDONLY).ok())
            .map(|fd| {
                std::fs::File::from(fd)
                    .take(16 << 20)
                    .read_to_string(&mut text)
            });
        let patterns = match (read, berth_build::parse::parse(&text)) {
            (Some(Ok(_)), Ok(df)) => wanted(&df.nodes, df.escape),
            _ => None,
        };
        *found.borrow_mut() = Some(patterns);
    };
    berth_image::unpack::unpack_with(
        reader,
        dir,
        berth_image::unpack::UnpackOptions {
            whiteouts: false,
            keep: Some(&mut keep),
            written: Some(&mut written),
        },
    )
    .map_err(|e| {
        DaemonError::InvalidParameter(format!("the build context is not a valid tar archive: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_copy_can_name() {
        let df = berth_build::parse::parse(
            "FROM a\nCOPY src/*.rs conf /app/\nCOPY --from=x /big /b\nADD [\"data/set.tar\", \"/d\"]\n",
        )
        .unwrap();
        let w = wanted(&df.nodes, '\\').unwrap();
        assert!(may_be_named(Path::new("src"), &w));
        assert!(may_be_named(Path::new("src/main.rs"), &w));
        assert!(!may_be_named(Path::new("src/notes.txt"), &w));
        assert!(may_be_named(Path::new("conf/deep/file"), &w));
        assert!(may_be_named(Path::new("data"), &w));
        assert!(
            !may_be_named(Path::new("big"), &w),
            "--from sources are not the context's"
        );
        assert!(!may_be_named(Path::new("node_modules/x"), &w));
        let all = berth_build::parse::parse("FROM a\nCOPY . /app\n").unwrap();
        assert!(wanted(&all.nodes, '\\').is_none());
        let var = berth_build::parse::parse("FROM a\nCOPY $DIR /app\n").unwrap();
        assert!(wanted(&var.nodes, '\\').is_none());
    }
}
