//! The build cache: which image a step made on top of which parent, so that the same
//! step on the same parent is not run again. Kept as one small file per entry under
//! `<data-root>/build-cache/`, named by the hash of (parent image, step key), holding the
//! image ID; loaded into memory at daemon start.

use crate::error::Result;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

pub struct BuildCache {
    dir: PathBuf,
    entries: Mutex<HashMap<String, String>>,
}

/// The entry name of a step on a parent: a hex SHA-256.
pub fn key(parent: &str, step: &str) -> String {
    let mut h = Sha256::new();
    h.update(parent.as_bytes());
    h.update(b"\n");
    h.update(step.as_bytes());
    hex::encode(h.finalize())
}

impl BuildCache {
    pub fn open(dir: PathBuf) -> Result<Self> {
        crate::dirs::ensure(&dir, crate::dirs::PRIVATE_MODE)?;
        let mut entries = HashMap::new();
        for e in std::fs::read_dir(&dir)?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.len() == 64 {
                if let Ok(id) = std::fs::read_to_string(e.path()) {
                    entries.insert(name, id.trim().to_string());
                }
            }
        }
        Ok(Self {
            dir,
            entries: Mutex::new(entries),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, key: &str) -> Option<String> {
        self.lock().get(key).cloned()
    }

    pub fn put(&self, key: &str, image: &str) -> Result<()> {
        let tmp = self.dir.join(format!(".{key}.tmp"));
        std::fs::write(&tmp, image)?;
        std::fs::rename(&tmp, self.dir.join(key))?;
        self.lock().insert(key.to_string(), image.to_string());
        Ok(())
    }

    /// Every entry: its name and the image it names.
    pub fn entries(&self) -> Vec<(String, String)> {
        let mut v: Vec<_> = self
            .lock()
            .iter()
            .map(|(k, i)| (k.clone(), i.clone()))
            .collect();
        v.sort();
        v
    }

    /// The images steps made: intermediate images, not listed by `images` unless `-a`.
    pub fn images(&self) -> std::collections::HashSet<String> {
        self.lock().values().cloned().collect()
    }

    /// Forgets the entries whose image `drop` says (`builder prune`); the images they
    /// named. The images themselves are the caller's.
    pub fn remove_where(&self, mut drop: impl FnMut(&str) -> bool) -> Vec<String> {
        let mut entries = self.lock();
        let gone: Vec<String> = entries
            .iter()
            .filter(|(_, v)| drop(v))
            .map(|(k, _)| k.clone())
            .collect();
        gone.iter()
            .filter_map(|k| {
                let _ = std::fs::remove_file(self.dir.join(k));
                entries.remove(k)
            })
            .collect()
    }
}
