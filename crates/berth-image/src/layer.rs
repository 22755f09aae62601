//! Unpacked layers: `layers/<chain-id-hex>/diff`, one per distinct layer, shared by every
//! image that has it. Tar whiteouts become overlayfs whiteouts on unpack.

use crate::digest::{chain_id, Digest};
use crate::error::{ImageError, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";

/// What the store records about a layer beside its `diff` dir.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerMeta {
    pub chain_id: Digest,
    pub diff_id: Digest,
    pub parent: Option<Digest>,
    /// Bytes of the unpacked tar stream.
    pub size: u64,
    /// The blob in the content store this layer came from, if kept.
    #[serde(default)]
    pub blob: Option<Digest>,
}

#[derive(Debug, Clone)]
pub struct LayerStore {
    root: PathBuf,
}

/// Reader that hashes what passes through it and counts bytes.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Reads the chunks another thread sends.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.current.len() {
            match self.rx.recv() {
                Ok(Ok(b)) => {
                    self.current = b;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Wraps a possibly compressed stream (gzip, zstd or plain tar, by magic bytes).
pub fn decompress<'a>(r: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    let mut br = BufReader::with_capacity(256 * 1024, r);
    let head = br.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(br)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Ok(Box::new(zstd::stream::read::Decoder::with_buffer(br)?))
    } else {
        Ok(Box::new(br))
    }
}

impl LayerStore {
    pub fn open(root: &Path) -> Result<Self> {
        fs::create_dir_all(root).map_err(|e| ImageError::io(root.display().to_string(), e))?;
        // Half-unpacked layers from a crash are never visible: remove them.
        if let Ok(entries) = fs::read_dir(root) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with("tmp-") {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    fn dir(&self, chain: &Digest) -> PathBuf {
        self.root.join(chain.hex())
    }

    /// The unpacked contents of a layer, for overlay's lowerdir.
    pub fn diff_dir(&self, chain: &Digest) -> PathBuf {
        self.dir(chain).join("diff")
    }

    pub fn meta(&self, chain: &Digest) -> Result<LayerMeta> {
        let p = self.dir(chain).join("meta.json");
        let data = fs::read(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ImageError::NotFound(format!("layer {chain}")),
            _ => ImageError::io(p.display().to_string(), e),
        })?;
        serde_json::from_slice(&data).map_err(|e| ImageError::json(p.display().to_string(), e))
    }

    pub fn exists(&self, chain: &Digest) -> bool {
        self.dir(chain).join("meta.json").exists()
    }

    pub fn list(&self) -> Vec<Digest> {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return vec![];
        };
        entries
            .flatten()
            .filter_map(|e| {
                format!("sha256:{}", e.file_name().to_string_lossy())
                    .parse()
                    .ok()
            })
            .collect()
    }

    pub fn remove(&self, chain: &Digest) -> Result<()> {
        let dir = self.dir(chain);
        // Rename first so a crash mid-delete never leaves a half layer under its real name.
        let tmp = self.root.join(format!("tmp-del-{}", chain.hex()));
        match fs::rename(&dir, &tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(ImageError::io("removing layer", e)),
        }
        fs::remove_dir_all(&tmp).map_err(|e| ImageError::io("removing layer", e))
    }

    /// Unpacks a (possibly compressed) layer tarball on top of `parent`, verifies its diff
    /// ID if one is expected, and publishes it under its chain ID. Returns its metadata.
    pub fn apply(
        &self,
        parent: Option<&Digest>,
        stream: impl Read + Send,
        expected_diff_id: Option<&Digest>,
        blob: Option<Digest>,
    ) -> Result<LayerMeta> {
        self.apply_checked(parent, stream, expected_diff_id, blob, || Ok(()))
    }

    /// Like `apply`, with one more check run after the stream is consumed and before the
    /// layer is published (a pull verifies the compressed blob's digest here).
    pub fn apply_checked(
        &self,
        parent: Option<&Digest>,
        stream: impl Read + Send,
        expected_diff_id: Option<&Digest>,
        blob: Option<Digest>,
        check: impl FnOnce() -> Result<()>,
    ) -> Result<LayerMeta> {
        if let Some(diff) = expected_diff_id {
            let chain = chain_id(parent, diff);
            if self.exists(&chain) {
                // Already unpacked: drain nothing, reuse it.
                return self.meta(&chain);
            }
        }
        let rnd = crate::atomic::random_hex(8).map_err(|e| ImageError::io("random", e))?;
        let tmp = self.root.join(format!("tmp-{}", rnd));
        let diff = tmp.join("diff");
        fs::create_dir_all(&diff).map_err(|e| ImageError::io("creating layer dir", e))?;
        let result = std::thread::scope(|scope| {
            // Decompression on its own thread, hashing and extraction on this one: one
            // gzip stream cannot be split, but the two halves of its work can overlap.
            let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(8);
            let decompressor = std::thread::Builder::new()
                .name("layer-inflate".into())
                .spawn_scoped(scope, move || {
                    let mut d = match decompress(stream) {
                        Ok(d) => d,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    };
                    loop {
                        let mut buf = vec![0u8; 256 * 1024];
                        match d.read(&mut buf) {
                            Ok(0) => return,
                            Ok(n) => {
                                buf.truncate(n);
                                if tx.send(Ok(buf)).is_err() {
                                    return;
                                }
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            Err(e) => {
                                let _ = tx.send(Err(e));
                                return;
                            }
                        }
                    }
                })
                .map_err(|e| ImageError::io("starting a layer thread", e))?;
            let mut hr = HashingReader {
                inner: ChannelReader {
                    rx,
                    current: Vec::new(),
                    pos: 0,
                },
                hasher: Sha256::new(),
                count: 0,
            };
            unpack(&mut hr, &diff)?;
            // Read to the end so the digest covers trailing padding too.
            io::copy(&mut hr, &mut io::sink()).map_err(|e| ImageError::io("reading layer", e))?;
            drop(hr.inner);
            let _ = decompressor.join();
            let diff_id = Digest::from_hasher(hr.hasher);
            check()?;
            if let Some(exp) = expected_diff_id {
                if *exp != diff_id {
                    return Err(ImageError::DigestMismatch {
                        expected: exp.to_string(),
                        actual: diff_id.to_string(),
                    });
                }
            }
            let meta = LayerMeta {
                chain_id: chain_id(parent, &diff_id),
                diff_id,
                parent: parent.cloned(),
                size: hr.count,
                blob,
            };
            let json =
                serde_json::to_vec_pretty(&meta).map_err(|e| ImageError::json("layer meta", e))?;
            crate::atomic::write_file(&tmp.join("meta.json"), &json)
                .map_err(|e| ImageError::io("writing layer meta", e))?;
            Ok(meta)
        });
        let meta = match result {
            Ok(m) => m,
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        let dst = self.dir(&meta.chain_id);
        if dst.exists() || fs::rename(&tmp, &dst).is_err() {
            // Someone published the same layer first; theirs is identical.
            let _ = fs::remove_dir_all(&tmp);
        }
        Ok(meta)
    }
}

/// A path inside the layer: relative, no `..`, no root.
fn clean_relative(p: &Path) -> Result<PathBuf> {
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

/// Extracts a tar stream into `dst`, turning `.wh.` entries into overlay whiteouts.
pub fn unpack(r: impl Read, dst: &Path) -> Result<()> {
    let mut ar = tar::Archive::new(r);
    ar.set_preserve_permissions(true);
    ar.set_preserve_ownerships(true);
    ar.set_preserve_mtime(true);
    ar.set_unpack_xattrs(true);
    ar.set_overwrite(true);
    let mut dirs = Vec::new();
    let bad = |e: io::Error| ImageError::InvalidArchive(format!("invalid layer tar: {e}"));
    for entry in ar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let path = clean_relative(&entry.path().map_err(bad)?)?;
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue; // the root itself
        };
        let parent = path.parent().unwrap_or(Path::new(""));
        if name == OPAQUE_WHITEOUT {
            let dir = dst.join(parent);
            fs::create_dir_all(&dir).map_err(|e| ImageError::io("creating dir", e))?;
            set_opaque(&dir)?;
            continue;
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            let target = dst.join(parent).join(hidden);
            fs::create_dir_all(dst.join(parent)).map_err(|e| ImageError::io("creating dir", e))?;
            let _ = fs::remove_file(&target);
            make_whiteout(&target)?;
            continue;
        }
        if entry.header().entry_type().is_dir() {
            dirs.push(path.clone());
        }
        entry.unpack_in(dst).map_err(|e| {
            let cause = std::error::Error::source(&e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            ImageError::InvalidArchive(format!("cannot unpack {}: {e}{cause}", path.display()))
        })?;
    }
    Ok(())
}

fn make_whiteout(path: &Path) -> Result<()> {
    use nix::sys::stat::{mknod, Mode, SFlag};
    mknod(path, SFlag::S_IFCHR, Mode::empty(), 0)
        .map_err(|e| ImageError::io(format!("whiteout {}", path.display()), e.into()))
}

fn set_opaque(dir: &Path) -> Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| ImageError::InvalidArchive("path with NUL".into()))?;
    let name = c"trusted.overlay.opaque";
    // SAFETY: both strings are valid NUL-terminated C strings, the value is 1 byte long.
    let rc = unsafe { libc::lsetxattr(c.as_ptr(), name.as_ptr(), b"y".as_ptr().cast(), 1, 0) };
    if rc != 0 {
        return Err(ImageError::io(
            format!("opaque dir {}", dir.display()),
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Finds a file in a stack of layer dirs (top first) as overlay would show it.
pub fn read_from_stack(dirs: &[PathBuf], rel: &str) -> Option<Vec<u8>> {
    use std::os::unix::fs::FileTypeExt;
    for d in dirs {
        let p = d.join(rel.trim_start_matches('/'));
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_char_device() && m.len() == 0 => return None,
            Ok(m) if m.is_file() => return fs::read(&p).ok(),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn unpack_whiteouts_and_chain() {
        let dir = tempfile::tempdir().unwrap();
        let store = LayerStore::open(dir.path()).unwrap();
        let base = tar_of(&[("etc/passwd", b"root:x:0:0::/root:/bin/sh\n"), ("a", b"1")]);
        let l1 = store.apply(None, &base[..], None, None).unwrap();
        assert_eq!(l1.diff_id, Digest::of(&base));
        assert_eq!(l1.chain_id, l1.diff_id);
        let top = tar_of(&[(".wh.a", b"")]);
        let l2 = store
            .apply(Some(&l1.chain_id), &top[..], None, None)
            .unwrap();
        assert_ne!(l2.chain_id, l2.diff_id);
        use std::os::unix::fs::FileTypeExt;
        let wh = fs::symlink_metadata(store.diff_dir(&l2.chain_id).join("a")).unwrap();
        assert!(wh.file_type().is_char_device());
        let stack = vec![store.diff_dir(&l2.chain_id), store.diff_dir(&l1.chain_id)];
        assert!(read_from_stack(&stack, "/a").is_none());
        assert!(read_from_stack(&stack, "/etc/passwd").is_some());
    }

    #[test]
    fn rejects_escaping_path_and_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = LayerStore::open(dir.path()).unwrap();
        // tar::Builder refuses `..`, so write the header name by hand.
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..9].copy_from_slice(b"../escape");
        h.set_size(1);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        let mut data = h.as_bytes().to_vec();
        data.extend_from_slice(&[b'x'; 512]);
        data.extend_from_slice(&[0; 1024]);
        let err = store.apply(None, &data[..], None, None).unwrap_err();
        assert!(err.to_string().contains("escapes"), "{err}");
        assert!(store.list().is_empty());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn garbage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = LayerStore::open(dir.path()).unwrap();
        let garbage = vec![0x42u8; 1000];
        assert!(store.apply(None, &garbage[..], None, None).is_err());
    }
}
