//! Sandboxes on disk (`<data-root>/cri/sandboxes/<id>/`) and in memory: each change is
//! written (temp file, rename) before it is answered, so a restarted daemon knows every pod.

use super::{Sandbox, SandboxRecord};
use crate::error::{CriError, Result};
use crate::proto::PodSandboxConfig;
use prost::Message;
use std::collections::HashMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub struct SandboxStore {
    dir: PathBuf,
    by_id: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Sandbox>>>>,
}

fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data)
        .map_err(|e| CriError::io(format!("writing {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path).map_err(|e| CriError::io(format!("writing {}", path.display()), e))
}

impl SandboxStore {
    /// Opens the store, reading every sandbox recorded there.
    pub fn open(dir: PathBuf) -> Result<Self> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| CriError::io(format!("creating {}", dir.display()), e))?;
        let mut by_id = HashMap::new();
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| CriError::io(format!("reading {}", dir.display()), e))?;
        for e in entries.flatten() {
            let d = e.path();
            let record: Option<SandboxRecord> = std::fs::read(d.join("sandbox.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            let config = std::fs::read(d.join("config.pb"))
                .ok()
                .and_then(|b| PodSandboxConfig::decode(b.as_slice()).ok());
            match (record, config) {
                (Some(record), Some(config)) => {
                    by_id.insert(
                        record.id.clone(),
                        Arc::new(tokio::sync::Mutex::new(Sandbox { record, config })),
                    );
                }
                // A run that crashed before its record was whole: nothing to keep.
                _ => {
                    eprintln!(
                        "berthd: cri: dropping the incomplete sandbox {}",
                        d.display()
                    );
                    let _ = std::fs::remove_dir_all(&d);
                }
            }
        }
        Ok(Self {
            dir,
            by_id: Mutex::new(by_id),
        })
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<Sandbox>>>> {
        self.by_id.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes a sandbox's record and config, and keeps it.
    pub fn save(&self, s: &Sandbox) -> Result<()> {
        let d = self.dir.join(&s.record.id);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&d)
            .map_err(|e| CriError::io(format!("creating {}", d.display()), e))?;
        write_atomic(&d.join("config.pb"), &s.config.encode_to_vec())?;
        let json =
            serde_json::to_vec_pretty(&s.record).map_err(|e| CriError::Internal(e.to_string()))?;
        write_atomic(&d.join("sandbox.json"), &json)
    }

    pub fn insert(&self, s: Sandbox) -> Result<Arc<tokio::sync::Mutex<Sandbox>>> {
        self.save(&s)?;
        let id = s.record.id.clone();
        let entry = Arc::new(tokio::sync::Mutex::new(s));
        self.map().insert(id, entry.clone());
        Ok(entry)
    }

    pub fn remove(&self, id: &str) {
        self.map().remove(id);
        let _ = std::fs::remove_dir_all(self.dir.join(id));
    }

    /// By full ID or a unique prefix, as crictl lets users name them.
    pub fn get(&self, id: &str) -> Result<Arc<tokio::sync::Mutex<Sandbox>>> {
        let map = self.map();
        if let Some(s) = map.get(id) {
            return Ok(s.clone());
        }
        let found: Vec<_> = map
            .iter()
            .filter(|(k, _)| !id.is_empty() && k.starts_with(id))
            .collect();
        match found.as_slice() {
            [(_, s)] => Ok((*s).clone()),
            [] => Err(CriError::NotFound(format!("pod sandbox {id:?} not found"))),
            _ => Err(CriError::NotFound(format!(
                "pod sandbox ID {id:?} matches more than one sandbox"
            ))),
        }
    }

    pub fn all(&self) -> Vec<Arc<tokio::sync::Mutex<Sandbox>>> {
        self.map().values().cloned().collect()
    }
}
