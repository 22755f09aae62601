//! The engine: containers, execs and images, with no knowledge of HTTP.

pub mod container;
pub mod create;
pub mod exec;
pub mod images;
pub mod lifecycle;
pub mod names;
pub mod pull;
pub mod query;
pub mod seccomp;
pub mod shim_client;
pub mod spec;
pub mod system;
pub mod user;
pub mod warm;

use crate::config::DaemonConfig;
use crate::error::{DaemonError, Result};
use berth_image::ImageStore;
use container::Container;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub struct Engine {
    pub cfg: DaemonConfig,
    pub images: Arc<ImageStore>,
    containers: RwLock<HashMap<String, Arc<Container>>>,
    /// name (without slash) → id
    names: RwLock<HashMap<String, String>>,
    pub execs: exec::ExecTable,
    pub warm: warm::WarmPool,
    pub seccomp_filters: seccomp::FilterCache,
    pub registry: berth_registry::client::Client,
}

impl Engine {
    pub fn open(cfg: DaemonConfig) -> Result<Arc<Self>> {
        std::fs::create_dir_all(cfg.containers_dir())?;
        std::fs::create_dir_all(cfg.exec_root.join("containers"))?;
        std::fs::create_dir_all(cfg.exec_root.join("s"))?;
        let images = Arc::new(ImageStore::open(&cfg.data_root)?);
        Ok(Arc::new(Self {
            registry: berth_registry::client::Client::with_settings(
                berth_registry::client::Settings {
                    insecure: cfg.insecure_registries.clone(),
                    certs_dir: cfg.registry_certs_dir.clone(),
                    loopback_insecure: true,
                },
            ),
            cfg,
            images,
            containers: RwLock::new(HashMap::new()),
            names: RwLock::new(HashMap::new()),
            execs: exec::ExecTable::default(),
            warm: warm::WarmPool::default(),
            seccomp_filters: seccomp::FilterCache::default(),
        }))
    }

    pub fn all(&self) -> Vec<Arc<Container>> {
        self.containers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Finds a container by full ID, name, or unique ID prefix.
    pub fn get(&self, name_or_id: &str) -> Result<Arc<Container>> {
        let key = name_or_id.trim_start_matches('/');
        let not_found = || DaemonError::NotFound(format!("No such container: {name_or_id}"));
        if key.is_empty() {
            return Err(not_found());
        }
        let containers = self.containers.read().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = containers.get(key) {
            return Ok(c.clone());
        }
        if let Some(id) = self
            .names
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
        {
            if let Some(c) = containers.get(id) {
                return Ok(c.clone());
            }
        }
        let matches: Vec<_> = containers
            .values()
            .filter(|c| c.id.starts_with(key))
            .collect();
        match matches.len() {
            1 => Ok(matches[0].clone()),
            0 => Err(not_found()),
            _ => Err(DaemonError::NotFound(format!(
                "Multiple IDs found with provided prefix: {name_or_id}"
            ))),
        }
    }

    pub(crate) fn register(&self, c: Arc<Container>) -> Result<()> {
        let name = c.name();
        let mut names = self.names.write().unwrap_or_else(|p| p.into_inner());
        if let Some(other) = names.get(&name) {
            return Err(DaemonError::Conflict(format!(
                "Conflict. The container name \"/{name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        names.insert(name, c.id.clone());
        self.containers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(c.id.clone(), c);
        Ok(())
    }

    pub(crate) fn unregister(&self, c: &Container) {
        self.names
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, id| *id != c.id);
        self.containers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&c.id);
    }

    pub(crate) fn rename_index(&self, c: &Container, new: &str) -> Result<()> {
        let mut names = self.names.write().unwrap_or_else(|p| p.into_inner());
        if let Some(other) = names.get(new) {
            return Err(DaemonError::Conflict(format!(
                "Error when allocating new name: Conflict. The container name \"/{new}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        names.retain(|_, id| *id != c.id);
        names.insert(new.to_string(), c.id.clone());
        Ok(())
    }

    /// Whether any container was created from this image.
    pub fn image_users(&self, image_id: &str) -> Vec<Arc<Container>> {
        self.all()
            .into_iter()
            .filter(|c| c.record().image_id == image_id)
            .collect()
    }
}
