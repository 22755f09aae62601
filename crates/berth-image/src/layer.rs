//! Unpacked layers: `layers/<chain-id-hex>/diff`, one per distinct layer, shared by every
//! image that has it. Tar whiteouts become overlayfs whiteouts on unpack.

use crate::digest::{chain_id, Digest};
use crate::error::{ImageError, Result};
use crate::unpack::unpack;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// What the store records about a layer beside its `diff` dir.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerMeta {
    pub chain_id: Digest,
    pub diff_id: Digest,
    pub parent: Option<Digest>,
    /// Bytes of the unpacked tar stream.
    pub size: u64,
    /// Bytes of the files the layer unpacked to (dockerd's layer size); absent in
    /// layers an older berth unpacked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unpacked: Option<u64>,
    /// The blob in the content store this layer came from, if kept.
    #[serde(default)]
    pub blob: Option<Digest>,
}

impl LayerMeta {
    /// The layer's size as users see it: its files' bytes, or the tar's bytes for a
    /// layer unpacked before berth recorded that.
    pub fn unpacked_size(&self) -> u64 {
        self.unpacked.unwrap_or(self.size)
    }
}

#[derive(Debug, Clone)]
pub struct LayerStore {
    root: PathBuf,
    bomb: BombLimit,
}

/// How far a layer may expand: at most `ratio` × the compressed bytes read so far, but
/// always up to `floor` (sparse or zero-filled files compress far better than 100:1).
#[derive(Debug, Clone, Copy)]
pub struct BombLimit {
    pub ratio: u64,
    pub floor: u64,
}

impl Default for BombLimit {
    fn default() -> Self {
        Self {
            ratio: 100,
            floor: 4 << 30,
        }
    }
}

/// Counts the bytes read from the (compressed) input.
struct CountingReader<R> {
    inner: R,
    count: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

impl BombLimit {
    /// The most `compressed` bytes may expand to.
    pub fn bound(&self, compressed: u64) -> u64 {
        compressed.saturating_mul(self.ratio).max(self.floor)
    }
}

/// A (possibly compressed) stream, decompressed, that fails once it has expanded beyond
/// the bomb limit for the compressed bytes read so far: what `load` reads an archive
/// through, as a layer is read.
pub fn bounded_decompress<'a>(
    input: impl Read + 'a,
    bomb: BombLimit,
) -> io::Result<impl Read + 'a> {
    let compressed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let inner = decompress(CountingReader {
        inner: input,
        count: compressed.clone(),
    })?;
    Ok(BoundedReader {
        inner,
        compressed,
        count: 0,
        bomb,
    })
}

struct BoundedReader<R> {
    inner: R,
    compressed: std::sync::Arc<std::sync::atomic::AtomicU64>,
    count: u64,
    bomb: BombLimit,
}

impl<R: Read> Read for BoundedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        let compressed = self.compressed.load(std::sync::atomic::Ordering::Relaxed);
        let bound = self.bomb.bound(compressed);
        if self.count > bound {
            return Err(io::Error::other(format!(
                "the archive expands to more than {bound} bytes from {compressed} compressed bytes: refused as a decompression bomb"
            )));
        }
        Ok(n)
    }
}

/// Reader that hashes what passes through it, counts bytes, and stops a layer that
/// expands beyond its bound.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
    compressed: std::sync::Arc<std::sync::atomic::AtomicU64>,
    bomb: BombLimit,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        let compressed = self.compressed.load(std::sync::atomic::Ordering::Relaxed);
        let bound = self.bomb.bound(compressed);
        if self.count > bound {
            return Err(io::Error::other(format!(
                "the layer expands to more than {bound} bytes from {compressed} compressed bytes: refused as a decompression bomb"
            )));
        }
        Ok(n)
    }
}

/// A chunk from the decompression thread: a buffer and how much of it is filled.
type Chunk = io::Result<(Vec<u8>, usize)>;
const CHUNK: usize = 256 * 1024;

/// Reads the chunks another thread sends, and hands each buffer back once read, so one
/// layer reuses a few buffers instead of allocating (and faulting in) one per chunk.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<Chunk>,
    recycle: std::sync::mpsc::Sender<Vec<u8>>,
    current: Vec<u8>,
    len: usize,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.len {
            match self.rx.recv() {
                Ok(Ok((b, len))) => {
                    let used = std::mem::replace(&mut self.current, b);
                    if !used.is_empty() {
                        let _ = self.recycle.send(used);
                    }
                    self.len = len;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.len - self.pos);
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
            bomb: BombLimit::default(),
        })
    }

    pub fn bomb_limit(&self) -> BombLimit {
        self.bomb
    }

    /// Sets how far a layer may expand (tests use small limits).
    pub fn with_bomb_limit(mut self, bomb: BombLimit) -> Self {
        self.bomb = bomb;
        self
    }

    pub(crate) fn dir(&self, chain: &Digest) -> PathBuf {
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
            let compressed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let stream = CountingReader {
                inner: stream,
                count: compressed.clone(),
            };
            let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(8);
            let (recycle, recycled) = std::sync::mpsc::channel::<Vec<u8>>();
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
                        let mut buf = recycled.try_recv().unwrap_or_else(|_| vec![0u8; CHUNK]);
                        match d.read(&mut buf) {
                            Ok(0) => return,
                            Ok(n) => {
                                if tx.send(Ok((buf, n))).is_err() {
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
                    recycle,
                    current: Vec::new(),
                    len: 0,
                    pos: 0,
                },
                hasher: Sha256::new(),
                count: 0,
                compressed,
                bomb: self.bomb,
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
                unpacked: Some(crate::usage::content_size(&diff)),
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

/// Finds a file in a stack of layer dirs (top first) as overlay would show it; symlinks
/// are resolved inside the stack, never on the host (see `stack`).
pub fn read_from_stack(dirs: &[PathBuf], rel: &str) -> Option<Vec<u8>> {
    crate::stack::read_file(dirs, rel)
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

#[cfg(test)]
mod hostile_tests {
    //! Hand-made malicious layers: each must fail (or land inside the layer) and leave
    //! nothing outside it and nothing published.
    use super::*;

    fn header(name: &str, kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_mode(0o644);
        h.set_size(size);
        h.set_entry_type(kind);
        // Written raw: tar::Builder would refuse some of these names.
        let bytes = name.as_bytes();
        h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        h
    }

    fn entry(out: &mut Vec<u8>, name: &str, kind: tar::EntryType, link: Option<&str>, data: &[u8]) {
        let mut h = header(name, kind, data.len() as u64);
        if let Some(l) = link {
            let lb = l.as_bytes();
            h.as_old_mut().linkname[..lb.len()].copy_from_slice(lb);
        }
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        out.extend(std::iter::repeat_n(0u8, pad));
    }

    fn finish(mut out: Vec<u8>) -> Vec<u8> {
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    struct Setup {
        _dir: tempfile::TempDir,
        store: LayerStore,
        outside: PathBuf,
    }

    fn setup() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("secret"), "host data").unwrap();
        let store = LayerStore::open(&dir.path().join("layers")).unwrap();
        Setup {
            _dir: dir,
            store,
            outside,
        }
    }

    fn assert_untouched(s: &Setup) {
        let names: Vec<_> = fs::read_dir(&s.outside)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("secret")],
            "something was written outside the layer"
        );
        assert_eq!(
            fs::read_to_string(s.outside.join("secret")).unwrap(),
            "host data"
        );
        assert!(s.store.list().is_empty(), "nothing may be published");
    }

    #[test]
    fn absolute_paths_stay_inside() {
        let s = setup();
        let mut t = vec![];
        entry(
            &mut t,
            &format!("{}/abs", s.outside.display()),
            tar::EntryType::Regular,
            None,
            b"x",
        );
        let meta = s.store.apply(None, &finish(t)[..], None, None).unwrap();
        let inside = s
            .store
            .diff_dir(&meta.chain_id)
            .join(s.outside.strip_prefix("/").unwrap())
            .join("abs");
        assert!(inside.exists());
        assert!(!s.outside.join("abs").exists());
    }

    #[test]
    fn symlink_then_write_through_it_is_refused() {
        let s = setup();
        let mut t = vec![];
        entry(
            &mut t,
            "link",
            tar::EntryType::Symlink,
            Some(s.outside.to_str().unwrap()),
            b"",
        );
        entry(&mut t, "link/pwned", tar::EntryType::Regular, None, b"evil");
        assert!(s.store.apply(None, &finish(t)[..], None, None).is_err());
        assert_untouched(&s);
        let mut t = vec![];
        entry(
            &mut t,
            "rel",
            tar::EntryType::Symlink,
            Some("../../../../../../../../.."),
            b"",
        );
        entry(
            &mut t,
            &format!("rel{}/pwned", s.outside.display()),
            tar::EntryType::Regular,
            None,
            b"evil",
        );
        assert!(s.store.apply(None, &finish(t)[..], None, None).is_err());
        assert_untouched(&s);
    }

    #[test]
    fn whiteouts_through_a_symlink_are_refused() {
        let s = setup();
        for name in ["link/.wh.secret", "link/.wh..wh..opq"] {
            let mut t = vec![];
            entry(
                &mut t,
                "link",
                tar::EntryType::Symlink,
                Some(s.outside.to_str().unwrap()),
                b"",
            );
            entry(&mut t, name, tar::EntryType::Regular, None, b"");
            let err = s.store.apply(None, &finish(t)[..], None, None).unwrap_err();
            assert!(
                err.to_string().contains("out of the layer"),
                "{name}: {err}"
            );
            assert_untouched(&s);
            let opaque = nix::sys::stat::lstat(&s.outside).unwrap();
            assert_eq!(opaque.st_mode & libc::S_IFMT, libc::S_IFDIR);
        }
    }

    #[test]
    fn files_keep_owner_mode_time_and_xattrs_and_dirs_keep_their_time() {
        use std::os::unix::fs::MetadataExt;
        let s = setup();
        let mut b = tar::Builder::new(Vec::new());
        let mut d = header("etc/", tar::EntryType::Directory, 0);
        d.set_mode(0o750);
        d.set_mtime(1_000_000);
        d.set_cksum();
        b.append(&d, &[][..]).unwrap();
        let mut f = header("etc/tool", tar::EntryType::Regular, 5);
        f.set_mode(0o4755);
        f.set_uid(1234);
        f.set_gid(5678);
        f.set_mtime(2_000_000);
        f.set_cksum();
        b.append_pax_extensions([("SCHILY.xattr.user.berth", &b"yes"[..])])
            .unwrap();
        b.append(&f, &b"hello"[..]).unwrap();
        // A file in a directory the tar never lists.
        let mut n = header("new/dir/file", tar::EntryType::Regular, 2);
        n.set_cksum();
        b.append(&n, &b"hi"[..]).unwrap();
        let meta = s
            .store
            .apply(None, &b.into_inner().unwrap()[..], None, None)
            .unwrap();
        let diff = s.store.diff_dir(&meta.chain_id);
        let tool = fs::metadata(diff.join("etc/tool")).unwrap();
        assert_eq!(fs::read(diff.join("etc/tool")).unwrap(), b"hello");
        assert_eq!(tool.mode() & 0o7777, 0o4755);
        assert_eq!((tool.uid(), tool.gid()), (1234, 5678));
        assert_eq!(tool.mtime(), 2_000_000);
        let etc = fs::metadata(diff.join("etc")).unwrap();
        assert_eq!(etc.mode() & 0o7777, 0o750);
        assert_eq!(
            etc.mtime(),
            1_000_000,
            "the dir time survives writes into it"
        );
        assert_eq!(fs::read(diff.join("new/dir/file")).unwrap(), b"hi");
        // user.* xattrs need a file system that has them (tmpfs before 6.6 does not).
        let mut value = [0u8; 8];
        let path =
            std::ffi::CString::new(diff.join("etc/tool").as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: valid C strings and a buffer of the given length.
        let n = unsafe {
            libc::lgetxattr(
                path.as_ptr(),
                c"user.berth".as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        assert_eq!(&value[..n as usize], b"yes");
    }

    #[test]
    fn hardlink_to_a_host_file_is_refused() {
        let s = setup();
        let target = s.outside.join("secret");
        for link in [
            target.to_str().unwrap().to_string(),
            "../../../../../../../../..".to_string() + target.to_str().unwrap(),
        ] {
            let mut t = vec![];
            entry(&mut t, "hl", tar::EntryType::Link, Some(&link), b"");
            let r = s.store.apply(None, &finish(t)[..], None, None);
            // Either refused, or (for an absolute name) resolved inside the layer, where
            // there is nothing to link to: never a link to the host file.
            assert!(r.is_err(), "hard link to {link} was accepted");
            assert_untouched(&s);
        }
    }

    #[test]
    fn wrong_diff_id_is_refused_and_nothing_published() {
        let s = setup();
        let mut t = vec![];
        entry(&mut t, "file", tar::EntryType::Regular, None, b"data");
        let wrong = Digest::of(b"something else");
        let err = s
            .store
            .apply(None, &finish(t)[..], Some(&wrong), None)
            .unwrap_err();
        assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
        assert_untouched(&s);
    }

    #[test]
    fn decompression_bomb_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let store = LayerStore::open(dir.path())
            .unwrap()
            .with_bomb_limit(BombLimit {
                ratio: 10,
                floor: 1 << 20,
            });
        let mut t = vec![];
        entry(
            &mut t,
            "zeros",
            tar::EntryType::Regular,
            None,
            &vec![0u8; 8 << 20],
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut gz, &finish(t)).unwrap();
        let bomb = gz.finish().unwrap();
        assert!(
            bomb.len() < 100 << 10,
            "the fixture is a bomb: {} bytes",
            bomb.len()
        );
        let err = store.apply(None, &bomb[..], None, None).unwrap_err();
        assert!(err.to_string().contains("decompression bomb"), "{err}");
        assert!(store.list().is_empty());
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            0,
            "the partial layer is removed"
        );
    }

    #[test]
    fn truncated_tar_is_refused() {
        let s = setup();
        let mut t = vec![];
        entry(
            &mut t,
            "big",
            tar::EntryType::Regular,
            None,
            &vec![7u8; 4096],
        );
        t.truncate(1500);
        assert!(s.store.apply(None, &t[..], None, None).is_err());
        assert_untouched(&s);
    }
}
