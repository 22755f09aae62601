//! Blobs by digest: `content/blobs/sha256/<hex>`, written through `content/ingest/`.
//!
//! A download of a known digest goes to `ingest/<hex>.partial`: if it breaks off, or the
//! daemon dies, the bytes so far stay there and the next pull of that blob goes on from
//! them. Other ingests have random names and never outlive their writer.

use crate::digest::Digest;
use crate::error::{ImageError, Result};
use sha2::{Digest as _, Sha256};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
}

/// A blob being written: hashes as it goes, becomes visible only on `commit`.
pub struct Ingest {
    path: PathBuf,
    file: Option<File>,
    hasher: Sha256,
    size: u64,
    store: ContentStore,
    /// Bytes that were already there when a resumable ingest was opened.
    resumed: u64,
    /// Kept open to hold the flock that keeps a second writer off a resumable ingest.
    _lock: Option<nix::fcntl::Flock<File>>,
}

/// Partial downloads older than this are dropped when the store opens.
const PARTIAL_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
const PARTIAL_SUFFIX: &str = ".partial";

impl ContentStore {
    pub fn open(root: &Path) -> Result<Self> {
        let s = Self {
            root: root.to_path_buf(),
        };
        for d in [s.blobs_dir(), s.ingest_dir()] {
            fs::create_dir_all(&d).map_err(|e| ImageError::io(d.display().to_string(), e))?;
        }
        // Unnamed ingests from a crash cannot be resumed: drop them, and stale partials.
        if let Ok(entries) = fs::read_dir(s.ingest_dir()) {
            for e in entries.flatten() {
                let partial = e.file_name().to_string_lossy().ends_with(PARTIAL_SUFFIX);
                let age = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .unwrap_or_default();
                if !partial || age > PARTIAL_MAX_AGE {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        Ok(s)
    }

    fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs/sha256")
    }
    fn ingest_dir(&self) -> PathBuf {
        self.root.join("ingest")
    }

    pub fn path(&self, d: &Digest) -> PathBuf {
        self.blobs_dir().join(d.hex())
    }

    pub fn exists(&self, d: &Digest) -> bool {
        self.path(d).exists()
    }

    pub fn size(&self, d: &Digest) -> Option<u64> {
        fs::metadata(self.path(d)).ok().map(|m| m.len())
    }

    pub fn read(&self, d: &Digest) -> Result<Vec<u8>> {
        fs::read(self.path(d)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ImageError::NotFound(d.to_string()),
            _ => ImageError::io(format!("reading blob {d}"), e),
        })
    }

    pub fn open_blob(&self, d: &Digest) -> Result<File> {
        File::open(self.path(d)).map_err(|e| ImageError::io(format!("opening blob {d}"), e))
    }

    pub fn write(&self, data: &[u8]) -> Result<Digest> {
        let mut ing = self.ingest()?;
        ing.write_all(data)
            .map_err(|e| ImageError::io("writing blob", e))?;
        ing.commit(None)
    }

    pub fn ingest(&self) -> Result<Ingest> {
        let rnd = crate::atomic::random_hex(8).map_err(|e| ImageError::io("random", e))?;
        let path = self.ingest_dir().join(rnd);
        let file = File::create(&path).map_err(|e| ImageError::io("creating ingest", e))?;
        Ok(Ingest {
            path,
            file: Some(file),
            hasher: Sha256::new(),
            size: 0,
            store: self.clone(),
            resumed: 0,
            _lock: None,
        })
    }

    /// An ingest for the blob `expected` that goes on from the bytes a broken-off earlier
    /// download left (see `Ingest::resumed`, `Ingest::resumed_bytes`). When another
    /// download of the same blob is under way, a fresh unnamed ingest instead.
    pub fn resumable_ingest(&self, expected: &Digest) -> Result<Ingest> {
        use nix::fcntl::{Flock, FlockArg};
        let path = self
            .ingest_dir()
            .join(format!("{}{PARTIAL_SUFFIX}", expected.hex()));
        let err = |e| ImageError::io("opening a partial download", e);
        let file = fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(err)?;
        let lock = match Flock::lock(
            file.try_clone().map_err(err)?,
            FlockArg::LockExclusiveNonblock,
        ) {
            Ok(l) => l,
            Err(_) => return self.ingest(),
        };
        // The hash goes on from the bytes already there.
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut reader = File::open(&path).map_err(err)?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = reader.read(&mut buf).map_err(err)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        Ok(Ingest {
            path,
            file: Some(file),
            hasher,
            size,
            store: self.clone(),
            resumed: size,
            _lock: Some(lock),
        })
    }

    /// Records where a blob came from (`registry/repository`), as containerd's
    /// distribution-source labels do, so a push can mount it instead of uploading it.
    pub fn add_source(&self, d: &Digest, source: &str) -> Result<()> {
        let path = self.root.join("sources").join(d.hex());
        let mut sources = self.sources(d);
        if sources.iter().any(|s| s == source) {
            return Ok(());
        }
        sources.push(source.to_string());
        fs::create_dir_all(self.root.join("sources"))
            .map_err(|e| ImageError::io("recording a blob source", e))?;
        crate::atomic::replace_file(&path, sources.join("\n").as_bytes())
            .map_err(|e| ImageError::io("recording a blob source", e))
    }

    pub fn sources(&self, d: &Digest) -> Vec<String> {
        fs::read_to_string(self.root.join("sources").join(d.hex()))
            .map(|t| {
                t.lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn delete(&self, d: &Digest) -> Result<()> {
        let _ = fs::remove_file(self.root.join("sources").join(d.hex()));
        match fs::remove_file(self.path(d)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ImageError::io(format!("deleting blob {d}"), e)),
        }
    }

    pub fn list(&self) -> Vec<Digest> {
        let Ok(entries) = fs::read_dir(self.blobs_dir()) else {
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
}

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("ingest already committed"))?;
        let n = f.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Ingest {
    pub fn size(&self) -> u64 {
        self.size
    }

    /// How many bytes a resumable ingest already held when opened.
    pub fn resumed(&self) -> u64 {
        self.resumed
    }

    /// Reads those first `resumed()` bytes, to feed them where the download goes.
    pub fn resumed_bytes(&self) -> Result<impl Read> {
        let f =
            File::open(&self.path).map_err(|e| ImageError::io("reading a partial download", e))?;
        Ok(f.take(self.resumed))
    }

    /// Leaves what was written for a later download to go on from (a resumable ingest
    /// whose download broke off); an unnamed ingest is dropped as usual.
    pub fn suspend(mut self) {
        if self._lock.is_some() {
            self.file = None;
        }
    }

    /// Drops what was written, even of a resumable ingest.
    pub fn discard(self) {}

    /// Verifies (when `expected` is given), syncs and publishes the blob.
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<Digest> {
        let file = self.file.take().ok_or_else(|| {
            ImageError::io("committing ingest", io::Error::other("already committed"))
        })?;
        let actual = Digest::from_hasher(std::mem::take(&mut self.hasher));
        if let Some(exp) = expected {
            if *exp != actual {
                let _ = fs::remove_file(&self.path);
                return Err(ImageError::DigestMismatch {
                    expected: exp.to_string(),
                    actual: actual.to_string(),
                });
            }
        }
        file.sync_all()
            .map_err(|e| ImageError::io("syncing blob", e))?;
        let dst = self.store.path(&actual);
        fs::rename(&self.path, &dst).map_err(|e| ImageError::io("publishing blob", e))?;
        Ok(actual)
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Copies a reader into the store.
pub fn ingest_reader(store: &ContentStore, mut r: impl Read) -> Result<(Digest, u64)> {
    let mut ing = store.ingest()?;
    io::copy(&mut r, &mut ing).map_err(|e| ImageError::io("reading blob", e))?;
    let size = ing.size();
    Ok((ing.commit(None)?, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_verify() {
        let dir = tempfile::tempdir().unwrap();
        let s = ContentStore::open(dir.path()).unwrap();
        let d = s.write(b"hello").unwrap();
        assert_eq!(s.read(&d).unwrap(), b"hello");
        let mut ing = s.ingest().unwrap();
        ing.write_all(b"other").unwrap();
        let err = ing.commit(Some(&d)).unwrap_err();
        assert!(matches!(err, ImageError::DigestMismatch { .. }));
        // The failed ingest left nothing behind.
        assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
        assert_eq!(s.list(), vec![d]);
    }

    #[test]
    fn a_broken_off_download_goes_on_from_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let s = ContentStore::open(dir.path()).unwrap();
        let blob = b"the whole blob, in two goes";
        let d = Digest::of(blob);
        let mut first = s.resumable_ingest(&d).unwrap();
        assert_eq!(first.resumed(), 0);
        first.write_all(&blob[..10]).unwrap();
        // A second download of the same blob meanwhile gets an ingest of its own.
        let other = s.resumable_ingest(&d).unwrap();
        assert_eq!(other.resumed(), 0);
        other.discard();
        first.suspend();
        // The store opening again (a daemon restart) keeps the partial download.
        let s = ContentStore::open(dir.path()).unwrap();
        let mut again = s.resumable_ingest(&d).unwrap();
        assert_eq!(again.resumed(), 10);
        let mut head = Vec::new();
        again
            .resumed_bytes()
            .unwrap()
            .read_to_end(&mut head)
            .unwrap();
        assert_eq!(head, &blob[..10]);
        again.write_all(&blob[10..]).unwrap();
        assert_eq!(again.commit(Some(&d)).unwrap(), d);
        assert_eq!(s.read(&d).unwrap(), blob);
        assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
        // Dropped without suspend (a failure that is not the network's): nothing stays.
        let mut failed = s.resumable_ingest(&Digest::of(b"x")).unwrap();
        failed.write_all(b"junk").unwrap();
        drop(failed);
        assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
    }
}
